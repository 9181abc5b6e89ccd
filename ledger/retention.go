package ledger

// Retention: remembered replies and closed auth records that moved no money are forgotten once
// they are older than a retention (engine.replyRetention, default 7 days), so the ledger does
// not grow with every message for ever. Records that moved money (captured, posted, partly
// reversed) are the books and are kept; open holds are kept until they expire.
//
// The answer to an original lives in its auth record (model.go) and goes with it: a record that
// moved money keeps answering its retransmissions for as long as it is kept. After the retention
// any other retransmission is processed as a new message, and a reversal whose declined or
// reversed original was forgotten is answered as one whose original is unknown.

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
// most about max of them, and reports how many it deleted. The due entries come from the aging
// index (history.go); the deletions go through the journal with the batch. Only the engine
// goroutine calls it.
func (tx *Tx) Prune(cutoffNanos int64, max int) int {
	n := 0
	var kept []IndexEntry // auth records kept, handed to the archiving index (archiving.go)
	for _, e := range tx.dueCold(TableAging, func(at int64) bool { return at < cutoffNanos }, max) {
		if e.Auth {
			a, ok := tx.Auth(e.Key)
			if ok && a.CreatedAtUnixNano == e.AtUnixNano && forgettable(&a) {
				tx.DeleteAuth(e.Key)
				n++
			} else if ok && a.CreatedAtUnixNano == e.AtUnixNano && tx.s.cold.archiving {
				kept = append(kept, e)
			}
			continue
		}
		if r, ok := tx.Reply(e.Key); ok && r.AtUnixNano == e.AtUnixNano {
			tx.DeleteReply(e.Key)
			n++
		}
	}
	if len(kept) > 0 {
		tx.addIndexRow(TableArchiving, kept)
		n += len(kept)
	}
	return n
}

// RetentionQueueLen reports how many replies and auth records wait for retention (metrics, tests).
func (s *State) RetentionQueueLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cold.agingEntries
}
