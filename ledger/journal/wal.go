package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/wal"
)

// The WAL journal (docs/decisions/0008-write-ahead-log.md, "The switch-over"): the durability of
// a batch is one record of the write-ahead log (ledger/wal) and its fdatasync. Badger, opened
// without synced writes, holds the checkpoint: an applier goroutine writes the durable records
// into it in the background, with the log position they reach (walPosKey) in the same
// transaction; a checkpoint syncs Badger and then truncates the log behind that position.
// Recovery replays the log after the position into Badger, then loads Badger as before. A row
// change is a final value (set or delete), so replaying a record Badger already holds changes
// nothing: whatever the crash point, nothing is lost and nothing is applied twice.
//
// The rows of records not yet in Badger are kept in memory (pending) and served to the History
// and event-log reads; their bytes are bounded (WALOptions.MaxBacklogBytes): beyond the bound a
// Commit waits for the applier (counted in WALStats.BacklogWaits).

// ErrInDoubt: the write-ahead log failed while the batch was being made durable (a failed write
// or fdatasync, wal.ErrFailed). The batch may or may not be found on disk at the next start; it
// must not be answered either way, and the journal takes no more batches: the process must stop
// and restart, and recovery decides.
var ErrInDoubt = errors.New("journal: write-ahead log failed; batch in doubt")

// walPosKey is the key, outside every table, of the last log record Badger holds.
const walPosKey = "m/walpos"

// Defaults of WALOptions.
const (
	defaultMaxBacklogBytes = 64 << 20
	defaultCheckpointBytes = 64 << 20
	defaultCheckpointEvery = 30 * time.Second
	defaultApplyPace       = 1
	// applyTxnRows and applyTxnBytes bound one applier transaction, far below Badger's own limit.
	applyTxnRows  = 8192
	applyTxnBytes = 4 << 20
	// applySliceBytes bounds the records the applier writes between two pauses: its share of
	// the CPU is then taken in slices of tens of milliseconds, not in one burst of the whole
	// backlog (which took the CPU from the engine for seconds under a saturating load).
	applySliceBytes = 1 << 20
)

// WALOptions configure the write-ahead log of the WAL journal. Zero values take the defaults.
type WALOptions struct {
	// FS is the log's file system (default the operating system's; tests inject faultfs).
	FS wal.FS
	// Dir holds the log's segments; default WALDir of the Badger directory.
	Dir string
	// SegmentBytes is the size of a log segment (default 64 MiB, ledger/wal).
	SegmentBytes int64
	// MaxBacklogBytes bounds the bytes of durable records not yet written into Badger, kept in
	// memory for the reads: a Commit beyond it waits for the applier. Default 64 MiB.
	MaxBacklogBytes int64
	// CheckpointBytes and CheckpointInterval: a checkpoint (Badger synced, the log truncated
	// behind it) follows this many bytes of records applied, or this long, whichever comes
	// first. Defaults 64 MiB and 30 s.
	CheckpointBytes    int64
	CheckpointInterval time.Duration
	// ApplyPace is how long the applier pauses per unit of its work while the backlog is
	// small, bounding its share of one CPU to 1/(1+ApplyPace) (default 1: half a CPU; negative:
	// never paced). The pause shrinks in proportion as the backlog grows, and is none from half
	// the bound on (pauseFor).
	ApplyPace float64
	// Hook, in tests, is called at the crash points of the applier; an error stops the applier
	// there, as a crash would.
	Hook func(stage string) error
	// Replicated, when set, replaces the local log (cluster mode, docs/decisions/0011): a
	// batch is durable once the group committed it, and every committed record, whoever
	// proposed it, reaches Badger through ApplyCommitted, which the group's node calls.
	Replicated ReplicatedLog
	// ReplicatedFresh (with Replicated) says the group's log is empty: a new group. A position
	// Badger holds then names an index of an earlier group's log (a store copied as a seed) and
	// is dropped, or that group's indexes would hide the new group's first records.
	ReplicatedFresh bool
}

