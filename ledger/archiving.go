package ledger

import (
	"math"
)

// Archiving: closed auth records that moved money leave the hot store (the journal and the key
// set) for an archive of files (package ledger/archive) once they are older than
// engine.archiveAfter (default 30 days), so that neither the store nor the heap grows with every
// approval for ever.
//
// Retention (retention.go) hands every auth record it keeps (it moved money, or still holds) to
// a third time index, "archiving", under its creation time. On an expiry tick the archiver
// (ledger/archive.Step) takes the due entries of that index (ArchiveDue): a record that is
// closed and holds nothing is written to the archive and made durable there, and only then
// deleted from the hot store in the tick's batch (Archived); a record that became money-less
// since (a reversal, an expiry) is forgotten, as retention would have; a record still open goes
// back into the index, to be looked at again archiveAfter later.
//
// A crash between the archive's write and the batch leaves the record in both places; the
// next tick archives it again. Reads therefore take the hot record when there is one, and of
// the archive's copies of one record (same key, same creation time) the last written. A record
// the archiver forgets is written to the archive as forgotten first (ArchiveDue.Forgotten), so
// that an earlier copy a crash left there does not come back once the hot record is gone.
//
// After archiving, the record is no longer in the key set: a retransmission of its message is
// processed as a new message, and a late completion or reversal as one whose original is
// unknown (the same rule as for records retention forgets).

// ArchiveReader reads the auth records moved out of the hot store (ledger/archive).
type ArchiveReader interface {
	// AuthsOf calls f, until f returns false, with every archived record that names one of
	// ids as its card, balance or partner balance: each record (key and creation time) once,
	// as last archived, and none last archived as forgotten. In no particular order.
	AuthsOf(ids []string, f func(*Auth) bool) error
	// EachAuth is AuthsOf over the whole archive (audits).
	EachAuth(f func(*Auth) bool) error
}

// SetArchive makes the State's auth record reads include the archive's (before the engine
// starts).
func (s *State) SetArchive(r ArchiveReader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cold.archive = r
}

// SetArchiving makes retention hand the auth records it keeps to the archiving index (on when
// an archiver runs; off, they stay in the hot store, unindexed, as before archiving existed).
func (s *State) SetArchiving(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cold.archiving = on
}

// archivable reports whether an auth record is closed, moved money and holds none: it is the
// books, and no message can change it but a late reversal or completion, which after archiving
// is processed as one whose original is unknown.
func archivable(a *Auth) bool {
	if a.HeldMinor != 0 || forgettable(a) {
		return false
	}
	switch a.State {
	case AuthCaptured, AuthPosted, AuthReversed, AuthExpired:
		return true
	}
	// Open (a completion may still capture it), or a declined or early-reversed record that
	// somehow moved money: kept hot.
	return false
}

// ArchiveDue is what one archiving step took from the archiving index.
type ArchiveDue struct {
	// Auths are to be written to the archive and made durable, then deleted (Archived).
	Auths []Auth
	// Forgotten were forgotten in the batch (they moved no money any more); the archive records
	// them as forgotten before the batch is made durable.
	Forgotten []Auth
	// Kept counts the records still open, put back into the index.
	Kept    int
	entries []IndexEntry // the entries of Auths and Forgotten, put back by ArchiveFailed
}

// Changed reports whether the step changed the batch.
func (d *ArchiveDue) Changed() bool { return len(d.Auths)+len(d.Forgotten)+d.Kept > 0 }

// LoadArchiveDue reads the due rows of the archiving index and the records they name (the
// engine goroutine, in the expiry tick, before ArchiveDue).
func (tx *Tx) LoadArchiveDue(cutoffNanos int64, max int) error {
	return tx.loadDue(TableArchiving, func(at int64) bool { return at < cutoffNanos }, max)
}

// ArchiveDue takes the entries of the archiving index created before cutoffNanos, at most
// about max. Records to archive are returned (not yet deleted); money-less ones are forgotten;
// open ones are put back under nowNanos.
func (tx *Tx) ArchiveDue(cutoffNanos, nowNanos int64, max int) ArchiveDue {
	var d ArchiveDue
	var later []IndexEntry
	for _, e := range tx.dueCold(TableArchiving, func(at int64) bool { return at < cutoffNanos }, max) {
		a, ok := tx.Auth(e.Key)
		// An entry names the record it was written for, or an earlier one under the same key
		// (a record put back keeps its key under a later time): a record created after the
		// entry is another one, with entries of its own.
		if !ok || a.CreatedAtUnixNano > e.AtUnixNano {
			continue
		}
		switch {
		case forgettable(&a):
			tx.DeleteAuth(e.Key)
			d.Forgotten = append(d.Forgotten, a)
			d.entries = append(d.entries, e)
		case archivable(&a):
			d.Auths = append(d.Auths, a)
			d.entries = append(d.entries, e)
		default:
			later = append(later, IndexEntry{AtUnixNano: laterOf(nowNanos, e.AtUnixNano), Key: e.Key, Auth: true})
		}
	}
	if len(later) > 0 {
		tx.addIndexRow(TableArchiving, later)
		d.Kept = len(later)
	}
	return d
}

