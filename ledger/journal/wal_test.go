package journal_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// walSegments lists the write-ahead log segment files of a journal directory.
func walSegments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			out = append(out, filepath.Join(dir, "wal", e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// crashCopy makes dst look like dir after a crash that came before any batch reached Badger:
// an empty store with dir's log segments (sealed values are bound to their key and the data
// key, not to the directory, so they replay anywhere under the same data key).
func crashCopy(t *testing.T, dir, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dst, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, seg := range walSegments(t, dir) {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "wal", filepath.Base(seg)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func loadState(t *testing.T, dir string, key []byte) (*ledger.State, *journal.Badger) {
	t.Helper()
	j := open(t, dir, key)
	st := ledger.NewState()
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	return st, j
}

// Every committed batch is in the log before Commit returns: a store that never received a
// batch (the crash came first) gets all of them back from the log at open, and the replayed
// log is deleted.
func TestWALReplaysBatchesBadgerNeverGot(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	defer j.Close()
	f := populate(t, j)

	crashed := t.TempDir()
	crashCopy(t, dir, crashed)
	st, j2 := loadState(t, crashed, key)
	defer j2.Close()
	if d := lt.Diff(lt.Take(f.State, cardIDs...), lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("state replayed from the log differs from the committed one:\n%s", d)
	}
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, crashed); len(segs) != 1 {
		t.Errorf("after replay the log holds %d segments, want only the new empty one", len(segs))
	} else if fi, _ := os.Stat(segs[0]); fi.Size() != 0 {
		t.Errorf("the new segment holds %d bytes, want 0", fi.Size())
	}
}

// A crash in the middle of appending leaves an incomplete last record: its batch was never
// acknowledged, so it is ignored and everything before it is replayed.
func TestWALIgnoresTornLastRecord(t *testing.T) {
	for name, tail := range map[string][]byte{
		"header cut":  {0x40, 0x00},
		"payload cut": {0x40, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x01},
		"bad sum":     {0x02, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			dir, key := t.TempDir(), newKey(t)
			j := open(t, dir, key)
			defer j.Close()
			f := populate(t, j)
			crashed := t.TempDir()
			crashCopy(t, dir, crashed)
			segs := walSegments(t, crashed)
			fh, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.Write(tail)
			fh.Close()
			st, j2 := loadState(t, crashed, key)
			defer j2.Close()
			if d := lt.Diff(lt.Take(f.State, cardIDs...), lt.Take(st, cardIDs...)); d != "" {
				t.Fatalf("state differs:\n%s", d)
			}
		})
	}
}

// Damage anywhere but the tail of the last segment is not a crash artefact: the journal refuses
// to open rather than start without batches it acknowledged.
func TestWALRefusesDamagedEarlierSegment(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, WALSegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	populate(t, j)
	crashed := t.TempDir()
	crashCopy(t, dir, crashed)
	segs := walSegments(t, crashed)
	if len(segs) < 2 {
		t.Fatalf("want several segments with 512-byte segments, got %d", len(segs))
	}
	b, _ := os.ReadFile(segs[0])
	b[len(b)-1] ^= 0xff
	os.WriteFile(segs[0], b, 0o600)
	if j2, err := journal.OpenBadger(journal.Options{Dir: crashed, DataKey: key}); err == nil {
		j2.Close()
		t.Fatal("opened with a damaged earlier segment")
	} else if !strings.Contains(err.Error(), "damaged") {
		t.Errorf("error %q does not say the segment is damaged", err)
	}
}

// Segments rotate by size and are deleted once their batches are in Badger; a clean Close
// leaves no log behind, and the store alone holds everything.
func TestWALSegmentsRotateAndGo(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, WALSegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	f := populate(t, j)
	// Load waits for the applier, so every closed segment has been handed back by now.
	if err := j.Load(ledger.NewState()); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, dir); len(segs) != 1 {
		t.Errorf("%d segments remain once every batch is in the store, want only the current one", len(segs))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, dir); len(segs) != 0 {
		t.Errorf("after Close %d log segments remain, want none", len(segs))
	}
	st, j2 := loadState(t, dir, key)
	defer j2.Close()
	if d := lt.Diff(lt.Take(f.State, cardIDs...), lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("state differs:\n%s", d)
	}
}
