package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

func applyCmd[T any](t *testing.T, f *lt.Fixture, cmd ledger.Command[ledger.Result[T]]) (T, *ledger.Refusal) {
	t.Helper()
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	r := cmd.Apply(tx, &env)
	if r.Refusal != nil {
		if !tx.Empty() {
			t.Fatalf("a refused %T wrote rows", cmd)
		}
		tx.Rollback()
		return r.Value, r.Refusal
	}
	f.CommitTx(tx)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
	return r.Value, nil
}

// householdFixture: two enrolled cards of one customer in household H1 with 100 and 60 points.
func householdFixture(t *testing.T) *lt.Fixture {
	f := loyaltyFixture(t)
	f.IssueCard("card-2", lt.BalanceID, "5351100000000019")
	enroll(t, f, "card-2")
	for _, id := range []string{lt.CardID, "card-2"} {
		if _, r := applyCmd(t, f, ledger.SetHousehold{CardID: id, HouseholdID: "H1", Role: ledger.RoleRedeemer}); r != nil {
			t.Fatal(r)
		}
	}
	f.Process(purchase(100_00, "000001", "SHOP", "5999"))
	p := purchase(60_00, "000002", "SHOP", "5999")
	p.PAN = "5351100000000019"
	f.Process(p)
	return f
}

func TestRedeemHousehold(t *testing.T) {
	f := householdFixture(t)
	red, r := applyCmd(t, f, ledger.RedeemLoyalty{ID: "red-1", CardID: lt.CardID, CustomerID: lt.Customer, ItemID: "RMI-1",
		PointsEach: 70, Quantity: 2, Redeemable: true})
	if r != nil {
		t.Fatal(r)
	}
	// The redeemer's own card first, then the household's others.
	if red.Points != 140 || len(red.Debits) != 2 || red.Debits[0].Points != 100 || red.Debits[1].Points != 40 {
		t.Fatalf("%+v", red)
	}
	if points(t, f, lt.CardID) != 0 || points(t, f, "card-2") != 20 {
		t.Fatalf("points %d %d", points(t, f, lt.CardID), points(t, f, "card-2"))
	}
	for _, tc := range []struct {
		name string
		cmd  ledger.RedeemLoyalty
		code string
	}{
		{"short", ledger.RedeemLoyalty{ID: "red-2", CardID: "card-2", CustomerID: lt.Customer, PointsEach: 21, Quantity: 1, Redeemable: true}, "INSUFFICIENT_POINTS"},
		{"not redeemable", ledger.RedeemLoyalty{ID: "red-2", CardID: "card-2", CustomerID: lt.Customer, PointsEach: 1, Quantity: 1}, "ITEM_NOT_REDEEMABLE"},
		{"single quantity", ledger.RedeemLoyalty{ID: "red-2", CardID: "card-2", CustomerID: lt.Customer, PointsEach: 1, Quantity: 2, Redeemable: true, SingleQuantity: true}, "INVALID_FIELD"},
		{"another customer", ledger.RedeemLoyalty{ID: "red-2", CardID: "card-2", CustomerID: "someone", PointsEach: 1, Quantity: 1, Redeemable: true}, "NOT_ENROLLED"},
		{"same id", ledger.RedeemLoyalty{ID: "red-1", CardID: "card-2", CustomerID: lt.Customer, PointsEach: 1, Quantity: 1, Redeemable: true}, "REDEMPTION_EXISTS"},
	} {
		if _, r := applyCmd(t, f, tc.cmd); r == nil || r.Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, r, tc.code)
		}
	}
	// A non-redeemer may not redeem the household's points.
	applyCmd(t, f, ledger.SetHousehold{CardID: "card-2", HouseholdID: "H1", Role: ledger.RoleNonRedeemer})
	if _, r := applyCmd(t, f, ledger.RedeemLoyalty{ID: "red-3", CardID: "card-2", CustomerID: lt.Customer, PointsEach: 1, Quantity: 1, Redeemable: true}); r == nil || r.Code != "NOT_A_REDEEMER" {
		t.Fatalf("non-redeemer: %v", r)
	}
	if _, r := applyCmd(t, f, ledger.SetHousehold{CardID: "card-2", HouseholdID: "H1", Role: "X"}); r == nil {
		t.Fatal("role X accepted")
	}
	// Cancellation gives every debit back; a second one changes nothing.
	for range 2 {
		if c, r := applyCmd(t, f, ledger.CancelRedemption{ID: "red-1", CustomerID: lt.Customer}); r != nil || c.Status != ledger.RedemptionCancelled {
			t.Fatalf("cancel: %+v %v", c, r)
		}
		if points(t, f, lt.CardID) != 100 || points(t, f, "card-2") != 60 {
			t.Fatalf("after cancel: %d %d", points(t, f, lt.CardID), points(t, f, "card-2"))
		}
	}
}

// TestRedeemInGrace: an opted-out member may still redeem its points during the grace period
// (seed §6.3) but earns nothing.
func TestRedeemInGrace(t *testing.T) {
	f := loyaltyFixture(t)
	f.Process(purchase(50_00, "000001", "SHOP", "5999"))
	if _, r := applyCmd(t, f, ledger.OptOutLoyalty{CardID: lt.CardID}); r != nil {
		t.Fatal(r)
	}
	f.Process(purchase(50_00, "000002", "SHOP", "5999"))
	if points(t, f, lt.CardID) != 50 {
		t.Fatalf("earned while opted out: %d", points(t, f, lt.CardID))
	}
	if _, r := applyCmd(t, f, ledger.RedeemLoyalty{ID: "r", CardID: lt.CardID, CustomerID: lt.Customer, PointsEach: 50, Quantity: 1, Redeemable: true}); r != nil {
		t.Fatal(r)
	}
	if _, r := applyCmd(t, f, ledger.OptInLoyalty{CardID: lt.CardID}); r != nil {
		t.Fatal(r)
	}
	m, _ := f.State.LoyaltyMember(lt.CardID)
	if m.Status != ledger.LoyaltyEnrolled {
		t.Fatalf("%+v", m)
	}
}