// ReplicatedLog is the log of a replicated journal: Append proposes a record (leader only) and
// returns its position on this node; Wait returns once a majority of the group holds it on
// disk, or an error when the record is in doubt (leadership lost first). The position is not
// the record's place in the replicated log (known only once it is committed): the committed
// record comes back through Badger.ApplyCommitted with both.
type ReplicatedLog interface {
	Append(payload []byte) (uint64, error)
	Wait(pos uint64) error
}

// ownTag marks the pending rows of a record this node proposed and the group has not committed
// yet: they are keyed by its Append position, not a log index (the index space never reaches it).
const ownTag = 1 << 63

// The applier's crash points (WALOptions.hook).
const (
	stageBeforeApply    = "before-apply"    // records taken, nothing written to Badger
	stageBeforeSync     = "before-sync"     // Badger committed (walpos included), not synced
	stageBeforeTruncate = "before-truncate" // Badger synced, the log not yet truncated
)

// WALDir is the default directory of the write-ahead log of the store in badgerDir. OpenBadger
// replays a log found there, so a store is never read without it.
func WALDir(badgerDir string) string { return filepath.Clean(badgerDir) + ".wal" }

// walJournal is the write-ahead log of a Badger journal opened with Options.WAL: the Badger's
// Commit, Load and Close go through it; the Badger is the checkpoint, and serves the History,
// event-log and key-rotation calls (merging the pending rows).
type walJournal struct {
	b    *Badger
	log  *wal.Log      // nil in cluster mode
	repl ReplicatedLog // cluster mode: the group's log (nil: the local log)
	opts WALOptions
	// Cluster mode: base is the last index Badger held when opened (records at or below it
	// that the node hands again are skipped); ownAdded and ownApplied, under qmu, are the last
	// Append position whose rows were made pending and the last one written into Badger.
	base, ownAdded, ownApplied uint64
	appliedIndex               atomic.Uint64

	mu     sync.Mutex // serialises Commit with Close
	closed bool
	buf    []byte // payload of one Commit, reused
	row    []byte // one encoded row, reused

	qmu      sync.Mutex
	qc       *sync.Cond // queue shrank, the applier failed, or the journal closes
	unsynced []walBatch // appended, not yet known durable (wait moves them to queue)
	queue    []walBatch // durable, not yet in Badger
	backlog  int64      // bytes of the unsynced and queued records (their rows are in pending)
	applyErr error      // the applier's last failure, nil once it succeeds again
	stopped  bool       // the applier ended (Close, or a crash point in tests)

	wake     chan struct{} // a record was queued (capacity 1)
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// Applier-owned.
	applied      uint64 // last record in Badger
	checkpointed uint64 // last record covered by a synced checkpoint
	sinceCkpt    int64  // bytes applied since the last checkpoint
	lastCkpt     time.Time
	arena        []byte
	wb           *writeback // starts the write-out of Badger's dirty pages as they are applied
	sinceNudge   int        // bytes applied since the last writeback nudge

	backlogWaits     atomic.Uint64
	backlogWaitNanos atomic.Int64
	checkpoints      atomic.Uint64
}

// walBatch is one durable record waiting for the applier.
type walBatch struct {
	seq     uint64
	payload []byte
	own     uint64 // cluster mode: this node's Append position of the record (0: none)
}

// WALStats are the WAL journal's counters.
type WALStats struct {
	// BacklogWaits counts the Commits that waited for the applier (backlog at its bound), and
	// BacklogWait their total wait.
	BacklogWaits uint64
	BacklogWait  time.Duration
	// BacklogBytes are the bytes of durable records not yet in Badger.
	BacklogBytes int64
	Checkpoints  uint64
}

// WALStats reports the write-ahead log's counters (zero for a journal without one).
func (j *Badger) WALStats() WALStats {
	if j.wal == nil {
		return WALStats{}
	}
	return j.wal.stats()
}

