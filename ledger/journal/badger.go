package journal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/cardswitch/cardswitch/ledger"
)

// Options configure the Badger journal. Every field that affects durability is set explicitly
// (ARCHITECTURE.md rule 6: Badger's SyncWrites defaults to false).
type Options struct {
	Dir     string
	DataKey []byte // 32 bytes, AES-256: new values are sealed under it
	// DataKeyID is the id of DataKey, stored in every value it seals (default 0).
	DataKeyID byte
	// OldDataKeys are earlier data keys by id, still needed to read values not yet re-encrypted
	// (see RotateDataKey and Reencrypt). Values of format 1 (before key ids) read with key 0.
	OldDataKeys map[byte][]byte
	Logger      *slog.Logger
	// BlockCacheBytes bounds Badger's block cache; the ledger keeps its own state in memory, so
	// the cache only serves recovery. Default 16 MiB.
	BlockCacheBytes int64
	// ValueLogGCInterval is how often the value log is collected (default one minute; negative:
	// never, for tools that open a store briefly).
	ValueLogGCInterval time.Duration
	// PageReleaseInterval is how often the pages of Badger's mapped files are handed back to the
	// kernel's page cache (residency.go; default two seconds; negative: never).
	PageReleaseInterval time.Duration
	// CompactionPace is how long Badger's compaction workers pause per unit of their work once
	// Load has finished (third_party/badger/pace.go): the default 2 keeps compaction to a third
	// of one CPU while level 0 is below half its stall threshold, so that a level-0 compaction
	// no longer cuts the switch's throughput by two thirds for seconds (docs/benchmarks-log.md,
	// "Round 8"). Negative: never paced (bulk provisioning, which has nobody to protect).
	CompactionPace float64
	// WAL makes the write-ahead log (ledger/wal) the durability of a batch: one record and one
	// fdatasync per Commit, Badger unsynced and written in the background as the checkpoint
	// (wal.go). Without it every Commit is a synced Badger transaction.
	WAL        bool
	WALOptions WALOptions
}

// bloomFalsePositive is the false-positive rate of the bloom filters of Badger's tables (0: no
// filters). Reads by key are for follow-ups, retransmissions and due holds (History mode), keys
// the State's key sets say exist: a filter would seldom spare a probe there. A variable so that
// BenchmarkValueLogCollection can compare.
var bloomFalsePositive = 0.0

// loadCompactionPace is the compaction pace while Load reads the store: at most a tenth of one
// CPU (unless level 0 reaches half its stall threshold, when pacing is suspended).
const loadCompactionPace = 9

// compactionPace is the default Options.CompactionPace.
const compactionPace = 2

// Badger is the durable journal.
type Badger struct {
	db   *badger.DB
	aead cipher.AEAD
	mu   sync.Mutex // serialises Commit with Close and key rotation
	// rmu guards db and keys for the History reads (history.go), which do not take mu.
	rmu sync.RWMutex
	buf []byte // plaintext scratch of seal, reused (Commit holds mu)
	// arena holds the keys and sealed values of one Commit, reused by the next (Commit holds mu).
	// Badger copies keys and values into its memtable and value log before Commit returns and
	// keeps no reference to them, so one buffer per batch replaces two allocations per row.
	arena []byte
	keyID byte // id of the data key new values are sealed under (aead)
	keys  map[byte]cipher.AEAD
	opts  badger.Options
	log   *slog.Logger // may be nil
	// reencryptFrom is where the next Reencrypt step resumes (nil: from the start).
	reencryptFrom []byte
	// collector rewrites garbage out of the value log (valuelog.go); nil if not running.
	collector *loop
	// releaser hands mapped pages back to the kernel (residency.go), every releaseEvery. It
	// starts when Load has finished: a release during the scan would evict the pages the scan
	// is about to read from the page cache.
	releaseEvery time.Duration
	releaser     *loop
	// pace is Badger's compaction pace once Load has finished (Options.CompactionPace; 0: off).
	pace float64
	// synced: every transaction is synced (the Badger journal). False under the write-ahead log
	// (wal.go), where Badger is the checkpoint and pending holds the rows not yet in it.
	synced  bool
	pending *pending
	wal     *walJournal // nil: Badger's synced transactions are the durability
}

