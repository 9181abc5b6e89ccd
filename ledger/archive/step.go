package archive

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// DefaultAfter is the default of engine.archiveAfter: how old a closed auth record that moved
// money is when it leaves the hot store.
const DefaultAfter = 30 * 24 * time.Hour

// Archiver is the archiving step of the engine's expiry tick (engine.Config.Archive).
type Archiver struct {
	store *Store
	after time.Duration
	max   int
	log   *slog.Logger

	archived atomic.Uint64 // records deleted from the hot store after being archived
	failures atomic.Uint64
}

// NewArchiver archives, through store, the records older than after (> 0), at most max (> 0)
// per tick.
func NewArchiver(store *Store, after time.Duration, max int, log *slog.Logger) *Archiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archiver{store: store, after: after, max: max, log: log}
}

// Step runs on the engine goroutine inside the expiry tick's batch, before it is made durable:
// it takes the due entries of the archiving index, writes the records to archive (and those it
// forgets) to the store and waits for them to be durable, and only then deletes them in the
// batch. It reports how many records it changed (0: the batch may be empty).
//
// Order of durability: archive fsync, then the batch. A crash or a failed batch in between
// leaves a record in both places; the next tick archives it again, and reads take one copy.
func (a *Archiver) Step(tx *ledger.Tx, env *ledger.Env) int {
	cutoff := env.Now.Add(-a.after).UnixNano()
	if err := tx.LoadArchiveDue(cutoff, a.max); err != nil {
		a.fail("archive: journal read failed; archiving deferred", err)
		return 0
	}
	d := tx.ArchiveDue(cutoff, env.Now.UnixNano(), a.max)
	if len(d.Auths)+len(d.Forgotten) > 0 {
		if err := a.store.Append(d.Auths, d.Forgotten); err != nil {
			a.fail("archive: write failed; the records stay in the hot store and are retried on the next tick", err)
			tx.ArchiveFailed(&d)
			return d.Kept + len(d.Auths) + len(d.Forgotten)
		}
		tx.Archived(&d)
		a.archived.Add(uint64(len(d.Auths)))
	}
	if d.Changed() {
		return d.Kept + len(d.Auths) + len(d.Forgotten)
	}
	return 0
}

func (a *Archiver) fail(msg string, err error) {
	a.failures.Add(1)
	a.log.Error(msg, "err", err)
}

// Archived reports how many records were moved out of the hot store since start.
func (a *Archiver) Archived() uint64 { return a.archived.Load() }

// Failures reports how many steps failed to read or write since start.
func (a *Archiver) Failures() uint64 { return a.failures.Load() }
