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

	customers *table[Customer]
	balances  *table[Balance]
	cards     *table[Card]
	tokens    *table[Token]
	auths     *table[Auth]
	replies   *table[Reply]

	cardByPAN      map[string]string   // PAN hash -> card id
	tokenByPAN     map[string]string   // token PAN hash -> token id
	cardsByBalance map[string][]string // balance id -> card ids, in issue order
	tokensByCard   map[string][]string
	customerByExt  map[string]string // external id -> customer id
	expiries       expiryHeap        // open holds by expiry time (lazy deletion)
}

// NewState returns an empty ledger.
func NewState() *State {
	return &State{
		customers: newTable[Customer](), balances: newTable[Balance](), cards: newTable[Card](),
		tokens: newTable[Token](), auths: newTable[Auth](), replies: newTable[Reply](),
		cardByPAN: map[string]string{}, tokenByPAN: map[string]string{},
		cardsByBalance: map[string][]string{}, tokensByCard: map[string][]string{},
		customerByExt: map[string]string{},
	}
}

type table[T any] struct{ rows map[string]*T }

func newTable[T any]() *table[T] { return &table[T]{rows: map[string]*T{}} }

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
	return append([]string(nil), s.cardsByBalance[balanceID]...)
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
	return map[string]int{"customers": len(s.customers.rows), "balances": len(s.balances.rows),
		"cards": len(s.cards.rows), "tokens": len(s.tokens.rows), "auths": len(s.auths.rows),
		"replies": len(s.replies.rows)}
}

// Balances returns copies of all balances sorted by id (for audits and the balance summary).
func (s *State) Balances() []Balance {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Balance, 0, len(s.balances.rows))
	for _, b := range s.balances.rows {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Auths returns copies of all auth records sorted by key (for audits).
func (s *State) Auths() []Auth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Auth, 0, len(s.auths.rows))
	for _, a := range s.auths.rows {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func get[T any](s *State, t *table[T], id string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := t.rows[id]; ok {
		return *v, true
	}
	var zero T
	return zero, false
}

// Load puts a recovered row into the state without a Tx (journal recovery at start).
func (s *State) Load(row any) {
	switch r := row.(type) {
	case *Customer:
		s.customers.rows[r.ID] = r
		s.indexCustomer(r)
	case *Balance:
		s.balances.rows[r.ID] = r
	case *Card:
		s.cards.rows[r.ID] = r
		s.indexCard(r)
	case *Token:
		s.tokens.rows[r.ID] = r
		s.indexToken(r)
	case *Auth:
		s.auths.rows[r.Key] = r
		s.indexAuth(r)
	case *Reply:
		s.replies.rows[r.Key] = r
	default:
		panic("ledger: Load of unknown row type")
	}
}

// FinishLoad restores the orders of the indexes after recovery.
func (s *State) FinishLoad() {
	for bal, ids := range s.cardsByBalance {
		sort.Slice(ids, func(i, j int) bool {
			a, b := s.cards.rows[ids[i]], s.cards.rows[ids[j]]
			if a.CreatedAt != b.CreatedAt {
				return a.CreatedAt < b.CreatedAt
			}
			return a.ID < b.ID
		})
		s.cardsByBalance[bal] = ids
	}
	// Rows come back in store order, not issue order: rebuild the PAN index so that a PAN shared
	// by a digital-first copy resolves to the card issued first, as it did before the restart.
	cards := make([]*Card, 0, len(s.cards.rows))
	for _, c := range s.cards.rows {
		cards = append(cards, c)
	}
	sort.Slice(cards, func(i, j int) bool {
		if cards[i].CreatedAt != cards[j].CreatedAt {
			return cards[i].CreatedAt < cards[j].CreatedAt
		}
		return cards[i].ID < cards[j].ID
	})
	clear(s.cardByPAN)
	for _, c := range cards {
		if _, seen := s.cardByPAN[c.PANHash]; !seen {
			s.cardByPAN[c.PANHash] = c.ID
		}
	}
	heap.Init(&s.expiries)
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
	for _, id := range s.cardsByBalance[c.BalanceID] {
		if id == c.ID {
			return
		}
	}
	s.cardsByBalance[c.BalanceID] = append(s.cardsByBalance[c.BalanceID], c.ID)
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
