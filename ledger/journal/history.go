package journal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/cardswitch/cardswitch/ledger"
)

// The Badger journal as the ledger's History (ledger/history.go): auth records and replies are
// read back from the store on demand. Reads take rmu shared, so a long scan (transaction
// history) never holds up the engine's commits; Close, the reopen after Load and key rotation
// take it exclusively.

var _ ledger.History = (*Badger)(nil)

// ReadAuth reads a committed auth record.
func (j *Badger) ReadAuth(key string) (ledger.Auth, bool, error) {
	row, ok, err := j.readRow("auth", "a/", key)
	if !ok || err != nil {
		return ledger.Auth{}, false, err
	}
	return *row.(*ledger.Auth), true, nil
}

// ReadReply reads a committed reply.
func (j *Badger) ReadReply(key string) (ledger.Reply, bool, error) {
	row, ok, err := j.readRow("reply", "r/", key)
	if !ok || err != nil {
		return ledger.Reply{}, false, err
	}
	return *row.(*ledger.Reply), true, nil
}

func (j *Badger) readRow(table, prefix, key string) (any, bool, error) {
	j.rmu.RLock()
	defer j.rmu.RUnlock()
	if j.db == nil {
		return nil, false, ErrClosed
	}
	k := []byte(prefix + key)
	if j.pending != nil {
		// A row in the write-ahead log and not yet in Badger (wal.go) is read from memory. The
		// map is read before Badger: the applier removes a row only after Badger has it.
		if plain, del, ok := j.pending.get(k); ok {
			if del {
				return nil, false, nil
			}
			row, err := decodeRow(table, plain, nil)
			if err != nil {
				return nil, false, err
			}
			return row, true, nil
		}
	}
	var val []byte
	err := j.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal: read %s: %w", table, err)
	}
	row, err := j.decodeValue(table, k, val, nil)
	if err != nil {
		return nil, false, err
	}
	return row, true, nil
}

// ReadIndex returns the first max rows of an index table, in key (time) order.
func (j *Badger) ReadIndex(table string, max int) ([]ledger.IndexRow, error) {
	prefix, ok := prefixOf(table)
	if !ok || !isIndex(table) {
		return nil, fmt.Errorf("journal: %q is not an index table", table)
	}
	var out []ledger.IndexRow
	err := j.scan(table, prefix, func(row any) bool {
		out = append(out, *row.(*ledger.IndexRow))
		return len(out) < max
	})
	return out, err
}

// EachAuth calls f with every committed auth record, in key order, until f returns false.
func (j *Badger) EachAuth(f func(*ledger.Auth) bool) error {
	return j.scan("auth", "a/", func(row any) bool { return f(row.(*ledger.Auth)) })
}

func (j *Badger) scan(table, prefix string, f func(any) bool) error {
	return j.scanFrom(table, prefix, "", false, f)
}

// hasMarker reports whether the store keeps the time indexes for all its history.
func (j *Badger) hasMarker() (bool, error) {
	err := j.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(historyMarker))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// migrate makes durable the index rows a store written without them needs (ledger
// MigrationChanges), in transactions of bounded size, and then the marker. A crash in between
// leaves the marker unwritten: the next start migrates again, and the entries written twice are
// harmless (each is checked against its record when due).
func (j *Badger) migrate(changes []ledger.Change) error {
	const perTxn = 64
	for len(changes) > 0 {
		n := min(len(changes), perTxn)
		if err := j.commitLocked(changes[:n]); err != nil {
			return fmt.Errorf("journal: write time indexes: %w", err)
		}
		changes = changes[n:]
	}
	return j.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(historyMarker), []byte{1})
	})
}