// Value formats. formatV1 (read only, stores written before the binary rows): version byte,
// 12-byte nonce, AES-256-GCM ciphertext of the JSON row. formatV2: version byte, data key id
// (1 byte, 0 until key rotation exists), 12-byte nonce, AES-256-GCM ciphertext of the binary row
// (codec.go). The AEAD additional data is the row's key in both.
const (
	formatV1   = 1
	formatV2   = 2
	sealHeader = 2 + 12
)

// OpenBadger opens (or creates) the journal in opts.Dir. A write-ahead log left by the WAL
// journal (WALDir) is replayed into the store first and emptied, so whichever journal opens a
// store next, nothing the log made durable is missed or overwritten by older rows.
func OpenBadger(opts Options) (*Badger, error) {
	j, err := openBadger(opts, !opts.WAL)
	if err != nil {
		return nil, err
	}
	if opts.WAL {
		err = openWAL(j, opts)
	} else {
		err = drainLeftoverLog(j, opts)
	}
	if err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

func openBadger(opts Options, synced bool) (*Badger, error) {
	aead, err := newAEAD(opts.DataKey)
	if err != nil {
		return nil, err
	}
	keys := map[byte]cipher.AEAD{opts.DataKeyID: aead}
	for id, k := range opts.OldDataKeys {
		if id == opts.DataKeyID {
			return nil, fmt.Errorf("journal: old data key %d has the id of the current key", id)
		}
		if keys[id], err = newAEAD(k); err != nil {
			return nil, fmt.Errorf("journal: old data key %d: %w", id, err)
		}
	}
	bo := badger.DefaultOptions(opts.Dir).
		// An approval is on disk before its response leaves: through Badger's synced writes, or
		// through the write-ahead log (wal.go), Badger then being the checkpoint.
		WithSyncWrites(synced).
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{opts.Logger}).
		WithCompactL0OnClose(false). // set on the instance reopened after Load (see reopen)
		WithMemTableSize(8 << 20).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileBytes).
		WithNumMemtables(5).
		// Values live in the value log (valuelog.go), so the tree holds keys and pointers: about
		// 100 bytes per approval, and 100 MB for a million provisioned cards. A small base level
		// makes level 0 compact into a level of its own size instead of into the bottom level
		// (the whole store): the slowest second of a 60 s closed loop went from 2.1k to 10–13k
		// approvals (docs/benchmarks-log.md, "Round 6"). More level-0 tables before writes stall,
		// and two compactors for two CPUs (Round 3).
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(32).
		WithBaseLevelSize(4 << 20).
		WithNumCompactors(2).
		// Values are AES-GCM ciphertext: compressing tables costs CPU and saves nothing.
		WithCompression(options.None).
		WithBloomFalsePositive(bloomFalsePositive).
		// One writer at a time (the engine's Commit, or a Reencrypt step, under mu).
		WithDetectConflicts(false)
	cache := opts.BlockCacheBytes
	if cache == 0 {
		cache = 16 << 20
	}
	bo = bo.WithBlockCacheSize(cache).WithIndexCacheSize(16 << 20)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	j := &Badger{db: db, aead: aead, keyID: opts.DataKeyID, keys: keys, opts: bo, log: opts.Logger, synced: synced}
	if every := opts.ValueLogGCInterval; every >= 0 {
		if every == 0 {
			every = valueLogGCEvery
		}
		j.collector = startLoop(every, j.collectRound)
	}
	j.releaseEvery = opts.PageReleaseInterval
	if j.releaseEvery == 0 {
		j.releaseEvery = pageReleaseEvery
	}
	switch {
	case opts.CompactionPace == 0:
		j.pace = compactionPace
	case opts.CompactionPace > 0:
		j.pace = opts.CompactionPace
	}
	return j, nil
}

