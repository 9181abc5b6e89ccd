package ledger

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"math"
	"slices"
)

// History mode: auth records and remembered replies live in the journal, not in memory.
//
// Every approval leaves an auth record and a reply. Kept in memory they grew the heap by about
// 300 bytes per message (2.3 million approvals took 700 MB on top of a million cards) and made
// every restart decode them all. Every State reads them from its History (NewState: the Badger
// journal in production, an in-memory journal in tests; there is no other mode, so tests run
// the code the switch runs). The State keeps of them only a set of 64-bit key hashes, which answers "is there
// a record under this key?" without I/O for every new message; the records are read from the
// journal when the set says one may exist (a follow-up, a retransmission, a hold expiry). The
// journal holds what the batch committed before the State is merged, so a read always sees the
// committed record.
//
// Hold expiry and retention need the records in time order: each batch writes at most one row
// of each time index (tables "expiry" and "aging"), listing the holds it opened and the records
// it created; the key of an index row is its earliest time, so the journal returns due rows in
// order. A recovery reads only the keys of auth records and replies, not their values.

// History reads what the journal committed.
type History interface {
	ReadAuth(key string) (Auth, bool, error)
	ReadReply(key string) (Reply, bool, error)
	// ReadIndex returns the first max rows of an index table ("expiry", "aging") in key order.
	ReadIndex(table string, max int) ([]IndexRow, error)
	// EachAuth calls f with every committed auth record until f returns false.
	EachAuth(f func(*Auth) bool) error
}

// Index tables.
const (
	TableExpiry = "expiry" // holds opened, by expiry time
	TableAging  = "aging"  // records created, by creation time (retention)
	// TableArchiving lists the auth records retention kept because they moved money, by
	// creation time, for the archive (archiving.go).
	TableArchiving = "archiving"
)

// IndexRow is one row of a time index: the entries one batch added.
type IndexRow struct {
	Key     string // indexKey(earliest At, sequence)
	Entries []IndexEntry
}

// IndexEntry names a record and its time (expiry or creation).
type IndexEntry struct {
	AtUnixNano int64
	Key        string
	Auth       bool // aging: an auth record; otherwise a reply (expiry entries are all auth records)
}

// indexKey orders index rows by time: 16 hex digits of at, then 16 of a sequence number that
// keeps rows of the same time apart.
func indexKey(at int64, seq uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(max(at, 0)))
	binary.BigEndian.PutUint64(b[8:], seq)
	return hex.EncodeToString(b[:])
}

// parseIndexKey is the inverse of indexKey.
func parseIndexKey(k string) (at int64, seq uint64, ok bool) {
	b, err := hex.DecodeString(k)
	if err != nil || len(b) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(b[:8])), binary.BigEndian.Uint64(b[8:]), true
}

// keySet is a multiset of 64-bit key hashes: has(h) false means no record has a key of that
// hash; true means one may (two keys can share a hash, so the record is read to be sure). A
// hash held by several keys is counted, so removing one key keeps the others findable.
type keySet struct {
	one  map[uint64]struct{}
	more map[uint64]uint32 // hashes held by more than one key: how many beyond the first
	n    int
}

func newKeySet() keySet { return keySet{one: map[uint64]struct{}{}} }

func (k *keySet) has(h uint64) bool { _, ok := k.one[h]; return ok }

func (k *keySet) add(h uint64) {
	k.n++
	if _, ok := k.one[h]; !ok {
		k.one[h] = struct{}{}
		return
	}
	if k.more == nil {
		k.more = map[uint64]uint32{}
	}
	k.more[h]++
}

func (k *keySet) remove(h uint64) {
	if _, ok := k.one[h]; !ok {
		return
	}
	k.n--
	if c := k.more[h]; c > 0 {
		if c == 1 {
			delete(k.more, h)
		} else {
			k.more[h] = c - 1
		}
		return
	}
	delete(k.one, h)
}

// cold is what a State keeps of its auth records and replies (History mode).
type cold struct {
	h       History
	seed    maphash.Seed        // process-local: the sets are rebuilt at every start
	hashFn  func(string) uint64 // tests: replaces the keyed hash
	auths   keySet
	replies keySet
	// nextExpiry and nextAging are no later than the earliest entry of their index (MaxInt64:
	// the index is empty), so a tick with nothing due reads nothing.
	nextExpiry int64
	nextAging  int64
	// nextArchiving is the same bound for the archiving index (archiving.go).
	nextArchiving int64
	// archiving: Prune hands the auth records it keeps to the archiving index (SetArchiving).
	archiving bool
	// archive reads the records moved out of the journal (nil: none; SetArchive).
	archive ArchiveReader
	seq     uint64 // last index sequence number used
	// agingEntries counts the entries of the aging index (RetentionQueueLen): recovery reads the
	// index rows in full and counts theirs.
	agingEntries int
	// legacy collects, while a store written without time indexes is loaded, the entries they
	// would hold; MigrationChanges turns them into index rows.
	legacyExpiry, legacyAging []IndexEntry
}

func (c *cold) hash(key string) uint64 {
	if c.hashFn != nil {
		return c.hashFn(key)
	}
	return maphash.String(c.seed, key)
}

// hashBytes is hash of a key in bytes (maphash.Bytes and String agree on the same content).
func (c *cold) hashBytes(key []byte) uint64 {
	if c.hashFn != nil {
		return c.hashFn(string(key))
	}
	return maphash.Bytes(c.seed, key)
}

func newCold(h History) *cold {
	return &cold{h: h, seed: maphash.MakeSeed(), auths: newKeySet(), replies: newKeySet(),
		nextExpiry: math.MaxInt64, nextAging: math.MaxInt64, nextArchiving: math.MaxInt64}
}

