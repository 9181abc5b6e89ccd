package journal

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cardswitch/cardswitch/ledger"
)

// opener returns a function that opens the same new store each time, collecting the value log
// every gcEvery (negative: never).
func opener(t *testing.T, gcEvery time.Duration) func() *Badger {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return func() *Badger {
		j, err := OpenBadger(Options{Dir: dir, DataKey: key, ValueLogGCInterval: gcEvery})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
}

// Rows go to the value log and the LSM tree keeps pointers; a balance rewritten many times
// leaves garbage there, and the collector running in the background gives the space back while
// every balance still reads as its last write.
func TestValueLogCollectionKeepsTheLatestRows(t *testing.T) {
	defer func(n int64) { valueLogFileBytes = n }(valueLogFileBytes)
	valueLogFileBytes = 1 << 20 // Badger's smallest value-log file

	openJ := opener(t, 20*time.Millisecond)
	j := openJ()
	last := rewriteBalances(t, j, 500, 40)
	// Closing flushes the memtables; the instance reopened after a load compacts level 0 when it
	// closes, which drops the old versions and records their value-log bytes as garbage.
	if err := j.reopen(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openJ()
	defer j.Close()
	before, err := j.valueLogSize()
	if err != nil {
		t.Fatal(err)
	}
	after := before
	for deadline := time.Now().Add(10 * time.Second); after >= before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if after, err = j.valueLogSize(); err != nil {
			t.Fatal(err)
		}
	}
	if after >= before {
		t.Fatalf("value log %d -> %d bytes after 10 s of collection; want space freed", before, after)
	}
	t.Logf("value log %d -> %d bytes", before, after)
	if n, err := j.CollectValueLog(100); err != nil {
		t.Fatalf("collection after the collector: %d files, %v", n, err)
	}

	checkBalances(t, j, last)
}

// A store written before the value log was used (every row in the LSM tree) opens, loads and
// takes new writes; its rows move to the value log as they are rewritten.
func TestStoreWithRowsInTheTreeStillLoads(t *testing.T) {
	defer func(n int64) { valueThreshold = n }(valueThreshold)
	open := opener(t, -1)
	balance := func(id string, current int64) ledger.Change {
		return ledger.Change{Table: "balance", Key: id, Row: &ledger.Balance{ID: id, Kind: "customer",
			Currency: "EUR", CurrentMinor: current, State: "active", CreatedAtUnixNano: 1}}
	}
	valueThreshold = 1 << 20 // Badger's default: the rows stay in the tree
	j := open()
	if err := j.Commit([]ledger.Change{balance("bal-old", 100), balance("bal-both", 200)}); err != nil {
		t.Fatal(err)
	}
	dir := j.opts.Dir
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if inValueLog(t, dir, "b/bal-old") {
		t.Fatal("with the old threshold a balance row went to the value log; the test writes no old-style store")
	}

	valueThreshold = 64
	j = open()
	defer j.Close()
	if err := j.Commit([]ledger.Change{balance("bal-both", 250), balance("bal-new", 300)}); err != nil {
		t.Fatal(err)
	}
	if !inValueLog(t, dir, "b/bal-new") {
		t.Fatal("a balance row written now is not in the value log")
	}
	checkBalances(t, j, map[string]int64{"bal-old": 100, "bal-both": 250, "bal-new": 300})
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatalf("load of a store written partly before the value log: %v", err)
	}
	if n := st.Counts()["balances"]; n != 3 {
		t.Fatalf("loaded %d balances, want 3", n)
	}
}

// rewriteBalances commits rounds batches that each rewrite the same n balances with a new
// current amount, and returns the last amount of each.
func rewriteBalances(t *testing.T, j *Badger, n, rounds int) map[string]int64 {
	t.Helper()
	last := map[string]int64{}
	for round := range rounds {
		var batch []ledger.Change
		for i := range n {
			id := fmt.Sprintf("bal-%04d", i)
			b := &ledger.Balance{ID: id, Kind: "customer", CustomerID: "cust-" + id, Currency: "EUR",
				CurrentMinor: int64(round*1000 + i), State: "active", CreatedAtUnixNano: 1}
			last[id] = b.CurrentMinor
			batch = append(batch, ledger.Change{Table: "balance", Key: id, Row: b})
		}
		if err := j.Commit(batch); err != nil {
			t.Fatal(err)
		}
	}
	return last
}

// checkBalances reads each balance by key and compares its current amount.
func checkBalances(t *testing.T, j *Badger, want map[string]int64) {
	t.Helper()
	in := newInterner()
	err := j.db.View(func(txn *badger.Txn) error {
		for id, amount := range want {
			k := []byte("b/" + id)
			item, err := txn.Get(k)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			row, err := j.decodeValue("balance", k, v, in)
			if err != nil {
				return err
			}
			if got := row.(*ledger.Balance).CurrentMinor; got != amount {
				return fmt.Errorf("%s: current %d, want %d", id, got, amount)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// inValueLog reports whether a key occurs in the value-log files of dir (an entry there carries
// its key in clear; the value is sealed).
func inValueLog(t *testing.T, dir, key string) bool {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(key)) {
			return true
		}
	}
	return false
}
