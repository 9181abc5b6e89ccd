package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/cardswitch/cardswitch/ledger/wal"
	"github.com/cardswitch/cardswitch/ledger/wal/faultfs"
)

const dir = "/data/wal"

var testKey = bytes.Repeat([]byte{0x42}, 32)

func options(fs wal.FS) wal.Options {
	return wal.Options{FS: fs, Dir: dir, SegmentBytes: 8 << 10, Keys: map[byte][]byte{0: testKey}}
}

// payload is record seq's content: its number and a length that varies with it.
func payload(seq uint64) []byte {
	return []byte(fmt.Sprintf("batch %06d %s", seq, strings.Repeat("x", int(seq*37%300))))
}

func open(t testing.TB, o wal.Options, from uint64) (*wal.Log, []uint64) {
	t.Helper()
	l, err := wal.Open(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var seqs []uint64
	if err := l.Replay(from, func(seq uint64, p []byte) error {
		if want := payload(seq); !bytes.Equal(p, want) {
			return fmt.Errorf("record %d: %q, want %q", seq, p, want)
		}
		seqs = append(seqs, seq)
		return nil
	}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return l, seqs
}

func appendN(t testing.TB, l *wal.Log, n int) uint64 {
	t.Helper()
	var last uint64
	for range n {
		seq, err := l.Append(payload(l.Next()))
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		last = seq
	}
	return last
}

// contiguous checks that seqs are from..to without a gap.
func contiguous(t *testing.T, seqs []uint64, from, to uint64) {
	t.Helper()
	if to < from {
		if len(seqs) != 0 {
			t.Fatalf("replayed %v, want none", seqs)
		}
		return
	}
	if uint64(len(seqs)) != to-from+1 || seqs[0] != from || seqs[len(seqs)-1] != to {
		t.Fatalf("replayed %d records %v..., want %d..%d", len(seqs), seqs[:min(3, len(seqs))], from, to)
	}
}

func TestRecordsSurviveReopenAcrossSegments(t *testing.T) {
	fs := faultfs.New()
	l, seqs := open(t, options(fs), 1)
	contiguous(t, seqs, 1, 0)
	last := appendN(t, l, 200) // about 40 KiB: five or more segments of 8 KiB
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, seqs = open(t, options(fs), 1)
	contiguous(t, seqs, 1, 200)
	if l.Next() != 201 {
		t.Fatalf("next %d after 200 records, want 201", l.Next())
	}
	last = appendN(t, l, 10)
	if err := l.Wait(last); err != nil || last != 210 {
		t.Fatalf("after reopen: last %d, %v", last, err)
	}
	l.Close()
	_, seqs = open(t, options(fs), 150)
	contiguous(t, seqs, 150, 210)
}

// The flusher's fdatasync covers every record appended while the previous one ran: the caller
// does not wait to append, and a batch of appends costs one more flush, not one each.
func TestAppendsDuringAFlushShareTheNextOne(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	defer l.Close()
	inSync, release := make(chan struct{}), make(chan struct{})
	fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Nth: 1, Suffix: ".wal", Hook: func() {
		close(inSync)
		<-release
	}})
	// The preparer syncs its spare segment too: count from the first record's sync.
	first := appendN(t, l, 1)
	<-inSync
	syncsBefore := fs.CallsOn(faultfs.OpSync, ".wal")
	last := appendN(t, l, 20) // while record 1 is being flushed
	if d := l.Durable(); d != 0 {
		t.Fatalf("durable %d while the first flush is held", d)
	}
	close(release)
	if err := l.Wait(first); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	if n := fs.CallsOn(faultfs.OpSync, ".wal") - syncsBefore; n > 2 { // one flush, and perhaps a rotation's
		t.Fatalf("%d fdatasyncs for 20 records appended during one flush, want at most 2", n)
	}
}

