package archive_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/archive"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// BenchmarkArchiveDiskBytes measures the disk an approval costs: approvals and their captures
// on diskCards cards go through the ledger into a Badger journal in batches, as the engine
// writes them; the store is closed and measured (hot bytes per approval); the records are then
// aged past retention and archiveAfter and archived by expiry ticks, and the archive and the
// hot store are measured again. Run it once:
//
//	go test -run '^$' -bench ArchiveDiskBytes -benchtime 1x ./ledger/archive/
func BenchmarkArchiveDiskBytes(b *testing.B) {
	const (
		approvals = 20000
		diskCards = 200
		batch     = 512
	)
	for range b.N {
		dir := b.TempDir()
		hotDir, arcDir := filepath.Join(dir, "ledger"), filepath.Join(dir, "archive")
		bj, err := journal.OpenBadger(journal.Options{Dir: hotDir, DataKey: dataKey, ValueLogGCInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if err := bj.Load(ledger.NewState(bj)); err != nil { // marks the store for History mode
			b.Fatal(err)
		}
		f := lt.NewHistoryFixture(b, 0, bj)
		pans := make([]string, diskCards)
		for i := range pans {
			pans[i] = fmt.Sprintf("53511000%08d", i+10)
			bal := fmt.Sprintf("bal-%d", i)
			f.AddCustomerBalance(fmt.Sprintf("cust-%d", i), bal, "EUR", 1<<40)
			f.IssueCard(fmt.Sprintf("card-%d", i), bal, pans[i])
		}
		store, err := archive.Open(archive.Options{Dir: arcDir, DataKey: dataKey})
		if err != nil {
			b.Fatal(err)
		}
		f.State.SetArchive(store)
		f.State.SetArchiving(true)
		run := func(reqs []*authz.Request) {
			for len(reqs) > 0 {
				n := min(len(reqs), batch)
				tx := f.State.Begin()
				env := f.Env
				env.Now = f.Now
				for _, r := range reqs[:n] {
					f.LoadMessage(tx, r, &env)
					if resp := tx.Process(r, &env); resp.Action != authz.Approved {
						b.Fatalf("%s answered %s", r.MTI, resp.Action)
					}
				}
				f.CommitTx(tx)
				reqs = reqs[n:]
			}
		}
		var auths, caps []*authz.Request
		for i := range approvals {
			a := lt.Auth(pans[i%diskCards], int64(100+i%5000), fmt.Sprintf("%06d", i+1))
			a.F7 = fmt.Sprintf("05%08d", i/999999) // keys stay distinct past 999999 STANs
			a.MerchantName, a.MCC = "CARDSWITCH TEST SHOP     BERLIN       DE", "5999"
			auths = append(auths, a)
			caps = append(caps, lt.FollowUp("0220", a, a.AmountMinor, fmt.Sprintf("%06d", (i+500000)%1000000)))
		}
		run(auths)
		run(caps)
		if err := bj.Close(); err != nil {
			b.Fatal(err)
		}
		hotBefore := dirBytes(b, hotDir)

		// Reopen, age and archive: expiry ticks until nothing is left to do.
		bj, err = journal.OpenBadger(journal.Options{Dir: hotDir, DataKey: dataKey, ValueLogGCInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		st := ledger.NewState(bj)
		if err := bj.Load(st); err != nil {
			b.Fatal(err)
		}
		st.SetArchive(store)
		st.SetArchiving(true)
		w := &world{f: &lt.Fixture{T: b, State: st, Env: f.Env, Now: f.Now, Programs: f.Programs, Commit: bj.Commit},
			store: store, arch: archive.NewArchiver(store, after, perTick, nil)}
		w.ageB(b, retention+time.Hour)
		w.ageB(b, after)
		if n := st.Counts()["auths"]; n != 0 {
			b.Fatalf("%d auth records left hot", n)
		}
		// What the deletions free is given back by value-log collection (every minute in the
		// switch) and compaction.
		if _, err := bj.CollectValueLog(1 << 10); err != nil {
			b.Fatal(err)
		}
		if err := bj.Close(); err != nil {
			b.Fatal(err)
		}
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		hotAfter, arc := dirBytes(b, hotDir), dirBytes(b, arcDir)
		b.ReportMetric(float64(hotBefore)/approvals, "hot-B/approval")
		b.ReportMetric(float64(hotAfter)/approvals, "hot-after-B/approval")
		b.ReportMetric(float64(arc)/approvals, "archive-B/approval")
	}
}

// ageB is age for a benchmark.
func (w *world) ageB(b *testing.B, d time.Duration) {
	w.f.Now = w.f.Now.Add(d)
	for range 1000 {
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
		empty := tx.Empty()
		w.f.CommitTx(tx)
		if empty {
			return
		}
	}
	b.Fatal("expiry ticks never settled")
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
