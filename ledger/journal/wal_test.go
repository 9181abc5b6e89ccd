package journal_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
	"github.com/cardswitch/cardswitch/ledger/wal"
	"github.com/cardswitch/cardswitch/ledger/wal/faultfs"
)

// openOnLog opens the journal over the write-ahead log on the injected file system fs; hook
// (nil: none) is called at the applier's crash points. Every record applied is checkpointed.
func openOnLog(t *testing.T, dir string, key []byte, fs wal.FS, hook func(string) error) *journal.Badger {
	t.Helper()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, WAL: true,
		WALOptions: journal.WALOptions{FS: fs, Dir: "/wal", SegmentBytes: 16 << 10, CheckpointBytes: 1,
			ApplyPace: -1, Hook: hook}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// crashAt returns a hook that stops the applier the first time it reaches stage, and a channel
// closed then.
func crashAt(stage string) (func(string) error, <-chan struct{}) {
	hit := make(chan struct{})
	var once sync.Once
	return func(s string) error {
		if s != stage {
			return nil
		}
		err := errors.New("crash")
		once.Do(func() { close(hit) })
		return err
	}, hit
}

// recoverAndCheck reopens the store on the file system a crash left and checks that the state
// recovered is the one committed, that the recovered state keeps working (a retransmission gets
// its first answer and holds nothing more, each hold expires once: nothing applied twice) and
// that the log was replayed into Badger (a second restart without the log's help gives the
// same state).
func recoverAndCheck(t *testing.T, dir string, key []byte, fs wal.FS, f *lt.Fixture, want lt.Snapshot) {
	t.Helper()
	j := openOnLog(t, dir, key, fs, nil)
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("recovered state differs from the committed one:\n%s", d)
	}
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
	afterRestart(t, f, j, st)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// Badger alone (a synced open drains an empty log) holds everything after a clean close.
	b, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st2 := ledger.NewState(b)
	if err := b.Load(st2); err != nil {
		t.Fatal(err)
	}
	if err := lt.CheckBooks(st2); err != nil {
		t.Fatal(err)
	}
}

// A crash inside the checkpoint loses nothing acknowledged and applies nothing twice: before the
// records reach Badger, after Badger's commit but before its sync, after the sync but before
// the log is truncated. (A process crash: Badger keeps what it committed, the log what was
// fdatasynced, of the rest any sector.)
func TestWALCrashInsideCheckpoint(t *testing.T) {
	for _, stage := range []string{"before-apply", "before-sync", "before-truncate"} {
		t.Run(stage, func(t *testing.T) {
			dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
			hook, hit := crashAt(stage)
			j := openOnLog(t, dir, key, fs, hook)
			markEmpty(t, j)
			f := fill(t, lt.NewHistoryFixture(t, 50000, j))
			want := lt.Take(f.State, cardIDs...)
			select {
			case <-hit:
			case <-time.After(10 * time.Second):
				t.Fatalf("the applier never reached %s", stage)
			}
			crashed := fs.Crash(rand.New(rand.NewPCG(uint64(1), 0)))
			j.Close() // the applier has stopped: this closes Badger with what it committed
			recoverAndCheck(t, dir, key, crashed, f, want)
		})
	}
}

// A power loss loses what Badger had not synced, whatever it had committed: the store goes back
// to its last checkpoint. The log, truncated only behind a synced checkpoint, still holds every
// record after it, so nothing acknowledged is lost and nothing is applied twice. The test copies
// Badger's directory at a checkpoint (the applier held at before-truncate, Badger just synced:
// what a power loss would leave), commits batches filling several log segments meanwhile, lets
// the applier commit them into Badger unsynced, stops it before their sync, and recovers from
// the copy and the log.
func TestWALBadgerPowerLossGoesBackToTheCheckpoint(t *testing.T) {
	dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
	synced := filepath.Join(t.TempDir(), "badger-at-checkpoint")
	var (
		once      sync.Once
		copyErr   error
		copied    = make(chan struct{})
		release   = make(chan struct{})
		committed = make(chan struct{})
	)
	hook := func(stage string) error {
		select {
		case <-copied:
		default:
			if stage == "before-truncate" {
				once.Do(func() { copyErr = os.CopyFS(synced, os.DirFS(dir)); close(copied) })
				<-release
			}
			return nil
		}
		if stage == "before-sync" {
			// Records committed into Badger after the copy, not synced: a power loss takes them.
			close(committed)
			return errors.New("power loss")
		}
		return nil
	}
	j := openOnLog(t, dir, key, fs, hook)
	markEmpty(t, j)
	f := fill(t, lt.NewHistoryFixture(t, 50000, j))
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint")
	}
	// Several segments of records (16 KiB each) after the checkpoint copied.
	for i := range 60 {
		f.Expect(lt.Auth(secretPAN, 1, fmt.Sprintf("%06d", 200+i)), authz.Approved)
	}
	want := lt.Take(f.State, cardIDs...)
	close(release)
	select {
	case <-committed:
	case <-time.After(10 * time.Second):
		t.Fatal("the applier committed nothing into Badger after the checkpoint copied")
	}
	if copyErr != nil {
		t.Fatal(copyErr)
	}
	j.Close()
	// recoverAndCheck's later checks know fill's balances only (not the approvals above).
	r := openOnLog(t, synced, key, fs.Crash(rand.New(rand.NewPCG(2, 0))), nil)
	defer r.Close()
	st := ledger.NewState(r)
	if err := r.Load(st); err != nil {
		t.Fatal(err)
	}
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("recovered state differs from the committed one:\n%s", d)
	}
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
}

