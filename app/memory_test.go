package app

import "testing"

// The default soft memory limit follows the live heap after recovery, never below 800 MiB: a
// small store keeps room for its batches, a large card base does not run the collector without
// pause.
func TestDefaultMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, want int64
	}{
		{0, 800 * mib},
		{440 * mib, 800 * mib},   // a million cards: 440 MiB × 1.75 = 770 MiB
		{800 * mib, 1400 * mib},  // about two million cards
		{2000 * mib, 3500 * mib}, // about four and a half million
	} {
		if got := defaultMemoryLimit(uint64(c.live)); got != c.want {
			t.Errorf("live heap %d MiB: limit %d MiB, want %d MiB", c.live/mib, got/mib, c.want/mib)
		}
	}
}