func (w *walJournal) stats() WALStats {
	w.qmu.Lock()
	b := w.backlog
	w.qmu.Unlock()
	return WALStats{BacklogWaits: w.backlogWaits.Load(), BacklogWait: time.Duration(w.backlogWaitNanos.Load()),
		BacklogBytes: b, Checkpoints: w.checkpoints.Load()}
}

func (o *WALOptions) defaults(badgerDir string) {
	if o.Dir == "" {
		o.Dir = WALDir(badgerDir)
	}
	if o.MaxBacklogBytes <= 0 {
		o.MaxBacklogBytes = defaultMaxBacklogBytes
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = defaultCheckpointBytes
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = defaultCheckpointEvery
	}
	if o.ApplyPace == 0 {
		o.ApplyPace = defaultApplyPace
	}
}

func walKeys(opts Options) map[byte][]byte {
	keys := map[byte][]byte{opts.DataKeyID: opts.DataKey}
	for id, k := range opts.OldDataKeys {
		keys[id] = k
	}
	return keys
}

// openWAL opens (or creates) the write-ahead log of b (opened unsynced) and recovers at once:
// the records after Badger's position are written into Badger, which is synced, and the log is
// truncated behind them. Load then reads Badger as the Badger journal does.
func openWAL(b *Badger, opts Options) error {
	wo := opts.WALOptions
	wo.defaults(opts.Dir)
	if wo.Replicated != nil {
		return openReplicated(b, opts, wo)
	}
	l, err := wal.Open(wal.Options{FS: wo.FS, Dir: wo.Dir, SegmentBytes: wo.SegmentBytes,
		KeyID: opts.DataKeyID, Keys: walKeys(opts)})
	if err != nil {
		return fmt.Errorf("journal: open log: %w", err)
	}
	w := &walJournal{b: b, log: l, opts: wo, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), lastCkpt: time.Now()}
	w.qc = sync.NewCond(&w.qmu)
	if w.applied, err = replayLog(b, l); err != nil {
		l.Close()
		return err
	}
	w.checkpointed = w.applied
	b.pending = newPending()
	b.wal = w
	w.wb = newWriteback(b.opts.Dir)
	go w.applyLoop()
	return nil
}

// openReplicated starts the journal of a cluster node: no local log (a local one left by an
// earlier single-node run is replayed into Badger first); Badger's position is the last Raft
// index it holds, and the applier takes the committed records from ApplyCommitted.
func openReplicated(b *Badger, opts Options, wo WALOptions) error {
	if err := drainLeftoverLog(b, opts); err != nil {
		return err
	}
	pos, err := b.walPos()
	if err != nil {
		return err
	}
	if wo.ReplicatedFresh && pos > 0 {
		if err := b.dropWALPos(); err != nil {
			return err
		}
		if b.log != nil {
			b.log.Warn("journal: a new group's log starts: the store's position in an earlier group's log is dropped",
				"position", pos)
		}
		pos = 0
	}
	w := &walJournal{b: b, repl: wo.Replicated, opts: wo, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), lastCkpt: time.Now(), base: pos, applied: pos, checkpointed: pos}
	w.qc = sync.NewCond(&w.qmu)
	w.appliedIndex.Store(pos)
	b.pending = newPending()
	b.wal = w
	w.wb = newWriteback(b.opts.Dir)
	go w.applyLoop()
	return nil
}

