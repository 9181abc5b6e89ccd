package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// TestCustomerTransition is the table of customer states, one row per (state, action).
func TestCustomerTransition(t *testing.T) {
	A, D, X := ledger.CustomerActive, ledger.CustomerDeactivated, ledger.CustomerDeleted
	tests := []struct {
		from   ledger.CustomerState
		action ledger.CustomerAction
		want   ledger.CustomerState
		code   string
	}{
		{A, ledger.CustomerDeactivate, D, ""},
		{A, ledger.CustomerReactivate, A, ""},
		{A, ledger.CustomerDelete, X, ""},
		{"", ledger.CustomerDeactivate, D, ""}, // a row from before states: ACTIVE
		{D, ledger.CustomerDeactivate, D, ""},
		{D, ledger.CustomerReactivate, A, ""},
		{D, ledger.CustomerDelete, X, ""},
		{X, ledger.CustomerDeactivate, X, "CUSTOMER_DELETED"},
		{X, ledger.CustomerReactivate, X, "CUSTOMER_DELETED"},
		{X, ledger.CustomerDelete, X, ""},
		{"ODD", ledger.CustomerDelete, "ODD", "CUSTOMER_STATE_UNKNOWN"},
		{A, ledger.CustomerAction(0), A, "INVALID_ACTION"},
	}
	for _, tt := range tests {
		got, ref := ledger.CustomerTransition(tt.from, tt.action)
		code := ""
		if ref != nil {
			code = ref.Code
		}
		if got != tt.want || code != tt.code {
			t.Errorf("%q %s = %s %q, want %s %q", tt.from, tt.action, got, code, tt.want, tt.code)
		}
	}
}

var partner = ledger.Origin{Source: "secure", Actor: "partner"}

func setCustomerState(f *lt.Fixture, action ledger.CustomerAction) {
	f.T.Helper()
	f.Manage(action.String(), func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.SetCustomerState(lt.Customer, action, []string{lt.BalanceID}, partner)
		return r
	})
}

// A deactivated customer's cards are declined 1004 (refunds too); reactivation restores them.
// No balance or card is opened meanwhile.
func TestDeactivatedCustomer(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	setCustomerState(f, ledger.CustomerDeactivate)
	r := f.Expect(lt.Auth(lt.PAN, 100, "000001"), authz.RestrictedCard)
	if r.Action.Field39() != "62" {
		t.Fatalf("field 39 %s", r.Action.Field39())
	}
	f.Expect(lt.Req("0200", "200000", lt.PAN, 100, "000002"), authz.RestrictedCard)
	tx := f.State.Begin()
	if _, r := tx.CreateBalance(ledger.Balance{ID: "bal-2", CustomerID: lt.Customer, Currency: "EUR"}, &ledger.Env{}); r == nil || r.Code != "CUSTOMER_DEACTIVATED" {
		t.Fatalf("balance for a deactivated customer: %v", r)
	}
	tx.Rollback()
	if c := f.Card(lt.CardID); c.State != ledger.CardActive {
		t.Fatalf("deactivation changed the card: %s", c.State)
	}
	setCustomerState(f, ledger.CustomerReactivate)
	f.Expect(lt.Auth(lt.PAN, 100, "000003"), authz.Approved)
}

// Revoking KYC (VERIFIED -> REJECTED) stops the customer's cards with 1004 until the customer
// is verified again; the cards themselves are not changed.
func TestKYCRevokedStopsCards(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	setKYC := func(status string) {
		f.Manage("kyc", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
			_, r := tx.SetKYC(lt.Customer, status)
			return r
		})
	}
	setKYC(ledger.KYCRejected)
	f.Expect(lt.Auth(lt.PAN, 100, "000001"), authz.RestrictedCard)
	setKYC(ledger.KYCVerified)
	f.Expect(lt.Auth(lt.PAN, 100, "000002"), authz.Approved)
}

