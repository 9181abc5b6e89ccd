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

var errUnreadable = errors.New("every read fails")

// failingReads is an in-memory journal whose every read fails while broken is set; commits
// keep working.
type failingReads struct {
	*journaltest.Memory
	broken atomic.Bool
	reads  atomic.Int64 // reads attempted while broken
}

func (f *failingReads) fail() bool {
	if f.broken.Load() {
		f.reads.Add(1)
		return true
	}
	return false
}

func (f *failingReads) ReadAuth(key string) (ledger.Auth, bool, error) {
	if f.fail() {
		return ledger.Auth{}, false, errUnreadable
	}
	return f.Memory.ReadAuth(key)
}

func (f *failingReads) ReadReply(key string) (ledger.Reply, bool, error) {
	if f.fail() {
		return ledger.Reply{}, false, errUnreadable
	}
	return f.Memory.ReadReply(key)
}

func (f *failingReads) ReadIndex(table string, max int) ([]ledger.IndexRow, error) {
	if f.fail() {
		return nil, errUnreadable
	}
	return f.Memory.ReadIndex(table, max)
}

func (f *failingReads) EachAuth(fn func(*ledger.Auth) bool) error {
	if f.fail() {
		return errUnreadable
	}
	return f.Memory.EachAuth(fn)
}

// A Tx does no I/O: once Load has read what a batch names, the journal may fail every read
// and the batch still decides follow-ups, retransmissions, hold expiry and retention on the
// committed records, and commits. With the journal failing from the start, Load is what fails,
// before anything is applied.
func TestTxDoesNoIO(t *testing.T) {
	j := &failingReads{Memory: journaltest.NewMemory()}
	f := lt.NewHistoryFixture(t, 10000, j)
	kept := lt.Auth(lt.PAN, 1000, "000001")     // retransmitted, then captured
	reversed := lt.Auth(lt.PAN, 2000, "000002") // reversed in the batch
	expiring := lt.Auth(lt.PAN, 3000, "000003") // due when the batch runs
	declined := lt.Auth(lt.PAN, 999999, "000004")
	f.Expect(kept, authz.Approved)
	f.Expect(reversed, authz.Approved)
	f.Expect(declined, authz.InsufficientFunds)
	f.Now = f.Now.Add(-time.Duration(ledger.DefaultHoldTTL)) // expiring: opened a hold TTL earlier
	f.Expect(expiring, authz.Approved)
	f.Now = f.Now.Add(time.Duration(ledger.DefaultHoldTTL) + time.Minute)
	f.ExpectBalance(lt.BalanceID, 10000, 6000)

	env := f.Env
	env.Now = f.Now
	msgs := []*authz.Request{
		lt.Req("0101", "000000", lt.PAN, 1000, "000001"), // repeat of kept: the remembered answer
		lt.FollowUp("0400", reversed, 2000, "000005"),
		lt.FollowUp("0220", kept, 1000, "000006"),
		lt.Auth(lt.PAN, 100, "000007"), // new: nothing to read
	}
	keys := ledger.Keys{ExpireMax: 100, PruneBeforeNanos: env.Now.UnixNano(), PruneMax: 100}
	for _, m := range msgs {
		ledger.KeysOf(m, &keys)
	}

	broken := f.State.Begin()
	j.broken.Store(true)
	if err := broken.Load(&keys, &env); !errors.Is(err, errUnreadable) {
		t.Fatalf("Load with every read failing: %v, want the read error", err)
	}
	broken.Rollback()
	j.broken.Store(false)

	tx := f.State.Begin()
	f.Load(tx, &keys, &env)
	j.broken.Store(true) // from here every journal read fails
	j.reads.Store(0)
	want := []authz.ActionCode{authz.Approved, authz.Approved, authz.Approved, authz.Approved}
	for i, m := range msgs {
		if r := tx.Process(m, &env); r.Action != want[i] {
			t.Fatalf("message %d (%s): %v, want %v", i, m.MTI, r.Action, want[i])
		}
	}
	if n := tx.ExpireHolds(&env, 100); n != 1 {
		t.Fatalf("released %d holds, want 1", n)
	}
	if n := tx.Prune(env.Now.UnixNano(), 100); n == 0 {
		t.Fatal("retention forgot nothing")
	}
	f.CommitTx(tx) // fails the test on a Tx error
	if n := j.reads.Load(); n != 0 {
		t.Fatalf("the Tx read the journal %d times", n)
	}
	j.broken.Store(false)
	// kept captured for 1000, the new authorization holds 100; the rest released.
	f.ExpectBalance(lt.BalanceID, 9000, 100)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
}

// A record a batch reads without having loaded it refuses the batch (ErrNotLoaded) rather than
// deciding on a record it did not see.
func TestReadWithoutLoadRefusesTheBatch(t *testing.T) {
	f := lt.NewHistoryFixture(t, 10000, journaltest.NewMemory())
	auth := lt.Auth(lt.PAN, 1000, "000001")
	f.Expect(auth, authz.Approved)
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	tx.Process(lt.FollowUp("0400", auth, 1000, "000002"), &env) // no Load
	if err := tx.Err(); !errors.Is(err, ledger.ErrNotLoaded) {
		t.Fatalf("Err %v, want ErrNotLoaded", err)
	}
	tx.Rollback()
	f.ExpectBalance(lt.BalanceID, 10000, 1000)
}
