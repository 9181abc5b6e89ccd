package ledger_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// BenchmarkProcessAuthorization is the hot path of one approval on a warm state: reply lookup,
// card resolution, security checks (fake), Decide, hold, reply; the Tx is reused across batches
// and committed every 64 messages, as the engine would.
func BenchmarkProcessAuthorization(b *testing.B) {
	f := lt.NewFixture(b, 1<<60)
	for i := range 1000 { // warm: a thousand earlier authorizations
		f.Process(lt.Auth(lt.PAN, 100, fmt.Sprintf("9%05d", i)))
	}
	reqs := make([]*authz.Request, b.N)
	for i := range reqs {
		reqs[i] = lt.Auth(lt.PAN, 100, fmt.Sprintf("%06d", i%1000000))
		reqs[i].RRN = fmt.Sprintf("%012d", i)
		reqs[i].F7 = fmt.Sprintf("%010d", i/1000000)
		reqs[i].CVC2 = lt.CVC2
	}
	env := f.Env
	env.Now = f.Now
	tx := f.State.Begin()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if resp := tx.Process(reqs[i], &env); resp.Action != authz.Approved {
			b.Fatal(resp.Action)
		}
		if i%64 == 63 {
			f.CommitTx(tx)
		}
	}
	f.CommitTx(tx)
}