// eventBatch is a batch of one event row: after a restart the last event sequence tells whether
// the batch is on disk, whole.
func eventBatch(seq uint64) []ledger.Change {
	e := &ledger.Event{Seq: seq, Type: ledger.EventAuthorizationDecided, AtUnixNano: int64(seq), CardID: "card-1",
		Kind: authz.KindAuthorization, AmountMinor: int64(seq), Action: authz.Approved}
	return []ledger.Change{{Table: ledger.TableEvent, Key: ledger.EventKey(seq), Row: e}}
}

// A failed fdatasync fails the batch as in doubt (ErrInDoubt) and every later one: the journal
// takes nothing more. After a restart the batch is there whole or not at all, and everything
// acknowledged before it is there.
func TestWALFailedSyncIsInDoubt(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
			j := openOnLog(t, dir, key, fs, nil)
			markEmpty(t, j)
			for seq := uint64(1); seq <= 20; seq++ {
				if err := j.Commit(eventBatch(seq)); err != nil {
					t.Fatal(err)
				}
			}
			var crashed *faultfs.FS
			fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Nth: 1, Suffix: ".wal", Err: syscall.EIO,
				Hook: func() { crashed = fs.Crash(rand.New(rand.NewPCG(uint64(seed), 0))) }})
			err := j.Commit(eventBatch(21))
			if !errors.Is(err, journal.ErrInDoubt) {
				t.Fatalf("commit with a failed fdatasync: %v, want ErrInDoubt", err)
			}
			if err := j.Commit(eventBatch(22)); !errors.Is(err, journal.ErrInDoubt) {
				t.Fatalf("commit after the log failed: %v, want ErrInDoubt", err)
			}
			j.Close()
			j2 := openOnLog(t, dir, key, crashed, nil)
			defer j2.Close()
			st := ledger.NewState(j2)
			if err := j2.Load(st); err != nil {
				t.Fatal(err)
			}
			if last := st.LastEventSeq(); last != 20 && last != 21 {
				t.Fatalf("after restart the last event is %d, want 20 (the batch lost) or 21 (kept)", last)
			}
			if err := j2.Commit(eventBatch(st.LastEventSeq() + 1)); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
		})
	}
}

// A crash between a record's write and its fdatasync (the answer never left; the fdatasync
// then fails in the process that goes on, so it acknowledges nothing either) leaves a torn or
// partial tail: the record spans several sectors, any of which may survive. Recovery drops a
// torn record whole, keeps everything before it, and the log takes records again.
func TestWALTornTail(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
			j := openOnLog(t, dir, key, fs, nil)
			markEmpty(t, j)
			for seq := uint64(1); seq <= 30; seq++ {
				if err := j.Commit(eventBatch(seq)); err != nil {
					t.Fatal(err)
				}
			}
			var crashed *faultfs.FS
			fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Nth: 1, Suffix: ".wal", Err: syscall.EIO,
				Hook: func() { crashed = fs.Crash(rand.New(rand.NewPCG(uint64(seed), 0))) }})
			var big []ledger.Change
			for seq := uint64(31); seq <= 60; seq++ { // about 2 KiB: four sectors or more
				big = append(big, eventBatch(seq)...)
			}
			if err := j.Commit(big); !errors.Is(err, journal.ErrInDoubt) {
				t.Fatalf("commit: %v, want ErrInDoubt", err)
			}
			j.Close()
			j2 := openOnLog(t, dir, key, crashed, nil)
			defer j2.Close()
			st := ledger.NewState(j2)
			if err := j2.Load(st); err != nil {
				t.Fatal(err)
			}
			last := st.LastEventSeq()
			if last != 30 && last != 60 {
				t.Fatalf("after restart the last event is %d, want 30 (record dropped) or 60 (kept whole)", last)
			}
			got, err := j2.Events(0, 100)
			if err != nil || uint64(len(got)) != last {
				t.Fatalf("events after restart: %d (%v), want %d", len(got), err, last)
			}
			if err := j2.Commit(eventBatch(last + 1)); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
		})
	}
}

