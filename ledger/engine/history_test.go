package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

var errRead = errors.New("disk read failed")

// unreadable is a journal whose history reads fail while broken is set.
type unreadable struct {
	*journal.Memory
	broken atomic.Bool
}

func (u *unreadable) ReadAuth(key string) (ledger.Auth, bool, error) {
	if u.broken.Load() {
		return ledger.Auth{}, false, errRead
	}
	return u.Memory.ReadAuth(key)
}

func (u *unreadable) ReadReply(key string) (ledger.Reply, bool, error) {
	if u.broken.Load() {
		return ledger.Reply{}, false, errRead
	}
	return u.Memory.ReadReply(key)
}

// A batch that needs a record the journal cannot read is refused whole: its ops get the error
// (the switch answers 96), nothing of it is committed, and the same message succeeds once the
// journal reads again. A batch of new messages needs no read and is not affected.
func TestHistoryReadErrorRefusesTheBatch(t *testing.T) {
	j := &unreadable{Memory: journal.NewMemory()}
	st := ledger.NewState()
	st.UseHistory(j)
	f := lt.NewFixtureOn(t, st, 10000, j.Commit)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, st, j, f.Env, func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	do := func(req *authz.Request) (authz.Response, error) {
		v, err := engine.Do(context.Background(), e, process(req))
		return v.Response, err
	}
	auth := lt.Auth(lt.PAN, 3000, "000001")
	if r, err := do(auth); err != nil || r.Action != authz.Approved {
		t.Fatalf("authorization: %v %v", r.Action, err)
	}
	j.broken.Store(true)
	if r, err := do(lt.Auth(lt.PAN, 1000, "000002")); err != nil || r.Action != authz.Approved {
		t.Fatalf("a new authorization needs no read: %v %v", r.Action, err)
	}
	reversal := lt.FollowUp("0400", auth, 3000, "000003")
	if _, err := do(reversal); !errors.Is(err, errRead) {
		t.Fatalf("reversal with the journal unreadable: err %v, want the read error", err)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 4000)
	j.broken.Store(false)
	if r, err := do(reversal); err != nil || r.Action != authz.Approved {
		t.Fatalf("reversal once the journal reads again: %v %v", r.Action, err)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 1000)
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
}
