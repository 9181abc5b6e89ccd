package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Under a steady load the State stops growing: balances and cards are rewritten in place, and
// retention forgets the replies and money-less auth records (kept in the journal, counted in the
// key sets).
func TestSteadyLoadReusesSpace(t *testing.T) {
	f := lt.NewFixture(t, 1<<40)
	const perRound, retention = 500, 3 * time.Hour
	var sizes []int
	for round := range 30 {
		tx := f.State.Begin()
		env := f.Env
		env.Now = f.Now
		for i := range perRound {
			stan := fmt.Sprintf("%06d", (round*perRound+i)%1000000)
			auth := lt.Auth(lt.PAN, 100, stan)
			auth.CVC2 = lt.CVC2
			if r := tx.Process(auth, &env); r.Action != authz.Approved {
				t.Fatalf("round %d: %v", round, r.Action)
			}
			tx.Process(lt.FollowUp("0400", auth, 100, stan), &env) // back to no money: forgettable
		}
		f.Load(tx, &ledger.Keys{PruneBeforeNanos: env.Now.Add(-retention).UnixNano(), PruneMax: 1 << 30}, &env)
		tx.Prune(env.Now.Add(-retention).UnixNano(), 1<<30)
		f.CommitTx(tx)
		f.Now = f.Now.Add(time.Hour)
		sizes = append(sizes, f.State.StoredBytes())
	}
	if got := f.State.Counts()["auths"]; got > 4*perRound {
		t.Fatalf("%d auth records kept: retention did not forget", got)
	}
	t.Logf("stored bytes by round: %v", sizes)
	if sizes[len(sizes)-1] != sizes[9] {
		t.Fatalf("stored bytes keep growing under a steady load: %v", sizes)
	}
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
}
