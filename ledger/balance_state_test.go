package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// TestBalanceTransition is the table of balance states (balance_state.go): one row per
// (state, action), and the close rule (no funds, no open holds).
func TestBalanceTransition(t *testing.T) {
	A, B, C := ledger.BalanceActive, ledger.BalanceBlocked, ledger.BalanceClosed
	tests := []struct {
		from            ledger.BalanceState
		action          ledger.BalanceAction
		current, held   int64
		want            ledger.BalanceState
		wantRefusalCode string
	}{
		{A, ledger.BalanceBlock, 100, 10, B, ""},
		{A, ledger.BalanceUnblock, 100, 0, A, ""}, // already there: no change, no refusal
		{A, ledger.BalanceClose, 0, 0, C, ""},
		{A, ledger.BalanceClose, 1, 0, A, "BALANCE_NOT_EMPTY"},
		{A, ledger.BalanceClose, -1, 0, A, "BALANCE_NOT_EMPTY"}, // a negative balance is owed money
		{A, ledger.BalanceClose, 0, 1, A, "BALANCE_HAS_HOLDS"},
		{A, ledger.BalanceClose, 5, 5, A, "BALANCE_HAS_HOLDS"},
		{B, ledger.BalanceBlock, 100, 0, B, ""},
		{B, ledger.BalanceUnblock, 100, 0, A, ""},
		{B, ledger.BalanceClose, 0, 0, C, ""},
		{B, ledger.BalanceClose, 7, 0, B, "BALANCE_NOT_EMPTY"},
		{C, ledger.BalanceBlock, 0, 0, C, "BALANCE_CLOSED"},
		{C, ledger.BalanceUnblock, 0, 0, C, "BALANCE_CLOSED"},
		{C, ledger.BalanceClose, 0, 0, C, ""},
		{"ODD", ledger.BalanceBlock, 0, 0, "ODD", "BALANCE_STATE_UNKNOWN"},
		{A, ledger.BalanceAction(9), 0, 0, A, "INVALID_ACTION"},
	}
	for _, tt := range tests {
		got, ref := ledger.BalanceTransition(tt.from, tt.action, tt.current, tt.held)
		code := ""
		if ref != nil {
			code = ref.Code
			if ref.Code != "INVALID_ACTION" && ref.Kind != ledger.Conflict {
				t.Errorf("%s %s: refusal kind %d, want Conflict", tt.from, tt.action, ref.Kind)
			}
		}
		if got != tt.want || code != tt.wantRefusalCode {
			t.Errorf("%s %s (current %d held %d) = %s %q, want %s %q", tt.from, tt.action, tt.current, tt.held,
				got, code, tt.want, tt.wantRefusalCode)
		}
	}
}

func setBalanceState(f *lt.Fixture, action ledger.BalanceAction) {
	f.T.Helper()
	f.Manage(action.String(), func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.SetBalanceState(lt.BalanceID, action, ledger.Origin{Source: "secure", Actor: "partner"})
		return r
	})
}

// A BLOCKED balance declines authorizations with 1019 (field 39 57) and balance inquiries too,
// takes reloads and refunds, and books the completion of an authorization approved before the
// block; unblocked, it authorizes again.
func TestBlockedBalance(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	held := lt.Auth(lt.PAN, 1500, "000001")
	f.Expect(held, authz.Approved)
	setBalanceState(f, ledger.BalanceBlock)
	if b := f.Balance(lt.BalanceID); b.State != ledger.BalanceBlocked {
		t.Fatalf("state %s, want BLOCKED", b.State)
	}
	r := f.Expect(lt.Auth(lt.PAN, 100, "000002"), authz.NotPermitted)
	if r.Action.Field39() != "57" {
		t.Fatalf("field 39 %s, want 57", r.Action.Field39())
	}
	f.Expect(lt.Req("0100", "310000", lt.PAN, 0, "000003"), authz.NotPermitted)
	f.Expect(lt.Req("0200", "000000", lt.PAN, 100, "000004"), authz.NotPermitted)
	f.Expect(lt.Req("0200", "200000", lt.PAN, 250, "000005"), authz.Approved) // refund: a credit
	f.Expect(lt.FollowUp("0220", held, 1500, "000006"), authz.Approved)
	f.Manage("reload", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.Reload(lt.BalanceID, 1000, "", env)
		return r
	})
	f.ExpectBalance(lt.BalanceID, 10000+250-1500+1000, 0)
	f.Manage("issue on blocked", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.IssueCard(ledger.Card{ID: "card-2", BalanceID: lt.BalanceID, Program: lt.Program, Type: ledger.CardVirtual,
			PANHash: "5351100000000027", PAN: "5351100000000027", Last4: "0027", ExpiryYYMM: lt.Expiry}, env)
		if r == nil || r.Code != "BALANCE_BLOCKED" {
			t.Errorf("card issued on a blocked balance: %v", r)
		}
		return nil
	})
	setBalanceState(f, ledger.BalanceUnblock)
	f.Expect(lt.Auth(lt.PAN, 100, "000007"), authz.Approved)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
}

