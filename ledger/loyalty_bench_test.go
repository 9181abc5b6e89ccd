package ledger_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// BenchmarkProcessPurchase is the capture path (0200 financial) that earns points: on a card not
// enrolled in a ledger without members, on a card not enrolled while another card is, and on an
// enrolled card at the partner merchant (a points booking and an earning row per purchase).
func BenchmarkProcessPurchase(b *testing.B) {
	for _, mode := range []string{"no-members", "not-enrolled", "enrolled"} {
		b.Run(mode, func(b *testing.B) {
			f := lt.NewFixture(b, 1<<60)
			if mode != "no-members" {
				p := demoProgram()
				f.Env.Loyalty = &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{p.ID: p}}
				f.IssueCard("card-2", lt.BalanceID, "5351100000000019")
				enrolled := "card-2"
				if mode == "enrolled" {
					enrolled = lt.CardID
				}
				enroll(b, f, enrolled)
			}
			reqs := make([]*authz.Request, b.N)
			for i := range reqs {
				reqs[i] = purchase(100, fmt.Sprintf("%06d", i%1000000), "PARTNER0000001", "5999")
				reqs[i].RRN = fmt.Sprintf("%012d", i)
				reqs[i].F7 = fmt.Sprintf("%010d", i/1000000)
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
		})
	}
}
