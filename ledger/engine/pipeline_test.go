package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// gated is a pipelined journal over a memory journal: Append writes at once and returns the next
// position; Wait returns only once the test opens the position's gate, or fails from the armed
// position on (a failed fdatasync: that record and every later one in doubt).
type gated struct {
	journal.Journal
	mu       sync.Mutex
	appended uint64
	opened   uint64        // positions up to this one are durable
	failFrom uint64        // 0: none
	changed  chan struct{} // closed and replaced when opened or failFrom moves, or a record is appended
}

func newGated(j journal.Journal) *gated { return &gated{Journal: j, changed: make(chan struct{})} }

func (g *gated) Pipelined() bool { return true }

func (g *gated) Append(changes []ledger.Change) (uint64, error) {
	if err := g.Journal.Commit(changes); err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.appended++
	g.broadcast()
	return g.appended, nil
}

func (g *gated) Wait(pos uint64) error {
	for {
		g.mu.Lock()
		failed := g.failFrom != 0 && pos >= g.failFrom
		open := pos <= g.opened
		ch := g.changed
		g.mu.Unlock()
		switch {
		case failed:
			return fmt.Errorf("%w: injected", journal.ErrInDoubt)
		case open:
			return nil
		}
		<-ch
	}
}

func (g *gated) broadcast() { close(g.changed); g.changed = make(chan struct{}) }

func (g *gated) open(pos uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = pos
	g.broadcast()
}

func (g *gated) fail(pos uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failFrom = pos
	g.broadcast()
}

// waitAppended waits until n records are appended.
func (g *gated) waitAppended(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		g.mu.Lock()
		got, ch := g.appended, g.changed
		g.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d records appended, want %d", got, n)
		}
	}
}

// With a pipelined journal the engine applies and writes the next batch while the previous one
// is not yet durable, and answers each batch only once its record is: in order, never before.
// A reader of the State waits (AwaitDurable) until what it may see is durable.
func TestPipelinedBatchesAreAnsweredOnlyOnceDurable(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 50000)
	g := newGated(mem)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, f.State, g, f.Env,
		func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())

	answered := make(chan string, 2)
	if err := answer(e, lt.Auth(lt.PAN, 100, "000001"), func(r authz.Response, err error) {
		answered <- fmt.Sprintf("000001 %s %v", r.Action, err)
	}); err != nil {
		t.Fatal(err)
	}
	g.waitAppended(t, 1)
	if err := answer(e, lt.Auth(lt.PAN, 200, "000002"), func(r authz.Response, err error) {
		answered <- fmt.Sprintf("000002 %s %v", r.Action, err)
	}); err != nil {
		t.Fatal(err)
	}
	g.waitAppended(t, 2) // written while the first is not durable: pipelined
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

	g.open(1)
	if a := <-answered; a != fmt.Sprintf("000001 %s <nil>", authz.Approved) {
		t.Fatalf("first answer %q", a)
	}
	select {
	case a := <-answered:
		t.Fatalf("the second batch was answered with only the first durable: %s", a)
	case <-time.After(20 * time.Millisecond):
	}
	g.open(2)
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
	g := newGated(mem)
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
		g.waitAppended(t, uint64(i+1))
	}
	g.fail(1)
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