// Delete: refused while a balance holds money; at zero, cards removed (1011), balances closed,
// personal data erased, books kept; events recorded.
func TestDeleteCustomer(t *testing.T) {
	f := lt.NewFixture(t, 0)
	f.Manage("fund", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.Reload(lt.BalanceID, 300, "", env)
		return r
	})
	f.Expect(lt.Req("0200", "000000", lt.PAN, 100, "000001"), authz.Approved)
	tx := f.State.Begin()
	if _, r := tx.SetCustomerState(lt.Customer, ledger.CustomerDelete, []string{lt.BalanceID}, partner); r == nil || r.Code != "CUSTOMER_HAS_FUNDS" {
		t.Fatalf("delete with funds: %v", r)
	}
	if !tx.Empty() {
		t.Fatal("a refused delete wrote something")
	}
	tx.Rollback()
	f.Expect(lt.Req("0200", "000000", lt.PAN, 200, "000002"), authz.Approved) // spends the rest
	tx = f.State.Begin()
	c, r := tx.SetCustomerState(lt.Customer, ledger.CustomerDelete, []string{lt.BalanceID, "not-theirs"}, partner)
	if r != nil {
		t.Fatal(r)
	}
	var types []string
	for _, e := range tx.Events() {
		types = append(types, e.Type.String())
	}
	f.CommitTx(tx)
	want := []string{"card.state_changed", "balance.state_changed", "customer.deleted"}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Fatalf("events %v, want %v", types, want)
	}
	stored, _ := f.State.Customer(lt.Customer)
	if stored != c || c.State != ledger.CustomerDeleted || c.FirstName != "" || c.LastName != "" || c.Email != "" || c.Phone != "" {
		t.Fatalf("deleted customer %+v", stored)
	}
	if c.ExternalID == "" {
		t.Fatal("the partner's external id is part of the books and is kept")
	}
	if card := f.Card(lt.CardID); card.State != ledger.CardRemoved {
		t.Fatalf("card %s", card.State)
	}
	if b := f.Balance(lt.BalanceID); b.State != ledger.BalanceClosed || b.LoadedMinor != 300 {
		t.Fatalf("balance %+v", b)
	}
	f.Expect(lt.Auth(lt.PAN, 1, "000003"), authz.InvalidCard)
	auths, err := f.State.Auths()
	if err != nil || len(auths) != 3 {
		t.Fatalf("the books lost auth records: %d %v", len(auths), err)
	}
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
	tx = f.State.Begin()
	defer tx.Rollback()
	if _, r := tx.SetCustomerState(lt.Customer, ledger.CustomerReactivate, nil, partner); r == nil || r.Code != "CUSTOMER_DELETED" {
		t.Fatalf("reactivate deleted: %v", r)
	}
	name := "Eve"
	if _, r := tx.UpdateContact(lt.Customer, ledger.ContactUpdate{FirstName: &name}, partner); r == nil || r.Code != "CUSTOMER_DELETED" {
		t.Fatalf("update deleted: %v", r)
	}
}

// Contact data changes record customer.updated; an update that changes nothing records nothing.
func TestUpdateContact(t *testing.T) {
	f := lt.NewFixture(t, 0)
	email, phone := "new@example.org", "+48123456789"
	tx := f.State.Begin()
	c, r := tx.UpdateContact(lt.Customer, ledger.ContactUpdate{Email: &email, Phone: &phone}, partner)
	if r != nil || c.Email != email || c.Phone != phone || c.FirstName != "Ada" {
		t.Fatalf("update: %v %+v", r, c)
	}
	if ev := tx.Events(); len(ev) != 1 || ev[0].Type != ledger.EventCustomerUpdated || ev[0].CustomerID != lt.Customer {
		t.Fatalf("events %+v", ev)
	}
	f.CommitTx(tx)
	tx = f.State.Begin()
	defer tx.Rollback()
	if _, r := tx.UpdateContact(lt.Customer, ledger.ContactUpdate{Email: &email}, partner); r != nil || !tx.Empty() {
		t.Fatalf("a no-op update wrote something: %v", r)
	}
}
