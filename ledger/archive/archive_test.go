package archive_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/archive"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
	"github.com/cardswitch/cardswitch/ledger/wal"
	"github.com/cardswitch/cardswitch/ledger/wal/faultfs"
)

const (
	retention = 7 * 24 * time.Hour
	after     = 30 * 24 * time.Hour
	perTick   = 1024
)

var dataKey = make([]byte, 32)

// world is a ledger fixture over the in-memory journal with an archive on fs.
type world struct {
	t     *testing.T
	f     *lt.Fixture
	mem   *journaltest.Memory
	fs    wal.FS
	store *archive.Store
	arch  *archive.Archiver
	segB  int64
}

func newWorld(t *testing.T, fs wal.FS, segmentBytes int64) *world {
	t.Helper()
	f, mem := lt.NewMemoryJournalFixture(t, 1_000_000)
	w := &world{t: t, f: f, mem: mem, fs: fs, segB: segmentBytes}
	w.open()
	f.State.SetArchiving(true)
	return w
}

// open (re)opens the archive on w.fs, as a restart does.
func (w *world) open() {
	w.t.Helper()
	s, err := archive.Open(archive.Options{Dir: "/data/archive", DataKey: dataKey, FS: w.fs, SegmentBytes: w.segB})
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = s
	w.arch = archive.NewArchiver(s, after, perTick, nil)
	w.f.State.SetArchive(s)
}

// prepare runs what the engine's expiry tick runs (engine.expire), in a batch it returns
// uncommitted.
func (w *world) prepare() *ledger.Tx {
	w.t.Helper()
	tx := w.f.State.Begin()
	env := w.f.Env
	env.Now = w.f.Now
	tx.SetBatchTime(env.Now)
	cutoff := env.Now.Add(-retention).UnixNano()
	k := ledger.Keys{ExpireMax: perTick, PruneBeforeNanos: cutoff, PruneMax: perTick}
	w.f.Load(tx, &k, &env)
	tx.ExpireHolds(&env, perTick)
	tx.Prune(cutoff, perTick)
	w.arch.Step(tx, &env)
	return tx
}

// tick is one expiry tick, committed.
func (w *world) tick() { w.t.Helper(); w.f.CommitTx(w.prepare()) }

// age moves the clock on by d and runs expiry ticks until one changes nothing (each tick reads
// a bounded part of the time indexes, as the engine's do).
func (w *world) age(d time.Duration) {
	w.t.Helper()
	w.f.Now = w.f.Now.Add(d)
	for range 100 {
		tx := w.prepare()
		if tx.Empty() {
			w.f.CommitTx(tx)
			return
		}
		w.f.CommitTx(tx)
	}
	w.t.Fatal("expiry ticks never settled")
}

// approveAndCapture runs n authorizations of amount each and their completions.
func (w *world) approveAndCapture(from, n int, amount int64) []*authz.Request {
	w.t.Helper()
	var out []*authz.Request
	for i := from; i < from+n; i++ {
		a := lt.Auth(lt.PAN, amount, fmt.Sprintf("%06d", 2*i+1))
		w.f.Expect(a, authz.Approved)
		w.f.Expect(lt.FollowUp("0220", a, amount, fmt.Sprintf("%06d", 2*i+2)), authz.Approved)
		out = append(out, a)
	}
	return out
}

// history is the card's records, hot and archived, by key; it fails on a record listed twice.
func (w *world) history() map[string]ledger.Auth {
	w.t.Helper()
	auths, err := w.f.State.AuthsOf([]string{lt.CardID}, func(*ledger.Auth) bool { return true })
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]ledger.Auth{}
	for _, a := range auths {
		if _, dup := out[a.Key]; dup {
			w.t.Fatalf("record %s listed twice", a.Key)
		}
		out[a.Key] = a
	}
	return out
}

func (w *world) checkBooks() {
	w.t.Helper()
	if err := lt.CheckBooks(w.f.State); err != nil {
		w.t.Fatal(err)
	}
}

