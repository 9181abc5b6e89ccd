package ledger

// Retention: remembered replies and closed auth records that moved no money are forgotten once
// they are older than a retention (engine.replyRetention, default 7 days), so the ledger does
// not grow with every message for ever. Records that moved money (captured, posted, partly
// reversed) are the books and are kept; open holds are kept until they expire.
//
// After the retention a retransmission is processed as a new message, and a reversal whose
// declined or reversed original was forgotten is answered as one whose original is unknown.

// aging is one entry of the retention queue: a reply or auth record by creation time.
type aging struct {
	at   int64
	key  string
	auth bool // auth record; otherwise a reply
}

// agingQueue is a FIFO in creation order (the engine's clock: batches are created in time order).
type agingQueue struct {
	items []aging
	head  int
}

func (q *agingQueue) push(a aging) { q.items = append(q.items, a) }
func (q *agingQueue) len() int     { return len(q.items) - q.head }
func (q *agingQueue) front() aging { return q.items[q.head] }
func (q *agingQueue) pop() aging {
	a := q.items[q.head]
	q.items[q.head] = aging{}
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) { // reclaim the popped half
		q.items = append(q.items[:0:0], q.items[q.head:]...)
		q.head = 0
	}
	return a
}

// unpop puts entries taken by a rolled-back prune back at the front, in their order.
func (q *agingQueue) unpop(as []aging) {
	if len(as) == 0 {
		return
	}
	if q.head >= len(as) {
		q.head -= len(as)
		copy(q.items[q.head:], as)
		return
	}
	q.items = append(append([]aging(nil), as...), q.items[q.head:]...)
	q.head = 0
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
	var due []aging
	s.mu.Lock()
	for s.aging.len() > 0 && len(due) < max && s.aging.front().at < cutoffNanos {
		due = append(due, s.aging.pop())
	}
	s.mu.Unlock()
	tx.pruned = append(tx.pruned, due...)
	n := 0
	for _, e := range due {
		if e.auth {
			if a, ok := tx.Auth(e.key); ok && a.CreatedAt == e.at && forgettable(&a) {
				tx.DeleteAuth(e.key)
				n++
			}
			continue
		}
		if r, ok := tx.Reply(e.key); ok && r.At == e.at {
			tx.DeleteReply(e.key)
			n++
		}
	}
	return n
}

// RetentionQueueLen reports how many replies and auth records wait for retention (metrics, tests).
func (s *State) RetentionQueueLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.aging.len()
}
