package ledger

// AuthsWhere returns copies of the auth records that keep returns true for, in no particular
// order, the archived ones included (archiving.go). It scans every record: O(auths) per call,
// read from the journal and the whole archive; AuthsOf reads by card or balance.
func (s *State) AuthsWhere(keep func(*Auth) bool) ([]Auth, error) {
	out, err := s.hotAuthsWhere(keep)
	if err != nil {
		return nil, err
	}
	return s.withArchived(out, nil, keep)
}

// hotAuthsWhere is AuthsWhere over the hot store only.
func (s *State) hotAuthsWhere(keep func(*Auth) bool) ([]Auth, error) {
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