// CLOSED is only for a balance with no funds and no open holds, and final: authorizations are
// declined 1004 (62) and reloads refused. Each change records balance.state_changed.
func TestCloseBalance(t *testing.T) {
	f := lt.NewFixture(t, 0)
	f.Manage("fund", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.Reload(lt.BalanceID, 500, "", env)
		return r
	})
	auth := lt.Auth(lt.PAN, 500, "000001")
	f.Expect(auth, authz.Approved)
	refused := func(action ledger.BalanceAction, code string) {
		t.Helper()
		tx := f.State.Begin()
		if _, r := tx.SetBalanceState(lt.BalanceID, action, ledger.Origin{}); r == nil || r.Code != code {
			t.Fatalf("%s: refusal %v, want %s", action, r, code)
		}
		if !tx.Empty() {
			t.Fatalf("%s: a refused change wrote something", action)
		}
		tx.Rollback()
	}
	refused(ledger.BalanceClose, "BALANCE_HAS_HOLDS")
	f.Expect(lt.FollowUp("0220", auth, 500, "000002"), authz.Approved) // captured: current 0
	tx := f.State.Begin()
	b, r := tx.SetBalanceState(lt.BalanceID, ledger.BalanceClose, ledger.Origin{Source: "admin", Actor: "mona"})
	if r != nil || b.State != ledger.BalanceClosed {
		t.Fatalf("close: %v %s", r, b.State)
	}
	ev := tx.Events()
	if len(ev) != 1 || ev[0].Type != ledger.EventBalanceStateChanged || ev[0].Type.String() != "balance.state_changed" ||
		ev[0].PreviousStatus != "ACTIVE" || ev[0].Status != "CLOSED" || ev[0].BalanceID != lt.BalanceID ||
		ev[0].CustomerID != lt.Customer || ev[0].Source != "admin" || ev[0].Actor != "mona" {
		t.Fatalf("events %+v", ev)
	}
	f.CommitTx(tx)
	f.Expect(lt.Auth(lt.PAN, 1, "000003"), authz.RestrictedCard)
	refused(ledger.BalanceUnblock, "BALANCE_CLOSED")
	refused(ledger.BalanceBlock, "BALANCE_CLOSED")
	tx = f.State.Begin()
	if _, r := tx.Reload(lt.BalanceID, 100, "", &ledger.Env{Now: f.Now}); r == nil || r.Code != "BALANCE_CLOSED" {
		t.Fatalf("reload of a closed balance: %v", r)
	}
	tx.Rollback()
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
}

// A partner balance is not blocked or closed through the user balance states.
func TestBalanceStatePartnerRefused(t *testing.T) {
	f := lt.NewFixture(t, 0)
	f.AddPartner("partner-1", 1000)
	tx := f.State.Begin()
	defer tx.Rollback()
	if _, r := tx.SetBalanceState("partner-1", ledger.BalanceBlock, ledger.Origin{}); r == nil || r.Code != "NOT_A_USER_BALANCE" {
		t.Fatalf("partner blocked: %v", r)
	}
	if _, r := tx.SetBalanceState("nope", ledger.BalanceBlock, ledger.Origin{}); r == nil || r.Kind != ledger.NotFound {
		t.Fatalf("unknown balance: %v", r)
	}
}
