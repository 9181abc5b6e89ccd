package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// applier writes the batches of the write-ahead log into Badger, in log order, on its own
// goroutine: the engine's reply waits only for the log's fdatasync, not for Badger. It groups
// the batches queued meanwhile into one synced Badger transaction, and deletes a log segment once
// every batch in it is in Badger.
type applier struct {
	j      *Badger
	walDir string
	log    *slog.Logger

	ch   chan *pending
	room chan struct{} // signalled when the applier took work off a full queue
	quit chan struct{} // closed to give up retrying (Close after its wait)
	done chan struct{}

	failing atomic.Pointer[error] // the last Badger failure, nil once a write succeeded again
	gaveUp  atomic.Bool           // stopped by quit with batches not applied
	pool    sync.Pool             // *[]byte record buffers
}

// pending is one item of the applier's queue.
type pending struct {
	rec     *[]byte    // a batch's log record (returned to the pool once applied); nil for markers
	entries []walEntry // the record's entries, aliasing *rec
	// closedSeg > 0: every batch of that segment was queued before this marker.
	closedSeg int
	// flushed, when set, is signalled once everything queued before the marker is in Badger.
	flushed chan struct{}
}

const (
	applierQueue    = 4096    // batches waiting for Badger before Commit waits for room
	applierGroupMax = 1 << 16 // entries per Badger transaction
	maxPooledRecord = 1 << 20
)

func newApplier(j *Badger, walDir string, log *slog.Logger) *applier {
	a := &applier{j: j, walDir: walDir, log: log, ch: make(chan *pending, applierQueue),
		room: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	a.pool.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	go a.run()
	return a
}

func (a *applier) buffer() *[]byte { return a.pool.Get().(*[]byte) }

func (a *applier) release(b *[]byte) {
	if cap(*b) <= maxPooledRecord {
		*b = (*b)[:0]
		a.pool.Put(b)
	}
}

// failure is the error Badger writes are failing with, or nil.
func (a *applier) failure() error {
	if e := a.failing.Load(); e != nil {
		return *e
	}
	return nil
}

// waitRoom returns once the queue can take one more item without blocking, or with the error
// Badger writes fail with (the batch is then refused rather than logged behind a store that
// cannot take it). Only the journal, under its lock, sends to the queue.
func (a *applier) waitRoom() error {
	for len(a.ch) == cap(a.ch) {
		if err := a.failure(); err != nil {
			return err
		}
		select {
		case <-a.room:
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// flush returns once everything queued so far is in Badger (synced).
func (a *applier) flush() {
	p := &pending{flushed: make(chan struct{})}
	a.ch <- p
	<-p.flushed
}

func (a *applier) run() {
	defer close(a.done)
	group := make([]*pending, 0, 256)
	for p := range a.ch {
		group = append(group[:0], p)
		n := len(p.entries)
	more:
		for n < applierGroupMax {
			select {
			case q, ok := <-a.ch:
				if !ok {
					break more
				}
				group = append(group, q)
				n += len(q.entries)
			default:
				break more
			}
		}
		select {
		case a.room <- struct{}{}:
		default:
		}
		if !a.write(group) {
			a.gaveUp.Store(true)
			return // gave up (Close): the log keeps the batches, the next open replays them
		}
		for _, q := range group {
			if q.rec != nil {
				a.release(q.rec)
			}
			if q.closedSeg > 0 {
				if err := removeSegments(a.walDir, q.closedSeg); err != nil {
					a.log.Warn("journal: applied log segment not removed; it is replayed (harmlessly) at next start", "err", err)
				}
			}
			if q.flushed != nil {
				close(q.flushed)
			}
		}
	}
}

// write puts the group's entries into Badger in one synced transaction (several if it is too
// big), retrying until it succeeds; it reports false if it gave up because of quit.
func (a *applier) write(group []*pending) bool {
	backoff := 10 * time.Millisecond
	for {
		err := applyEntries(a.j.db, func(yield func(walEntry) bool) {
			for _, p := range group {
				for _, e := range p.entries {
					if !yield(e) {
						return
					}
				}
			}
		})
		if err == nil {
			if a.failing.Load() != nil {
				a.failing.Store(nil)
				a.log.Info("journal: store writes succeed again")
			}
			return true
		}
		if a.failing.Load() == nil {
			a.log.Error("journal: writing logged batches to the store failed; retrying (new batches are refused while it fails)", "err", err)
		}
		a.failing.Store(&err)
		select {
		case <-a.quit:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// applyEntries writes entries into db in order, in as few synced transactions as Badger allows.
func applyEntries(db *badger.DB, entries func(yield func(walEntry) bool)) error {
	txn := db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var err error
	put := func(e walEntry) error {
		if e.del {
			return txn.Delete(e.key)
		}
		return txn.Set(e.key, e.val)
	}
	entries(func(e walEntry) bool {
		err = put(e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return false
			}
			txn = db.NewTransaction(true)
			err = put(e)
		}
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("journal: store: %w", err)
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("journal: store: %w", err)
	}
	return nil
}