func keyOf(a *authz.Request) string {
	return ledger.OriginalKey(a.BaseMTI, a.STAN, a.F7, a.AcquirerID)
}

// A captured authorization older than archiveAfter leaves the hot store (journal and key set)
// for the archive, and the card's history still lists it, as it was; an open hold and a young
// capture stay hot; the books still balance (they read the archive).
func TestArchiveMovesClosedRecords(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	old := w.approveAndCapture(0, 3, 1000)
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick() // retention hands the three records to the archiving index
	if c := w.f.State.Counts()["auths"]; c != 3 {
		t.Fatalf("retention forgot records that moved money: %d left", c)
	}
	w.f.Now = w.f.Now.Add(after)
	young := w.approveAndCapture(10, 1, 700)
	w.tick()
	if c := w.f.State.Counts()["auths"]; c != 1 {
		t.Fatalf("hot auth records after archiving: %d, want 1 (the young one)", c)
	}
	for _, a := range old {
		if _, ok := w.f.State.Auth(keyOf(a)); ok {
			t.Fatalf("archived record %s still in the hot store", keyOf(a))
		}
	}
	h := w.history()
	if len(h) != 4 {
		t.Fatalf("history lists %d records, want 4", len(h))
	}
	for _, a := range old {
		got := h[keyOf(a)]
		if got.State != ledger.AuthCaptured || got.PostedMinor != 1000 || got.CardID != lt.CardID || got.CreatedAtUnixNano != lt.Epoch.UnixNano() {
			t.Fatalf("archived record read back as %+v", got)
		}
	}
	if _, ok := h[keyOf(young[0])]; !ok {
		t.Fatal("the young record is missing from the history")
	}
	w.checkBooks()
	// The journal no longer holds them either: a replay has one auth record.
	st := ledger.NewState(w.mem)
	if err := w.mem.Load(st); err != nil {
		t.Fatal(err)
	}
	if c := st.Counts()["auths"]; c != 1 {
		t.Fatalf("the journal still holds %d auth records", c)
	}
	// And the archive survives a restart.
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	w.open()
	if len(w.history()) != 4 {
		t.Fatal("archived records lost by a restart of the archive")
	}
}

// Heap: once archived, nothing of a record stays in the State: its key-set entry goes, and no
// index entry is left waiting (counted, not timed).
func TestArchiveLeavesNothingInMemory(t *testing.T) {
	const n = 300
	w := newWorld(t, faultfs.New(), 0)
	w.approveAndCapture(0, n, 10)
	if c := w.f.State.Counts()["auths"]; c != n {
		t.Fatalf("before: %d auth records", c)
	}
	w.age(retention + time.Hour)
	w.age(after)
	c := w.f.State.Counts()
	if c["auths"] != 0 || c["replies"] != 0 {
		t.Fatalf("after archiving the State still counts %v", c)
	}
	if w.f.State.RetentionQueueLen() != 0 || w.f.State.ArchivingPending() {
		t.Fatalf("index entries left: retention %d, archiving pending %v", w.f.State.RetentionQueueLen(), w.f.State.ArchivingPending())
	}
	if len(w.history()) != n {
		t.Fatalf("history lists %d of %d", len(w.history()), n)
	}
	if s := w.store.Stats(); s.Records != n {
		t.Fatalf("archive stats %+v", s)
	}
	w.checkBooks()
}

