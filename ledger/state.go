package ledger

import (
	"container/heap"
	"sort"
	"sync"
)

// State is the committed ledger. Only the engine goroutine changes it, through Tx.Commit; other
// goroutines read it under its read lock through the query methods.
type State struct {
	mu sync.RWMutex

	customers rowTable[Customer] // packed (rows.go)
	balances  rowTable[Balance]  // packed
	cards     rowTable[Card]     // packed
	tokens    rowTable[Token]
	auths     rowTable[Auth]
	replies   rowTable[Reply]

	cardByPAN  map[string]string // PAN hash -> card id
	tokenByPAN map[string]string // token PAN hash -> token id
	// balance id -> card ids in issue order: the first card in firstCard (most balances have one
	// card, and a string costs no allocation where a one-element slice costs one), the others in
	// moreCards.
	firstCard     map[string]string
	moreCards     map[string][]string
	tokensByCard  map[string][]string
	customerByExt map[string]string // external id -> customer id
	expiries      expiryHeap        // open holds by expiry time (lazy deletion)
	aging         agingQueue        // replies and auth records by creation time (retention.go)
}

// NewState returns an empty ledger.
func NewState() *State {
	return &State{
		customers: newCustomerTable(), balances: newBalanceTable(), cards: newCardTable(),
		tokens: newTable[Token](), auths: newTable[Auth](), replies: newTable[Reply](),
		cardByPAN: map[string]string{}, tokenByPAN: map[string]string{},
		firstCard: map[string]string{}, moreCards: map[string][]string{}, tokensByCard: map[string][]string{},
		customerByExt: map[string]string{},
	}
}

// Customer returns a copy of a committed customer.
func (s *State) Customer(id string) (Customer, bool) { return get(s, s.customers, id) }

// Balance returns a copy of a committed balance.
func (s *State) Balance(id string) (Balance, bool) { return get(s, s.balances, id) }

// Card returns a copy of a committed card.
func (s *State) Card(id string) (Card, bool) { return get(s, s.cards, id) }

// Token returns a copy of a committed token.
func (s *State) Token(id string) (Token, bool) { return get(s, s.tokens, id) }

// Auth returns a copy of a committed auth record.
func (s *State) Auth(key string) (Auth, bool) { return get(s, s.auths, key) }

// CardIDsOfBalance lists the cards issued on a balance, in issue order.
func (s *State) CardIDsOfBalance(balanceID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cardIDsOfBalance(balanceID)
}

func (s *State) cardIDsOfBalance(balanceID string) []string {
	first, ok := s.firstCard[balanceID]
	if !ok {
		return nil
	}
	return append([]string{first}, s.moreCards[balanceID]...)
}

// TokenIDsOfCard lists the tokens of a card.
func (s *State) TokenIDsOfCard(cardID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.tokensByCard[cardID]...)
}

// CardIDByPANHash finds a card by the keyed hash of its PAN.
func (s *State) CardIDByPANHash(h string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.cardByPAN[h]
	return id, ok
}

// CustomerIDByExternal finds a customer by the partner's external id.
func (s *State) CustomerIDByExternal(ext string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.customerByExt[ext]
	return id, ok
}

// Counts reports how many rows each table holds.
func (s *State) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return map[string]int{"customers": s.customers.size(), "balances": s.balances.size(),
		"cards": s.cards.size(), "tokens": s.tokens.size(), "auths": s.auths.size(),
		"replies": s.replies.size()}
}

// Balances returns copies of all balances sorted by id (for audits and the balance summary).
func (s *State) Balances() []Balance {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Balance, 0, s.balances.size())
	s.balances.each(func(b *Balance) bool { out = append(out, *b); return true })
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Auths returns copies of all auth records sorted by key (for audits).
func (s *State) Auths() []Auth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Auth, 0, s.auths.size())
	s.auths.each(func(a *Auth) bool { out = append(out, *a); return true })
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func get[T any](s *State, t rowTable[T], id string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.get(id)
}

