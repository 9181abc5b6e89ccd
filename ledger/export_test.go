package ledger

import "fmt"

// HistoryBounds describes what the State keeps of the journal's auth records, replies and time
// indexes (key counts, earliest due times, aging entries), for tests that need to see that a
// rollback leaves it exactly as it was.
func (s *State) HistoryBounds() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.cold
	return fmt.Sprintf("auths %d replies %d next expiry %d next aging %d aging entries %d",
		c.auths.n, c.replies.n, c.nextExpiry, c.nextAging, c.agingEntries)
}

// StoredBytes is the size of the chunks that hold the rows, for tests that check that space is
// reused.
func (s *State) StoredBytes() int {
	n := 0
	for _, t := range s.tables() {
		n += t.Bytes()
	}
	return n
}

// SetHistoryHash replaces the key hash of the auth and reply key sets (tests force
// collisions). Call it on a new State, before anything is loaded or committed.
func SetHistoryHash(s *State, h func(string) uint64) { s.cold.hashFn = h }