// ApplyCommitted hands the journal a record the group committed (cluster mode; the node's
// apply callback): index is its Raft index, pos the position this node's Append gave it (0:
// proposed elsewhere or before a restart). Records reach Badger in the order given, with
// index as Badger's position; one Badger already holds (index at or below its position at
// open: the node hands its whole log again after a restart) is skipped. It does not wait for
// the applier, so the node's loop never blocks on Badger; payload is not modified and must
// stay unchanged (Raft's storage holds it).
func (j *Badger) ApplyCommitted(index, pos uint64, payload []byte) {
	w := j.wal
	if w == nil || w.repl == nil || index <= w.base {
		return
	}
	w.qmu.Lock()
	w.queue = append(w.queue, walBatch{seq: index, payload: payload, own: pos})
	if pos == 0 {
		w.backlog += int64(len(payload)) // an own record was counted at its Append
	}
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// AppliedIndex is the last Raft index written into Badger (cluster mode; 0 otherwise).
func (j *Badger) AppliedIndex() uint64 {
	if j.wal == nil {
		return 0
	}
	return j.wal.appliedIndex.Load()
}

// replayLog writes the log's records after Badger's position into Badger, syncs Badger and
// truncates the log behind them; it returns the position reached.
func replayLog(b *Badger, l *wal.Log) (uint64, error) {
	pos, err := b.walPos()
	if err != nil {
		return 0, err
	}
	var group []walBatch
	var size int
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		last, err := b.writeRecords(group, nil)
		if err != nil {
			return err
		}
		pos, group, size = last, group[:0], 0
		return nil
	}
	err = l.Replay(pos+1, func(seq uint64, payload []byte) error {
		group = append(group, walBatch{seq: seq, payload: bytes.Clone(payload)})
		if size += len(payload); size >= applyTxnBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, fmt.Errorf("journal: replay log: %w", err)
	}
	if err := b.db.Sync(); err != nil {
		return 0, fmt.Errorf("journal: replay log: sync: %w", err)
	}
	if err := l.TruncateBefore(pos + 1); err != nil {
		return 0, fmt.Errorf("journal: replay log: %w", err)
	}
	return pos, nil
}

// drainLeftoverLog replays into a synced Badger journal the log a WAL journal left, if any.
func drainLeftoverLog(b *Badger, opts Options) error {
	dir := WALDir(opts.Dir)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := wal.Open(wal.Options{Dir: dir, KeyID: opts.DataKeyID, Keys: walKeys(opts)})
	if err != nil {
		return fmt.Errorf("journal: open leftover log: %w", err)
	}
	if _, err := replayLog(b, l); err != nil {
		l.Close()
		return err
	}
	return l.Close()
}

// dropWALPos deletes Badger's log position, synced.
func (j *Badger) dropWALPos() error {
	if err := j.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(walPosKey)) }); err != nil {
		return fmt.Errorf("journal: drop log position: %w", err)
	}
	if err := j.db.Sync(); err != nil {
		return fmt.Errorf("journal: drop log position: sync: %w", err)
	}
	return nil
}

// walPos reads the position of the last log record Badger holds (0: none).
func (j *Badger) walPos() (uint64, error) {
	var pos uint64
	err := j.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(walPosKey))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var perr error
			pos, perr = strconv.ParseUint(string(v), 10, 64)
			return perr
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("journal: read log position: %w", err)
	}
	return pos, nil
}

// Payload of a record: per change, uvarint length and the row's full key (table prefix and
// key), then 0 (deleted) or 1 and the uvarint length and bytes of the encoded row (codec.go).
// The log seals the record as a whole: one AES-GCM per batch.

// walkPayload calls fn for every row change of a record's payload.
func walkPayload(p []byte, fn func(key, plain []byte, del bool) error) error {
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n+1 {
			return fmt.Errorf("%w: malformed record", wal.ErrCorrupt)
		}
		key := p[k : k+int(n)]
		p = p[k+int(n):]
		if p[0] == 0 {
			p = p[1:]
			if err := fn(key, nil, true); err != nil {
				return err
			}
			continue
		}
		p = p[1:]
		n, k = binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return fmt.Errorf("%w: malformed record", wal.ErrCorrupt)
		}
		plain := p[k : k+int(n)]
		p = p[k+int(n):]
		if err := fn(key, plain, false); err != nil {
			return err
		}
	}
	return nil
}

// commit appends the batch as one record and returns once its fdatasync has: the batch is then
// durable. Its rows are readable at once (pending) and reach Badger in the background.
func (w *walJournal) commit(changes []ledger.Change) error {
	seq, err := w.append(changes)
	if err != nil {
		return err
	}
	return w.wait(seq)
}