// After archiving, a follow-up naming the original finds no original: a late reversal is
// answered 25 and gives no money back (an unknown original, as for forgotten records), and a
// retransmission of the original is processed as a new message.
func TestArchivedOriginalIsUnknown(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	origs := w.approveAndCapture(0, 2, 1000)
	w.age(retention + time.Hour)
	w.age(after)
	before := w.f.Balance(lt.BalanceID)
	w.f.Expect(lt.FollowUp("0400", origs[0], 1000, "900001"), authz.OriginalNotFound)
	if got := w.f.Balance(lt.BalanceID); got.CurrentMinor != before.CurrentMinor || got.HeldMinor != 0 {
		t.Fatalf("a late reversal of an archived original moved money: %+v -> %+v", before, got)
	}
	// Its original, should it come again, is then declined as one reversed before it came.
	w.f.Expect(lt.Auth(lt.PAN, 1000, origs[0].STAN), authz.DoNotHonour)
	// A retransmission of the other original is a new authorization, with a hold of its own.
	w.f.Expect(lt.Auth(lt.PAN, 1000, origs[1].STAN), authz.Approved)
	w.f.ExpectBalance(lt.BalanceID, before.CurrentMinor, 1000)
	w.checkBooks()
}

// Crash point 1: the archive is durable, the batch deleting the records is not (a crash, or a
// failed journal write). The records are in both places; reads list each once and the books
// count each once; the next tick archives them again and the archive's second copy is not
// listed either.
func TestArchiveCrashBetweenArchiveAndBatch(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	w.approveAndCapture(0, 5, 100)
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick()
	w.f.Now = w.f.Now.Add(after)
	tx := w.prepare()
	tx.Rollback() // the batch never became durable
	if c := w.f.State.Counts()["auths"]; c != 5 {
		t.Fatalf("hot records: %d", c)
	}
	if len(w.history()) != 5 {
		t.Fatal("history does not list each record once")
	}
	w.checkBooks()
	w.tick()
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("not archived on the next tick: %d hot", c)
	}
	if len(w.history()) != 5 {
		t.Fatal("history does not list each record once after archiving it twice")
	}
	if s := w.store.Stats(); s.Records != 10 {
		t.Fatalf("archive holds %d records, want two copies of each", s.Records)
	}
	w.checkBooks()
}

// Crash point 1, then the hot copy changes: a reversal gives the money back, the record is
// forgotten on the next tick, and the stale copy the crash left in the archive must not come
// back (it is hidden by the record of the forgetting).
func TestArchiveStaleCopyHiddenWhenForgotten(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	orig := w.approveAndCapture(0, 1, 1000)[0]
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick()
	w.f.Now = w.f.Now.Add(after)
	w.prepare().Rollback()
	w.f.Expect(lt.FollowUp("0400", orig, 1000, "900001"), authz.Approved) // the hot record: money back
	w.tick()
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("hot records: %d", c)
	}
	if h := w.history(); len(h) != 0 {
		t.Fatalf("the stale archived copy came back: %+v", h)
	}
	w.checkBooks()
}

// Crash point 2: a crash during the archive's write (torn blocks, the fdatasync never done).
// The append fails, the records stay hot; the restarted archive drops the torn tail, and the
// next tick archives them.
func TestArchiveCrashDuringWrite(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			fs := faultfs.New()
			w := newWorld(t, fs, 0)
			w.approveAndCapture(0, 40, 100)
			w.f.Now = w.f.Now.Add(retention + time.Hour)
			w.tick()
			w.f.Now = w.f.Now.Add(after)
			var crashed *faultfs.FS
			fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Suffix: ".seg", Nth: 2, Err: errors.New("power lost"),
				Hook: func() { crashed = fs.Crash(rand.New(rand.NewPCG(seed, 1))) }})
			w.tick() // the first sync (the segment's header) passes, the block's does not
			if crashed == nil {
				t.Fatal("the fault never fired")
			}
			if c := w.f.State.Counts()["auths"]; c != 40 {
				t.Fatalf("records left the hot store though the archive failed: %d hot", c)
			}
			w.fs = crashed
			w.open()
			if n := len(w.history()); n != 40 {
				t.Fatalf("history lists %d records", n)
			}
			w.tick()
			if c := w.f.State.Counts()["auths"]; c != 0 {
				t.Fatalf("not archived after the restart: %d hot", c)
			}
			if n := len(w.history()); n != 40 {
				t.Fatalf("history lists %d records", n)
			}
			w.checkBooks()
			w.store.Close()
			w.open() // and once more from what is on disk
			if n := len(w.history()); n != 40 {
				t.Fatalf("history lists %d records after a restart", n)
			}
		})
	}
}

