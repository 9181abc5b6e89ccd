package ledger_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// docs/design.md: "if the journal write fails the overlay is dropped and the State is exactly as
// before; nothing needs undoing." A rolled-back batch that touched every table, released holds
// and took entries of the expiry index leaves the rows, the indexes and what the State knows of
// the journal's records and time indexes as they were.
func TestRollbackLeavesStateUnchanged(t *testing.T) {
	f := lt.NewFixture(t, 100000)
	f.Env.HoldTTL = time.Hour
	open1 := lt.Auth(lt.PAN, 1000, "000001")
	open2 := lt.Auth(lt.PAN, 2000, "000002")
	f.Expect(open1, authz.Approved)
	f.Expect(open2, authz.Approved)
	f.Now = f.Now.Add(30 * time.Minute)
	open3 := lt.Auth(lt.PAN, 3000, "000003")
	f.Expect(open3, authz.Approved)

	before := lt.Take(f.State, lt.CardID, "card-2")
	histBefore := f.State.HistoryBounds()
	cardsBefore := f.State.CardIDsOfBalance(lt.BalanceID)

	batch := func(tx *ledger.Tx) []any {
		env := f.Env
		env.Now = f.Now.Add(45 * time.Minute) // open1 and open2 are due, open3 is not
		reqs := []*authz.Request{lt.Auth(lt.PAN, 500, "000010"), lt.FollowUp("0220", open3, 2500, "000011"),
			lt.FollowUp("0400", lt.Auth(lt.PAN, 1, "999999"), 1, "000012"),
			lt.Req("0120", "000000", lt.PAN, 700, "000013"), lt.Req("0200", "200000", lt.PAN, 900, "000014")}
		k := ledger.Keys{ExpireMax: 100}
		for _, r := range reqs {
			ledger.KeysOf(r, &k)
		}
		ledger.ReloadKeys(lt.BalanceID, "idem-1", &k)
		f.Load(tx, &k, &env)
		var out []any
		out = append(out, tx.ExpireHolds(&env, 100))
		for _, r := range reqs {
			out = append(out, tx.Process(r, &env))
		}
		c, r := tx.CreateCustomer(ledger.Customer{ID: "cust-2", ExternalID: "ext-2", Email: "b@example.org"}, &env)
		out = append(out, c.ID, r == nil)
		_, r = tx.Reload(lt.BalanceID, 5000, "idem-1", &env)
		out = append(out, r == nil)
		_, r = tx.IssueCard(ledger.Card{ID: "card-2", BalanceID: lt.BalanceID, Type: ledger.CardVirtual,
			PANHash: "5351100000000002", PAN: "5351100000000002", ExpiryYYMM: lt.Expiry}, &env)
		out = append(out, r == nil)
		_, r = tx.ChangeCard(lt.CardID, ledger.ChangeLock, authz.LockSuspectedFraud)
		out = append(out, r == nil)
		return out
	}

	tx := f.State.Begin()
	first := batch(tx)
	if first[0] != 2 {
		t.Fatalf("the batch released %v holds, want 2", first[0])
	}
	tx.Rollback()

	if d := lt.Diff(before, lt.Take(f.State, lt.CardID, "card-2")); d != "" {
		t.Fatalf("rollback left the state changed:\n%s", d)
	}
	if got := f.State.HistoryBounds(); got != histBefore {
		t.Fatalf("rollback changed the history's bounds:\n got %s\nwant %s", got, histBefore)
	}
	if got := f.State.CardIDsOfBalance(lt.BalanceID); !slices.Equal(got, cardsBefore) {
		t.Fatalf("rollback changed the cards of the balance: %v, want %v", got, cardsBefore)
	}
	if _, ok := f.State.CardIDByPANHash("5351100000000002"); ok {
		t.Fatal("rollback left the new card in the PAN index")
	}
	if _, ok := f.State.CustomerIDByExternal("ext-2"); ok {
		t.Fatal("rollback left the new customer in the external-id index")
	}
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}

	// The same batch again, on the same (reset) Tx, gives the same answers and now commits.
	second := batch(tx)
	if len(first) != len(second) {
		t.Fatalf("replayed batch: %d results, want %d", len(second), len(first))
	}
	for i := range first {
		if a, ok := first[i].(authz.Response); ok {
			b := second[i].(authz.Response)
			if a.Action != b.Action || a.AuthCode != b.AuthCode || a.AvailableMinor != b.AvailableMinor {
				t.Errorf("result %d: %+v after rollback, %+v before", i, b, a)
			}
		} else if first[i] != second[i] {
			t.Errorf("result %d: %v after rollback, %v before", i, second[i], first[i])
		}
	}
	f.CommitTx(tx)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
	f.ExpectBalance(lt.BalanceID, 100000-2500+900+5000, 500+700)
}

// A Tx dropped without Commit or Rollback never reaches the State either (the overlay is the
// only place writes go).
func TestUncommittedTxInvisible(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	if resp := tx.Process(lt.Auth(lt.PAN, 100, "000001"), &env); resp.Action != authz.Approved {
		t.Fatal(resp.Action)
	}
	if b, _ := tx.Balance(lt.BalanceID); b.HeldMinor != 100 {
		t.Fatalf("the Tx does not see its own hold: %+v", b)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	if tx.Empty() {
		t.Fatal("Tx with writes reports Empty")
	}
	tx.Reset()
	if !tx.Empty() {
		t.Fatal("Reset Tx is not Empty")
	}
}
