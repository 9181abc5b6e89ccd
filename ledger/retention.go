package ledger

import (
	"cmp"
	"slices"
	"strings"
)

// Retention: remembered replies and closed auth records that moved no money are forgotten once
// they are older than a retention (engine.replyRetention, default 7 days), so the ledger does
// not grow with every message for ever. Records that moved money (captured, posted, partly
// reversed) are the books and are kept; open holds are kept until they expire.
//
// The answer to an original lives in its auth record (model.go) and goes with it: a record that
// moved money keeps answering its retransmissions for as long as it is kept. After the retention
// any other retransmission is processed as a new message, and a reversal whose declined or
// reversed original was forgotten is answered as one whose original is unknown.

// aging is one entry of the retention queue: the reply or auth record at row, created at at.
// The row may have been deleted and reused since: the entry applies only to a record with that
// creation time.
type aging struct {
	at   int64
	row  uint32
	auth bool // auth record; otherwise a reply
}

// agingQueue is a FIFO in creation order (the engine's clock: batches are created in time order).
// It is a list of fixed-size chunks rather than one slice: a slice that doubles copies the whole
// queue (tens of MB with a million entries) inside the engine's Commit, under the state's lock,
// and leaves the old array for the GC; a chunk is allocated once and dropped once emptied.
type agingQueue struct {
	chunks [][]aging // each with capacity agingChunk; chunks[0][head:] is the front
	head   int
	n      int
}

const agingChunk = 4096

func (q *agingQueue) push(a aging) {
	if k := len(q.chunks); k == 0 || len(q.chunks[k-1]) == agingChunk {
		q.chunks = append(q.chunks, make([]aging, 0, agingChunk))
	}
	k := len(q.chunks) - 1
	q.chunks[k] = append(q.chunks[k], a)
	q.n++
}
func (q *agingQueue) len() int     { return q.n }
func (q *agingQueue) front() aging { return q.chunks[0][q.head] }
func (q *agingQueue) pop() aging {
	c := q.chunks[0]
	a := c[q.head]
	c[q.head] = aging{}
	q.head++
	q.n--
	if q.head == len(c) { // chunk emptied (a partly filled last chunk is emptied only when n is 0)
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		q.head = 0
		if len(q.chunks) == 0 {
			q.chunks = nil
		}
	}
	return a
}

// unpop puts entries taken by a rolled-back prune back at the front, in their order.
func (q *agingQueue) unpop(as []aging) {
	if len(as) == 0 {
		return
	}
	if len(q.chunks) > 0 && q.head >= len(as) {
		q.head -= len(as)
		copy(q.chunks[0][q.head:], as)
		q.n += len(as)
		return
	}
	rest := q.all()
	q.chunks, q.head, q.n = nil, 0, 0
	for _, a := range as {
		q.push(a)
	}
	for _, a := range rest {
		q.push(a)
	}
}

// all returns a copy of the queue's entries in order.
func (q *agingQueue) all() []aging {
	out := make([]aging, 0, q.n)
	for i, c := range q.chunks {
		if i == 0 {
			c = c[q.head:]
		}
		out = append(out, c...)
	}
	return out
}

// sortByTime orders the queue by creation time (after recovery, where rows come in store order).
func (q *agingQueue) sortByTime() {
	items := q.all()
	slices.SortStableFunc(items, func(a, b aging) int { return cmp.Compare(a.at, b.at) })
	q.chunks, q.head, q.n = nil, 0, 0
	for _, a := range items {
		q.push(a)
	}
}

// forgettable reports whether a closed auth record moved no money and holds none.
func forgettable(a *Auth) bool {
	if a.HeldMinor != 0 || a.PostedMinor != 0 {
		return false
	}
	switch a.State {
	case AuthDeclined, AuthReversed, AuthExpired, AuthReversedFirst:
		return true
	}
	return false
}

// Prune forgets the replies and money-less closed auth records created before cutoffNanos, at
// most max of them, and reports how many it deleted. The deletions go through the journal with
// the batch. Only the engine goroutine calls it.
func (tx *Tx) Prune(cutoffNanos int64, max int) int {
	s := tx.s
	if s.cold != nil {
		return tx.pruneCold(cutoffNanos, max)
	}
	var due []aging
	s.mu.Lock()
	for s.aging.len() > 0 && len(due) < max && s.aging.front().at < cutoffNanos {
		due = append(due, s.aging.pop())
	}
	s.mu.Unlock()
	tx.pruned = append(tx.pruned, due...)
	n := 0
	for _, e := range due {
		key, ok := s.agedKey(e)
		if !ok {
			continue
		}
		if e.auth {
			if a, ok := tx.Auth(key); ok && a.CreatedAt == e.at && forgettable(&a) {
				tx.DeleteAuth(key)
				n++
			}
			continue
		}
		if r, ok := tx.Reply(key); ok && r.At == e.at {
			tx.DeleteReply(key)
			n++
		}
	}
	return n
}

// agedKey returns the key of the committed row a retention entry names, if that row is still
// the one the entry was made for. The entry was taken off the queue under the lock and only the
// engine goroutine (this one) changes the state, so reading without the lock is safe.
func (s *State) agedKey(e aging) (string, bool) {
	if e.auth {
		if !s.auths.has(e.row) || s.auths.head(e.row).createdAt != e.at {
			return "", false
		}
		return strings.Clone(s.auths.keyAt(e.row)), true
	}
	if !s.replies.has(e.row) || s.replies.at(e.row) != e.at {
		return "", false
	}
	return strings.Clone(s.replies.keyAt(e.row)), true
}

// RetentionQueueLen reports how many replies and auth records wait for retention (metrics, tests).
func (s *State) RetentionQueueLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cold != nil {
		return s.cold.agingEntries
	}
	return s.aging.len()
}

// pruneCold is Prune in History mode: the due entries come from the aging index.
func (tx *Tx) pruneCold(cutoffNanos int64, max int) int {
	n := 0
	for _, e := range tx.dueCold(TableAging, func(at int64) bool { return at < cutoffNanos }, max) {
		if e.Auth {
			if a, ok := tx.Auth(e.Key); ok && a.CreatedAt == e.At && forgettable(&a) {
				tx.DeleteAuth(e.Key)
				n++
			}
			continue
		}
		if r, ok := tx.Reply(e.Key); ok && r.At == e.At {
			tx.DeleteReply(e.Key)
			n++
		}
	}
	return n
}
