package journal

import (
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Badger's compaction is paced only while the switch serves: not during recovery, not for bulk
// loads, and not while the store closes.
func TestCompactionIsPacedOnceLoadHasFinished(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  float64
		want float64
	}{
		{"default", 0, compactionPace},
		{"chosen", 3, 3},
		{"off", -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := OpenBadger(Options{Dir: t.TempDir(), DataKey: make([]byte, 32),
				ValueLogGCInterval: -1, PageReleaseInterval: -1, CompactionPace: c.opt})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if got := j.db.CompactionPace(); got != 0 {
				t.Fatalf("pace %v before Load, want 0 (recovery at full speed)", got)
			}
			if err := j.Load(ledger.NewState(j)); err != nil {
				t.Fatal(err)
			}
			if got := j.db.CompactionPace(); got != c.want {
				t.Fatalf("pace %v after Load, want %v", got, c.want)
			}
			db := j.db
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if got := db.CompactionPace(); got != 0 {
				t.Fatalf("pace %v after Close, want 0 (compactions on close at full speed)", got)
			}
		})
	}
}

// The applier's pause shrinks in proportion as its backlog grows, so that under a sustained load
// its share of the CPU rises evenly to what keeps up, and is none from half the bound on.
func TestApplierPauseTapersWithTheBacklog(t *testing.T) {
	const half = 32 << 20
	for _, c := range []struct {
		name    string
		pace    float64
		backlog int64
		want    time.Duration
	}{
		{"empty backlog: the full pause", 1, 0, 10 * time.Millisecond},
		{"a quarter of the way: three quarters of it", 1, half / 4, 7500 * time.Microsecond},
		{"half way: half of it", 2, half / 2, 10 * time.Millisecond},
		{"at half the bound: none", 1, half, 0},
		{"beyond it: none", 1, 2 * half, 0},
		{"never paced", -1, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := taperedPause(c.pace, 10*time.Millisecond, c.backlog, half); got != c.want {
				t.Fatalf("pause %v, want %v", got, c.want)
			}
		})
	}
}