// A crash at any moment keeps every record Wait had acknowledged, replays a run of records
// without a gap, and the log goes on after it.
func TestCrashKeepsEveryAcknowledgedRecord(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		fs := faultfs.New()
		l, _ := open(t, options(fs), 1)
		n := 1 + rng.IntN(120)
		for i := range n {
			seq := appendN(t, l, 1)
			if i%7 == 0 {
				if err := l.Wait(seq); err != nil {
					t.Fatal(err)
				}
			}
		}
		acked := l.Durable()
		crashed := fs.Crash(rng)
		l.Close()
		l2, seqs := open(t, options(crashed), 1)
		if len(seqs) > 0 || acked > 0 {
			contiguous(t, seqs, 1, max(acked, uint64(len(seqs))))
		}
		// It goes on, and a second recovery sees both runs.
		more := appendN(t, l2, 5)
		if err := l2.Wait(more); err != nil {
			t.Fatal(err)
		}
		l2.Close()
		_, again := open(t, options(crashed), 1)
		contiguous(t, again, 1, more)
	}
}

// A crash between a write and its fdatasync leaves a torn tail: any subset of the write's
// sectors. Recovery ends the log at the last whole record before the tear.
func TestTornTailEndsTheLogAtTheLastGoodRecord(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		fs := faultfs.New()
		l, _ := open(t, options(fs), 1)
		acked := appendN(t, l, 1+rng.IntN(60))
		if err := l.Wait(acked); err != nil {
			t.Fatal(err)
		}
		var crashed *faultfs.FS
		fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Nth: 1, Every: true, Suffix: ".wal", Hook: func() {
			if crashed == nil {
				crashed = fs.Crash(rng) // after the write, before its fdatasync
			}
		}})
		torn := appendN(t, l, 1+rng.IntN(30))
		if err := l.Wait(torn); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if crashed == nil {
			t.Fatal("no fdatasync after the last writes")
		}
		l2, seqs := open(t, options(crashed), 1)
		if uint64(len(seqs)) < acked || uint64(len(seqs)) > torn {
			t.Fatalf("seed %d: recovered %d records, want %d..%d", seed, len(seqs), acked, torn)
		}
		contiguous(t, seqs, 1, uint64(len(seqs)))
		if l2.Next() != uint64(len(seqs))+1 {
			t.Fatalf("next %d after %d records", l2.Next(), len(seqs))
		}
		l2.Close()
	}
}

// A failed fdatasync fails the log for good: its waiters get ErrFailed, later appends are
// refused even when the disk works again (a retried fsync can report success for pages the
// kernel dropped), and a restart recovers every record acknowledged before.
func TestFailedFdatasyncFailsTheLogForGood(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	acked := appendN(t, l, 5)
	if err := l.Wait(acked); err != nil {
		t.Fatal(err)
	}
	fs.Inject(faultfs.Fault{Op: faultfs.OpSync, Nth: 1, Suffix: ".wal", Err: syscall.EIO})
	doubt := appendN(t, l, 1)
	if err := l.Wait(doubt); !errors.Is(err, wal.ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("wait on a failed fdatasync: %v, want ErrFailed wrapping EIO", err)
	}
	fs.ClearFaults()
	if _, err := l.Append(payload(doubt + 1)); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("append after a failed fdatasync: %v, want ErrFailed", err)
	}
	if err := l.TruncateBefore(1); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("truncate after failure: %v", err)
	}
	if err := l.Close(); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("close: %v, want the failure", err)
	}
	_, seqs := open(t, options(fs.Crash(nil)), 1)
	contiguous(t, seqs, 1, acked)
}

// A write that fails part way (an I/O error after some bytes) fails the log the same way.
func TestPartialWriteFailsTheLog(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	acked := appendN(t, l, 3)
	if err := l.Wait(acked); err != nil {
		t.Fatal(err)
	}
	fs.Inject(faultfs.Fault{Op: faultfs.OpWrite, Nth: 1, Suffix: ".wal", Err: syscall.EIO, Partial: 30})
	doubt := appendN(t, l, 1)
	if err := l.Wait(doubt); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("wait on a partial write: %v", err)
	}
	l.Close()
	_, seqs := open(t, options(fs.Crash(rand.New(rand.NewPCG(1, 2)))), 1)
	contiguous(t, seqs, 1, acked)
}