// Crash point 3: a full segment is closed after its records are durable; a crash while its
// index is written leaves a segment without an index, which the next open indexes.
func TestArchiveCrashDuringSegmentClose(t *testing.T) {
	fs := faultfs.New()
	w := newWorld(t, fs, 1) // every append fills its segment
	w.approveAndCapture(0, 6, 100)
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick()
	w.f.Now = w.f.Now.Add(after)
	fs.Inject(faultfs.Fault{Op: faultfs.OpRename, Nth: 1, Err: errors.New("power lost")})
	w.tick()
	if fs.Calls(faultfs.OpRename) != 1 {
		t.Fatal("the segment was not closed")
	}
	crashed := fs.Crash(rand.New(rand.NewPCG(7, 1))) // the power is lost right after
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("records durable in the archive were kept hot: %d", c)
	}
	w.fs = crashed
	w.open()
	if n := len(w.history()); n != 6 {
		t.Fatalf("history lists %d records after the crash", n)
	}
	w.checkBooks()
}

// A failing fdatasync (no crash): the records stay hot and are archived by a later tick; the
// archive goes on in a new segment.
func TestArchiveSyncFailureRetried(t *testing.T) {
	fs := faultfs.New()
	w := newWorld(t, fs, 0)
	w.approveAndCapture(0, 4, 100)
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick()
	w.f.Now = w.f.Now.Add(after)
	fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Suffix: ".seg", Nth: 2, Err: errors.New("EIO")})
	w.tick()
	if c := w.f.State.Counts()["auths"]; c != 4 {
		t.Fatalf("records left the hot store though the archive failed: %d hot", c)
	}
	if w.arch.Failures() != 1 {
		t.Fatalf("failures %d", w.arch.Failures())
	}
	fs.ClearFaults()
	w.tick()
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("not archived on the retry: %d hot", c)
	}
	if n := len(w.history()); n != 4 {
		t.Fatalf("history lists %d records", n)
	}
	w.checkBooks()
}

// The history of one card reads only the segments' indexes and the blocks naming it: another
// card's records are not listed, and closed segments are read through their index.
func TestArchiveIndexByCard(t *testing.T) {
	w := newWorld(t, faultfs.New(), 1) // one segment per tick, closed and indexed
	w.f.AddCustomerBalance("cust-2", "bal-2", "EUR", 1_000_000)
	w.f.IssueCard("card-2", "bal-2", "5351100000000019")
	w.approveAndCapture(0, 3, 100)
	other := lt.Auth("5351100000000019", 50, "700001")
	w.f.Expect(other, authz.Approved)
	w.f.Expect(lt.FollowUp("0220", other, 50, "700002"), authz.Approved)
	w.f.Now = w.f.Now.Add(retention + time.Hour)
	w.tick()
	w.f.Now = w.f.Now.Add(after)
	w.tick()
	if n := len(w.history()); n != 3 {
		t.Fatalf("card-1 history lists %d records", n)
	}
	got, err := w.f.State.AuthsOf([]string{"bal-2"}, func(*ledger.Auth) bool { return true })
	if err != nil || len(got) != 1 || got[0].CardID != "card-2" {
		t.Fatalf("bal-2 history: %+v %v", got, err)
	}
	w.checkBooks()
}

// A block whose frame checks but which does not open is not a torn tail: with the wrong data
// key the archive refuses to open instead of cutting the open segment off.
func TestArchiveWrongKeyRefusesToOpen(t *testing.T) {
	fs := faultfs.New()
	w := newWorld(t, fs, 0)
	w.approveAndCapture(0, 2, 100)
	w.age(retention + time.Hour)
	w.age(after)
	w.store.Close()
	other := make([]byte, 32)
	other[0] = 1
	if _, err := archive.Open(archive.Options{Dir: "/data/archive", DataKey: other, FS: fs}); err == nil {
		t.Fatal("opened the archive under another data key")
	}
	w.open() // the right key still reads everything: nothing was cut off
	if n := len(w.history()); n != 2 {
		t.Fatalf("history lists %d records", n)
	}
}

