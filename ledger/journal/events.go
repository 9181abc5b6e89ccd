package journal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/cardswitch/cardswitch/ledger"
)

// The event log (ledger/events.go) in the Badger journal: event and audit rows are written by
// the engine's batches like any other row and read back here, under rmu like the History reads,
// so a delivery or an audit listing never holds up a commit.

var _ ledger.EventLog = (*Badger)(nil)

// restoreSequences gives st the last event and audit sequences in the store.
func (j *Badger) restoreSequences(st *ledger.State) error {
	var last [2]uint64
	err := j.db.View(func(txn *badger.Txn) error {
		for i, prefix := range []string{"e/", "d/"} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), Reverse: true})
			// A reverse iteration starts at the last key at or before the seek key.
			it.Seek([]byte(prefix + "\xff"))
			if it.Valid() {
				seq, ok := ledger.ParseEventKey(string(it.Item().Key()[len(prefix):]))
				if !ok {
					it.Close()
					return fmt.Errorf("journal: malformed key in %s", safeKey(it.Item().Key()))
				}
				last[i] = seq
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: read event sequences: %w", err)
	}
	st.RestoreSequences(last[0], last[1])
	return nil
}

// Events returns at most max events with a sequence above afterSeq, in sequence order.
func (j *Badger) Events(afterSeq uint64, max int) ([]ledger.Event, error) {
	var out []ledger.Event
	err := j.scanFrom(ledger.TableEvent, "e/", ledger.EventKey(afterSeq+1), false, func(row any) bool {
		out = append(out, *row.(*ledger.Event))
		return len(out) < max
	})
	return out, err
}

// Audits returns at most max audit records below beforeSeq (0: from the newest), newest first,
// keeping those keep accepts.
func (j *Badger) Audits(beforeSeq uint64, max int, keep func(*ledger.AuditRecord) bool) ([]ledger.AuditRecord, error) {
	from := "\xff"
	if beforeSeq > 0 {
		from = ledger.EventKey(beforeSeq - 1)
	}
	var out []ledger.AuditRecord
	err := j.scanFrom(ledger.TableAudit, "d/", from, true, func(row any) bool {
		if r := row.(*ledger.AuditRecord); keep == nil || keep(r) {
			out = append(out, *r)
		}
		return len(out) < max
	})
	return out, err
}

// maxDeletePerTxn bounds the keys one DeleteEvents transaction removes (Badger limits the size
// of a transaction).
const maxDeletePerTxn = 10_000

// DeleteEvents forgets the events up to and including throughSeq. The engine never rewrites an
// event row, so the deletes run in transactions of their own, beside the batches.
func (j *Badger) DeleteEvents(throughSeq uint64) error {
	j.rmu.RLock()
	defer j.rmu.RUnlock()
	if j.db == nil {
		return ErrClosed
	}
	end := []byte("e/" + ledger.EventKey(throughSeq))
	for {
		var keys [][]byte
		err := j.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("e/"), PrefetchValues: false})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < maxDeletePerTxn; it.Next() {
				k := it.Item().KeyCopy(nil)
				if string(k) > string(end) {
					break
				}
				keys = append(keys, k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("journal: delete events: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		err = j.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, badger.ErrConflict) {
			continue // a re-encryption step rewrote one of them: read again
		}
		if err != nil {
			return fmt.Errorf("journal: delete events: %w", err)
		}
		if len(keys) < maxDeletePerTxn {
			return nil
		}
	}
}

// scanFrom iterates a table from the key prefix+from (forward: at or after; reverse: at or
// before) until f returns false.
func (j *Badger) scanFrom(table, prefix, from string, reverse bool, f func(any) bool) error {
	j.rmu.RLock()
	defer j.rmu.RUnlock()
	if j.db == nil {
		return ErrClosed
	}
	// Under the write-ahead log, the rows not yet in Badger (wal.go) are merged in key order,
	// replacing Badger's version of a key; they are taken before Badger's view opens, since the
	// applier removes a row from them only once Badger has it.
	var over []pendingEntry
	if j.pending != nil {
		over = j.pending.scan(prefix, prefix+from, reverse)
	}
	stop := false
	emit := func(e pendingEntry) error {
		if e.del {
			return nil
		}
		row, err := decodeRow(table, e.plain, nil)
		if err != nil {
			return err
		}
		stop = !f(row)
		return nil
	}
	err := j.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), Reverse: reverse})
		defer it.Close()
		var val []byte
		for it.Seek([]byte(prefix + from)); it.Valid() && !stop; it.Next() {
			item := it.Item()
			if len(over) > 0 {
				key := string(item.Key())
				// Pending rows before this key (in the scan's direction) come first.
				for len(over) > 0 && !stop && over[0].key != key && (over[0].key < key) != reverse {
					if err := emit(over[0]); err != nil {
						return err
					}
					over = over[1:]
				}
				if stop {
					return nil
				}
				if len(over) > 0 && over[0].key == key {
					// Replaced (or deleted) by a row not yet in Badger.
					if err := emit(over[0]); err != nil {
						return err
					}
					over = over[1:]
					continue
				}
			}
			var err error
			if val, err = item.ValueCopy(val[:0]); err != nil {
				return fmt.Errorf("journal: read %s: %w", table, err)
			}
			row, err := j.decodeValue(table, item.Key(), val, nil)
			if err != nil {
				return err
			}
			if !f(row) {
				return nil
			}
		}
		return nil
	})
	for len(over) > 0 && !stop && err == nil {
		err = emit(over[0])
		over = over[1:]
	}
	return err
}