// LoadKey registers a committed auth record or reply by key only (recovery).
// Keys of auth records and keys of replies may be loaded from two goroutines at once (each set
// has its own map), concurrently with Load of the other tables.
func (s *State) LoadKey(table string, key []byte) {
	c := s.cold
	h := c.hashBytes(key)
	switch table {
	case "auth":
		c.auths.add(h)
	case "reply":
		c.replies.add(h)
	}
}

// LoadIndexKey registers a committed index row by its key (recovery). entries
// is the row's entry count when known (-1 otherwise).
func (s *State) LoadIndexKey(table, key string, entries int) {
	at, seq, ok := parseIndexKey(key)
	if !ok {
		return // not written by this version; never due
	}
	s.cold.seq = max(s.cold.seq, seq)
	switch table {
	case TableExpiry:
		s.cold.nextExpiry = min(s.cold.nextExpiry, at)
	case TableAging:
		s.cold.nextAging = min(s.cold.nextAging, at)
		if entries > 0 {
			s.cold.agingEntries += entries
		}
	case TableArchiving:
		s.cold.nextArchiving = min(s.cold.nextArchiving, at)
	}
}

// loadCold registers a full auth record or reply read by a recovery of a store written without
// time indexes; MigrationChanges then writes the index rows it lacks.
func (s *State) loadCold(row any) {
	c := s.cold
	switch r := row.(type) {
	case *Auth:
		c.auths.add(c.hash(r.Key))
		if r.State == AuthOpen && r.HeldMinor != 0 && r.ExpiresAtUnixNano > 0 {
			c.legacyExpiry = append(c.legacyExpiry, IndexEntry{AtUnixNano: r.ExpiresAtUnixNano, Key: r.Key, Auth: true})
		}
		c.legacyAging = append(c.legacyAging, IndexEntry{AtUnixNano: r.CreatedAtUnixNano, Key: r.Key, Auth: true})
	case *Reply:
		c.replies.add(c.hash(r.Key))
		c.legacyAging = append(c.legacyAging, IndexEntry{AtUnixNano: r.AtUnixNano, Key: r.Key})
	}
}

// MigrationChanges returns the index rows that a store loaded without them needs (see
// loadCold), in rows of at most migrationRow entries, and registers them as committed. The
// caller must make them durable; nil when there is nothing to migrate.
func (s *State) MigrationChanges() []Change {
	c := s.cold
	if len(c.legacyExpiry)+len(c.legacyAging) == 0 {
		return nil
	}
	var out []Change
	for _, t := range []struct {
		table   string
		entries []IndexEntry
	}{{TableExpiry, c.legacyExpiry}, {TableAging, c.legacyAging}} {
		sortEntries(t.entries)
		for len(t.entries) > 0 {
			n := min(len(t.entries), migrationRow)
			row := &IndexRow{Entries: t.entries[:n:n]}
			c.seq++
			row.Key = indexKey(row.Entries[0].AtUnixNano, c.seq)
			out = append(out, Change{Table: t.table, Key: row.Key, Row: row})
			s.noteIndexRow(t.table, row)
			t.entries = t.entries[n:]
		}
	}
	c.legacyExpiry, c.legacyAging = nil, nil
	return out
}

const migrationRow = 1024

// noteIndexRow updates the earliest-entry bounds for an index row made durable.
func (s *State) noteIndexRow(table string, row *IndexRow) {
	at, _, _ := parseIndexKey(row.Key)
	switch table {
	case TableExpiry:
		s.cold.nextExpiry = min(s.cold.nextExpiry, at)
	case TableAging:
		s.cold.nextAging = min(s.cold.nextAging, at)
		s.cold.agingEntries += len(row.Entries)
	case TableArchiving:
		s.cold.nextArchiving = min(s.cold.nextArchiving, at)
	}
}

// sortEntries puts entries in time order (a migration has millions, in key order).
func sortEntries(es []IndexEntry) {
	slices.SortStableFunc(es, func(a, b IndexEntry) int { return cmp.Compare(a.AtUnixNano, b.AtUnixNano) })
}

// coldBase is the committed side of a Tx's auth or reply overlay: the key set,
// then the records Load read for the batch. It reads only memory.
type coldBase[T any] struct {
	tx     *Tx
	keys   *keySet
	readFn func(string) (T, bool, error) // the journal's read: Load only (prefetch.go)
	known  map[string]bool               // committed existence of the keys looked up in this batch
	loaded map[string]T                  // the committed records Load read
	// heldAt is, for auth keys loaded, the expiry of the committed record if it is an open
	// hold (0 otherwise): a rewrite that keeps the same hold adds no expiry entry.
	heldAt map[string]int64
}

func (b *coldBase[T]) get(key string) (T, bool) {
	var zero T
	if known, ok := b.known[key]; ok {
		if !known {
			return zero, false
		}
		return b.loaded[key], true
	}
	if !b.keys.has(b.tx.s.cold.hash(key)) {
		b.known[key] = false
		return zero, false
	}
	// A record may exist under key, and Load did not read it: the operation's Keys missed it.
	b.tx.fail(ErrNotLoaded)
	return zero, false
}

// existed reports whether key has a committed record.
func (b *coldBase[T]) existed(key string) bool {
	if known, ok := b.known[key]; ok {
		return known
	}
	_, ok := b.get(key)
	return ok
}

func (b *coldBase[T]) reset() {
	clear(b.known)
	clear(b.loaded)
	clear(b.heldAt)
}
