package ledger

import (
	"sort"
	"sync"
)

// State is the committed ledger. Only the engine goroutine changes it, through Tx.Commit; other
// goroutines read it under its read lock through the query methods.
//
// Rows and indexes are kept without pointers (store.go), so that the garbage collector has
// almost nothing to mark however large the ledger grows.
type State struct {
	mu sync.RWMutex

	customers *customerTable // rows.go; also the external-id index
	balances  *balanceTable
	cards     *cardTable // also the PAN and balance -> cards indexes
	tokens    *tokenTable
	auths     *authTable  // auths.go
	replies   *replyTable // auths.go

	expiries expiryHeap // open holds by expiry time (lazy deletion)
	aging    agingQueue // replies and auth records by creation time (retention.go)

	loading bool // between the first Load and FinishLoad

	// cold is set in History mode (history.go): auth records and replies are then kept in the
	// journal, and auths, replies, expiries and aging stay empty.
	cold *cold

	seq sequences // last committed event and audit sequence numbers (events.go)
}

// NewState returns an empty ledger.
func NewState() *State {
	r := &refs{}
	s := &State{customers: newCustomerTable(), balances: newBalanceTable(r), cards: newCardTable(r),
		tokens: newTokenTable(r), auths: newAuthTable(r), replies: newReplyTable()}
	r.cards, r.balances, r.customers = &s.cards.immTable, &s.balances.immTable, &s.customers.immTable
	return s
}

// Customer returns a copy of a committed customer.
func (s *State) Customer(id string) (Customer, bool) { return get[Customer](s, s.customers, id) }

// Balance returns a copy of a committed balance.
func (s *State) Balance(id string) (Balance, bool) { return get[Balance](s, s.balances, id) }

// Card returns a copy of a committed card.
func (s *State) Card(id string) (Card, bool) { return get[Card](s, s.cards, id) }

// Token returns a copy of a committed token.
func (s *State) Token(id string) (Token, bool) { return get[Token](s, s.tokens, id) }

// Auth returns a copy of a committed auth record. In History mode a journal read error reads
// as not found; AuthsWhere reports errors.
func (s *State) Auth(key string) (Auth, bool) {
	if c := s.cold; c != nil {
		s.mu.RLock()
		maybe := c.auths.has(c.hash(key))
		s.mu.RUnlock()
		if !maybe {
			return Auth{}, false
		}
		a, ok, err := c.h.ReadAuth(key)
		return a, ok && err == nil
	}
	return get[Auth](s, s.auths, key)
}

// CardIDsOfBalance lists the cards issued on a balance, in issue order.
func (s *State) CardIDsOfBalance(balanceID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cards.idsOfBalance(balanceID)
}

// TokenIDsOfCard lists the tokens of a card.
func (s *State) TokenIDsOfCard(cardID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens.idsOfCard(cardID)
}

// CardIDByPANHash finds a card by the keyed hash of its PAN.
func (s *State) CardIDByPANHash(h string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cards.idByPANHash(h)
}

// CustomerIDByExternal finds a customer by the partner's external id.
func (s *State) CustomerIDByExternal(ext string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.customers.idByExternal(ext)
}

// Counts reports how many rows each table holds.
func (s *State) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	auths, replies := s.auths.size(), s.replies.size()
	if c := s.cold; c != nil {
		auths, replies = c.auths.n, c.replies.n
	}
	return map[string]int{"customers": s.customers.size(), "balances": s.balances.size(),
		"cards": s.cards.size(), "tokens": s.tokens.size(), "auths": auths, "replies": replies}
}

// Balances returns copies of all balances sorted by id (for audits and the balance summary).
func (s *State) Balances() []Balance {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Balance, 0, s.balances.size())
	for row := range s.balances.loc {
		out = append(out, s.balances.decode(uint32(row)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Auths returns copies of all auth records sorted by key (for audits and tests). In History
// mode the records are read from the journal, and a read error is returned.
func (s *State) Auths() ([]Auth, error) {
	if s.cold != nil {
		out, err := s.AuthsWhere(func(*Auth) bool { return true })
		if err != nil {
			return nil, err
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Auth, 0, s.auths.size())
	s.auths.each(func(a *Auth) bool { out = append(out, *a); return true })
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func get[T any](s *State, t interface{ get(string) (T, bool) }, id string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.get(id)
}

// Load puts a recovered row into the state without a Tx (journal recovery at start): a row
// (*Customer, *Balance, *Card, *Token, *Auth, *Reply) or what PrepareLoad made of one. Rows may
// come in any order, each key once; FinishLoad restores the orders that depend on it and must
// follow before the State is used.
func (s *State) Load(row any) {
	if !s.loading {
		s.loading = true
		for _, t := range s.immTables() {
			t.loading = true
		}
	}
	switch r := row.(type) {
	case *Customer:
		s.customers.set(r)
	case *Balance:
		s.balances.set(r)
	case *Card:
		s.cards.set(r, true)
	case *Token:
		s.tokens.set(r)
	case *Auth:
		if s.cold != nil {
			s.loadCold(r)
			return
		}
		row, _, existed := s.auths.set(r)
		if r.State == AuthOpen && r.HeldMinor != 0 && r.ExpiresAt > 0 {
			s.expiries = append(s.expiries, expiry{at: r.ExpiresAt, row: row}) // a heap from FinishLoad
		}
		if !existed {
			s.aging.push(aging{at: r.CreatedAt, row: row, auth: true})
		}
	case *Reply:
		if s.cold != nil {
			s.loadCold(r)
			return
		}
		if row, existed := s.replies.set(r); !existed {
			s.aging.push(aging{at: r.At, row: row})
		}
	default:
		panic("ledger: Load of unknown row type")
	}
}

// FinishLoad restores the orders of the indexes after recovery.
func (s *State) FinishLoad() {
	s.loading = false
	for _, t := range s.immTables() {
		t.loading = false
	}
	s.cards.finishLoad()
	s.expiries.init()
	// The retention queue is in creation order; rows came back in store order.
	s.aging.sortByTime()
}

// expiry is an entry of the expiry index: the auth record at row is an open hold that expires
// at at, unless it changed since (entries are not removed when a hold is captured or reversed;
// they are skipped when due).
type expiry struct {
	at  int64
	row uint32
}

// expiryHeap is a binary min-heap by expiry time. It is written out rather than used through
// container/heap, whose Push and Pop box every entry in an interface (an allocation per
// authorization).
type expiryHeap []expiry

func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

func (h *expiryHeap) pop() expiry {
	old := *h
	e := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	return e
}

func (h expiryHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (h expiryHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[r].at < h[c].at {
			c = r
		}
		if h[i].at <= h[c].at {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (s *State) immTables() []*immTable {
	return []*immTable{&s.customers.immTable, &s.balances.immTable, &s.cards.immTable, &s.tokens.immTable}
}
