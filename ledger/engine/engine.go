// Package engine is the single writer of cardswitch: every change to money or card state, from
// the ISO switch and from the management API alike, is an Op in its bounded queue. The engine
// takes a batch of ops, applies them to a ledger Tx, makes the batch durable in the journal with
// one synced write, and only then merges it and answers (persist before reply). A full queue is
// answered at once with ErrQueueFull (the switch answers 96).
package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// Errors of Submit and of ops.
var (
	ErrQueueFull = errors.New("engine: queue full")
	ErrStopped   = errors.New("engine: stopped")
)

// Config are the engine's limits. Zero values take the defaults.
type Config struct {
	// QueueDepth bounds the ops waiting for the engine; a Submit beyond it fails at once with
	// ErrQueueFull. Default 16384.
	QueueDepth int
	// MaxBatch bounds the ops applied and made durable together. Default 2048.
	MaxBatch int
	// HoldTTL is how long an authorization hold lives. Default 7 days.
	HoldTTL time.Duration
	// ExpiryInterval is how often expired holds are released. Default 1s.
	ExpiryInterval time.Duration
	// ExpiryBatchMax bounds the holds released in one batch, and the replies and auth records
	// forgotten in one batch. Default 1024.
	ExpiryBatchMax int
	// ReplyRetention is how long remembered replies, and closed auth records that moved no
	// money, are kept (ledger/retention.go); older ones are forgotten on the expiry tick, through
	// the journal. Default 7 days; negative: kept for ever.
	ReplyRetention time.Duration
	// Published, when set, is called on the engine goroutine after every durable batch with the
	// sequence of the last committed event (ledger/events.go), to wake delivery. It must not
	// block.
	Published func(lastEventSeq uint64)
}

// DefaultReplyRetention is the default of Config.ReplyRetention.
const DefaultReplyRetention = 7 * 24 * time.Hour

func (c *Config) defaults() {
	if c.QueueDepth <= 0 {
		c.QueueDepth = 16384
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2048
	}
	if c.HoldTTL <= 0 {
		c.HoldTTL = ledger.DefaultHoldTTL
	}
	if c.ExpiryInterval <= 0 {
		c.ExpiryInterval = time.Second
	}
	if c.ExpiryBatchMax <= 0 {
		c.ExpiryBatchMax = 1024
	}
	if c.ReplyRetention == 0 {
		c.ReplyRetention = DefaultReplyRetention
	}
}

// Op is one command for the engine. Apply runs on the engine goroutine inside the batch Tx and
// must not block; Done is called once with its result after the batch is durable, or with an
// error if the batch could not be made durable (then nothing of it was applied).
type Op struct {
	Apply func(tx *ledger.Tx, env *ledger.Env) any
	Done  func(result any, err error)
	// Keys names the auth records and replies Apply reads (ledger.KeysOf for a money message):
	// the engine loads them before the batch is applied, so Apply does no I/O. nil: none.
	Keys func(k *ledger.Keys)
	// Message is the money message Apply processes, if any: its keys are loaded as Keys would
	// (ledger.KeysOf) without a closure per message.
	Message *authz.Request
}

// Observer receives engine measurements (metrics); all methods must be cheap.
type Observer interface {
	Batch(ops int, durable time.Duration, err error)
}

// Engine is the single writer.
type Engine struct {
	cfg     Config
	state   *ledger.State
	journal journal.Journal
	env     ledger.Env
	clock   func() time.Time
	log     *slog.Logger
	obs     Observer

	queue   chan Op
	stop    chan struct{}
	done    chan struct{}
	stopped atomic.Bool
	mu      sync.RWMutex // Submit holds it shared; Stop exclusively, to close the queue safely

	keys    ledger.Keys // prefetch: the Keys of one op, reused
	loadErr []error     // prefetch: per op of the batch, the error loading its keys

	batches    atomic.Uint64
	opsApplied atomic.Uint64
	failures   atomic.Uint64
	rejected   atomic.Uint64
}

