package journaltest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// Gated is a pipelined journal (journal.Pipeliner) over another journal, for tests of what
// waits for durability: Append writes through at once and returns the next position; Wait
// returns only once the test has opened the position's gate (Open), or fails from the position
// given to Fail on (a failed fdatasync: that record and every later one in doubt).
type Gated struct {
	journal.Journal
	mu       sync.Mutex
	appended uint64
	opened   uint64        // positions up to this one are durable
	failFrom uint64        // 0: none
	changed  chan struct{} // closed and replaced when anything moves
}

// NewGated wraps j; every position's gate starts closed.
func NewGated(j journal.Journal) *Gated { return &Gated{Journal: j, changed: make(chan struct{})} }

// Pipelined reports true: the engine appends and waits separately.
func (g *Gated) Pipelined() bool { return true }

// Append writes the changes through and returns their position.
func (g *Gated) Append(changes []ledger.Change) (uint64, error) {
	if err := g.Journal.Commit(changes); err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.appended++
	g.broadcast()
	return g.appended, nil
}

// Wait blocks until pos is opened or failed.
func (g *Gated) Wait(pos uint64) error {
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

func (g *Gated) broadcast() { close(g.changed); g.changed = make(chan struct{}) }

// Open makes every position up to pos durable.
func (g *Gated) Open(pos uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = pos
	g.broadcast()
}

// OpenAll makes every position appended so far durable (later ones wait for another call).
func (g *Gated) OpenAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = g.appended
	g.broadcast()
}

// Fail makes pos and every later position fail (in doubt).
func (g *Gated) Fail(pos uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failFrom = pos
	g.broadcast()
}

// Appended reports how many records were appended.
func (g *Gated) Appended() uint64 { g.mu.Lock(); defer g.mu.Unlock(); return g.appended }

// WaitAppended waits until n records are appended (10 s at most).
func (g *Gated) WaitAppended(t testing.TB, n uint64) {
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
