package ledger

import "github.com/cardswitch/cardswitch/ledger/internal/rowstore"

// Scans for the operators' find-and-list pages (management API, /admin/customers, /admin/cards,
// /admin/balances): rows in table order, the order they were first stored in this process. A
// scan takes the read lock for scanChunkRows rows at a time, so a page over millions of cards
// holds the engine's commits up for one chunk at most, never for the whole scan; a row changed
// between two chunks is seen as it is when its chunk is read.

// scanChunkRows is how many rows a scan reads under one hold of the read lock: the decoding of
// one chunk is the most a scan delays a commit (BenchmarkScanCards measures a whole page).
const scanChunkRows = 1024

// ScanCustomers visits customers after the one with id after ("" or an id not stored: from the
// first), at most maxRows rows, until visit returns false. visit gets each row in the same
// variable: it copies what it keeps. It returns the id of the last row
// visited ("" when none) and whether the table was read to its end.
func (s *State) ScanCustomers(after string, maxRows int, visit func(*Customer) bool) (last string, end bool) {
	return scan(s, &s.customers.Table, s.customers.decode, after, maxRows, visit)
}

// ScanCards is ScanCustomers for cards.
func (s *State) ScanCards(after string, maxRows int, visit func(*Card) bool) (last string, end bool) {
	return scan(s, &s.cards.Table, s.cards.decode, after, maxRows, visit)
}

// ScanBalances is ScanCustomers for balances (user and partner balances).
func (s *State) ScanBalances(after string, maxRows int, visit func(*Balance) bool) (last string, end bool) {
	return scan(s, &s.balances.Table, s.balances.decode, after, maxRows, visit)
}

func scan[T any](s *State, t *rowstore.Table, decode func(uint32) T, after string, maxRows int,
	visit func(*T) bool) (last string, end bool) {
	s.mu.RLock()
	var next uint32
	if after != "" {
		if row, ok := t.FindID(after); ok {
			next = row + 1
		}
	}
	s.mu.RUnlock()
	var v T // one row at a time: visit must not keep the pointer
	for visited := 0; visited < maxRows; {
		s.mu.RLock()
		n := uint32(t.Len())
		stop := false
		for chunk := 0; chunk < scanChunkRows && visited < maxRows && next < n; chunk++ {
			v = decode(next)
			last = t.IDAt(next)
			next++
			visited++
			if !visit(&v) {
				stop = true
				break
			}
		}
		s.mu.RUnlock()
		if next >= n {
			return last, true
		}
		if stop {
			return last, false
		}
	}
	return last, false
}
