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
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/cardswitch/cardswitch/ledger"
)

// Options configure the Badger journal. Every field that affects durability is set explicitly
// (ARCHITECTURE.md rule 6: Badger's SyncWrites defaults to false).
type Options struct {
	Dir     string
	DataKey []byte // 32 bytes, AES-256
	Logger  *slog.Logger
	// BlockCacheBytes bounds Badger's block cache; the ledger keeps its own state in memory, so
	// the cache only serves recovery. Default 16 MiB.
	BlockCacheBytes int64
}

// Badger is the durable journal.
type Badger struct {
	db   *badger.DB
	aead cipher.AEAD
	mu   sync.Mutex // serialises Commit with Close and key rotation
	buf  []byte
}

// formatV1 marks a value sealed with AES-256-GCM: version byte, 12-byte nonce, ciphertext.
const formatV1 = 1

// OpenBadger opens (or creates) the journal in opts.Dir.
func OpenBadger(opts Options) (*Badger, error) {
	aead, err := newAEAD(opts.DataKey)
	if err != nil {
		return nil, err
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(true). // an approval is on disk before its response leaves
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{opts.Logger}).
		WithCompactL0OnClose(true).
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
	return &Badger{db: db, aead: aead}, nil
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
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	txn := j.db.NewTransaction(true)
	defer txn.Discard()
	for _, c := range changes {
		prefix, ok := prefixOf(c.Table)
		if !ok {
			return fmt.Errorf("journal: unknown table %q", c.Table)
		}
		key := []byte(prefix + c.Key)
		if c.Row == nil {
			if err := txn.Delete(key); err != nil {
				return fmt.Errorf("journal: delete: %w", err)
			}
			continue
		}
		val, err := j.seal(key, c.Row)
		if err != nil {
			return err
		}
		if err := txn.Set(key, val); err != nil {
			return fmt.Errorf("journal: set: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	return nil
}

// seal encodes a row and encrypts it; the key is bound as additional data so a value cannot be
// moved to another key.
func (j *Badger) seal(key []byte, row any) ([]byte, error) {
	plain, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("journal: encode %s: %w", strings.SplitN(string(key), "/", 2)[0], err)
	}
	out := make([]byte, 1+12, 1+12+len(plain)+j.aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:13]); err != nil {
		return nil, fmt.Errorf("journal: nonce: %w", err)
	}
	return j.aead.Seal(out, out[1:13], plain, key), nil
}

func (j *Badger) open(key, val []byte) ([]byte, error) {
	if len(val) < 13 || val[0] != formatV1 {
		return nil, fmt.Errorf("journal: value of unknown format under %q", safeKey(key))
	}
	plain, err := j.aead.Open(nil, val[1:13], val[13:], key)
	if err != nil {
		return nil, fmt.Errorf("journal: value under %q does not decrypt with the data key: %w", safeKey(key), err)
	}
	return plain, nil
}

// safeKey is the table part of a key: keys hold ids, never card data, but errors stay terse.
func safeKey(key []byte) string { return strings.SplitN(string(key), "/", 2)[0] }

// Load reads every row into st.
func (j *Badger) Load(st *ledger.State) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	err := j.db.View(func(txn *badger.Txn) error {
		for _, t := range tables {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: []byte(t.prefix)})
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				key := item.KeyCopy(nil)
				val, err := item.ValueCopy(nil)
				if err != nil {
					it.Close()
					return fmt.Errorf("journal: read: %w", err)
				}
				plain, err := j.open(key, val)
				if err != nil {
					it.Close()
					return err
				}
				row := t.new()
				if err := json.Unmarshal(plain, row); err != nil {
					it.Close()
					return fmt.Errorf("journal: decode %s: %w", t.name, err)
				}
				st.Load(row)
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.FinishLoad()
	return nil
}

// Close flushes and closes the store.
func (j *Badger) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return nil
	}
	err := j.db.Close()
	j.db = nil
	return err
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
