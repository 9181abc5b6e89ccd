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
		out = append(out, fmt.Sprintf("%d %s", e.at, e.key))
	}
	sort.Strings(out)
	return out
}