// reopen closes and reopens the store after the full scan of Load. Badger maps its table files;
// the scan leaves every page of them resident and counted in the process's RSS (about half a
// gigabyte with a million cards) although the ledger never reads them again: reopening drops
// those mappings. The reopened instance compacts level 0 on Close, so the next start reads fewer
// tables.
func (j *Badger) reopen() error {
	j.rmu.Lock()
	defer j.rmu.Unlock()
	if err := j.db.Close(); err != nil {
		j.db = nil
		return fmt.Errorf("journal: close after load: %w", err)
	}
	j.db = nil
	db, err := badger.Open(j.opts.WithCompactL0OnClose(true))
	if err != nil {
		return fmt.Errorf("journal: reopen after load: %w", err)
	}
	j.db = db
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("journal: data key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("journal: data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// Commit writes the changes in one synced Badger transaction.
func (j *Badger) Commit(changes []ledger.Change) error {
	if j.wal != nil {
		return j.wal.commit(changes)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commitLocked(changes)
}

// Pipelined reports whether the journal has a write-ahead log, so that Append and Wait are usable.
func (j *Badger) Pipelined() bool { return j.wal != nil }

// errNotPipelined is Append's error on a journal without a write-ahead log.
var errNotPipelined = errors.New("journal: Append needs the write-ahead log (Options.WAL)")

// Append writes the changes as one record of the write-ahead log without waiting for its
// fdatasync (Pipeliner).
func (j *Badger) Append(changes []ledger.Change) (uint64, error) {
	if j.wal == nil {
		return 0, errNotPipelined
	}
	return j.wal.append(changes)
}

// Wait returns once the record pos of the write-ahead log is durable (Pipeliner).
func (j *Badger) Wait(pos uint64) error {
	if j.wal == nil {
		return errNotPipelined
	}
	return j.wal.wait(pos)
}

func (j *Badger) commitLocked(changes []ledger.Change) error {
	if j.db == nil {
		return ErrClosed
	}
	txn := j.db.NewTransaction(true)
	defer txn.Discard()
	arena := j.arena[:0]
	defer func() {
		if cap(arena) <= maxArena {
			j.arena = arena[:0]
		} else {
			j.arena = nil // a huge batch (recovery tools, tests) does not pin its buffer
		}
	}()
	for _, c := range changes {
		prefix, ok := prefixOf(c.Table)
		if !ok {
			return fmt.Errorf("journal: unknown table %q", c.Table)
		}
		// Slices of the arena are capped (three-index) so nothing appends into a neighbour; when
		// the arena grows, earlier slices keep pointing into the old array, which is unchanged.
		start := len(arena)
		arena = append(append(arena, prefix...), c.Key...)
		key := arena[start:len(arena):len(arena)]
		if c.Row == nil {
			if err := txn.Delete(key); err != nil {
				return fmt.Errorf("journal: delete: %w", err)
			}
			continue
		}
		var err error
		start = len(arena)
		if arena, err = j.sealTo(arena, key, c.Row); err != nil {
			return err
		}
		if err := txn.Set(key, arena[start:len(arena):len(arena)]); err != nil {
			return fmt.Errorf("journal: set: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	return nil
}

// maxArena bounds the Commit buffer kept between batches.
const maxArena = 1 << 20

// seal encodes a row (format 2, binary) and encrypts it; the key is bound as additional data so
// a value cannot be moved to another key.
func (j *Badger) seal(key []byte, row any) ([]byte, error) {
	out, err := j.sealTo(nil, key, row)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sealTo appends the sealed value of row (header, nonce, ciphertext) to dst.
func (j *Badger) sealTo(dst, key []byte, row any) ([]byte, error) {
	plain, err := encodeRow(j.buf[:0], row)
	if err != nil {
		return dst, fmt.Errorf("journal: encode %s: %w", safeKey(key), err)
	}
	j.buf = plain
	return j.sealPlainTo(dst, key, plain)
}

// sealPlainTo appends the sealed value of an encoded row to dst.
func (j *Badger) sealPlainTo(dst, key, plain []byte) ([]byte, error) {
	dst = slices.Grow(dst, sealHeader+len(plain)+j.aead.Overhead())
	start := len(dst)
	dst = append(dst, formatV2, j.keyID)
	dst = append(dst, make([]byte, sealHeader-2)...)
	nonce := dst[start+2 : start+sealHeader]
	if _, err := rand.Read(nonce); err != nil {
		return dst[:start], fmt.Errorf("journal: nonce: %w", err)
	}
	return j.aead.Seal(dst, nonce, plain, key), nil
}

// open decrypts a stored value and reports its format (formatV1: JSON, formatV2: binary). It
// decrypts in place: val must be the caller's own copy.
func (j *Badger) open(key, val []byte) (plain []byte, format byte, err error) {
	switch {
	case len(val) >= 13 && val[0] == formatV1:
		aead, ok := j.keys[0]
		if !ok {
			return nil, 0, fmt.Errorf("journal: value under %q predates key ids and needs data key 0, which is not configured", safeKey(key))
		}
		plain, err = aead.Open(nil, val[1:13], val[13:], key)
	case len(val) >= sealHeader && val[0] == formatV2:
		aead, ok := j.keys[val[1]]
		if !ok {
			return nil, 0, fmt.Errorf("journal: value under %q is sealed under data key %d, which is not configured", safeKey(key), val[1])
		}
		plain, err = aead.Open(val[sealHeader:sealHeader], val[2:sealHeader], val[sealHeader:], key) // in place
	default:
		return nil, 0, fmt.Errorf("journal: value of unknown format under %q", safeKey(key))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal: value under %q does not decrypt with the data key: %w", safeKey(key), err)
	}
	return plain, val[0], nil
}

// RotateDataKey makes key (with its id) the data key new values are sealed under, from the next
// Commit on; the previous key stays readable. Run Reencrypt until done to rewrite the stored
// values under the new key; then the old key can be dropped from the configuration. The id must
// be one not in use (a value names its key by id).
func (j *Badger) RotateDataKey(id byte, key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	if _, used := j.keys[id]; used {
		return fmt.Errorf("journal: data key id %d is in use", id)
	}
	j.rmu.Lock()
	j.keys[id], j.aead, j.keyID = aead, aead, id
	j.rmu.Unlock()
	j.reencryptFrom = nil
	return nil
}

// Reencrypt rewrites up to max stored values that are not sealed under the current data key (or
// are of format 1) under the current key, in one synced transaction, and reports how many it
// rewrote and whether the whole store has been visited. It holds the journal's lock for the step,
// so a step is ordered with the engine's commits (a row the engine rewrote meanwhile is read in
// its new version); the engine waits at most one step. Call it in a loop, with a pause if the
// switch is busy, until done.
func (j *Badger) Reencrypt(max int) (rewritten int, done bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return 0, false, ErrClosed
	}
	if max <= 0 {
		max = 1000
	}
	var next []byte
	prefixOf := map[byte]string{}
	for _, t := range tables {
		prefixOf[t.prefix[0]] = t.name
	}
	err = j.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		var out []kv
		scanned := 0
		it.Seek(j.reencryptFrom)
		for ; it.Valid(); it.Next() {
			if rewritten >= max || scanned >= 8*max {
				next = it.Item().KeyCopy(nil) // the next step resumes here
				return j.setAll(txn, out)
			}
			scanned++
			item := it.Item()
			key := item.KeyCopy(nil)
			table, ok := prefixOf[key[0]]
			if !ok || len(key) < 2 || key[1] != '/' {
				continue // not a row of the ledger
			}
			val, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("journal: read: %w", err)
			}
			if len(val) >= sealHeader && val[0] == formatV2 && val[1] == j.keyID {
				continue
			}
			row, err := j.decodeValue(table, key, val, nil)
			if err != nil {
				return err
			}
			sealed, err := j.seal(key, row)
			if err != nil {
				return err
			}
			out = append(out, kv{key, sealed})
			rewritten++
		}
		done = true
		return j.setAll(txn, out)
	})
	if err == nil && !j.synced {
		// Under the write-ahead log Badger's writes are not synced; a step's rewrites must be
		// durable before the rotation is reported done and the old key may be dropped.
		err = j.db.Sync()
	}
	if err != nil {
		return 0, false, fmt.Errorf("journal: re-encrypt: %w", err)
	}
	j.reencryptFrom = next // nil when done
	return rewritten, done, nil
}

type kv struct{ key, val []byte }

func (j *Badger) setAll(txn *badger.Txn, kvs []kv) error {
	for _, e := range kvs {
		if err := txn.Set(e.key, e.val); err != nil {
			return fmt.Errorf("journal: set: %w", err)
		}
	}
	return nil
}

// safeKey is the table part of a key: keys hold ids, never card data, but errors stay terse.
func safeKey(key []byte) string { return strings.SplitN(string(key), "/", 2)[0] }

// Load reads every row into st. One goroutine iterates the store; GOMAXPROCS workers decrypt
// and decode chunks of rows; the rows are put into st from one goroutine (State is not safe for
// concurrent loading). Row order does not matter: FinishLoad restores the orders of the indexes.
func (j *Badger) Load(st *ledger.State) error {
	if j.wal != nil {
		if err := j.wal.drain(); err != nil {
			return err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	began := time.Now()
	// Nothing is written while the store is read: compaction can wait, and on a small machine it
	// would take a CPU from the read (a quarter of a restart's CPU with an aged store). Its pace
	// is set again once the store is read (below; 0 during a Close).
	if j.pace > 0 {
		j.db.SetCompactionPace(loadCompactionPace)
	}
	// A store that keeps its time indexes recovers auth records and replies by key only; one
	// written without them is read in full once, and the indexes are written.
	marked, err := j.hasMarker()
	if err != nil {
		return fmt.Errorf("journal: read marker: %w", err)
	}
	type chunk = loadChunk
	workers := runtime.GOMAXPROCS(0)
	todo := make(chan *chunk, 4*workers)
	ordered := make(chan *chunk, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := newInterner()
			for c := range todo {
				c.rows = make([]any, 0, len(c.items))
				for _, it := range c.items {
					row, err := j.decodeValue(c.table, it.key, it.val, in)
					if err != nil {
						c.err = err
						break
					}
					c.rows = append(c.rows, ledger.PrepareLoad(row))
				}
				close(c.done)
			}
		}()
	}
	// The consumer puts rows into st as chunks complete, in read order.
	var loadErr error
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for c := range ordered {
			<-c.done
			if loadErr != nil {
				continue
			}
			if c.err != nil {
				loadErr = c.err
				continue
			}
			switch {
			case isIndex(c.table):
				for _, r := range c.rows {
					ir := r.(*ledger.IndexRow)
					st.LoadIndexKey(c.table, ir.Key, len(ir.Entries))
				}
			default:
				for _, r := range c.rows {
					st.Load(r)
				}
			}
		}
	}()
	const chunkRows = 512
	// The tables are read concurrently, one iterator each (a read-only transaction allows
	// several); a chunk's keys and values are copied into one buffer rather than two
	// allocations per row.
	readErr := j.db.View(func(txn *badger.Txn) error {
		var rg errgroupLite
		// A card names its balance and customer by row number only when they are in the State
		// before it (otherwise it spells the ids out: a bigger record, re-encoded on its first
		// rewrite), and a token names its card: those tables are read once the ones they name
		// have been read. Chunks reach the consumer in the order they were read.
		after := map[string][]string{"card": {"customer", "balance"}, "token": {"card"}}
		read := map[string]chan struct{}{}
		for _, t := range tables {
			read[t.name] = make(chan struct{})
		}
		for _, t := range tables {
			if isLog(t.name) {
				continue // read back on demand (events.go); recovery needs only the last sequences
			}
			keyOnly := marked && (t.name == "auth" || t.name == "reply")
			rg.Go(func() error {
				defer close(read[t.name]) // after the last chunk is handed on (deferred first)
				for _, dep := range after[t.name] {
					<-read[dep]
				}
				// No value prefetching: it starts a goroutine per item; the values are read in
				// log order for the most part (rows written together are read together).
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(t.prefix)})
				defer it.Close()
				// A chunk's buffers start at the size the previous chunk of the table reached:
				// growing them by appending cost a sixth of the CPU of a restart.
				newChunk := func(bufCap int) *chunk {
					return &chunk{table: t.name, done: make(chan struct{}), buf: make([]byte, 0, bufCap),
						offs: make([][3]int, 0, chunkRows), items: make([]loadItem, 0, chunkRows)}
				}
				c := newChunk(chunkRows * 64)
				flush := func() {
					if len(c.items) > 0 {
						c.seal()
						ordered <- c
						todo <- c
					}
					c = newChunk(cap(c.buf))
				}
				defer flush()
				if keyOnly {
					// The key sets are filled here, one goroutine per table, alongside the
					// consumer that loads the other tables.
					for it.Rewind(); it.Valid(); it.Next() {
						st.LoadKey(t.name, it.Item().Key()[len(t.prefix):])
					}
					return nil
				}
				for it.Rewind(); it.Valid(); it.Next() {
					bi := it.Item()
					ko := len(c.buf)
					c.buf = append(c.buf, bi.Key()...)
					vo := len(c.buf)
					if err := bi.Value(func(v []byte) error { c.buf = append(c.buf, v...); return nil }); err != nil {
						return fmt.Errorf("journal: read: %w", err)
					}
					c.offs = append(c.offs, [3]int{ko, vo, len(c.buf)})
					c.items = append(c.items, loadItem{})
					if len(c.items) == chunkRows {
						flush()
					}
				}
				return nil
			})
		}
		return rg.Wait()
	})
	close(todo)
	close(ordered)
	wg.Wait()
	<-consumed
	if readErr != nil {
		return readErr
	}
	if loadErr != nil {
		return loadErr
	}
	if err := j.restoreSequences(st); err != nil {
		return err
	}
	read := time.Since(began)
	st.FinishLoad()
	if !marked {
		if err := j.migrate(st.MigrationChanges()); err != nil {
			return err
		}
	}
	indexed := time.Since(began)
	// The reopen's Close waits for the compactions in flight: at full speed again, or a
	// compaction paced for the read holds the restart for seconds.
	j.db.SetCompactionPace(0)
	if err := j.reopen(); err != nil {
		return err
	}
	if j.releaseEvery > 0 && j.releaser == nil {
		j.releaser = j.startReleasing(j.releaseEvery)
	}
	// Pacing starts once the switch is about to serve: during recovery compaction runs at
	// full speed.
	j.db.SetCompactionPace(j.pace)
	if j.log != nil {
		j.log.Info("journal loaded", "read", read.Round(time.Millisecond).String(),
			"indexes", (indexed - read).Round(time.Millisecond).String(),
			"reopen", (time.Since(began) - indexed).Round(time.Millisecond).String())
	}
	return nil
}

// loadChunk is a run of rows of one table read by Load, decoded by a worker.
type loadChunk struct {
	table string
	buf   []byte   // the keys and values of items
	offs  [][3]int // per item: key start, value start, value end in buf
	items []loadItem
	rows  []any
	err   error
	done  chan struct{}
}

type loadItem struct{ key, val []byte }

// seal points the items into buf once it is complete (appends may have moved it).
func (c *loadChunk) seal() {
	for i, o := range c.offs {
		c.items[i] = loadItem{key: c.buf[o[0]:o[1]:o[1]], val: c.buf[o[1]:o[2]:o[2]]}
	}
}

// errgroupLite runs functions concurrently and returns the first error.
type errgroupLite struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroupLite) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	}()
}