// append makes the batch a record of the log and returns its sequence number without waiting
// for its fdatasync (wait does). Its rows are readable at once (pending), so that the engine's
// next batch sees them; it reaches the applier, and so Badger, only once durable: Badger never
// holds a record the log may lose. Nothing is written when it fails.
func (w *walJournal) append(changes []ledger.Change) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	buf := w.buf[:0]
	for _, c := range changes {
		prefix, ok := prefixOf(c.Table)
		if !ok {
			return 0, fmt.Errorf("journal: unknown table %q", c.Table)
		}
		buf = binary.AppendUvarint(buf, uint64(len(prefix)+len(c.Key)))
		buf = append(append(buf, prefix...), c.Key...)
		if c.Row == nil {
			buf = append(buf, 0)
			continue
		}
		row, err := encodeRow(w.row[:0], c.Row)
		if err != nil {
			return 0, fmt.Errorf("journal: encode %s: %w", prefix[:1], err)
		}
		w.row = row
		buf = append(buf, 1)
		buf = binary.AppendUvarint(buf, uint64(len(row)))
		buf = append(buf, row...)
	}
	if cap(buf) <= maxArena {
		w.buf = buf
	} else {
		w.buf = nil
	}
	if err := w.waitBacklog(); err != nil {
		return 0, err
	}
	if w.repl != nil {
		return w.appendReplicated(buf)
	}
	seq, err := w.log.Append(buf)
	if errors.Is(err, wal.ErrFailed) {
		return 0, fmt.Errorf("%w: %w", ErrInDoubt, err)
	}
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err) // nothing was written (a full disk, a batch too large)
	}
	owned := bytes.Clone(buf)
	if err := w.b.pending.add(seq, owned); err != nil {
		return 0, err
	}
	w.qmu.Lock()
	w.unsynced = append(w.unsynced, walBatch{seq: seq, payload: owned})
	w.backlog += int64(len(owned))
	w.qmu.Unlock()
	return seq, nil
}

// appendReplicated proposes the record to the group. Its rows are readable at once (pending,
// tagged with its position); the applier drops them once the committed record is in Badger.
// A refusal (not the leader, closed, too large) proposed nothing.
func (w *walJournal) appendReplicated(buf []byte) (uint64, error) {
	pos, err := w.repl.Append(buf)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	owned := bytes.Clone(buf)
	w.qmu.Lock()
	defer w.qmu.Unlock()
	// The group may have committed and the applier written the record already (a commit
	// faster than this return): its rows are then in Badger and nothing is pending.
	if pos > w.ownApplied {
		if err := w.b.pending.add(pos|ownTag, owned); err != nil {
			return 0, err
		}
		w.backlog += int64(len(owned))
		w.ownAdded = pos
	}
	return pos, nil
}

