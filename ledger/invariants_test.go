//go:build invariants

package ledger_test

import (
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// assertPanics runs AssertBatch over the changes of a batch corrupt made and expects the
// invariant violation it names.
// The batch loads the auth records named in loaded first, as the engine's prefetch does.
func assertPanics(t *testing.T, f *lt.Fixture, loaded []string, want string, corrupt func(tx *ledger.Tx)) {
	t.Helper()
	tx := f.State.Begin()
	defer tx.Rollback()
	env := f.Env
	env.Now = f.Now
	f.Load(tx, &ledger.Keys{Auths: loaded}, &env)
	corrupt(tx)
	changes := tx.Changes(nil)
	defer func() {
		t.Helper()
		got, _ := recover().(string)
		if !strings.Contains(got, "invariant violated") || !strings.Contains(got, want) {
			t.Fatalf("AssertBatch: panic %q, want one naming %q", got, want)
		}
		if strings.Contains(got, lt.PAN) {
			t.Fatalf("the violation names the PAN: %q", got)
		}
	}()
	ledger.AssertBatch(tx, changes)
}

// The money invariants are checked on every batch in builds with the invariants tag: a batch
// that changes a balance without the auth records to account for it, or the other way round,
// panics before it is durable.
func TestAssertBatchCatchesCorruptBooks(t *testing.T) {
	if !ledger.Invariants {
		t.Fatal("built without the invariants tag")
	}
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 1000, "000001")
	f.Process(auth) // an open hold of 1000, checked by the fixture's commit like any batch
	key := ledger.OriginalKey("0100", auth.STAN, auth.F7, auth.AcquirerID)
	loaded := []string{key, "other"}

	assertPanics(t, f, loaded, "held changed by 100, its open holds by 0", func(tx *ledger.Tx) {
		b, _ := tx.Balance(lt.BalanceID)
		b.HeldMinor += 100
		tx.PutBalance(b)
	})
	assertPanics(t, f, loaded, "current changed by 1, loads by 0, posted by 0", func(tx *ledger.Tx) {
		b, _ := tx.Balance(lt.BalanceID)
		b.CurrentMinor++
		tx.PutBalance(b)
	})
	// A capture booked on the auth record but not on its balance (a skipped balance).
	assertPanics(t, f, loaded, "held changed by 0, its open holds by -1000", func(tx *ledger.Tx) {
		a, _ := tx.Auth(key)
		a.State, a.PostedMinor, a.HeldMinor = ledger.AuthCaptured, 1000, 0
		tx.PutAuth(a)
	})
	// A negative hold, even one the balance mirrors.
	assertPanics(t, f, loaded, "is OPEN and holds -1000", func(tx *ledger.Tx) {
		b, _ := tx.Balance(lt.BalanceID)
		b.HeldMinor -= 2000
		tx.PutBalance(b)
		a, _ := tx.Auth(key)
		a.HeldMinor = -1000
		tx.PutAuth(a)
	})
	assertPanics(t, f, loaded, "is EXPIRED and holds 1000", func(tx *ledger.Tx) {
		a, _ := tx.Auth(key)
		a.State = ledger.AuthExpired
		tx.PutAuth(a)
	})
	assertPanics(t, f, loaded, `money on balance "bal-x", which the ledger does not hold`, func(tx *ledger.Tx) {
		a, _ := tx.Auth(key)
		a.Key, a.BalanceID = "other", "bal-x"
		tx.PutAuth(a)
	})

	// The same kinds of change, booked consistently, pass.
	f.Process(lt.FollowUp("0220", auth, 800, "000002"))
	f.ExpectBalance(lt.BalanceID, 10000-800, 0)
}