// A full disk shows as a segment that cannot be prepared: the record is refused with
// ErrNoSegment and nothing is written; the log is intact, and takes records again once space
// returns (here: a truncation frees a segment for reuse).
func TestFullDiskRefusesRecordsUntilSpaceReturns(t *testing.T) {
	fs := faultfs.New()
	o := options(fs)
	fs.SetCapacity(2*o.SegmentBytes + 100) // room for two segments and no third
	l, _ := open(t, o, 1)
	defer l.Close()
	var acked uint64
	var err error
	for range 1000 {
		var seq uint64
		if seq, err = l.Append(payload(l.Next())); err != nil {
			break
		}
		if err := l.Wait(seq); err != nil {
			t.Fatal(err)
		}
		acked = seq
	}
	if !errors.Is(err, wal.ErrNoSegment) || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("append on a full disk: %v, want ErrNoSegment (no space left)", err)
	}
	if l.Next() != acked+1 {
		t.Fatalf("a refused record took sequence %d", acked+1)
	}
	// Checkpointed up to acked: the first segment is no longer needed and is reused.
	if err := l.TruncateBefore(acked + 1); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for range 3 { // the preparer tries again when asked; the first tries may see the old failure
		if seq, err = l.Append(payload(l.Next())); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if err := l.Wait(seq); err != nil {
		t.Fatal(err)
	}
}

// TruncateBefore drops the segments a checkpoint covers, keeps some for reuse, and the log
// replays from the checkpoint; replaying from before it is refused.
func TestTruncateDropsCoveredSegments(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	last := appendN(t, l, 300)
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	before := len(fs.Files())
	if err := l.TruncateBefore(250); err != nil {
		t.Fatal(err)
	}
	first, end := l.Bounds()
	if first > 250 || first < 200 || end != 300 {
		t.Fatalf("bounds %d..%d after truncating before 250", first, end)
	}
	var free int
	for _, f := range fs.Files() {
		if strings.Contains(f, "free-") {
			free++
		}
	}
	if len(fs.Files()) >= before || free == 0 || free > 2 {
		t.Fatalf("files %v (before: %d)", fs.Files(), before)
	}
	more := appendN(t, l, 200) // reuses the freed segments
	if err := l.Wait(more); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, seqs := open(t, options(fs), 250)
	contiguous(t, seqs, 250, more)
	l3, err := wal.Open(options(fs))
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if err := l3.Replay(1, func(uint64, []byte) error { return nil }); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("replay from before the log's start: %v, want ErrCorrupt", err)
	}
}

// Damage inside a segment that has a successor is not a torn tail: the sequence breaks
// between the segments and Open refuses the log instead of dropping acknowledged records.
func TestDamageBeforeTheTailIsCorruption(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	last := appendN(t, l, 100)
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	l.Close()
	files := fs.Files()
	if err := fs.Corrupt(files[0], 2000, []byte{0xFF, 0xFF}); err != nil {
		t.Fatal(err)
	}
	if _, err := wal.Open(options(fs)); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("open with a damaged first segment: %v, want ErrCorrupt", err)
	}
}

// Records are sealed: no payload byte is on disk in clear, and another key does not open them.
func TestRecordsAreSealedUnderTheDataKey(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	secret := []byte("4111111111111111 must not be on disk")
	seq, err := l.Append(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(seq); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, name := range fs.Files() {
		f, _ := fs.Open(name)
		size, _ := f.Size()
		b := make([]byte, size)
		f.ReadAt(b, 0)
		f.Close()
		if bytes.Contains(b, secret[:16]) {
			t.Fatalf("%s holds the payload in clear", name)
		}
	}
	o := options(fs)
	o.Keys = map[byte][]byte{0: bytes.Repeat([]byte{1}, 32)}
	l2, err := wal.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Replay(1, func(uint64, []byte) error { return nil }); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("replay under another key: %v, want ErrCorrupt", err)
	}
}