// New builds an engine over a recovered state. env carries the policy hooks (Verifier, programs,
// PAN hasher); its Now is set for every batch from clock.
func New(cfg Config, st *ledger.State, j journal.Journal, env ledger.Env, clock func() time.Time, log *slog.Logger, obs Observer) *Engine {
	cfg.defaults()
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env.HoldTTL = cfg.HoldTTL
	return &Engine{cfg: cfg, state: st, journal: j, env: env, clock: clock, log: log, obs: obs,
		queue: make(chan Op, cfg.QueueDepth), stop: make(chan struct{}), done: make(chan struct{})}
}

// State is the committed ledger, for queries.
func (e *Engine) State() *ledger.State { return e.state }

// Start runs the engine goroutine until Stop.
func (e *Engine) Start() { go e.run() }

// Submit queues an op without blocking.
func (e *Engine) Submit(op Op) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.stopped.Load() {
		return ErrStopped
	}
	select {
	case e.queue <- op:
		return nil
	default:
		e.rejected.Add(1)
		return ErrQueueFull
	}
}

// Do submits an op and waits for its result (management API, provisioning).
func (e *Engine) Do(ctx context.Context, apply func(tx *ledger.Tx, env *ledger.Env) any) (any, error) {
	return e.DoReading(ctx, nil, apply)
}

// DoReading is Do for an op that reads auth records or replies: keys names them (Op.Keys).
func (e *Engine) DoReading(ctx context.Context, keys func(*ledger.Keys), apply func(tx *ledger.Tx, env *ledger.Env) any) (any, error) {
	type res struct {
		v   any
		err error
	}
	ch := make(chan res, 1)
	if err := e.Submit(Op{Apply: apply, Keys: keys, Done: func(v any, err error) { ch <- res{v, err} }}); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		// The op stays queued and will be applied; the caller just stops waiting.
		return nil, ctx.Err()
	}
}

// Stop stops accepting ops, applies and answers every op already queued, and returns when the
// engine goroutine has ended or ctx is done.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if !e.stopped.Swap(true) {
		close(e.stop)
	}
	e.mu.Unlock()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueueDepth reports how many ops wait.
func (e *Engine) QueueDepth() int { return len(e.queue) }

// Stats are the engine's counters.
type Stats struct {
	Batches, Ops, Failures, Rejected uint64
	QueueDepth                       int
}

// Stats reports the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Batches: e.batches.Load(), Ops: e.opsApplied.Load(), Failures: e.failures.Load(),
		Rejected: e.rejected.Load(), QueueDepth: len(e.queue)}
}

func (e *Engine) run() {
	defer close(e.done)
	tx := e.state.Begin()
	batch := make([]Op, 0, e.cfg.MaxBatch)
	results := make([]any, 0, e.cfg.MaxBatch)
	changes := make([]ledger.Change, 0, 4*e.cfg.MaxBatch)
	ticker := time.NewTicker(e.cfg.ExpiryInterval)
	defer ticker.Stop()
	for {
		batch = batch[:0]
		select {
		case op := <-e.queue:
			batch = append(batch, op)
		case <-ticker.C:
			e.expire(tx, &changes)
			continue
		case <-e.stop:
			// Drain: everything queued before Stop is applied and answered.
			for {
				batch = batch[:0]
			fill:
				for len(batch) < e.cfg.MaxBatch {
					select {
					case op := <-e.queue:
						batch = append(batch, op)
					default:
						break fill
					}
				}
				if len(batch) == 0 {
					return
				}
				results = e.apply(tx, batch, results[:0], &changes)
			}
		}
	more:
		for len(batch) < e.cfg.MaxBatch {
			select {
			case op := <-e.queue:
				batch = append(batch, op)
			default:
				break more
			}
		}
		results = e.apply(tx, batch, results[:0], &changes)
	}
}

// apply runs one batch: apply every op, make the batch durable, then merge and answer.
func (e *Engine) apply(tx *ledger.Tx, batch []Op, results []any, changes *[]ledger.Change) []any {
	env := e.env
	env.Now = e.clock()
	tx.SetBatchTime(env.Now) // events of the batch carry its time
	e.prefetch(tx, batch, &env)
	for i := range batch {
		var v any
		if e.loadErr[i] == nil {
			v = batch[i].Apply(tx, &env)
		}
		results = append(results, v)
	}
	err := e.persist(tx, changes)
	for i := range batch {
		if batch[i].Done == nil {
			continue
		}
		switch {
		case err != nil:
			batch[i].Done(nil, err)
		case e.loadErr[i] != nil:
			batch[i].Done(nil, e.loadErr[i])
		default:
			batch[i].Done(results[i], nil)
		}
	}
	e.opsApplied.Add(uint64(len(batch)))
	return results
}