// Archived deletes from the hot store the records of d the archive made durable.
func (tx *Tx) Archived(d *ArchiveDue) {
	if tx.archived == nil {
		tx.archived = map[string]bool{}
	}
	for i := range d.Auths {
		tx.DeleteAuth(d.Auths[i].Key)
		tx.archived[d.Auths[i].Key] = true
	}
}

// ArchiveFailed keeps d's records in the hot store and puts their entries back into the index,
// for the next tick: the archive could not make them durable (nor the forgetting of those it
// forgot, which therefore are not forgotten either).
func (tx *Tx) ArchiveFailed(d *ArchiveDue) {
	for i := range d.Forgotten {
		tx.PutAuth(d.Forgotten[i])
	}
	if len(d.entries) > 0 {
		tx.addIndexRow(TableArchiving, d.entries)
	}
}

// ArchivingPending reports whether the archiving index may have an entry (tests).
func (s *State) ArchivingPending() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cold.nextArchiving != math.MaxInt64
}

// addIndexRow writes a row of entries to a time index in this batch.
func (tx *Tx) addIndexRow(table string, entries []IndexEntry) {
	sortEntries(entries)
	tx.s.cold.seq++
	row := &IndexRow{Key: indexKey(entries[0].AtUnixNano, tx.s.cold.seq), Entries: entries}
	tx.index = append(tx.index, Change{Table: table, Key: row.Key, Row: row})
}

// authID is what identifies one auth record across the hot store and the archive: a key names
// another record once the one before it was forgotten or archived (field 7 repeats every year).
type authID struct {
	key string
	at  int64
}

// withArchived appends to out the archived records keep accepts that the hot store does not
// hold (a crash between the archive's write and the batch leaves a record in both: the hot one
// is the current one).
func (s *State) withArchived(out []Auth, ids []string, keep func(*Auth) bool) ([]Auth, error) {
	s.mu.RLock()
	r := s.cold.archive
	s.mu.RUnlock()
	if r == nil {
		return out, nil
	}
	// The hot records already listed: a record archived while this read ran (between its read
	// of the hot store and its read of the archive) is listed once.
	listed := make(map[authID]bool, len(out))
	for i := range out {
		listed[authID{out[i].Key, out[i].CreatedAtUnixNano}] = true
	}
	f := func(a *Auth) bool {
		if !keep(a) || listed[authID{a.Key, a.CreatedAtUnixNano}] {
			return true
		}
		if hot, ok := s.Auth(a.Key); ok && hot.CreatedAtUnixNano == a.CreatedAtUnixNano {
			return true
		}
		out = append(out, *a)
		return true
	}
	var err error
	if ids == nil {
		err = r.EachAuth(f)
	} else {
		err = r.AuthsOf(ids, f)
	}
	return out, err
}

// AuthsOf returns copies of the auth records, hot and archived, that name one of ids as card,
// balance or partner balance and that keep accepts, in no particular order (transaction
// history). The archive is read through its index by id.
func (s *State) AuthsOf(ids []string, keep func(*Auth) bool) ([]Auth, error) {
	in := func(a *Auth) bool {
		for _, id := range ids {
			if id != "" && (a.CardID == id || a.BalanceID == id || a.PartnerID == id) {
				return keep(a)
			}
		}
		return false
	}
	out, err := s.hotAuthsWhere(in)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return s.withArchived(out, ids, in)
}

// laterOf is the later of two times (ArchiveDue's parameter max shadows the built-in).
func laterOf(a, b int64) int64 { return max(a, b) }

// A store written before the archive existed: retention dropped the aging entries of the records
// it kept, so they have no archiving entry and would stay hot for ever. The hand-over
// (ledger/archive.HandOver, once per store) gives each of them one: EachKeptAuth lists them and
// ArchiveHandOver writes the entries, in batches of the engine. An entry given twice (a record
// retention also hands over, or a hand-over repeated after a crash) is harmless: each is
// checked against its record when due, and a scan takes each key once.

// EachKeptAuth calls f, until f returns false, with an archiving entry for every hot auth record
// created before beforeNanos that retention would keep (not forgettable). It reads the journal,
// not the engine's batch: run it beside the engine.
func (s *State) EachKeptAuth(beforeNanos int64, f func(IndexEntry) bool) error {
	return s.cold.h.EachAuth(func(a *Auth) bool {
		if a.CreatedAtUnixNano >= beforeNanos || forgettable(a) {
			return true
		}
		return f(IndexEntry{AtUnixNano: a.CreatedAtUnixNano, Key: a.Key, Auth: true})
	})
}

// ArchiveHandOver is a command: it adds Entries to the archiving index.
type ArchiveHandOver struct{ Entries []IndexEntry }

func (ArchiveHandOver) Kind() OpKind { return OpOther }
func (ArchiveHandOver) Keys(*Keys)   {}

// Apply writes one index row of the entries and reports how many it wrote.
func (c ArchiveHandOver) Apply(tx *Tx, _ *Env) int {
	if len(c.Entries) == 0 {
		return 0
	}
	tx.addIndexRow(TableArchiving, append([]IndexEntry(nil), c.Entries...))
	return len(c.Entries)
}
