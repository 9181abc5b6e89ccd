package journal

import (
	"testing"

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
