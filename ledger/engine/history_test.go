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
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

var errRead = errors.New("disk read failed")

// unreadable is a journal whose history reads fail while broken is set.
type unreadable struct {
	*journaltest.Memory
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

// An op that needs a record the journal cannot read is refused before the batch is applied: it
// gets the error (the switch answers 96), nothing of it is committed, and the same message
// succeeds once the journal reads again. A new message needs no read and is not affected.
func TestHistoryReadErrorRefusesTheOp(t *testing.T) {
	j := &unreadable{Memory: journaltest.NewMemory()}
	st := ledger.NewState(j)
	f := lt.NewFixtureOn(t, st, 10000, j.Commit)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, st, j, f.Env, func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	do := func(req *authz.Request) (authz.Response, error) {
		return engine.Do(context.Background(), e, process(req))
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

// A read error fails only the ops that needed the record: the other ops of the same batch are
// applied and committed.
func TestHistoryReadErrorSparesTheRestOfTheBatch(t *testing.T) {
	j := &unreadable{Memory: journaltest.NewMemory()}
	st := ledger.NewState(j)
	f := lt.NewFixtureOn(t, st, 10000, j.Commit)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, st, j, f.Env, func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	j.broken.Store(true)
	release := hold(t, e)
	reqs := []*authz.Request{lt.FollowUp("0400", auth, 3000, "000002"), lt.Auth(lt.PAN, 1000, "000003")}
	out := make([]result, len(reqs))
	done := make(chan int, len(reqs))
	for i, req := range reqs {
		if err := answer(e, req, func(v authz.Response, err error) {
			out[i] = result{v, err}
			done <- i
		}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	<-done
	<-done
	if !errors.Is(out[0].err, errRead) {
		t.Fatalf("reversal: err %v, want the read error", out[0].err)
	}
	if out[1].err != nil || out[1].v.Action != authz.Approved {
		t.Fatalf("authorization in the same batch: %+v", out[1])
	}
	if b := e.Stats().Batches; b < 2 {
		t.Fatalf("%d batches: the hold and the two ops", b)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 4000)
}