// Rows in the log and not yet in Badger are read back (History mode's auth records and
// replies, the event log), and a deleted one is gone, before the applier has run.
func TestWALPendingRowsAreRead(t *testing.T) {
	dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
	hook, _ := crashAt("before-apply") // the applier never writes into Badger
	j := openOnLog(t, dir, key, fs, hook)
	defer j.Close()
	markEmpty(t, j)
	f := fill(t, lt.NewHistoryFixture(t, 50000, j))
	// The retransmission of an approval is answered from its auth record, read from pending.
	f.Expect(lt.Auth(secretPAN, 2000, "000002"), authz.Approved)
	f.ExpectBalance("bal-9", 7150, 2300)
	for seq := uint64(1); seq <= 5; seq++ {
		if err := j.Commit(eventBatch(seq)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := j.Events(2, 10)
	if err != nil || len(got) != 3 || got[0].Seq != 3 {
		t.Fatalf("events after 2 from pending: %+v %v", got, err)
	}
	if err := j.Commit([]ledger.Change{{Table: ledger.TableEvent, Key: ledger.EventKey(4)}}); err != nil {
		t.Fatal(err)
	}
	got, _ = j.Events(0, 10)
	if len(got) != 4 || got[3].Seq != 5 {
		t.Fatalf("events after a pending delete: %+v", got)
	}
}

// At the backlog's bound a commit waits for the applier, and goes on once it has caught up.
func TestWALBacklogBoundWaits(t *testing.T) {
	dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
	release := make(chan struct{})
	var once sync.Once
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, WAL: true,
		WALOptions: journal.WALOptions{FS: fs, Dir: "/wal", SegmentBytes: 16 << 10, MaxBacklogBytes: 256, ApplyPace: -1,
			Hook: func(s string) error {
				if s == "before-apply" {
					once.Do(func() { <-release })
				}
				return nil
			}}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	markEmpty(t, j)
	done := make(chan error, 1)
	go func() {
		for seq := uint64(1); seq <= 20; seq++ {
			if err := j.Commit(eventBatch(seq)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for j.WALStats().BacklogWaits == 0 {
		select {
		case err := <-done:
			t.Fatalf("all commits went through with the applier held: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := j.WALStats(); s.BacklogWaits == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Checkpoints follow the interval under a trickle of commits (far below CheckpointBytes), and a
// restart then has nothing to replay but what came after the last one.
func TestWALCheckpointsOnTheInterval(t *testing.T) {
	dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, WAL: true,
		WALOptions: journal.WALOptions{FS: fs, Dir: "/wal", SegmentBytes: 16 << 10, CheckpointInterval: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	markEmpty(t, j)
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint64(1); j.WALStats().Checkpoints == 0; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint in 10 s")
		}
		if err := j.Commit(eventBatch(seq)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a trickle: the interval, not the bytes, is what is tested
	}
}

// BenchmarkCommit commits batches of 64 event rows through each journal on the real file
// system: the synced Badger transaction, and the log's record and fdatasync.
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"badger", "wal"} {
		b.Run(mode, func(b *testing.B) {
			j, err := journal.OpenBadger(journal.Options{Dir: b.TempDir(), DataKey: make([]byte, 32),
				ValueLogGCInterval: -1, WAL: mode == "wal", WALOptions: journal.WALOptions{SegmentBytes: 8 << 20}})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			var batch []ledger.Change
			for i := uint64(1); i <= 64; i++ {
				batch = append(batch, eventBatch(i)...)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := j.Commit(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A full disk shows as a segment that cannot be prepared: the batch is refused (not in doubt:
// nothing of it was written), the journal takes batches again once there is room, and a
// restart finds exactly the acknowledged ones.
func TestWALFullDiskRefusesTheBatch(t *testing.T) {
	dir, key, fs := t.TempDir(), newKey(t), faultfs.New()
	hook, _ := crashAt("before-apply") // no checkpoint: no segment is recycled, the disk fills
	j := openOnLog(t, dir, key, fs, hook)
	markEmpty(t, j)
	fs.SetCapacity(3 * (16 << 10)) // the current segment, the spare and a little more
	var acked uint64
	var refused error
	for seq := uint64(1); seq <= 2000 && refused == nil; seq++ {
		if err := j.Commit(eventBatch(seq)); err != nil {
			refused = err
			break
		}
		acked = seq
	}
	if refused == nil {
		t.Fatal("no batch refused on a full disk")
	}
	if errors.Is(refused, journal.ErrInDoubt) || !errors.Is(refused, wal.ErrNoSegment) {
		t.Fatalf("refused with %v, want wal.ErrNoSegment and not in doubt", refused)
	}
	fs.SetCapacity(0)
	// The next batch gets a sequence of its own: the refused one (acked+1) must not be found.
	var err error
	for try := 0; try < 3; try++ { // the first try after the room is made may still see the old failure
		if err = j.Commit(eventBatch(acked + 2)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("commit once there is room: %v", err)
	}
	crashed := fs.Crash(nil)
	j.Close()
	j2 := openOnLog(t, dir, key, crashed, nil)
	defer j2.Close()
	st := ledger.NewState(j2)
	if err := j2.Load(st); err != nil {
		t.Fatal(err)
	}
	if got := st.LastEventSeq(); got != acked+2 {
		t.Fatalf("after restart the last event is %d, want %d", got, acked+2)
	}
	events, err := j2.Events(0, 5000)
	if err != nil || uint64(len(events)) != acked+1 {
		t.Fatalf("events after restart: %d (%v), want %d: the acknowledged ones, not the refused one", len(events), err, acked+1)
	}
	if events[acked].Seq != acked+2 {
		t.Fatalf("event after the acknowledged ones: %d, want %d", events[acked].Seq, acked+2)
	}
}
