package ledger

import (
	"fmt"
	"sort"
)

// ExpiryIndex lists the expiry index's entries ("at key"), sorted, for tests that need to see
// that a rollback restores it exactly.
func (s *State) ExpiryIndex() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.expiries))
	for _, e := range s.expiries {
		out = append(out, fmt.Sprintf("%d %s", e.at, s.auths.keyAt(e.row)))
	}
	sort.Strings(out)
	return out
}

// StoredBytes is the size of the chunks that hold the rows, for tests that check that space is
// reused.
func (s *State) StoredBytes() int {
	n := 0
	for _, t := range []*rowStore{&s.customers.rowStore, &s.balances.rowStore, &s.cards.rowStore,
		&s.tokens.rowStore, &s.auths.rowStore, &s.replies.rowStore} {
		for _, c := range t.class {
			for _, ch := range c.chunks {
				n += len(ch)
			}
		}
		n += 4 * cap(t.loc)
	}
	return n
}

// SetHistoryHash replaces the key hash of History mode (tests force collisions). Call it right
// after UseHistory, before anything is committed.
func SetHistoryHash(s *State, h func(string) uint64) { s.cold.hashFn = h }