// prefetch reads, before the batch is applied, the records each op names (Op.Keys) from the
// journal into the Tx, which then reads only memory. An op whose records could not be read is
// not applied and is answered with the error (the switch answers 96); the rest of the batch
// goes on.
func (e *Engine) prefetch(tx *ledger.Tx, batch []Op, env *ledger.Env) {
	e.loadErr = e.loadErr[:0]
	for i := range batch {
		var err error
		if op := &batch[i]; op.Keys != nil || op.Message != nil {
			e.keys.Reset()
			if op.Message != nil {
				ledger.KeysOf(op.Message, &e.keys)
			}
			if op.Keys != nil {
				op.Keys(&e.keys)
			}
			if err = tx.Load(&e.keys, env); err != nil {
				e.failures.Add(1)
				e.log.Error("journal read failed; operation refused", "err", err)
			}
		}
		e.loadErr = append(e.loadErr, err)
	}
}

// persist writes the batch's changes and merges them, or rolls the batch back.
func (e *Engine) persist(tx *ledger.Tx, changes *[]ledger.Change) error {
	e.batches.Add(1)
	*changes = tx.Changes((*changes)[:0])
	if err := tx.Err(); err != nil {
		// An op read a record it had not named in its Keys: nothing of the batch is committed
		// and its ops are answered with the error (the switch answers 96).
		e.failures.Add(1)
		e.log.Error("record read without prefetch; batch refused", "err", err)
		tx.Rollback()
		return err
	}
	if len(*changes) == 0 {
		tx.Commit()
		return nil
	}
	start := time.Now()
	err := e.journal.Commit(*changes)
	if e.obs != nil {
		e.obs.Batch(len(*changes), time.Since(start), err)
	}
	if err != nil {
		e.failures.Add(1)
		e.log.Error("journal write failed; batch refused", "rows", len(*changes), "err", err)
		tx.Rollback()
		return err
	}
	tx.Commit()
	if e.cfg.Published != nil {
		e.cfg.Published(e.state.LastEventSeq())
	}
	return nil
}

// expire releases the holds that are due and forgets what is past the retention, as a batch of
// its own.
func (e *Engine) expire(tx *ledger.Tx, changes *[]ledger.Change) {
	env := e.env
	env.Now = e.clock()
	tx.SetBatchTime(env.Now)
	k := &e.keys
	k.Reset()
	k.ExpireMax = e.cfg.ExpiryBatchMax
	cutoff := env.Now.Add(-e.cfg.ReplyRetention).UnixNano()
	if e.cfg.ReplyRetention > 0 {
		k.PruneBeforeNanos, k.PruneMax = cutoff, e.cfg.ExpiryBatchMax
	}
	if err := tx.Load(k, &env); err != nil {
		// The holds stay and are retried on the next tick.
		e.failures.Add(1)
		e.log.Error("journal read failed; expiry deferred", "err", err)
		tx.Rollback()
		return
	}
	n := tx.ExpireHolds(&env, e.cfg.ExpiryBatchMax)
	if e.cfg.ReplyRetention > 0 {
		n += tx.Prune(cutoff, e.cfg.ExpiryBatchMax)
	}
	if n == 0 && tx.Empty() && tx.Err() == nil {
		// The entries the scans took were stale: dropped for good (History mode: the scans'
		// new bounds are kept).
		tx.Commit()
		return
	}
	_ = e.persist(tx, changes) // on failure the holds stay and are retried on the next tick
}

// ExpireNow releases due holds at once (tests with an injected clock).
func (e *Engine) ExpireNow(ctx context.Context) error {
	ch := make(chan error, 1)
	const all = 1 << 30
	err := e.Submit(Op{
		Apply: func(tx *ledger.Tx, env *ledger.Env) any { return tx.ExpireHolds(env, all) },
		Done:  func(_ any, err error) { ch <- err },
		Keys:  func(k *ledger.Keys) { k.ExpireMax = all },
	})
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