func (g *errgroupLite) Wait() error { g.wg.Wait(); return g.err }

// decodeValue decrypts and decodes one stored value of the given table.
func (j *Badger) decodeValue(table string, key, val []byte, in *interner) (any, error) {
	plain, format, err := j.open(key, val)
	if err != nil {
		return nil, err
	}
	if format == formatV2 {
		return decodeRow(table, plain, in)
	}
	row := newRow(table)
	if err := json.Unmarshal(plain, row); err != nil {
		return nil, fmt.Errorf("journal: decode %s: %w", table, err)
	}
	return row, nil
}

// Close flushes and closes the store.
func (j *Badger) Close() error {
	var walErr error
	if j.wal != nil {
		walErr = j.wal.close() // the applier drains into Badger first
	}
	j.collector.halt()
	j.releaser.halt()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return walErr
	}
	// The compactions Close waits for (and level 0's, compacted on close) run at full speed.
	j.db.SetCompactionPace(0)
	j.rmu.Lock()
	defer j.rmu.Unlock()
	err := j.db.Close()
	j.db = nil
	return errors.Join(walErr, err)
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, f string, args ...any) {
	if b.l != nil {
		b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, args...)), "component", "badger")
	}
}
func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any) {
	// Badger's informational lines are noise, except the time its writes were stalled behind
	// level-0 compaction, which an operator needs to see (printed when the store closes).
	if strings.Contains(f, "stalled") {
		b.log(slog.LevelInfo, f, a...)
	}
}
func (b badgerLogger) Debugf(string, ...any) {}
