package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

const merchant = "MERCHANT0000001"

// storedCredential is a 0200 purchase of amountMinor with field 48 subelements 20 and 21 (and 22
// when terms are given).
func storedCredential(stan string, amountMinor int64, indicator, ref, terms string) *authz.Request {
	r := lt.Req("0200", "000000", lt.PAN, amountMinor, stan)
	r.StoredCredential = authz.StoredCredential{Indicator: indicator, Agreement: ref, Terms: terms}
	return r
}

// A subscription through a year: the initial payment with verified card data and terms creates
// the agreement; eleven monthly merchant-initiated payments go through; one out of range, one
// too early, one from another merchant, one after the end date and one after cancellation are
// declined 1019 (57); a reversed payment no longer counts for the interval; the books balance.
func TestRecurringAgreementThroughAYear(t *testing.T) {
	f := lt.NewFixture(t, 1000_00)
	stan := 0
	next := func() string { stan++; return fmt.Sprintf("%06d", stan) }
	paid := int64(0)
	expect := func(what string, r *authz.Request, want authz.ActionCode) {
		t.Helper()
		if got := f.Process(r); got.Action != want {
			t.Fatalf("%s on %s: %v, want %v", what, f.Now.Format("2006-01-02"), got.Action, want)
		}
		if want == authz.Approved {
			paid += r.AmountMinor
		}
	}
	key := ledger.AgreementKey(lt.CardID, "SUB-1")

	// The initial operation must carry verified card data, and sensible terms.
	expect("initial without CVC2", storedCredential(next(), 9_99, "1", "SUB-1", "5.00|49.99|28|30.04.2027"), authz.NotPermitted)
	bad := storedCredential(next(), 9_99, "1", "SUB-1", "50.00|49.99|28|30.04.2027")
	bad.CVC2 = lt.CVC2
	expect("terms with MIN > MAX", bad, authz.FormatError)
	if _, ok := f.State.Agreement(key); ok {
		t.Fatal("an agreement was created by a refused initial operation")
	}
	initial := storedCredential(next(), 9_99, "1", "SUB-1", "5.00|49.99|28|30.04.2027")
	initial.CVC2 = lt.CVC2
	expect("initial", initial, authz.Approved)
	a, ok := f.State.Agreement(key)
	if !ok || a.State != ledger.AgreementActive || a.MerchantID != merchant || !a.HasTerms ||
		a.MinMinor != 5_00 || a.MaxMinor != 49_99 || a.IntervalDays != 28 || len(a.Payments) != 1 {
		t.Fatalf("agreement after the initial operation: %+v", a)
	}

	mit := func(amountMinor int64) *authz.Request { return storedCredential(next(), amountMinor, "2", "SUB-1", "") }
	expect("recurring the day after the initial", mit(9_99), authz.NotPermitted)
	for month := 1; month <= 11; month++ {
		f.Now = f.Now.Add(30 * 24 * time.Hour)
		expect("above MAX", mit(50_00), authz.NotPermitted)
		expect("below MIN", mit(4_99), authz.NotPermitted)
		other := mit(9_99)
		other.MerchantID = "MERCHANT0000002"
		expect("another merchant", other, authz.NotPermitted)
		last := mit(9_99)
		expect(fmt.Sprintf("month %d", month), last, authz.Approved)
		expect("a second one the same day", mit(9_99), authz.NotPermitted)
		if month == 6 {
			// The month's payment is reversed: the interval counts from last month's again, so
			// a payment the next day is let through.
			f.Expect(lt.FollowUp("0400", last, 9_99, next()), authz.Approved)
			paid -= 9_99
			f.Now = f.Now.Add(24 * time.Hour)
			expect("again after the reversal", mit(9_99), authz.Approved)
		}
	}
	// The end date is the last day allowed.
	f.Now = time.Date(2027, 5, 1, 0, 0, 1, 0, time.UTC)
	expect("after the end date", mit(9_99), authz.NotPermitted)
	unscheduled := storedCredential(next(), 9_99, "3", "SUB-1", "")
	expect("unscheduled after the end date", unscheduled, authz.NotPermitted)

	// A second agreement, cancelled: merchant-initiated payments stop at once.
	second := storedCredential(next(), 0, "1", "SUB-2", "")
	second.MTI, second.BaseMTI, second.Kind = "0100", "0100", authz.KindAuthorization
	second.CVC2 = lt.CVC2
	expect("a zero-amount registration", second, authz.Approved)
	expect("unscheduled in the agreement", storedCredential(next(), 1_00, "3", "SUB-2", ""), authz.Approved)
	f.Manage("cancel", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.CancelAgreement{Key: ledger.AgreementKey(lt.CardID, "SUB-2"), By: "cardholder"}.Apply(tx, env).Refusal
	})
	expect("unscheduled after cancellation", storedCredential(next(), 1_00, "3", "SUB-2", ""), authz.NotPermitted)
	expect("cardholder-initiated after cancellation", storedCredential(next(), 1_00, "1", "SUB-2", ""), authz.NotPermitted)
	if a, _ := f.State.Agreement(ledger.AgreementKey(lt.CardID, "SUB-2")); a.State != ledger.AgreementCancelled ||
		!a.Registration || a.CancelledBy != "cardholder" {
		t.Fatalf("cancelled agreement %+v", a)
	}

	f.ExpectBalance(lt.BalanceID, 1000_00-paid, 0)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
	if n := len(f.State.AgreementsOfCard(lt.CardID)); n != 2 {
		t.Fatalf("%d agreements of the card, want 2", n)
	}
}
