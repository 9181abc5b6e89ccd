package ledger_test

import (
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// In History mode the State knows records by a 64-bit hash of their key. When every key has the
// same hash, every lookup goes to the journal and the answers stay exact: new messages are not
// taken for retransmissions, follow-ups find their own original, and forgetting one record
// leaves the others findable.
func TestHistoryKeyHashCollisions(t *testing.T) {
	mem := journal.NewMemory()
	st := ledger.NewState()
	st.UseHistory(mem)
	ledger.SetHistoryHash(st, func(string) uint64 { return 42 })
	f := lt.NewFixtureOn(t, st, 10000, mem.Commit)
	f.Env.HoldTTL = time.Hour

	a1, a2, a3 := lt.Auth(lt.PAN, 1000, "000001"), lt.Auth(lt.PAN, 2000, "000002"), lt.Auth(lt.PAN, 3000, "000003")
	f.Expect(a1, authz.Approved)
	f.Expect(a2, authz.Approved)
	f.Expect(a3, authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 6000)
	f.Expect(lt.FollowUp("0400", a2, 2000, "000004"), authz.Approved) // a2 reversed
	f.ExpectBalance(lt.BalanceID, 10000, 4000)
	if r := f.Expect(a1, authz.Approved); r.AuthCode == "" { // a retransmission: same answer
		t.Error("retransmission answered without the remembered auth code")
	}
	f.ExpectBalance(lt.BalanceID, 10000, 4000)

	// Retention forgets the reversed a2 (money-less) and the replies; a1 and a3 stay findable.
	tx := f.State.Begin()
	n := tx.Prune(f.Now.Add(time.Nanosecond).UnixNano(), 100)
	f.CommitTx(tx)
	if n == 0 {
		t.Fatal("nothing pruned")
	}
	if _, ok := f.State.Auth(ledger.OriginalKey(a2.BaseMTI, a2.STAN, a2.F7, a2.AcquirerID)); ok {
		t.Error("the reversed authorization was not forgotten")
	}
	f.Expect(lt.FollowUp("0220", a1, 1000, "000005"), authz.Approved)
	f.Expect(lt.FollowUp("0400", a3, 3000, "000006"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 9000, 0)
	if c := f.State.Counts(); c["auths"] != 2 {
		t.Errorf("auth records: %d, want 2 (a1 captured, a3 reversed)", c["auths"])
	}
}
