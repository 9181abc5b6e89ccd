package journal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

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
	// WALSegmentBytes is the size past which a write-ahead log segment is closed (and deleted
	// once applied to Badger). Default 64 MiB.
	WALSegmentBytes int64
}

// Badger is the durable journal: a write-ahead log (wal.go) that makes each batch durable, in
// front of the Badger store that the log's batches are applied to in the background
// (applier.go) and that the ledger is loaded from.
type Badger struct {
	db   *badger.DB
	aead cipher.AEAD
	mu   sync.Mutex // serialises Commit with Close, loading and key rotation
	buf  []byte     // plaintext scratch of seal, reused (Commit holds mu)
	wal  *wal
	app  *applier
	log  *slog.Logger
	// segmentBytes is Options.WALSegmentBytes.
	segmentBytes int64
	keyID        byte // id of the data key new values are sealed under (aead)
	keys         map[byte]cipher.AEAD
	opts         badger.Options
	// reencryptFrom is where the next Reencrypt step resumes (nil: from the start).
	reencryptFrom []byte
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

// OpenBadger opens (or creates) the journal in opts.Dir.
func OpenBadger(opts Options) (*Badger, error) {
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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(true).       // a log segment is deleted only once its batches are synced here
		WithDetectConflicts(false). // one writer at a time (the applier, or recovery)
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{opts.Logger}).
		WithCompactL0OnClose(false). // set on the instance reopened after Load (see reopen)
		WithMemTableSize(32 << 20).
		WithValueLogFileSize(256 << 20).
		WithNumMemtables(3).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12)
	cache := opts.BlockCacheBytes
	if cache == 0 {
		cache = 16 << 20
	}
	bo = bo.WithBlockCacheSize(cache).WithIndexCacheSize(16 << 20)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	j := &Badger{db: db, aead: aead, keyID: opts.DataKeyID, keys: keys, opts: bo, log: log,
		segmentBytes: opts.WALSegmentBytes}
	if j.segmentBytes <= 0 {
		j.segmentBytes = walSegmentSize
	}
	walDir := filepath.Join(opts.Dir, walDirName)
	next, err := j.replay(walDir)
	if err == nil {
		j.wal, err = openWAL(walDir, next)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	j.app = newApplier(j, walDir, log)
	return j, nil
}

