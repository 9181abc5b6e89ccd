package journal_test

import (
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// loadHistory opens the store in dir and loads it in History mode, as the switch does.
func loadHistory(t *testing.T, dir string, key []byte) (*journal.Badger, *ledger.State) {
	t.Helper()
	j := open(t, dir, key)
	t.Cleanup(func() { j.Close() })
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	return j, st
}

// markEmpty loads the new store in History mode, as the switch's first start does: the store is
// marked as one that keeps its time indexes.
func markEmpty(t *testing.T, j *journal.Badger) {
	t.Helper()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
}

// afterRestart checks that a recovered State keeps working on what came before the restart (in
// History mode, on history it did not load): the retransmission of an approval gets its first
// answer and holds nothing more, and the holds opened before expire once, through the journal.
func afterRestart(t *testing.T, before *lt.Fixture, j *journal.Badger, st *ledger.State) {
	t.Helper()
	f := &lt.Fixture{T: t, State: st, Env: before.Env, Now: before.Now, Programs: before.Programs, Commit: j.Commit}
	f.Expect(lt.Auth(secretPAN, 2000, "000002"), authz.Approved)
	f.ExpectBalance("bal-9", 7150, 2300)
	expire := func(at time.Time) int {
		tx := st.Begin()
		env := f.Env
		env.Now = at
		f.Load(tx, &ledger.Keys{ExpireMax: 100}, &env)
		n := tx.ExpireHolds(&env, 100)
		f.CommitTx(tx)
		return n
	}
	if n := expire(f.Now.Add(30 * time.Minute)); n != 0 {
		t.Errorf("%d holds released half-way to their expiry", n)
	}
	if n := expire(f.Now.Add(2 * time.Hour)); n != 2 {
		t.Errorf("after load, %d holds expire, want 2 (the expiry index is in the journal)", n)
	}
	if n := expire(f.Now.Add(3 * time.Hour)); n != 0 {
		t.Errorf("%d holds released a second time", n)
	}
	f.ExpectBalance("bal-9", 7150, 0)
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
}

// A store written in History mode recovers by key: the same auth records, replies and books as
// before the restart, without reading them.
func TestHistoryRoundTrip(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	markEmpty(t, j)
	f := fill(t, lt.NewHistoryFixture(t, 50000, j))
	want := lt.Take(f.State, cardIDs...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, st := loadHistory(t, dir, key)
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("recovered state differs from the committed one:\n%s", d)
	}
	if got := st.RetentionQueueLen(); got != want.Counts["auths"]+want.Counts["replies"]+1 {
		// +1: the reply deleted by hand in fill still has its aging entry (checked when due).
		t.Errorf("aging entries after recovery: %d, want %d", got, want.Counts["auths"]+want.Counts["replies"]+1)
	}
	afterRestart(t, f, j2, st)
}

// withoutIndexes writes a store as the versions before History mode did: the rows, without the
// time indexes (and without the marker, which only Load writes).
type withoutIndexes struct{ *journal.Badger }

func (w withoutIndexes) Commit(changes []ledger.Change) error {
	var rows []ledger.Change
	for _, c := range changes {
		if c.Table != ledger.TableExpiry && c.Table != ledger.TableAging {
			rows = append(rows, c)
		}
	}
	return w.Badger.Commit(rows)
}

// A store written with the history in memory (before History mode) is read in full once, its
// time indexes are written, and the next start reads keys only.
func TestHistoryMigratesAStoreWithoutIndexes(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	f := fill(t, lt.NewHistoryFixture(t, 50000, withoutIndexes{j}))
	want := lt.Take(f.State, cardIDs...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, st := loadHistory(t, dir, key)
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("migrated state differs from the committed one:\n%s", d)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	j3, st := loadHistory(t, dir, key)
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("state recovered by key after the migration differs:\n%s", d)
	}
	afterRestart(t, f, j3, st)
}

// Retention in History mode forgets, through the journal, the replies and the money-less closed
// auth records past the retention, and keeps the books.
func TestHistoryRetention(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	defer j.Close()
	markEmpty(t, j)
	f := lt.NewHistoryFixture(t, 10000, j)
	declined := lt.Auth(lt.PAN, 999999, "000001") // insufficient funds: nothing to keep
	kept := lt.Auth(lt.PAN, 1000, "000002")       // a captured purchase: the books
	f.Expect(declined, authz.InsufficientFunds)
	f.Expect(kept, authz.Approved)
	f.Expect(lt.FollowUp("0220", kept, 1000, "000003"), authz.Approved)
	before := f.State.Counts()
	prune := func(cutoff time.Time) int {
		tx := f.State.Begin()
		env := f.Env
		env.Now = f.Now
		f.Load(tx, &ledger.Keys{PruneBeforeNanos: cutoff.UnixNano(), PruneMax: 100}, &env)
		n := tx.Prune(cutoff.UnixNano(), 100)
		f.CommitTx(tx)
		return n
	}
	if n := prune(f.Now); n != 0 {
		t.Fatalf("pruned %d records not yet past the retention", n)
	}
	n := prune(f.Now.Add(time.Nanosecond))
	after := f.State.Counts()
	// The completion's reply and the declined auth record (with the answer it kept) go; the
	// captured record stays.
	if n != 2 || after["replies"] != before["replies"]-1 || after["auths"] != before["auths"]-1 {
		t.Fatalf("pruned %d: counts %v -> %v", n, before, after)
	}
	if _, ok := f.State.Auth(ledger.OriginalKey(kept.BaseMTI, kept.STAN, kept.F7, kept.AcquirerID)); !ok {
		t.Error("the captured auth record was forgotten")
	}
	if got := f.State.RetentionQueueLen(); got != 0 {
		t.Errorf("aging entries left: %d", got)
	}
	// Forgotten means gone from the journal: a restart finds the same counts.
	j.Close()
	_, st := loadHistory(t, dir, key)
	if got := st.Counts(); got["auths"] != after["auths"] || got["replies"] != after["replies"] {
		t.Errorf("after restart counts %v, want %v", got, after)
	}
}
