package ledger

// AuthsWhere returns copies of the auth records that keep returns true for, in no particular
// order (transaction history of the management API). It scans every record: O(auths) per call,
// read from the journal. An index by card and balance would make it O(matches).
func (s *State) AuthsWhere(keep func(*Auth) bool) ([]Auth, error) {
	var out []Auth
	err := s.cold.h.EachAuth(func(a *Auth) bool {
		if keep(a) {
			out = append(out, *a)
		}
		return true
	})
	return out, err
}

// Cards returns copies of the cards that keep returns true for (management lists).
func (s *State) CardsWhere(keep func(*Card) bool) []Card {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Card
	s.cards.each(func(c *Card) bool {
		if keep(c) {
			out = append(out, *c)
		}
		return true
	})
	return out
}

// TokenIDByPANHash finds a token by the keyed hash of its token PAN.
func (s *State) TokenIDByPANHash(h string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens.idByPANHash(h)
}
