package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

const walletPAN = "5351109000000011"

func walletRegistration(vcid string) ledger.RegisterWalletToken {
	id := ledger.WalletTokenID(vcid)
	return ledger.RegisterWalletToken{
		Token: ledger.Token{ID: id, CardID: lt.CardID, PANHash: walletPAN, PAN: walletPAN, Last4: "0011", ExpiryYYMM: "3012",
			PSN: "00", State: authz.TokenInactive, Type: ledger.TokenSE, WalletProvider: "APPLE_PAY"},
		Wallet: ledger.WalletToken{TokenID: id, VirtualCardID: vcid, WalletProviderID: "APPLE_PAY", WalletCardRefID: "wcr"},
		Change: ledger.WalletTokenChange{CorrelationID: "c-1", Operation: "notifyVirtualCardChange"},
	}
}

// The wallet token commands: registration with its first history entry, a change refused when
// the token moved meanwhile (TOKEN_CHANGED), state changes recorded with their correlation ids,
// RENEW to a PAN in use refused, ERASE keeping the PAN's hash, and the history bound.
func TestWalletTokenCommands(t *testing.T) {
	f := lt.NewFixture(t, 100_00)
	apply := func(cmd interface {
		Apply(*ledger.Tx, *ledger.Env) ledger.Result[ledger.WalletToken]
	}) ledger.Result[ledger.WalletToken] {
		t.Helper()
		var r ledger.Result[ledger.WalletToken]
		f.Manage("wallet", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
			r = cmd.Apply(tx, env)
			return nil
		})
		return r
	}
	reg := walletRegistration("vc-1")
	id := reg.Token.ID
	if r := apply(reg); r.Refusal != nil || len(r.Value.History) != 1 || r.Value.History[0].State != authz.TokenInactive {
		t.Fatalf("register: %+v", r)
	}
	if r := apply(reg); r.Refusal == nil || r.Refusal.Code != "TOKEN_EXISTS" {
		t.Fatalf("second registration: %+v", r.Refusal)
	}
	change := func(expect, to authz.TokenState, corr string) ledger.ChangeWalletToken {
		return ledger.ChangeWalletToken{TokenID: id, ExpectState: expect, State: to,
			Change: ledger.WalletTokenChange{CorrelationID: corr, Operation: "notifyVirtualCardChange", Action: "X"}}
	}
	if r := apply(change(authz.TokenActive, authz.TokenSuspended, "c-2")); r.Refusal == nil || r.Refusal.Code != "TOKEN_CHANGED" {
		t.Fatalf("stale decision applied: %+v", r)
	}
	if r := apply(change(authz.TokenInactive, authz.TokenActive, "c-3")); r.Refusal != nil {
		t.Fatal(r.Refusal)
	}
	if tok, _ := f.State.Token(id); tok.State != authz.TokenActive {
		t.Fatalf("state %s", tok.State)
	}
	renew := change(authz.TokenActive, "", "c-4")
	renew.PANHash, renew.PAN, renew.Last4 = lt.PAN, lt.PAN, "xxxx" // the card's own PAN
	if r := apply(renew); r.Refusal == nil || r.Refusal.Code != "TOKEN_EXISTS" {
		t.Fatalf("renew to a card PAN: %+v", r.Refusal)
	}
	erase := change(authz.TokenActive, authz.TokenDeleted, "c-5")
	erase.Erase = true
	r := apply(erase)
	tok, _ := f.State.Token(id)
	if r.Refusal != nil || !r.Value.Erased || r.Value.WalletCardRefID != "" || tok.PAN != "" || tok.PANHash != walletPAN ||
		tok.State != authz.TokenDeleted {
		t.Fatalf("erase: %+v %+v", r, tok)
	}
	if got, _ := f.State.WalletToken(id); len(got.History) != 3 || got.History[2].CorrelationID != "c-5" {
		t.Fatalf("history: %+v", got.History)
	}
	for i := 0; i < 100; i++ {
		apply(change(authz.TokenDeleted, "", "many"))
	}
	if got, _ := f.State.WalletToken(id); len(got.History) != 64 || got.History[0].CorrelationID == "c-1" {
		t.Fatalf("history not bounded: %d", len(got.History))
	}
}