// wait returns once the record seq is durable, and hands it, with every earlier record, to the
// applier. Records are waited for in order (the engine's answerer does).
func (w *walJournal) wait(seq uint64) error {
	if w.repl != nil {
		// Committed records reach the applier through ApplyCommitted, on every node.
		if err := w.repl.Wait(seq); err != nil {
			return fmt.Errorf("%w: %w", ErrInDoubt, err)
		}
		return nil
	}
	if err := w.log.Wait(seq); err != nil {
		return fmt.Errorf("%w: %w", ErrInDoubt, err)
	}
	w.qmu.Lock()
	n := 0
	for n < len(w.unsynced) && w.unsynced[n].seq <= seq {
		n++
	}
	w.queue = append(w.queue, w.unsynced[:n]...)
	w.unsynced = append(w.unsynced[:0], w.unsynced[n:]...)
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// waitBacklog waits while the records not yet in Badger are at their bound. It refuses the
// batch (nothing written) if the applier has stopped or fails while the bound is reached.
func (w *walJournal) waitBacklog() error {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.backlog < w.opts.MaxBacklogBytes {
		return nil
	}
	began := time.Now()
	w.backlogWaits.Add(1)
	defer func() { w.backlogWaitNanos.Add(int64(time.Since(began))) }()
	for w.backlog >= w.opts.MaxBacklogBytes {
		if w.stopped {
			return errors.New("journal: checkpoint applier stopped with the backlog full")
		}
		if w.applyErr != nil {
			return fmt.Errorf("journal: backlog full and the checkpoint fails: %w", w.applyErr)
		}
		w.qc.Wait()
	}
	return nil
}

// drain waits until every durable record is in Badger (a Load while the journal is live:
// tests, tools); it gives up if the applier stops or fails.
func (w *walJournal) drain() error {
	select {
	case w.wake <- struct{}{}:
	default:
	}
	w.qmu.Lock()
	defer w.qmu.Unlock()
	for w.backlog > 0 {
		if w.stopped {
			return errors.New("journal: checkpoint applier stopped with records not in Badger")
		}
		if w.applyErr != nil {
			return fmt.Errorf("journal: records not in Badger: %w", w.applyErr)
		}
		w.qc.Wait()
	}
	return nil
}

// applyLoop is the applier: it writes the queued records into Badger, paced, and checkpoints.
// It ends on Close once the queue is empty and a last checkpoint is made.
func (w *walJournal) applyLoop() {
	defer close(w.done)
	defer w.wb.close()
	defer func() {
		w.qmu.Lock()
		w.stopped = true
		w.qc.Broadcast()
		w.qmu.Unlock()
	}()
	timer := time.NewTimer(w.opts.CheckpointInterval)
	defer timer.Stop()
	stopping := false
	for {
		if !stopping {
			select {
			case <-w.wake:
			case <-timer.C:
				timer.Reset(w.opts.CheckpointInterval)
			case <-w.stop:
				stopping = true
			}
		}
		began := time.Now()
		slice := applySliceBytes
		if stopping || w.opts.ApplyPace <= 0 {
			slice = 0 // everything queued: nothing to pace
		}
		n, err := w.applyQueued(slice)
		if err != nil {
			if errors.Is(err, errCrashPoint) {
				return
			}
			if stopping {
				// Closing: the records stay in the log, and the next start replays them.
				w.b.warn("checkpoint: write to Badger failed at close; the log keeps the records", err)
				return
			}
			w.b.warn("checkpoint: write to Badger failed; retrying", err)
			if !w.pause(time.Second) {
				stopping = true
			}
			continue
		}
		due := w.sinceCkpt >= w.opts.CheckpointBytes || time.Since(w.lastCkpt) >= w.opts.CheckpointInterval
		if w.applied > w.checkpointed && (due || (stopping && n == 0)) {
			if err := w.checkpoint(); err != nil {
				if errors.Is(err, errCrashPoint) {
					return
				}
				if stopping {
					w.b.warn("checkpoint failed at close; the log keeps the records", err)
					return
				}
				w.b.warn("checkpoint failed; retrying", err)
			}
		}
		if stopping && n == 0 && w.applied == w.checkpointed {
			return
		}
		if n > 0 && w.opts.ApplyPace > 0 && !stopping {
			if !w.pause(w.pauseFor(time.Since(began))) {
				stopping = true
			}
		}
		if n > 0 {
			select { // more may be queued: go round again
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// pauseFor is the applier's pause after a slice of work that took d: ApplyPace×d while the
// backlog is empty, shrinking linearly to none as the backlog reaches half its bound. Under a
// sustained load the backlog settles where the applier's share of the CPU keeps up with it, so
// the engine's share stays even; with a fixed pause cut off at half the bound, the applier
// switched from half a CPU to all of it there, and the throughput of a closed loop swung with it
// (docs/benchmarks-log.md, Round 15).
func (w *walJournal) pauseFor(d time.Duration) time.Duration {
	w.qmu.Lock()
	backlog := w.backlog
	w.qmu.Unlock()
	return taperedPause(w.opts.ApplyPace, d, backlog, w.opts.MaxBacklogBytes/2)
}

// taperedPause is pace×d scaled by the share of half (the backlog at which pausing stops) the
// backlog has not yet reached.
func taperedPause(pace float64, d time.Duration, backlog, half int64) time.Duration {
	if pace <= 0 || half <= 0 || backlog >= half {
		return 0
	}
	return time.Duration(pace * float64(d) * float64(half-backlog) / float64(half))
}

// pause sleeps d, cut short when the backlog passes half its bound; false when Close began.
func (w *walJournal) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(max(d/8, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return false
		case <-t.C:
			return true
		case <-tick.C:
			w.qmu.Lock()
			full := w.backlog >= w.opts.MaxBacklogBytes/2
			w.qmu.Unlock()
			if full {
				return true
			}
		}
	}
}

var errCrashPoint = errors.New("journal: stopped at a crash point (test)")

func (w *walJournal) at(stage string) error {
	if w.opts.Hook == nil {
		return nil
	}
	if err := w.opts.Hook(stage); err != nil {
		return fmt.Errorf("%w: %s: %w", errCrashPoint, stage, err)
	}
	return nil
}

// applyQueued writes what is queued into Badger (one transaction per applyTxnBytes) and then
// drops those rows from pending; it returns the bytes applied. It stops once limit bytes are
// applied (0: no limit), at a record's end.
func (w *walJournal) applyQueued(limit int) (int, error) {
	w.qmu.Lock()
	batches := slices.Clone(w.queue)
	w.qmu.Unlock()
	if len(batches) == 0 {
		return 0, nil
	}
	total := 0
	for len(batches) > 0 && (limit == 0 || total < limit) {
		n, size := 0, 0
		for n < len(batches) && (n == 0 || size < applyTxnBytes) && (limit == 0 || total+size < limit) {
			size += len(batches[n].payload)
			n++
		}
		if err := w.at(stageBeforeApply); err != nil {
			return total, err
		}
		w.b.mu.Lock() // ordered with a re-encryption step (Reencrypt)
		last, err := w.b.writeRecords(batches[:n], &w.arena)
		w.b.mu.Unlock()
		if err != nil {
			w.qmu.Lock()
			w.applyErr = err
			w.qc.Broadcast()
			w.qmu.Unlock()
			return total, err
		}
		w.applied = last
		w.appliedIndex.Store(last)
		w.qmu.Lock()
		for _, b := range batches[:n] {
			switch {
			case b.own == 0:
				w.b.pending.remove(b.seq, b.payload)
			case b.own <= w.ownAdded:
				w.b.pending.remove(b.own|ownTag, b.payload)
			default:
				// Committed before its Append returned: never made pending nor counted.
				size -= len(b.payload)
			}
			if b.own > w.ownApplied {
				w.ownApplied = b.own
			}
		}
		w.queue = w.queue[n:]
		w.backlog -= int64(size)
		w.applyErr = nil
		w.qc.Broadcast()
		w.qmu.Unlock()
		w.sinceCkpt += int64(size)
		total += size
		w.sinceNudge += size
		if w.sinceNudge >= writebackEvery {
			w.wb.nudge()
			w.sinceNudge = 0
		}
		batches = batches[n:]
	}
	return total, nil
}

// checkpoint syncs Badger (its position included) and truncates the log behind it.
func (w *walJournal) checkpoint() error {
	if err := w.at(stageBeforeSync); err != nil {
		return err
	}
	pos := w.applied
	w.b.rmu.RLock()
	err := w.b.db.Sync()
	w.b.rmu.RUnlock()
	if err != nil {
		return fmt.Errorf("journal: checkpoint: sync: %w", err)
	}
	if err := w.at(stageBeforeTruncate); err != nil {
		return err
	}
	w.checkpointed, w.sinceCkpt, w.lastCkpt = pos, 0, time.Now()
	w.checkpoints.Add(1)
	if w.log == nil {
		return nil // cluster mode: the Raft log is not compacted yet (no snapshots)
	}
	if err := w.log.TruncateBefore(pos + 1); err != nil {
		// The checkpoint holds; the segments are dropped at the next one.
		return fmt.Errorf("journal: checkpoint: truncate log: %w", err)
	}
	return nil
}

// writeRecords writes records into Badger, in as many transactions as their size needs, each
// with the position of the last record complete in it; it returns the last record's position.
// arena (nil: a fresh one) holds the keys and sealed values until each transaction commits.
func (j *Badger) writeRecords(recs []walBatch, arena *[]byte) (uint64, error) {
	if j.db == nil {
		return 0, ErrClosed
	}
	var buf []byte
	if arena != nil {
		buf = (*arena)[:0]
		defer func() {
			if cap(buf) <= maxArena {
				*arena = buf[:0]
			}
		}()
	}
	txn := j.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	rows, complete := 0, uint64(0)
	commit := func() error {
		if complete != 0 {
			if err := txn.Set([]byte(walPosKey), strconv.AppendUint(nil, complete, 10)); err != nil {
				return err
			}
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		txn = j.db.NewTransaction(true)
		rows, buf = 0, buf[:0]
		return nil
	}
	for _, r := range recs {
		err := walkPayload(r.payload, func(key, plain []byte, del bool) error {
			if rows >= applyTxnRows || len(buf) >= applyTxnBytes {
				if err := commit(); err != nil {
					return err
				}
			}
			rows++
			if del {
				return txn.Delete(key)
			}
			start := len(buf)
			var err error
			if buf, err = j.sealPlainTo(buf, key, plain); err != nil {
				return err
			}
			return txn.Set(key, buf[start:len(buf):len(buf)])
		})
		if err != nil {
			return 0, fmt.Errorf("journal: apply record %d: %w", r.seq, err)
		}
		complete = r.seq
	}
	if err := commit(); err != nil {
		return 0, fmt.Errorf("journal: apply records: %w", err)
	}
	return complete, nil
}

// close refuses further commits, lets the applier write everything into Badger and make a last
// checkpoint, then closes the log and Badger.
func (w *walJournal) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	if w.log == nil {
		return nil // cluster mode: the node owns its log and is closed by its owner
	}
	err := w.log.Close()
	if errors.Is(err, wal.ErrClosed) {
		err = nil
	}
	return err
}

// pending holds the rows of durable records not yet in Badger, by full key, with the record
// that wrote each last; the reads of History mode and of the event log consult it first.
type pending struct {
	mu   sync.RWMutex
	rows map[string]pendingRow
}

type pendingRow struct {
	plain []byte // the encoded row (nil: deleted), a slice of its record's payload
	del   bool
	seq   uint64
}

// pendingEntry is a row of a scan.
type pendingEntry struct {
	key   string
	plain []byte
	del   bool
}

func newPending() *pending { return &pending{rows: make(map[string]pendingRow)} }

func (p *pending) add(seq uint64, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return walkPayload(payload, func(key, plain []byte, del bool) error {
		p.rows[string(key)] = pendingRow{plain: plain, del: del, seq: seq}
		return nil
	})
}

// remove drops the rows record seq wrote, unless a later record wrote them again.
func (p *pending) remove(seq uint64, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = walkPayload(payload, func(key, _ []byte, _ bool) error {
		if r, ok := p.rows[string(key)]; ok && r.seq == seq {
			delete(p.rows, string(key))
		}
		return nil
	})
}

func (p *pending) get(key []byte) (plain []byte, del, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r, ok := p.rows[string(key)]
	return r.plain, r.del, ok
}

// scan returns the rows with the prefix from the key from on (reverse: up to it), in the
// scan's order.
func (p *pending) scan(prefix, from string, reverse bool) []pendingEntry {
	p.mu.RLock()
	var out []pendingEntry
	for k, r := range p.rows {
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		if (!reverse && k < from) || (reverse && k > from) {
			continue
		}
		out = append(out, pendingEntry{key: k, plain: r.plain, del: r.del})
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b pendingEntry) int {
		if reverse {
			a, b = b, a
		}
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}
