package ledger

import "math"

// The Tx side of History mode (history.go).

// prepareCold settles, before the batch is made durable, whether each auth and reply key it
// writes had a committed record (Commit counts the key sets by it; once the batch is durable the
// journal can no longer tell), and builds the batch's index rows.
func (tx *Tx) prepareCold() {
	if tx.prepared {
		return
	}
	tx.prepared = true
	c := tx.s.cold
	var expiries, aging []IndexEntry
	for _, k := range tx.auths.order {
		existed := tx.authBase.existed(k)
		a := tx.auths.dirty[k]
		if a == nil {
			continue
		}
		if !existed {
			aging = append(aging, IndexEntry{AtUnixNano: a.CreatedAtUnixNano, Key: k, Auth: true})
		}
		// A rewrite that keeps the same open hold (a partial reversal) adds no second entry.
		if a.State == AuthOpen && a.HeldMinor != 0 && a.ExpiresAtUnixNano > 0 && !(existed && tx.authBase.heldAt[k] == a.ExpiresAtUnixNano) {
			expiries = append(expiries, IndexEntry{AtUnixNano: a.ExpiresAtUnixNano, Key: k, Auth: true})
		}
	}
	for _, k := range tx.replies.order {
		existed := tx.replyBase.existed(k)
		if r := tx.replies.dirty[k]; r != nil && !existed {
			aging = append(aging, IndexEntry{AtUnixNano: r.AtUnixNano, Key: k})
		}
	}
	for _, t := range []struct {
		table   string
		entries []IndexEntry
	}{{TableExpiry, expiries}, {TableAging, aging}} {
		if len(t.entries) == 0 {
			continue
		}
		sortEntries(t.entries)
		c.seq++
		row := &IndexRow{Key: indexKey(t.entries[0].AtUnixNano, c.seq), Entries: t.entries}
		tx.index = append(tx.index, Change{Table: t.table, Key: row.Key, Row: row})
	}
}

// commitCold merges the auth and reply side of a durable batch in History mode: the key sets
// and the index bounds. Commit calls it under the State's lock.
func (tx *Tx) commitCold() {
	s, c := tx.s, tx.s.cold
	countKeys(&tx.auths, tx.authBase, &c.auths, c.hash)
	countKeys(&tx.replies, tx.replyBase, &c.replies, c.hash)
	// A scan read its index from the first row: what it left is the new bound; rows this batch
	// wrote can only lower it.
	if b, ok := tx.bounds[TableExpiry]; ok {
		c.nextExpiry = b
	}
	if b, ok := tx.bounds[TableAging]; ok {
		c.nextAging = b
	}
	if b, ok := tx.bounds[TableArchiving]; ok {
		c.nextArchiving = b
	}
	for _, ch := range tx.index {
		if ch.Row == nil {
			if ch.Table == TableAging {
				c.agingEntries -= tx.deletedEntries[ch.Key]
			}
			continue
		}
		s.noteIndexRow(ch.Table, ch.Row.(*IndexRow))
	}
	c.agingEntries = max(c.agingEntries, 0)
}

// indexBound is no later than the earliest entry of a time index as this batch left it
// (MaxInt64: none).
func (tx *Tx) indexBound(table string) int64 {
	if b, ok := tx.bounds[table]; ok {
		return b
	}
	if table == TableAging {
		return tx.s.cold.nextAging
	}
	if table == TableArchiving {
		return tx.s.cold.nextArchiving
	}
	return tx.s.cold.nextExpiry
}

// scanRows bounds the index rows one scan reads.
const scanRows = 64

// dueCold takes from an index table the entries that are due, at most about max (whole rows
// are taken): the rows are deleted in this batch and their entries not yet due are written back
// in a new row. The entries are returned in time order, each key once.
func (tx *Tx) dueCold(table string, due func(at int64) bool, max int) []IndexEntry {
	c := tx.s.cold
	if !due(tx.indexBound(table)) {
		return nil
	}
	rows, ok := tx.indexRows[table]
	if !ok {
		tx.fail(ErrNotLoaded) // the due rows must have been read by Load
		return nil
	}
	var out []IndexEntry
	seen := map[string]bool{}
	next := int64(math.MaxInt64)
	stopped := false
	for _, row := range rows {
		at, _, ok := parseIndexKey(row.Key)
		if !ok || tx.touched[row.Key] {
			continue // taken by an earlier scan of this batch: its rest is in a new row
		}
		if !due(at) || len(out) >= max {
			next, stopped = at, true // rows are in time order: this one bounds the rest
			break
		}
		tx.touched[row.Key] = true
		tx.index = append(tx.index, Change{Table: table, Key: row.Key})
		if tx.deletedEntries == nil {
			tx.deletedEntries = map[string]int{}
		}
		tx.deletedEntries[row.Key] = len(row.Entries)
		var rest []IndexEntry
		for _, e := range row.Entries {
			switch {
			case !due(e.AtUnixNano):
				rest = append(rest, e)
			case !seen[e.Key]:
				seen[e.Key] = true
				out = append(out, e)
			}
		}
		if len(rest) > 0 {
			sortEntries(rest)
			c.seq++
			nr := &IndexRow{Key: indexKey(rest[0].AtUnixNano, c.seq), Entries: rest}
			tx.index = append(tx.index, Change{Table: table, Key: nr.Key, Row: nr})
			next = min(next, rest[0].AtUnixNano)
		}
	}
	if !stopped && len(rows) == scanRows {
		// More rows may follow the ones read, at or after the last: look again on the next tick.
		if at, _, ok := parseIndexKey(rows[len(rows)-1].Key); ok {
			next = min(next, at)
		}
	}
	tx.bounds[table] = next
	sortEntries(out)
	return out
}

// countKeys brings a key set up to date with a durable batch's writes of one table: a key
// written that had no record is added, a record deleted is removed.
func countKeys[T any](o *overlay[T], base *coldBase[T], set *keySet, hash func(string) uint64) {
	for _, k := range o.order {
		existed := base.known[k]
		switch v := o.dirty[k]; {
		case v == nil && existed:
			set.remove(hash(k))
		case v != nil && !existed:
			set.add(hash(k))
		}
	}
}
