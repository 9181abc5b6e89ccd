package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// In History mode the State knows records by a 64-bit hash of their key. When every key has the
// same hash, every lookup goes to the journal and the answers stay exact: new messages are not
// taken for retransmissions, follow-ups find their own original, and forgetting one record
// leaves the others findable.
func TestHistoryKeyHashCollisions(t *testing.T) {
	mem := journaltest.NewMemory()
	st := ledger.NewState(mem)
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
	env := f.Env
	env.Now = f.Now
	f.Load(tx, &ledger.Keys{PruneBeforeNanos: f.Now.Add(time.Nanosecond).UnixNano(), PruneMax: 100}, &env)
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

// The answer to an original that creates its auth record is kept in the record, not in a reply
// row of its own (one row fewer per approval): a retransmission is answered from it, the chip
// response (field 55) included, and a follow-up's answer is still a reply row.
func TestAnswerKeptInAuthRecord(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	chip := lt.Req("0200", "000000", lt.PAN, 500, "000001")
	chip.POSEntryMode, chip.ICC = "051", []byte("ATC=7")
	first := f.Expect(chip, authz.Approved)
	if len(first.ICCResponse) == 0 {
		t.Fatal("the chip approval carries no field 55")
	}
	if c := f.State.Counts(); c["auths"] != 1 || c["replies"] != 0 {
		t.Fatalf("after one approval: %v, want one auth record and no reply row", c)
	}
	again := f.Expect(lt.Req("0201", "000000", lt.PAN, 500, "000001"), authz.Approved)
	if again.AuthCode != first.AuthCode || string(again.ICCResponse) != string(first.ICCResponse) {
		t.Errorf("retransmission answered %+v, first %+v", again, first)
	}
	f.ExpectBalance(lt.BalanceID, 9500, 0)
	f.Expect(lt.FollowUp("0400", chip, 500, "000002"), authz.Approved)
	if c := f.State.Counts(); c["auths"] != 1 || c["replies"] != 1 {
		t.Fatalf("after the reversal: %v, want the reversal's reply as a row", c)
	}
	// The reversal rewrote the record; the original's answer stays in it.
	again = f.Expect(lt.Req("0201", "000000", lt.PAN, 500, "000001"), authz.Approved)
	if again.AuthCode != first.AuthCode || string(again.ICCResponse) != string(first.ICCResponse) {
		t.Errorf("retransmission after the reversal answered %+v", again)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// More holds fall due than one scan of the expiry index reads (one row per batch, 64 rows a
// scan): each tick releases what it read and looks again on the next, even when a batch scans
// twice (an ExpireNow next to the tick's), until every hold is released once.
func TestHistoryExpiresMoreHoldsThanOneScanReads(t *testing.T) {
	f := lt.NewFixture(t, 1_000_000)
	f.Env.HoldTTL = time.Hour
	const holds = 150
	for i := range holds {
		f.Expect(lt.Auth(lt.PAN, 10, fmt.Sprintf("%06d", i+1)), authz.Approved) // a batch each
	}
	f.ExpectBalance(lt.BalanceID, 1_000_000, 10*holds)
	released := 0
	for range 6 {
		tx := f.State.Begin()
		env := f.Env
		env.Now = f.Now.Add(2 * time.Hour)
		f.Load(tx, &ledger.Keys{ExpireMax: 1 << 20}, &env) // one Load per scan
		f.Load(tx, &ledger.Keys{ExpireMax: 1 << 20}, &env)
		released += tx.ExpireHolds(&env, 1<<20)
		released += tx.ExpireHolds(&env, 1<<20)
		f.CommitTx(tx)
	}
	if released != holds {
		t.Fatalf("released %d holds, want %d", released, holds)
	}
	f.ExpectBalance(lt.BalanceID, 1_000_000, 0)
}