// Histories are read while the engine archives (run with -race): a reader sees every record,
// hot or archived, exactly once at every moment, while segments fill and close.
func TestArchiveReadsDuringArchiving(t *testing.T) {
	w := newWorld(t, faultfs.New(), 2048)
	w.approveAndCapture(0, 200, 10)
	w.age(retention + time.Hour)
	w.f.Now = w.f.Now.Add(after)
	stop := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			auths, err := w.f.State.AuthsOf([]string{lt.CardID}, func(*ledger.Auth) bool { return true })
			if err == nil && len(auths) != 200 {
				err = fmt.Errorf("a reader saw %d records", len(auths))
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 20 {
		w.tick()
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("%d records left hot", c)
	}
}

// A record still open when it is due (a hold longer than archiveAfter) goes back into the
// index; once its hold expires, money-less, it is forgotten instead of archived.
func TestArchiveOpenHoldWaits(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	w.f.Env.HoldTTL = 60 * 24 * time.Hour
	w.f.Expect(lt.Auth(lt.PAN, 500, "000001"), authz.Approved)
	captured := w.approveAndCapture(5, 1, 100)[0]
	w.age(retention + time.Hour)
	w.age(after)
	if c := w.f.State.Counts()["auths"]; c != 1 {
		t.Fatalf("hot records: %d, want the open one", c)
	}
	if !w.f.State.ArchivingPending() {
		t.Fatal("the open record was not put back into the archiving index")
	}
	w.f.ExpectBalance(lt.BalanceID, 1_000_000-100, 500)
	w.age(after + time.Hour) // past the hold's expiry: released, then forgotten
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("hot records: %d", c)
	}
	h := w.history()
	if _, ok := h[keyOf(captured)]; !ok || len(h) != 1 {
		t.Fatalf("history: %+v", h)
	}
	w.f.ExpectBalance(lt.BalanceID, 1_000_000-100, 0)
	w.checkBooks()
}

// A store written before the archive existed: retention dropped the entries of the records it
// kept. The hand-over gives them entries once (through ledger batches), after which they are
// archived like the others; the marker says it is done.
func TestArchiveHandOverOfAnOlderStore(t *testing.T) {
	w := newWorld(t, faultfs.New(), 0)
	w.f.State.SetArchiving(false) // the version before the archive
	w.approveAndCapture(0, 30, 100)
	w.age(retention + time.Hour)
	w.f.State.SetArchiving(true) // the upgrade
	w.age(after)
	if c := w.f.State.Counts()["auths"]; c != 30 {
		t.Fatalf("hot records before the hand-over: %d", c)
	}
	if w.store.HandedOver() {
		t.Fatal("marker present before the hand-over")
	}
	submit := func(_ context.Context, c ledger.ArchiveHandOver) error {
		w.f.Manage("hand-over", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
			c.Apply(tx, env)
			return nil
		})
		return nil
	}
	cutoff := w.f.Now.Add(-retention).UnixNano()
	n, err := archive.HandOver(context.Background(), w.f.State, cutoff, submit)
	if err != nil || n != 30 {
		t.Fatalf("hand-over: %d entries, %v", n, err)
	}
	if err := w.store.MarkHandedOver(); err != nil || !w.store.HandedOver() {
		t.Fatalf("marker: %v", err)
	}
	w.age(time.Hour)
	if c := w.f.State.Counts()["auths"]; c != 0 {
		t.Fatalf("hot records after the hand-over: %d", c)
	}
	if n := len(w.history()); n != 30 {
		t.Fatalf("history lists %d", n)
	}
	w.checkBooks()
}