// replay writes the batches of the log segments left by the last run (all of them if it
// crashed, none after a clean Close) into Badger, synced, deletes the segments, and returns the
// number of the next segment.
func (j *Badger) replay(walDir string) (next int, err error) {
	segs, err := segments(walDir)
	if err != nil || len(segs) == 0 {
		return 1, err
	}
	batches := 0
	var all [][]walEntry
	for i, n := range segs {
		end, torn, err := readSegment(segmentPath(walDir, n), func(es []walEntry) error {
			all = append(all, slices.Clone(es))
			batches++
			return nil
		})
		if err != nil {
			return 0, err
		}
		if torn {
			if i != len(segs)-1 {
				return 0, fmt.Errorf("journal: wal: segment %d is damaged at offset %d and is not the last one; refusing to start", n, end)
			}
			j.log.Warn("journal: the last log record was incomplete (a batch cut by a crash, never acknowledged); ignored", "segment", n, "offset", end)
		}
	}
	err = applyEntries(j.db, func(yield func(walEntry) bool) {
		for _, es := range all {
			for _, e := range es {
				if !yield(e) {
					return
				}
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("journal: wal replay: %w", err)
	}
	if err := removeSegments(walDir, segs[len(segs)-1]); err != nil {
		return 0, err
	}
	j.log.Info("journal: replayed the write-ahead log", "segments", len(segs), "batches", batches)
	return segs[len(segs)-1] + 1, nil
}

// reopen closes and reopens the store after the full scan of Load. Badger maps its table files;
// the scan leaves every page of them resident and counted in the process's RSS (about half a
// gigabyte with a million cards) although the ledger never reads them again: reopening drops
// those mappings. The reopened instance compacts level 0 on Close, so the next start reads fewer
// tables.
func (j *Badger) reopen() error {
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

// Commit makes the changes durable in the write-ahead log (one record, fdatasync'ed) and queues
// them for Badger. A batch refused with an error left nothing behind.
func (j *Badger) Commit(changes []ledger.Change) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	if err := j.app.waitRoom(); err != nil {
		return fmt.Errorf("journal: store writes failing, batch refused: %w", err)
	}
	buf := j.app.buffer()
	rec, err := j.record((*buf)[:0], changes)
	*buf = rec
	if err == nil {
		err = j.wal.append(rec)
	}
	if err != nil {
		j.app.release(buf)
		return err
	}
	entries, err := decodeRecord(rec[walHeader:], make([]walEntry, 0, len(changes)))
	if err != nil { // cannot happen: the record was just built
		j.app.release(buf)
		return err
	}
	j.app.ch <- &pending{rec: buf, entries: entries}
	if j.wal.size > j.segmentBytes {
		j.rotateLocked()
	}
	return nil
}

// rotateLocked closes the current log segment; the applier deletes it once its batches are in
// Badger. A failure to start a new segment leaves the current one in use.
func (j *Badger) rotateLocked() {
	closed := j.wal.seq
	if err := j.wal.rotate(); err != nil {
		j.log.Warn("journal: log segment not rotated; still appending to the current one", "err", err)
		return
	}
	j.app.ch <- &pending{closedSeg: closed}
}

// record builds a log record of the changes into dst: header space, entry count, then every
// key with its sealed value (or a delete).
func (j *Badger) record(dst []byte, changes []ledger.Change) ([]byte, error) {
	dst = append(dst, make([]byte, walHeader)...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(changes)))
	for _, c := range changes {
		prefix, ok := prefixOf(c.Table)
		if !ok {
			return dst, fmt.Errorf("journal: unknown table %q", c.Table)
		}
		if len(prefix)+len(c.Key) > 1<<16-1 {
			return dst, fmt.Errorf("journal: %s key too long", c.Table)
		}
		op := byte(opSet)
		if c.Row == nil {
			op = opDelete
		}
		dst = append(dst, op)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(prefix)+len(c.Key)))
		kstart := len(dst)
		dst = append(append(dst, prefix...), c.Key...)
		if c.Row == nil {
			continue
		}
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var err error
		// If sealTo grows dst into a new array, the key slice still reads the old one, unchanged.
		if dst, err = j.sealTo(dst, dst[kstart:lenAt:lenAt], c.Row); err != nil {
			return dst, err
		}
		binary.LittleEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	}
	return dst, nil
}

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
	j.keys[id], j.aead, j.keyID = aead, aead, id
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
	// Read the latest version of every row: the applier may still hold logged batches.
	j.app.flush()
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
	if err != nil {
		return 0, false, fmt.Errorf("journal: re-encrypt: %w", err)
	}
	j.reencryptFrom = next // nil when done
	if done {
		// Log segments written before the rotation hold values sealed under the old key; once
		// they are gone a restart cannot bring such values back, and the old key can be dropped.
		if err := j.checkpointLocked(); err != nil {
			return rewritten, false, fmt.Errorf("journal: re-encrypt: %w", err)
		}
	}
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
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	j.app.flush() // batches committed before Load (tests, tools) are read back too
	type item struct {
		key, val []byte
	}
	type chunk struct {
		table string
		items []item
		rows  []any
		err   error
		done  chan struct{}
	}
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
			for _, r := range c.rows {
				st.Load(r)
			}
		}
	}()
	const chunkRows = 512
	readErr := j.db.View(func(txn *badger.Txn) error {
		for _, t := range tables {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: []byte(t.prefix)})
			c := &chunk{table: t.name, done: make(chan struct{})}
			flush := func() {
				if len(c.items) > 0 {
					ordered <- c
					todo <- c
				}
				c = &chunk{table: t.name, done: make(chan struct{})}
			}
			for it.Rewind(); it.Valid(); it.Next() {
				bi := it.Item()
				val, err := bi.ValueCopy(nil)
				if err != nil {
					it.Close()
					flush()
					return fmt.Errorf("journal: read: %w", err)
				}
				c.items = append(c.items, item{key: bi.KeyCopy(nil), val: val})
				if len(c.items) == chunkRows {
					flush()
				}
			}
			flush()
			it.Close()
		}
		return nil
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
	st.FinishLoad()
	return j.reopen()
}

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

// Close applies what the log holds to Badger, removes the log and closes the store. If Badger
// cannot take the batches within closeWait, the log is kept and replayed at the next open.
func (j *Badger) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.app == nil {
		return nil
	}
	close(j.app.ch)
	select {
	case <-j.app.done:
	case <-time.After(closeWait):
		close(j.app.quit)
		<-j.app.done
	}
	var errs []error
	if j.wal != nil {
		errs = append(errs, j.wal.close())
		if !j.app.gaveUp.Load() {
			errs = append(errs, removeSegments(j.wal.dir, j.wal.seq))
		}
	}
	if j.db != nil {
		errs = append(errs, j.db.Close())
	}
	j.app, j.wal, j.db = nil, nil, nil
	return errors.Join(errs...)
}

// closeWait bounds how long Close waits for the applier.
const closeWait = 10 * time.Second

// checkpointLocked waits until Badger holds every logged batch, then starts a new log segment
// and deletes the others: a restart then replays nothing written before this point.
func (j *Badger) checkpointLocked() error {
	j.app.flush()
	closed := j.wal.seq
	if err := j.wal.rotate(); err != nil {
		return err
	}
	return removeSegments(j.wal.dir, closed)
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, f string, args ...any) {
	if b.l != nil {
		b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, args...)), "component", "badger")
	}
}
func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(string, ...any)        {}
func (b badgerLogger) Debugf(string, ...any)       {}
