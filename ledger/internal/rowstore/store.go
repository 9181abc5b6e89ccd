package rowstore

import "bytes"

// Store maps row numbers to records. Row numbers are what the indexes hold: they stay the same
// while the record moves between slots. Slots and row numbers are never reused (see the package
// comment), and a rewrite that keeps a record's bytes after the header the same updates only
// the header, in place.
type Store struct {
	slab
	loc       []uint32 // row -> slot handle
	header    int      // the length of the part of a record updated in place
	abandoned int      // bytes of slots given up by rewrites (until a restart)
}

// Rec returns the record of a row. Its bytes stay valid, and unchanged after the header, for
// the life of the Store.
func (t *Store) Rec(row uint32) []byte { return t.slab.rec(t.loc[row]) }

// Add stores a new record and returns its row number (the rows so far, counted from 0).
func (t *Store) Add(rec []byte) uint32 {
	h := t.alloc(recClass(len(rec)))
	t.write(h, rec)
	if uint64(len(t.loc)) >= 1<<32-1 {
		panic("rowstore: more than 4 billion rows in a table")
	}
	t.loc = append(t.loc, h)
	return uint32(len(t.loc) - 1)
}

// Len is the number of rows.
func (t *Store) Len() int { return len(t.loc) }

// Update replaces the record of a row: in place when only the header changed, else in a new
// slot (the old one is abandoned).
func (t *Store) Update(row uint32, rec []byte) {
	h := t.loc[row]
	old := t.slab.rec(h)
	if len(old) == len(rec) && bytes.Equal(old[t.header:], rec[t.header:]) {
		copy(old[:t.header], rec[:t.header])
		return
	}
	t.abandoned += len(old)
	h = t.alloc(recClass(len(rec)))
	t.write(h, rec)
	t.loc[row] = h
}

// Slot identifies where a row's record is stored: a rewrite in place keeps it (tests).
func (t *Store) Slot(row uint32) uint32 { return t.loc[row] }

// Abandoned is the size of the records given up by rewrites since the Store was made.
func (t *Store) Abandoned() int { return t.abandoned }

// Bytes is the size of the chunks and the row table (tests that check that space is reused).
func (t *Store) Bytes() int {
	n := 4 * cap(t.loc)
	for _, c := range t.class {
		for _, ch := range c.chunks {
			n += len(ch)
		}
	}
	return n
}
