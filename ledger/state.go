package ledger

import (
	"sort"
	"sync"

	"github.com/cardswitch/cardswitch/ledger/internal/rowstore"
)

// State is the committed ledger. Only the engine goroutine changes it, through Tx.Commit; other
// goroutines read it under its read lock through the query methods.
//
// Rows and indexes are kept without pointers (rows.go over ledger/internal/rowstore), so that
// the garbage collector has almost nothing to mark however large the ledger grows.
type State struct {
	mu sync.RWMutex

	customers *customerTable // rows.go; also the external-id index
	balances  *balanceTable
	cards     *cardTable // also the PAN and balance -> cards indexes
	tokens    *tokenTable
	// agreements are the stored-credential agreements (agreement.go).
	agreements *agreementStore
	pba        *pbaStore // Pay by Account records (pba.go)
	// wallets are the token service hub's wallet tokens (tsh.go).
	wallets *walletStore
	// loyalty are the loyalty members and their earnings (loyalty.go).
	loyalty *loyaltyStore

	loading bool // between the first Load and FinishLoad

	// cold holds what the State knows of the auth records and replies, which live in the
	// journal (history.go): their key sets and the bounds of the time indexes.
	cold *cold

	seq sequences // last committed event and audit sequence numbers (events.go)
}

// NewState returns an empty ledger whose auth records and replies are read from h (the
// journal the State's batches are committed to; in tests, an in-memory one).
func NewState(h History) *State {
	if h == nil {
		panic("ledger: NewState without a History")
	}
	r := &refs{}
	s := &State{customers: newCustomerTable(), balances: newBalanceTable(r), cards: newCardTable(r),
		tokens: newTokenTable(r), agreements: newAgreementStore(), cold: newCold(h), pba: newPBAStore(),
		wallets: newWalletStore()}
	s.loyalty = newLoyaltyStore()
	r.cards, r.balances, r.customers = &s.cards.Table, &s.balances.Table, &s.customers.Table
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

// Auth returns a copy of a committed auth record, read from the journal. A journal read error
// reads as not found; AuthsWhere reports errors.
func (s *State) Auth(key string) (Auth, bool) {
	c := s.cold
	s.mu.RLock()
	maybe := c.auths.has(c.hash(key))
	s.mu.RUnlock()
	if !maybe {
		return Auth{}, false
	}
	a, ok, err := c.h.ReadAuth(key)
	return a, ok && err == nil
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
	return map[string]int{"customers": s.customers.Len(), "balances": s.balances.Len(),
		"cards": s.cards.Len(), "tokens": s.tokens.Len(), "auths": s.cold.auths.n, "replies": s.cold.replies.n}
}

// Balances returns copies of all balances sorted by id (for audits and the balance summary).
func (s *State) Balances() []Balance {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Balance, 0, s.balances.Len())
	for row := range s.balances.Len() {
		out = append(out, s.balances.decode(uint32(row)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Auths returns copies of all auth records sorted by key (for audits and tests), read from the
// journal; a read error is returned.
func (s *State) Auths() ([]Auth, error) {
	out, err := s.AuthsWhere(func(*Auth) bool { return true })
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func get[T any](s *State, t interface{ get(string) (T, bool) }, id string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.get(id)
}

// Load puts a recovered row into the state without a Tx (journal recovery at start): a row
// (*Customer, *Balance, *Card, *Token, *Auth, *Reply) or what PrepareLoad made of one. An auth
// record or reply comes in full only from a store written without time indexes (loadCold);
// otherwise LoadKey registers its key. Rows may come in any order, each key once; FinishLoad
// restores the orders that depend on it and must follow before the State is used.
func (s *State) Load(row any) {
	if !s.loading {
		s.loading = true
		for _, t := range s.tables() {
			t.SetLoading(true)
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
	case *Agreement:
		s.agreements.set(r)
	case *PBARecord:
		s.pba.set(r)
	case *WalletToken:
		s.wallets.set(r)
	case *LoyaltyMember, *LoyaltyEarning, *LoyaltyConfirmation, *LoyaltyRedemption:
		s.loadLoyalty(r)
	case *Auth, *Reply:
		s.loadCold(r)
	default:
		panic("ledger: Load of unknown row type")
	}
}

// FinishLoad restores the orders of the indexes after recovery.
func (s *State) FinishLoad() {
	s.loading = false
	for _, t := range s.tables() {
		t.SetLoading(false)
	}
	s.cards.finishLoad()
}

func (s *State) tables() []*rowstore.Table {
	return []*rowstore.Table{&s.customers.Table, &s.balances.Table, &s.cards.Table, &s.tokens.Table}
}
