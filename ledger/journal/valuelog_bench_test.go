package journal

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

// BenchmarkValueLogCollection times one collection round (valuelog.go) over a store shaped like
// an aged one: auth records that stay, balances rewritten twice per auth record (their old
// values the garbage), through the store's own options; with and without bloom filters on its
// tables. A collection reads every entry of a file back by key to tell live from garbage, and
// without filters each such read probes every level-0 table and every level.
//
//	go test -run '^$' -bench ValueLogCollection -benchtime 1x ./ledger/journal/
func BenchmarkValueLogCollection(b *testing.B) {
	for _, fp := range []float64{0, 0.01} {
		b.Run(fmt.Sprintf("bloom=%v", fp), func(b *testing.B) {
			defer func(v float64) { bloomFalsePositive = v }(bloomFalsePositive)
			bloomFalsePositive = fp
			var files, ns int64
			for range b.N {
				b.StopTimer()
				j := agedStore(b, 600_000, 100_000)
				b.StartTimer()
				began := time.Now()
				n, err := j.CollectValueLog(maxGCRewritesPerRound)
				ns += int64(time.Since(began))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatal("nothing collected: the store is not aged enough")
				}
				files += int64(n)
				if err := j.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ns)/float64(files)/1e6, "ms/file")
		})
	}
}

// agedStore writes auths auth records and, per auth record, two rewrites of one of balances
// balances, then closes and reopens the store so that compaction has counted the garbage.
func agedStore(b *testing.B, auths, balances int) *Badger {
	b.Helper()
	dir := b.TempDir()
	key := make([]byte, 32)
	open := func() *Badger {
		j, err := OpenBadger(Options{Dir: dir, DataKey: key, ValueLogGCInterval: -1, PageReleaseInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		return j
	}
	j := open()
	auth, bal := make([]byte, 225), make([]byte, 95)
	wb := j.db.NewWriteBatch()
	for i := range auths {
		_, _ = rand.Read(auth[:16])
		if err := wb.Set(fmt.Appendf(nil, "a/%x", auth[:16]), append([]byte(nil), auth...)); err != nil {
			b.Fatal(err)
		}
		for k := range 2 {
			if err := wb.Set(fmt.Appendf(nil, "b/%08d", (2*i+k)%balances), append([]byte(nil), bal...)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	// The reopened instance compacts level 0 when it closes, which drops the old balances and
	// records their bytes as garbage (as in TestValueLogCollectionKeepsTheLatestRows).
	if err := j.reopen(); err != nil {
		b.Fatal(err)
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	return open()
}
