package ledger

// AuthsWhere returns copies of the auth records that keep returns true for, in no particular
// order (transaction history of the management API). It scans every record under the read
// lock: O(auths) per call. An index by card and balance would make it O(matches).
func (s *State) AuthsWhere(keep func(*Auth) bool) []Auth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Auth
	for _, a := range s.auths.rows {
		if keep(a) {
			out = append(out, *a)
		}
	}
	return out
}

// Cards returns copies of the cards that keep returns true for (management lists).
func (s *State) CardsWhere(keep func(*Card) bool) []Card {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Card
	for _, c := range s.cards.rows {
		if keep(c) {
			out = append(out, *c)
		}
	}
	return out
}

// TokenIDByPANHash finds a token by the keyed hash of its token PAN.
func (s *State) TokenIDByPANHash(h string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.tokenByPAN[h]
	return id, ok
}
