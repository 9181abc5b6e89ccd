package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// TestKYCTransition is the eKYC table, one row per (status, input).
func TestKYCTransition(t *testing.T) {
	P, V, R := ledger.KYCPending, ledger.KYCVerified, ledger.KYCRejected
	tests := []struct {
		from string
		in   ledger.KYCInput
		want string
		code string
	}{
		{P, ledger.KYCStart, P, ""},
		{R, ledger.KYCStart, P, ""},
		{V, ledger.KYCStart, V, "KYC_ALREADY_VERIFIED"},
		{P, ledger.KYCApprove, V, ""},
		{P, ledger.KYCReject, R, ""},
		{P, ledger.KYCManualReview, P, ""},
		{V, ledger.KYCApprove, V, ""},
		{R, ledger.KYCReject, R, ""},
		{V, ledger.KYCReject, V, "KYC_NOT_PENDING"},
		{R, ledger.KYCApprove, R, "KYC_NOT_PENDING"},
		{V, ledger.KYCManualReview, V, "KYC_NOT_PENDING"},
		{R, ledger.KYCManualReview, R, "KYC_NOT_PENDING"},
		{"", ledger.KYCApprove, "", "KYC_STATE_UNKNOWN"},
		{P, ledger.KYCInput(0), P, "INVALID_ACTION"},
	}
	for _, tt := range tests {
		got, r := ledger.KYCTransition(tt.from, tt.in)
		code := ""
		if r != nil {
			code = r.Code
		}
		if got != tt.want || code != tt.code {
			t.Errorf("%q %s = %q %q, want %q %q", tt.from, tt.in, got, code, tt.want, tt.code)
		}
	}
}

// A verification: started (PENDING under its reference), a stale result refused, manual review
// changes nothing, approval verifies with customer.kyc_changed; a retry after a rejection.
func TestKYCVerificationFlow(t *testing.T) {
	f := lt.NewFixture(t, 0)
	const cust = "cust-2"
	f.Manage("customer", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.CreateCustomer(ledger.Customer{ID: cust, FirstName: "Alan", LastName: "Turing"}, env)
		return r
	})
	by := ledger.Origin{Source: "kyc", Actor: "provider"}
	apply := func(ref string, in ledger.KYCInput) (ledger.Customer, *ledger.Refusal, []ledger.Event) {
		tx := f.State.Begin()
		c, r := tx.ApplyKYCResult(cust, ref, in, by)
		ev := append([]ledger.Event(nil), tx.Events()...)
		if r != nil {
			if !tx.Empty() {
				t.Fatalf("a refused result wrote something")
			}
			tx.Rollback()
		} else {
			f.CommitTx(tx)
		}
		return c, r, ev
	}
	if _, r, _ := apply("kyc_1", ledger.KYCApprove); r == nil || r.Code != "KYC_REFERENCE_MISMATCH" {
		t.Fatalf("a result before any start: %v", r)
	}
	f.Manage("start", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.StartKYC(cust, "kyc_1", by)
		return r
	})
	if c, r, ev := apply("kyc_1", ledger.KYCManualReview); r != nil || c.KYC != ledger.KYCPending || len(ev) != 0 {
		t.Fatalf("manual review: %v %s %v", r, c.KYC, ev)
	}
	c, r, ev := apply("kyc_1", ledger.KYCReject)
	if r != nil || c.KYC != ledger.KYCRejected || len(ev) != 1 || ev[0].Type.String() != "customer.kyc_changed" ||
		ev[0].PreviousStatus != "PENDING" || ev[0].Status != "REJECTED" {
		t.Fatalf("reject: %v %s %+v", r, c.KYC, ev)
	}
	f.Manage("retry", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.StartKYC(cust, "kyc_2", by)
		return r
	})
	if _, r, _ := apply("kyc_1", ledger.KYCReject); r == nil || r.Code != "KYC_REFERENCE_MISMATCH" {
		t.Fatalf("a repeated result of the first attempt: %v", r)
	}
	if c, r, _ := apply("kyc_2", ledger.KYCApprove); r != nil || c.KYC != ledger.KYCVerified {
		t.Fatalf("approve: %v %s", r, c.KYC)
	}
	if _, r, ev := apply("kyc_2", ledger.KYCApprove); r != nil || len(ev) != 0 {
		t.Fatalf("a repeated approval: %v %v", r, ev)
	}
	tx := f.State.Begin()
	defer tx.Rollback()
	if _, r := tx.StartKYC(cust, "kyc_3", by); r == nil || r.Code != "KYC_ALREADY_VERIFIED" {
		t.Fatalf("start on verified: %v", r)
	}
}

// The fixture's card stops when its customer's verification is revoked by the partner and a
// new eKYC cannot be started over it until the partner decides (documented effect).
func TestKYCRevokedThenProvider(t *testing.T) {
	f := lt.NewFixture(t, 1000)
	by := ledger.Origin{Source: "secure", Actor: "partner"}
	f.Manage("revoke", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.SetKYC(lt.Customer, ledger.KYCRejected)
		return r
	})
	f.Expect(lt.Auth(lt.PAN, 10, "000001"), authz.RestrictedCard)
	f.Manage("re-verify", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.StartKYC(lt.Customer, "kyc_9", by)
		return r
	})
	f.Expect(lt.Auth(lt.PAN, 10, "000002"), authz.RestrictedCard) // PENDING: still stopped
	f.Manage("approve", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.ApplyKYCResult(lt.Customer, "kyc_9", ledger.KYCApprove, by)
		return r
	})
	f.Expect(lt.Auth(lt.PAN, 10, "000003"), authz.Approved)
}
