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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Fatal, when set, is called once, on the engine goroutine or its answerer (a pipelined
	// journal), when the journal reports a batch in doubt (journal.ErrInDoubt: its write-ahead log failed, and the batch may or may not be
	// on disk). The engine then answers nothing of that batch (neither approval nor refusal
	// would be known to be true), refuses everything queued or submitted after it with
	// ErrStopped, and ends; the process must go not ready and restart, and recovery decides.
	// It must not block.
	Fatal func(err error)
	// Archive, when set, runs on every expiry tick after retention, in the tick's batch and on
	// the engine goroutine: it moves closed auth records out of the hot store (ledger/archive:
	// they are durable in the archive before it returns) and reports how many it changed.
	Archive func(tx *ledger.Tx, env *ledger.Env) int
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

// Op is one queued command with its typed result and callback; NewOp makes one, Submit and Do
// make and queue one. The engine calls Apply on its goroutine inside the batch Tx (it must not
// block), then Done once: with the result after the batch is durable, or with the error that
// kept the batch from being durable (then nothing of it was applied).
type Op interface {
	Kind() ledger.OpKind
	// Keys names the auth records and replies Apply reads (ledger.Command.Keys): the engine
	// loads them before the batch is applied, so Apply does no I/O.
	Keys(k *ledger.Keys)
	Apply(tx *ledger.Tx, env *ledger.Env)
	Done(err error)
}

// op is the Op of a command C with result R. C is a type parameter rather than a
// ledger.Command[R] field so that a command struct is stored as is, not boxed (one allocation
// fewer per message on the ISO path).
type op[C ledger.Command[R], R any] struct {
	cmd  C
	res  R
	done func(R, error)
}

// NewOp wraps a command and the callback that receives its result (nil: no answer wanted).
func NewOp[C ledger.Command[R], R any](cmd C, done func(R, error)) Op {
	return &op[C, R]{cmd: cmd, done: done}
}

func (o *op[C, R]) Kind() ledger.OpKind { return o.cmd.Kind() }

func (o *op[C, R]) Keys(k *ledger.Keys) { o.cmd.Keys(k) }

func (o *op[C, R]) Apply(tx *ledger.Tx, env *ledger.Env) { o.res = o.cmd.Apply(tx, env) }

func (o *op[C, R]) Done(err error) {
	if o.done == nil {
		return
	}
	if err != nil {
		var zero R
		o.done(zero, err)
		return
	}
	o.done(o.res, nil)
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

	halted atomic.Bool   // a batch was in doubt (Config.Fatal)
	haltC  chan struct{} // closed when halted is set

	keys ledger.Keys // prefetch: the Keys of one op, reused

	// Pipelining (journal.Pipeliner): the engine merges a batch once its record is written and
	// hands it to the answerer, which answers it once the record is durable.
	pipe     journal.Pipeliner // nil: the journal is synchronous
	free     chan *flight      // flights not in use
	answers  chan *flight      // to the answerer; closed by run when it ends
	answered chan struct{}     // closed when the answerer has ended
	merged   atomic.Uint64     // batches with changes merged into the State
	durable  atomic.Uint64     // of those, the last known durable
	durMu    sync.Mutex
	durCh    chan struct{} // closed when durable moves, if a reader waits (AwaitDurable)

	batches    atomic.Uint64
	opsApplied atomic.Uint64
	opsByKind  [ledger.NumOpKinds]atomic.Uint64
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
	e := &Engine{cfg: cfg, state: st, journal: j, env: env, clock: clock, log: log, obs: obs,
		queue: make(chan Op, cfg.QueueDepth), stop: make(chan struct{}), done: make(chan struct{}),
		haltC: make(chan struct{})}
	flights := 1
	if p, ok := j.(journal.Pipeliner); ok && p.Pipelined() {
		e.pipe, flights = p, flightsAhead
		e.answers, e.answered = make(chan *flight, flights), make(chan struct{})
	}
	e.free = make(chan *flight, flights)
	for range flights {
		e.free <- &flight{ops: make([]Op, 0, cfg.MaxBatch)}
	}
	return e
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

// Submit queues a command without blocking; done receives its result once the batch is durable.
func Submit[C ledger.Command[R], R any](e *Engine, cmd C, done func(R, error)) error {
	return e.Submit(NewOp(cmd, done))
}

// Do submits a command and waits for its result (management API, provisioning).
func Do[C ledger.Command[R], R any](ctx context.Context, e *Engine, cmd C) (R, error) {
	type res struct {
		v   R
		err error
	}
	ch := make(chan res, 1)
	if err := Submit(e, cmd, func(v R, err error) { ch <- res{v, err} }); err != nil {
		var zero R
		return zero, err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		// The op stays queued and will be applied; the caller just stops waiting.
		var zero R
		return zero, ctx.Err()
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
	// OpsByKind counts the ops applied per command kind (indexed by ledger.OpKind); their sum
	// is Ops.
	OpsByKind  [ledger.NumOpKinds]uint64
	QueueDepth int
}

// Stats reports the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{Batches: e.batches.Load(), Ops: e.opsApplied.Load(), Failures: e.failures.Load(),
		Rejected: e.rejected.Load(), QueueDepth: len(e.queue)}
	for k := range e.opsByKind {
		st.OpsByKind[k] = e.opsByKind[k].Load()
	}
	return st
}

func (e *Engine) run() {
	defer close(e.done)
	if e.pipe != nil {
		go e.answerLoop()
		defer func() {
			close(e.answers)
			<-e.answered // every batch durable and answered, or withheld after a failure
		}()
	}
	tx := e.state.Begin()
	changes := make([]ledger.Change, 0, 4*e.cfg.MaxBatch)
	ticker := time.NewTicker(e.cfg.ExpiryInterval)
	defer ticker.Stop()
	for {
		f := e.takeFlight()
		select {
		case op := <-e.queue:
			f.ops = append(f.ops, op)
			if e.halted.Load() { // the answerer found a batch in doubt meanwhile
				op.Done(ErrStopped) // not applied: a refusal is true
				e.free <- f
				e.refuseQueued()
				return
			}
		case <-e.haltC:
			e.free <- f
			e.refuseQueued()
			return
		case <-ticker.C:
			e.expire(tx, f, &changes)
			if e.halted.Load() {
				e.refuseQueued()
				return
			}
			continue
		case <-e.stop:
			// Drain: everything queued before Stop is applied and answered.
			for {
				e.fill(f)
				if len(f.ops) == 0 {
					e.free <- f
					return
				}
				e.apply(tx, f, &changes)
				if e.halted.Load() {
					e.refuseQueued()
					return
				}
				f = e.takeFlight()
			}
		}
		e.fill(f)
		e.apply(tx, f, &changes)
		if e.halted.Load() {
			e.refuseQueued()
			return
		}
	}
}

// flight is one batch on its way from the engine to its answers: its ops, what kept some of
// them from being applied, and where its record is in the journal. With a pipelined journal the
// engine hands it to the answerer and takes the next batch while this one is flushed; flights
// are reused (Engine.free), and their number bounds how far the engine runs ahead of the disk.
type flight struct {
	ops     []Op
	loadErr []error // per op: the error loading its keys (prefetch)
	kinds   [ledger.NumOpKinds]uint32
	tick    bool   // the expiry tick's own batch (no ops)
	err     error  // the batch was refused: nothing of it applied
	pos     uint64 // its journal record (pipelined; 0: nothing written)
	publish bool   // committed with changes: Config.Published is due once durable
	event   uint64 // the State's last event sequence after the batch
	merged  uint64 // Engine.merged after the batch
	rows    int
	began   time.Time
}

// flightsAhead is how many batches a pipelined engine keeps between itself and its answers: one
// being flushed, one appended behind it, one being applied.
const flightsAhead = 3

func (f *flight) reset() {
	clear(f.ops) // no reference kept to an answered op
	*f = flight{ops: f.ops[:0], loadErr: f.loadErr[:0]}
}

// takeFlight returns a free flight, waiting while the answerer holds them all (the disk is
// behind: the engine waits rather than run further ahead).
func (e *Engine) takeFlight() *flight {
	f := <-e.free
	f.reset()
	return f
}

// fill adds queued ops to f up to MaxBatch, without waiting.
func (e *Engine) fill(f *flight) {
	for len(f.ops) < e.cfg.MaxBatch {
		select {
		case op := <-e.queue:
			f.ops = append(f.ops, op)
		default:
			return
		}
	}
}

// halt is the engine's end after a batch in doubt (Config.Fatal). It may be called from the
// engine goroutine or the answerer; Fatal is called once.
func (e *Engine) halt(err error) {
	if e.halted.Swap(true) {
		return
	}
	close(e.haltC)
	e.log.Error("journal failed with a batch in doubt; the engine stops answering", "err", err)
	e.wakeReaders()
	if e.cfg.Fatal != nil {
		e.cfg.Fatal(err)
	}
}

// refuseQueued stops Submit and answers every op still queued with ErrStopped: none of them was
// applied, so a refusal is true for them.
func (e *Engine) refuseQueued() {
	e.mu.Lock()
	if !e.stopped.Swap(true) {
		close(e.stop)
	}
	e.mu.Unlock()
	for {
		select {
		case op := <-e.queue:
			op.Done(ErrStopped)
		default:
			return
		}
	}
}

// apply runs one batch: apply every op, write the batch, merge it, and answer it once durable
// (at once with a synchronous journal, by the answerer with a pipelined one).
func (e *Engine) apply(tx *ledger.Tx, f *flight, changes *[]ledger.Change) {
	env := e.env
	env.Now = e.clock()
	tx.SetBatchTime(env.Now) // events of the batch carry its time
	e.prefetch(tx, f, &env)
	for i, op := range f.ops {
		k := op.Kind()
		if k >= ledger.NumOpKinds {
			k = ledger.OpOther
		}
		f.kinds[k]++
		if f.loadErr[i] == nil {
			op.Apply(tx, &env)
		}
	}
	e.persist(tx, f, changes)
	e.dispatch(f)
}

// dispatch sends a written batch to its answers: at once with a synchronous journal (it is
// durable), through the answerer with a pipelined one. A batch in doubt is never answered.
func (e *Engine) dispatch(f *flight) {
	if e.halted.Load() {
		e.free <- f // in doubt: none of its ops is answered
		return
	}
	if e.pipe == nil {
		e.answer(f)
		e.free <- f
		return
	}
	e.answers <- f
}

// answerLoop is the answerer of a pipelined engine: in the order the batches were written, it
// waits for each one's record to be durable, then answers its ops and publishes its events.
// After a failed wait nothing more is answered: that batch is in doubt, and every later one was
// applied on top of it. It ends when the engine closes answers.
func (e *Engine) answerLoop() {
	defer close(e.answered)
	for f := range e.answers {
		if f.pos != 0 && !e.halted.Load() {
			err := e.pipe.Wait(f.pos)
			if e.obs != nil {
				e.obs.Batch(f.rows, time.Since(f.began), err)
			}
			if err != nil {
				e.failures.Add(1)
				e.halt(err)
			}
		}
		if !e.halted.Load() {
			e.answer(f)
		}
		e.free <- f
	}
}

// answer answers a durable (or refused) batch's ops, publishes its events, and lets the
// State's readers see it (AwaitDurable).
func (e *Engine) answer(f *flight) {
	if f.merged != 0 {
		e.durable.Store(f.merged)
		e.wakeReaders()
	}
	if f.publish && e.cfg.Published != nil {
		e.cfg.Published(f.event)
	}
	if f.tick {
		return
	}
	// Counted before the answers, so a caller that reads Stats after its answer sees its op.
	e.opsApplied.Add(uint64(len(f.ops)))
	for k, n := range f.kinds {
		if n != 0 {
			e.opsByKind[k].Add(uint64(n))
		}
	}
	for i, op := range f.ops {
		if f.err == nil && f.loadErr[i] != nil {
			op.Done(f.loadErr[i])
			continue
		}
		op.Done(f.err)
	}
}

// AwaitDurable returns once everything merged into the State when it was called is durable, so
// that a reader of the State (the management API) answers nothing a crash could take back: with
// a pipelined journal the engine merges a batch before its record is flushed. It waits at most
// about one flush; ErrStopped if the engine halted with a batch in doubt.
func (e *Engine) AwaitDurable(ctx context.Context) error {
	target := e.merged.Load()
	for {
		if e.durable.Load() >= target {
			return nil
		}
		if e.halted.Load() {
			return ErrStopped
		}
		e.durMu.Lock()
		if e.durCh == nil {
			e.durCh = make(chan struct{})
		}
		ch := e.durCh
		e.durMu.Unlock()
		if e.durable.Load() >= target || e.halted.Load() {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Durable reports whether everything merged into the State is durable (AwaitDurable would
// return at once).
func (e *Engine) Durable() bool { return e.durable.Load() >= e.merged.Load() }

// wakeReaders wakes the AwaitDurable callers, if any.
func (e *Engine) wakeReaders() {
	e.durMu.Lock()
	if e.durCh != nil {
		close(e.durCh)
		e.durCh = nil
	}
	e.durMu.Unlock()
}

// prefetch reads, before the batch is applied, the records each op names (Op.Keys) from the
// journal into the Tx, which then reads only memory. An op whose records could not be read is
// not applied and is answered with the error (the switch answers 96); the rest of the batch
// goes on.
func (e *Engine) prefetch(tx *ledger.Tx, f *flight, env *ledger.Env) {
	for _, op := range f.ops {
		e.keys.Reset()
		op.Keys(&e.keys)
		err := tx.Load(&e.keys, env)
		if err != nil {
			e.failures.Add(1)
			e.log.Error("journal read failed; operation refused", "op", op.Kind().String(), "err", err)
		}
		f.loadErr = append(f.loadErr, err)
	}
}

// kindList names the kinds of a batch's ops with their counts, for the log.
func kindList(f *flight) string {
	if f.tick {
		return "expiry tick"
	}
	var b strings.Builder
	for k, n := range f.kinds {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ledger.OpKind(k).String())
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// persist writes the batch's changes and merges them, or rolls the batch back (f.err). With a
// synchronous journal the batch is durable when it returns; with a pipelined one its record is
// written (f.pos) and the answerer waits for its flush.
func (e *Engine) persist(tx *ledger.Tx, f *flight, changes *[]ledger.Change) {
	e.batches.Add(1)
	*changes = tx.Changes((*changes)[:0])
	if err := tx.Err(); err != nil {
		// An op read a record it had not named in its Keys (ledger.ErrNotLoaded), or a record
		// the batch needed is missing from the ledger: nothing of it is committed and its ops
		// are answered with the error (the switch answers 96).
		e.failures.Add(1)
		e.log.Error("record unreadable or missing; batch refused", "ops", kindList(f), "err", err)
		tx.Rollback()
		f.err = err
		return
	}
	if len(*changes) == 0 {
		tx.Commit()
		return
	}
	// Built with the invariants tag, a batch that breaks the books panics here, before it is
	// durable; otherwise this is compiled away.
	ledger.AssertBatch(tx, *changes)
	f.began, f.rows = time.Now(), len(*changes)
	var err error
	if e.pipe != nil {
		f.pos, err = e.pipe.Append(*changes)
	} else {
		err = e.journal.Commit(*changes)
		if e.obs != nil {
			e.obs.Batch(f.rows, time.Since(f.began), err)
		}
	}
	if err != nil {
		e.failures.Add(1)
		tx.Rollback()
		f.err = err
		if errors.Is(err, journal.ErrInDoubt) {
			e.halt(err)
			return
		}
		e.log.Error("journal write failed; batch refused", "ops", kindList(f), "rows", len(*changes), "err", err)
		return
	}
	tx.Commit()
	f.publish, f.event, f.merged = true, e.state.LastEventSeq(), e.merged.Add(1)
}

// expire releases the holds that are due and forgets what is past the retention, as a batch of
// its own (f, without ops).
func (e *Engine) expire(tx *ledger.Tx, f *flight, changes *[]ledger.Change) {
	f.tick = true
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
		e.free <- f
		return
	}
	n := tx.ExpireHolds(&env, e.cfg.ExpiryBatchMax)
	if e.cfg.ReplyRetention > 0 {
		n += tx.Prune(cutoff, e.cfg.ExpiryBatchMax)
	}
	if e.cfg.Archive != nil {
		n += e.cfg.Archive(tx, &env)
	}
	if n == 0 && tx.Empty() && tx.Err() == nil {
		// The entries the scans took were stale: dropped for good (History mode: the scans'
		// new bounds are kept).
		tx.Commit()
		e.free <- f
		return
	}
	e.persist(tx, f, changes) // on failure the holds stay and are retried on the next tick
	e.dispatch(f)
}

// ExpireNow releases due holds at once (tests with an injected clock).
func (e *Engine) ExpireNow(ctx context.Context) error {
	_, err := Do(ctx, e, ledger.ExpireHolds{Max: 1 << 30})
	return err
}