// Load puts a recovered row into the state without a Tx (journal recovery at start): a row
// (*Customer, *Balance, *Card, *Token, *Auth, *Reply) or what PrepareLoad made of one.
func (s *State) Load(row any) {
	switch r := row.(type) {
	case *Customer:
		s.customers.set(r.ID, r)
		c, _ := s.customers.get(r.ID) // index the packed copy's strings, not the decoded row's
		s.indexCustomer(&c)
	case *Balance:
		s.balances.set(r.ID, r)
	case *Card:
		s.cards.set(r.ID, r)
		c, _ := s.cards.get(r.ID)
		s.indexCard(&c)
	case *Token:
		s.tokens.set(r.ID, r)
		s.indexToken(r)
	case *Auth:
		s.auths.set(r.Key, r)
		s.indexAuth(r)
		s.aging.push(aging{at: r.CreatedAt, key: r.Key, auth: true})
	case *Reply:
		s.replies.set(r.Key, r)
		s.aging.push(aging{at: r.At, key: r.Key})
	case *cardRow: // PrepareLoad
		s.cards.(*packedTable[Card, cardRow]).setPacked(r)
		c := unpackCard(r)
		s.indexCard(&c)
	case *customerRow:
		s.customers.(*packedTable[Customer, customerRow]).setPacked(r)
		c := unpackCustomer(r)
		s.indexCustomer(&c)
	case *balanceRow:
		s.balances.(*packedTable[Balance, balanceRow]).setPacked(r)
	default:
		panic("ledger: Load of unknown row type")
	}
}

// FinishLoad restores the orders of the indexes after recovery.
func (s *State) FinishLoad() {
	type issued struct {
		at          int64
		id, panHash string
	}
	cards := make([]issued, 0, s.cards.size())
	s.cards.each(func(c *Card) bool {
		cards = append(cards, issued{at: c.CreatedAt, id: c.ID, panHash: c.PANHash})
		return true
	})
	sort.Slice(cards, func(i, j int) bool {
		if cards[i].at != cards[j].at {
			return cards[i].at < cards[j].at
		}
		return cards[i].id < cards[j].id
	})
	rank := make(map[string]int, 0)
	for bal, more := range s.moreCards {
		if len(rank) == 0 {
			rank = make(map[string]int, len(cards))
			for i, c := range cards {
				rank[c.id] = i
			}
		}
		ids := append([]string{s.firstCard[bal]}, more...)
		sort.Slice(ids, func(i, j int) bool { return rank[ids[i]] < rank[ids[j]] })
		s.firstCard[bal], s.moreCards[bal] = ids[0], ids[1:]
	}
	// Rows come back in store order, not issue order: rebuild the PAN index so that a PAN shared
	// by a digital-first copy resolves to the card issued first, as it did before the restart.
	// Assigning in reverse issue order leaves the first-issued card on every hash. (Clearing the
	// map and inserting again was pathologically slow on a map of a million entries.)
	for i := len(cards) - 1; i >= 0; i-- {
		if s.cardByPAN[cards[i].panHash] != cards[i].id {
			s.cardByPAN[cards[i].panHash] = cards[i].id
		}
	}
	heap.Init(&s.expiries)
	// The retention queue is in creation order; rows came back in store order.
	s.aging.sortByTime()
}

func (s *State) indexCustomer(c *Customer) {
	if c.ExternalID != "" {
		s.customerByExt[c.ExternalID] = c.ID
	}
}

func (s *State) indexCard(c *Card) {
	if _, seen := s.cardByPAN[c.PANHash]; !seen || s.cardByPAN[c.PANHash] == c.ID {
		s.cardByPAN[c.PANHash] = c.ID
	}
	// A digital-first physical copy shares its PAN with the virtual card: the PAN index keeps
	// the card issued first, which the authorization path resolves to.
	first, ok := s.firstCard[c.BalanceID]
	if !ok {
		s.firstCard[c.BalanceID] = c.ID
		return
	}
	if first == c.ID {
		return
	}
	for _, id := range s.moreCards[c.BalanceID] {
		if id == c.ID {
			return
		}
	}
	s.moreCards[c.BalanceID] = append(s.moreCards[c.BalanceID], c.ID)
}

func (s *State) indexToken(t *Token) {
	s.tokenByPAN[t.PANHash] = t.ID
	for _, id := range s.tokensByCard[t.CardID] {
		if id == t.ID {
			return
		}
	}
	s.tokensByCard[t.CardID] = append(s.tokensByCard[t.CardID], t.ID)
}

func (s *State) indexAuth(a *Auth) {
	if a.State == AuthOpen && a.HeldMinor != 0 && a.ExpiresAt > 0 {
		s.expiries = append(s.expiries, expiry{at: a.ExpiresAt, key: a.Key})
	}
}

type expiry struct {
	at  int64
	key string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
