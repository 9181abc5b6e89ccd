package tokenvault

// Lookup is what resolution reads from the store, for card rows C and token rows T. The ledger
// implements it over a Tx (so the authorization path sees the batch's own changes) and the
// management API over the committed state. Rows come back by value with one index probe each:
// the authorization path resolves the PAN of every message.
type Lookup[C, T any] interface {
	// CardByPANHash is the card first issued with the PAN of this hash (a digital-first plastic
	// shares its virtual card's PAN; the virtual card answers).
	CardByPANHash(hash string) (C, bool)
	// TokenByPANHash is the token with the token PAN of this hash.
	TokenByPANHash(hash string) (T, bool)
	// CardOfToken is the card a token stands for.
	CardOfToken(token *T) (C, bool)
}

// Resolve finds the card a PAN of field 2 (or of an API call) names: a card PAN first, then a
// token PAN, whose token is returned too. hash is the store's keyed PAN hash (Vault.Hash, or the
// engine's copy of it). A token whose card is gone resolves to nothing.
func Resolve[C, T any](l Lookup[C, T], hash func(pan string) string, pan PAN) (card C, token *T, ok bool) {
	h := hash(string(pan))
	if card, ok = l.CardByPANHash(h); ok {
		return card, nil, true
	}
	t, found := l.TokenByPANHash(h)
	if !found {
		return card, nil, false
	}
	if card, ok = l.CardOfToken(&t); !ok {
		return card, nil, false
	}
	return card, &t, true
}
