package ledger_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// A completion, reversal or expiry whose auth record names a balance the ledger does not hold
// (a damaged ledger) books nothing and fails the batch with ErrMissingBalance, instead of
// moving the money on the auth record alone.
func TestMoneyOnMissingBalanceIsAnError(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 1000, "000001")
	f.Expect(auth, authz.Approved)
	key := ledger.OriginalKey("0100", auth.STAN, auth.F7, auth.AcquirerID)

	// Damage the record as a bad write would, past the checks of the fixture's commit.
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	f.Load(tx, &ledger.Keys{Auths: []string{key}}, &env)
	a, _ := tx.Auth(key)
	a.BalanceID = "bal-gone"
	tx.PutAuth(a)
	if err := f.Commit(tx.Changes(nil)); err != nil {
		t.Fatal(err)
	}
	tx.Commit()

	completion, reversal := lt.FollowUp("0220", auth, 800, "000002"), lt.FollowUp("0400", auth, 1000, "000003")
	for _, c := range []struct {
		name  string
		keys  func(k *ledger.Keys)
		apply func(tx *ledger.Tx, env *ledger.Env) bool // reports whether the answer is as expected
	}{
		{"completion", func(k *ledger.Keys) { ledger.KeysOf(completion, k) }, func(tx *ledger.Tx, env *ledger.Env) bool {
			return tx.Process(completion, env).Action == authz.SystemError
		}},
		{"reversal", func(k *ledger.Keys) { ledger.KeysOf(reversal, k) }, func(tx *ledger.Tx, env *ledger.Env) bool {
			return tx.Process(reversal, env).Action == authz.SystemError
		}},
		{"expiry", func(k *ledger.Keys) { k.ExpireMax = 10 }, func(tx *ledger.Tx, env *ledger.Env) bool {
			return tx.ExpireHolds(env, 10) == 0
		}},
	} {
		tx := f.State.Begin()
		env.Now = f.Now
		if c.name == "expiry" {
			env.Now = env.Now.Add(30 * 24 * time.Hour)
		}
		var k ledger.Keys
		c.keys(&k)
		f.Load(tx, &k, &env)
		ok := c.apply(tx, &env)
		err := tx.Err()
		tx.Rollback()
		if !ok || !errors.Is(err, ledger.ErrMissingBalance) {
			t.Fatalf("%s on a missing balance: answer as expected %v, batch error %v; want ErrMissingBalance", c.name, ok, err)
		}
	}
	f.ExpectBalance(lt.BalanceID, 10000, 1000)
}

// brokenHistory is the in-memory journal whose scans of auth records fail while broken is set.
type brokenHistory struct {
	*journaltest.Memory
	broken atomic.Bool
}

var errScan = errors.New("scan failed")

func (b *brokenHistory) EachAuth(f func(*ledger.Auth) bool) error {
	if b.broken.Load() {
		return errScan
	}
	return b.Memory.EachAuth(f)
}

// State.Auths reports a journal read error in History mode as an error, not a panic.
func TestAuthsReadErrorIsAnError(t *testing.T) {
	j := &brokenHistory{Memory: journaltest.NewMemory()}
	f := lt.NewHistoryFixture(t, 10000, j)
	f.Expect(lt.Auth(lt.PAN, 1000, "000001"), authz.Approved)
	if auths, err := f.State.Auths(); err != nil || len(auths) != 1 {
		t.Fatalf("Auths: %d records, %v", len(auths), err)
	}
	j.broken.Store(true)
	if _, err := f.State.Auths(); !errors.Is(err, errScan) {
		t.Fatalf("Auths on an unreadable journal: %v, want the read error", err)
	}
}

// An authorization or advice on a card whose balance the ledger does not hold (a damaged ledger)
// is answered 96 and books nothing, instead of holding money on a zero balance with no id.
func TestAuthorizationOnMissingBalanceBooksNothing(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Manage("damage", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		c, _ := tx.Card(lt.CardID)
		c.BalanceID = "bal-gone"
		tx.PutCard(c)
		return nil
	})
	advice := lt.Auth(lt.PAN, 300, "000002")
	advice.MTI, advice.BaseMTI, advice.Kind = "0120", "0120", authz.KindAuthAdvice
	for _, req := range []*authz.Request{lt.Auth(lt.PAN, 1000, "000001"), advice} {
		if r := f.Process(req); r.Action != authz.SystemError {
			t.Fatalf("%s on a card without its balance: %v, want 96", req.MTI, r.Action)
		}
	}
	if _, ok := f.State.Balance("bal-gone"); ok {
		t.Fatal("a balance row was written for the missing balance")
	}
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}