func TestOptionsAndMisuseAreRefused(t *testing.T) {
	fs := faultfs.New()
	for _, o := range []wal.Options{
		{FS: fs, Dir: dir},                                // no key
		{FS: fs, Keys: map[byte][]byte{0: testKey}},       // no directory
		{FS: fs, Dir: dir, Keys: map[byte][]byte{0: {1}}}, // short key
		{FS: fs, Dir: dir, Keys: map[byte][]byte{0: testKey}, SegmentBytes: 100},
	} {
		if l, err := wal.Open(o); err == nil {
			l.Close()
			t.Fatalf("%+v accepted", o)
		}
	}
	l, err := wal.Open(options(fs))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("x")); err == nil {
		t.Fatal("append before replay accepted")
	}
	if err := l.Replay(1, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(make([]byte, 9<<10)); !errors.Is(err, wal.ErrTooLarge) {
		t.Fatalf("record above a segment: %v", err)
	}
	if err := l.Wait(5); err == nil {
		t.Fatal("wait on a record never appended succeeded")
	}
	l.Close()
	if _, err := l.Append([]byte("x")); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

// Callers on several goroutines append and each waits for its own record; every record is
// found once at the next Open, in the order the log gave.
func TestConcurrentAppendersEachWaitForTheirOwnRecord(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	const writers, each = 4, 50
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				seq, err := l.Append([]byte(fmt.Sprintf("writer %d record %d", w, i)))
				if err == nil {
					err = l.Wait(seq)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l2, err := wal.Open(options(fs))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	seen := map[string]bool{}
	next := uint64(1)
	if err := l2.Replay(1, func(seq uint64, p []byte) error {
		if seq != next || seen[string(p)] {
			return fmt.Errorf("record %d (%q) out of order or twice", seq, p)
		}
		seen[string(p)], next = true, next+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("%d records found, want %d", len(seen), writers*each)
	}
}

// A truncation interrupted before its directory is synced (a crash, or a failing SyncDir) leaves
// some of the dropped segments in place: the log still recovers and replays from the checkpoint.
func TestInterruptedTruncationStillRecovers(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	last := appendN(t, l, 300)
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	fs.Inject(faultfs.Fault{Op: faultfs.OpSyncDir, Nth: 1, Err: syscall.EIO})
	if err := l.TruncateBefore(250); !errors.Is(err, syscall.EIO) {
		t.Fatalf("truncate with a failing directory sync: %v", err)
	}
	crashed := fs.Crash(nil) // the renames and removals were never made durable
	l.Close()
	l2, seqs := open(t, options(crashed), 250)
	contiguous(t, seqs, 250, 300)
	if first, _ := l2.Bounds(); first != 1 {
		t.Fatalf("after the interrupted truncation the log starts at %d, want 1 (nothing was dropped for good)", first)
	}
	if err := l2.TruncateBefore(250); err != nil { // done again, this time for good
		t.Fatal(err)
	}
	l2.Close()
	_, seqs = open(t, options(crashed), 250)
	contiguous(t, seqs, 250, 300)
}

// A segment missing from the middle of the log is a gap: Open refuses the log.
func TestMissingSegmentIsCorruption(t *testing.T) {
	fs := faultfs.New()
	l, _ := open(t, options(fs), 1)
	last := appendN(t, l, 200)
	if err := l.Wait(last); err != nil {
		t.Fatal(err)
	}
	l.Close()
	files := fs.Files()
	if len(files) < 4 {
		t.Fatalf("files %v: want several segments", files)
	}
	if err := fs.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := wal.Open(options(fs)); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("open without segment %s: %v, want ErrCorrupt", files[1], err)
	}
}
