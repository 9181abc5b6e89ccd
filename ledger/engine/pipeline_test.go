package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// With a pipelined journal the engine applies and writes the next batch while the previous one
// is not yet durable, and answers each batch only once its record is: in order, never before.
// A reader of the State waits (AwaitDurable) until what it may see is durable.
func TestPipelinedBatchesAreAnsweredOnlyOnceDurable(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 50000)
	g := journaltest.NewGated(mem)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, f.State, g, f.Env,
		func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	defer g.Open(1 << 62) // on a failure every flush completes, so that Stop returns

	answered := make(chan string, 2)
	if err := answer(e, lt.Auth(lt.PAN, 100, "000001"), func(r authz.Response, err error) {
		answered <- fmt.Sprintf("000001 %s %v", r.Action, err)
	}); err != nil {
		t.Fatal(err)
	}
	g.WaitAppended(t, 1)
	if err := answer(e, lt.Auth(lt.PAN, 200, "000002"), func(r authz.Response, err error) {
		answered <- fmt.Sprintf("000002 %s %v", r.Action, err)
	}); err != nil {
		t.Fatal(err)
	}
	g.WaitAppended(t, 2) // written while the first is not durable: pipelined
	select {
	case a := <-answered:
		t.Fatalf("answered before its record was durable: %s", a)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := e.AwaitDurable(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitDurable with two batches not durable: %v", err)
	}
	cancel()

	g.Open(1)
	if a := <-answered; a != fmt.Sprintf("000001 %s <nil>", authz.Approved) {
		t.Fatalf("first answer %q", a)
	}
	select {
	case a := <-answered:
		t.Fatalf("the second batch was answered with only the first durable: %s", a)
	case <-time.After(20 * time.Millisecond):
	}
	g.Open(2)
	if a := <-answered; a != fmt.Sprintf("000002 %s <nil>", authz.Approved) {
		t.Fatalf("second answer %q", a)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.AwaitDurable(ctx); err != nil {
		t.Fatalf("AwaitDurable once everything is durable: %v", err)
	}
}

// A failed flush under pipelining: the batch in doubt and the batch written behind it (applied
// on top of it) get no answer at all, Fatal is called once, and the readers and later callers
// are refused.
func TestPipelinedBatchInDoubtWithholdsLaterBatches(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 50000)
	g := journaltest.NewGated(mem)
	fatal := make(chan error, 2)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour, Fatal: func(err error) { fatal <- err }},
		f.State, g, f.Env, func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())

	answered := make(chan error, 3)
	for i, stan := range []string{"000001", "000002"} {
		if err := answer(e, lt.Auth(lt.PAN, int64(100+i), stan), func(_ authz.Response, err error) { answered <- err }); err != nil {
			t.Fatal(err)
		}
		g.WaitAppended(t, uint64(i+1))
	}
	g.Fail(1)
	select {
	case err := <-fatal:
		if !errors.Is(err, journal.ErrInDoubt) {
			t.Fatalf("Fatal with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fatal not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.AwaitDurable(ctx); !errors.Is(err, engine.ErrStopped) {
		t.Fatalf("AwaitDurable after the failure: %v, want ErrStopped", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("the engine did not end: %v", err)
	}
	select {
	case err := <-answered:
		t.Fatalf("a batch in doubt was answered: %v", err)
	default:
	}
	if err := answer(e, lt.Auth(lt.PAN, 5, "000009"), nil); !errors.Is(err, engine.ErrStopped) {
		t.Fatalf("Submit after the failure: %v, want ErrStopped", err)
	}
	if len(fatal) != 0 {
		t.Fatal("Fatal called twice")
	}
}
