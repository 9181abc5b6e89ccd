package journaltest

import (
	"fmt"
	"sync/atomic"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// InDoubt wraps a journal and, once armed, reports every commit in doubt (journal.ErrInDoubt),
// as the WAL journal does after a failed fdatasync of its log: that batch and every later one.
type InDoubt struct {
	journal.Journal
	armed atomic.Bool
}

// Arm makes every later commit fail in doubt.
func (j *InDoubt) Arm() { j.armed.Store(true) }

// Commit fails in doubt once armed, otherwise delegates.
func (j *InDoubt) Commit(changes []ledger.Change) error {
	if j.armed.Load() {
		return fmt.Errorf("%w: injected fdatasync failure", journal.ErrInDoubt)
	}
	return j.Journal.Commit(changes)
}
