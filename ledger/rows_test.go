package ledger

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger/internal/rowstore"
)

func testCard(i int, balanceID string) Card {
	pan := fmt.Sprintf("53511%011d", i)
	return Card{ID: fmt.Sprintf("crd-%09d", i), BalanceID: balanceID, CustomerID: "cus-1",
		Program: "PROG", Type: CardVirtual, State: CardActive, PANHash: fmt.Sprintf("%040x", i),
		PAN: pan, Last4: pan[12:], ExpiryYYMM: "3012", PSN: "00", CVC2: "123", PVV: "4567",
		CreatedAtUnixNano: int64(i)}
}

// noHistory is a History without records, for tests of the tables a State keeps in memory.
type noHistory struct{}

func (noHistory) ReadAuth(string) (Auth, bool, error)       { return Auth{}, false, nil }
func (noHistory) ReadReply(string) (Reply, bool, error)     { return Reply{}, false, nil }
func (noHistory) ReadIndex(string, int) ([]IndexRow, error) { return nil, nil }
func (noHistory) EachAuth(func(*Auth) bool) error           { return nil }

func loadCustomerAndBalance(s *State, balanceID string) {
	s.Load(&Customer{ID: "cus-1", ExternalID: "ext-1", FirstName: "A", KYC: KYCVerified})
	s.Load(&Balance{ID: balanceID, Kind: BalanceUser, CustomerID: "cus-1", Currency: "EUR", State: BalanceActive})
	s.FinishLoad()
}

// A balance rewritten by an approval keeps its slot: only the fixed-size part of the record
// changes, in place.
func TestBalanceRewrittenInPlace(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	row, _ := s.balances.FindID("bal-1")
	slot := s.balances.Slot(row)
	for i := range 1000 {
		b, _ := s.balances.get("bal-1")
		b.HeldMinor += 100
		b.CurrentMinor -= int64(i)
		s.balances.set(&b)
	}
	b, _ := s.balances.get("bal-1")
	if s.balances.Slot(row) != slot || s.balances.Abandoned() != 0 || b.HeldMinor != 100000 || b.CustomerID != "cus-1" {
		t.Fatalf("slot %x (was %x), abandoned %d, balance %+v", s.balances.Slot(row), slot, s.balances.Abandoned(), b)
	}
}

// The in-place path covers only what the header holds: states and amounts change in place, and
// a balance whose customer changes is encoded again (its reference resolved anew).
func TestBalanceRewriteOutsideTheHeader(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	s.customers.set(&Customer{ID: "cus-2", ExternalID: "ext-2", FirstName: "B", KYC: KYCVerified})
	b, _ := s.balances.get("bal-1")
	b.State, b.CurrentMinor = BalanceClosed, 42
	s.balances.set(&b)
	if got, _ := s.balances.get("bal-1"); got.State != BalanceClosed || got.CurrentMinor != 42 || got.CustomerID != "cus-1" {
		t.Fatalf("after a header change: %+v", got)
	}
	b.CustomerID = "cus-2"
	s.balances.set(&b)
	if got, _ := s.balances.get("bal-1"); got.CustomerID != "cus-2" || got.State != BalanceClosed || got.CurrentMinor != 42 {
		t.Fatalf("after a customer change: %+v", got)
	}
}

// A card whose strings change (a new CVC2) moves to a new slot and the old slot is never handed
// out again: a Card read before keeps its strings, which alias the old slot.
func TestCardStringChangeKeepsEarlierReads(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	c := testCard(1, "bal-1")
	s.cards.set(&c, false)
	before, _ := s.cards.get(c.ID)
	row, _ := s.cards.FindID(c.ID)
	slot := s.cards.Slot(row)

	c.CVC2, c.PINTries = "999", 2
	s.cards.set(&c, false)
	for i := 2; i < 50; i++ { // more cards of the same size: none may take the old slot
		other := testCard(i, "bal-1")
		s.cards.set(&other, false)
		if r, _ := s.cards.FindID(other.ID); s.cards.Slot(r) == slot {
			t.Fatalf("card %d took the abandoned slot", i)
		}
	}
	if s.cards.Slot(row) == slot || s.cards.Abandoned() == 0 {
		t.Fatalf("a changed string was written over the old slot")
	}
	if before.CVC2 != "123" || before.PINTries != 0 || before.PAN != c.PAN || before.BalanceID != "bal-1" {
		t.Fatalf("an earlier read changed: %+v", before)
	}
	if after, _ := s.cards.get(c.ID); !reflect.DeepEqual(after, c) {
		t.Fatalf("got %+v, want %+v", after, c)
	}
}

// Every field of every row type reads back as written: labels (nil and empty kept apart),
// limits and usage, a Last4 that is not the end of the PAN, an external id that is not the id.
func TestRowsRoundTrip(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	cu := Customer{ID: "cus-2", ExternalID: "2", FirstName: "Ana", LastName: "Lopez", Email: "a@example.org",
		Phone: "+34 600", KYC: KYCRejected, CreatedAtUnixNano: 5}
	cu2 := Customer{ID: "cus-3", ExternalID: "partner-9", KYC: KYCPending}
	b := Balance{ID: "p-1", Kind: BalancePartnerCredit, Program: "PROG", Currency: "GBP", CurrentMinor: -3,
		HeldMinor: 4, CreditLimitMinor: 5, LowMarkMinor: 6, State: BalanceClosed, LoadedMinor: 7, CreatedAtUnixNano: 8}
	c1 := testCard(1, "bal-1")
	c1.Labels = map[string]string{"b": "2", "a": "1"}
	c1.Limits = Limits{MaxAmountMinor: 1, MaxCountPerDay: 2, MaxAmountPerDay: 3}
	c1.Usage = Usage{UnixDay: 4, Count: 5, AmountMinor: 6}
	c1.State, c1.LockReason, c1.Personalised, c1.PINTries, c1.CardDataFails, c1.HighestATC =
		CardLocked, authz.LockReason(6), true, 3, 2, 65535
	c1.StateBeforeLock = CardInactive
	c2 := testCard(2, "no-such-balance") // named as a string: its balance is not there
	c2.Last4, c2.Labels, c2.CustomerID = "0000", map[string]string{}, ""
	tok := Token{ID: "tok-1", CardID: c1.ID, PANHash: "th", PAN: "4000123412341234", Last4: "1234",
		ExpiryYYMM: "2801", PSN: "01", State: authz.TokenActive, Type: TokenHCE, WalletProvider: "W",
		AssuranceLevel: 3, HighestATC: 9, CreatedAtUnixNano: 10}
	s.Load(&cu)
	s.Load(&cu2)
	s.Load(&b)
	s.Load(&c1)
	s.Load(&c2)
	s.Load(&tok)
	s.FinishLoad()
	check := func(got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	}
	got1, _ := s.Customer(cu.ID)
	check(got1, cu)
	got2, _ := s.Customer(cu2.ID)
	check(got2, cu2)
	gotB, _ := s.Balance(b.ID)
	check(gotB, b)
	gotC1, _ := s.Card(c1.ID)
	check(gotC1, c1)
	gotC2, _ := s.Card(c2.ID)
	check(gotC2, c2)
	gotT, _ := s.Token(tok.ID)
	check(gotT, tok)
	if id, _ := s.CustomerIDByExternal("partner-9"); id != "cus-3" {
		t.Fatalf("external id found %q", id)
	}
	if id, _ := s.CustomerIDByExternal("2"); id != "cus-2" {
		t.Fatalf("external id found %q", id)
	}
	if ids := s.TokenIDsOfCard(c1.ID); !slices.Equal(ids, []string{"tok-1"}) {
		t.Fatalf("tokens of card: %v", ids)
	}
	if id, _ := s.TokenIDByPANHash("th"); id != "tok-1" {
		t.Fatalf("token by PAN hash: %q", id)
	}
}

// A card names its balance and customer by row number when they exist, and by id when they do
// not (yet): both read back the same, and a later rewrite switches to the row number.
func TestCardRefersToBalanceRow(t *testing.T) {
	s := NewState(noHistory{})
	early := testCard(1, "bal-1")
	s.Load(&early) // before its balance, as a journal in another order would give it
	loadCustomerAndBalance(s, "bal-1")
	late := testCard(2, "bal-1")
	s.Load(&late)
	s.FinishLoad()
	size := func(id string) int { r, _ := s.cards.FindID(id); return len(s.cards.Rec(r)) }
	if size(early.ID) <= size(late.ID) {
		t.Fatalf("the card loaded before its balance (%d bytes) is not the one spelling the id (%d)",
			size(early.ID), size(late.ID))
	}
	for _, c := range []Card{early, late} {
		if got, _ := s.Card(c.ID); !reflect.DeepEqual(got, c) {
			t.Fatalf("got %+v, want %+v", got, c)
		}
	}
	early.PINTries = 1
	s.cards.set(&early, false)
	if size(early.ID) != size(late.ID) {
		t.Fatal("a rewrite kept the balance id spelled out")
	}
	if ids := s.CardIDsOfBalance("bal-1"); !slices.Equal(ids, []string{early.ID, late.ID}) {
		t.Fatalf("cards of balance: %v", ids)
	}
}

// Recovery gives rows in store order: FinishLoad gives a PAN shared by a digital-first copy to
// the card issued first, and lists a balance's cards in issue order, whatever the load order.
func TestRecoveryRestoresIssueOrder(t *testing.T) {
	cards := []Card{testCard(1, "bal-1"), testCard(2, "bal-1"), testCard(3, "bal-1"), testCard(4, "bal-2")}
	cards[1].Type, cards[1].PANHash, cards[1].PAN = CardDigitalFirst, cards[0].PANHash, cards[0].PAN // a copy of card 1
	cards[1].CreatedAtUnixNano = cards[0].CreatedAtUnixNano                                          // same instant: ordered by id
	want := []string{cards[0].ID, cards[1].ID, cards[2].ID}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		s := NewState(noHistory{})
		loadCustomerAndBalance(s, "bal-1")
		s.Load(&Balance{ID: "bal-2", CustomerID: "cus-1"})
		for _, i := range rng.Perm(len(cards)) {
			s.Load(&cards[i])
		}
		s.FinishLoad()
		if id, _ := s.CardIDByPANHash(cards[0].PANHash); id != cards[0].ID {
			t.Fatalf("shared PAN resolves to %s, want %s", id, cards[0].ID)
		}
		if ids := s.CardIDsOfBalance("bal-1"); !slices.Equal(ids, want) {
			t.Fatalf("cards of balance: %v, want %v", ids, want)
		}
		if ids := s.CardIDsOfBalance("bal-2"); !slices.Equal(ids, []string{cards[3].ID}) {
			t.Fatalf("cards of bal-2: %v", ids)
		}
	}
}

// With every hash colliding, cards are still found by id, by PAN hash and by balance.
func TestCardIndexesWithCollisions(t *testing.T) {
	s := NewState(noHistory{})
	same := func(string) uint32 { return 42 }
	for _, ix := range []*rowstore.Index{s.cards.IDIndex(), &s.cards.byPAN, &s.cards.first, s.balances.IDIndex()} {
		ix.SetHash(same)
	}
	for b := range 3 {
		loadCustomerAndBalance(s, fmt.Sprintf("bal-%d", b))
	}
	var all []Card
	for i := range 30 {
		c := testCard(i, fmt.Sprintf("bal-%d", i%3))
		s.Load(&c)
		all = append(all, c)
	}
	s.FinishLoad()
	for i, c := range all {
		if got, ok := s.Card(c.ID); !ok || !reflect.DeepEqual(got, c) {
			t.Fatalf("card %d: %+v %v", i, got, ok)
		}
		if id, _ := s.CardIDByPANHash(c.PANHash); id != c.ID {
			t.Fatalf("PAN hash of card %d resolves to %q", i, id)
		}
	}
	for b := range 3 {
		ids := s.CardIDsOfBalance(fmt.Sprintf("bal-%d", b))
		if len(ids) != 10 || ids[0] != all[b].ID {
			t.Fatalf("cards of bal-%d: %v", b, ids)
		}
	}
	if _, ok := s.CardIDByPANHash("unknown"); ok {
		t.Fatal("found a PAN hash never stored")
	}
}

// Tens of thousands of cards span several chunks and read back as written.
func TestManyCards(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	const n = 30000
	for i := range n {
		c := testCard(i, "bal-1")
		s.Load(&c)
	}
	s.FinishLoad()
	for i := range n {
		want := testCard(i, "bal-1")
		if got, _ := s.Card(want.ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("card %d: %+v", i, got)
		}
	}
	if got := len(s.CardIDsOfBalance("bal-1")); got != n {
		t.Fatalf("%d cards on the balance", got)
	}
}

// A card rewritten by an approval (PIN tries, highest ATC, state) keeps its slot: only the header
// changes, in place, and nothing is abandoned. A change of labels (a string) still moves it.
func TestCardHeaderRewrittenInPlace(t *testing.T) {
	s := NewState(noHistory{})
	loadCustomerAndBalance(s, "bal-1")
	c := testCard(1, "bal-1")
	s.cards.set(&c, false)
	row, _ := s.cards.FindID(c.ID)
	slot, abandoned := s.cards.Slot(row), s.cards.Abandoned()

	c.PINTries, c.HighestATC, c.CardDataFails = 2, 77, 1
	c.State, c.LockReason = CardLocked, authz.LockLost
	s.cards.set(&c, false)
	if s.cards.Slot(row) != slot || s.cards.Abandoned() != abandoned {
		t.Fatal("a header change moved the card to another slot")
	}
	if got, _ := s.Card(c.ID); !reflect.DeepEqual(got, c) {
		t.Fatalf("after a header change: %+v, want %+v", got, c)
	}
	c.Labels = map[string]string{"colour": "blue"}
	s.cards.set(&c, false)
	if s.cards.Slot(row) == slot {
		t.Fatal("a label change was written over the old slot")
	}
	if got, _ := s.Card(c.ID); !reflect.DeepEqual(got, c) {
		t.Fatalf("after a label change: %+v, want %+v", got, c)
	}
}

// Within a batch, a balance's cards are the committed ones plus the ones the batch created,
// each once, whatever the batch rewrote: a rewritten committed card is not listed twice, a card
// created and then rewritten in the same batch is listed once.
func TestTxCardIDsOfBalanceSeesTheBatchsNewCards(t *testing.T) {
	s := NewState(noHistory{})
	committed := Card{ID: "card-a", BalanceID: "bal-1", PANHash: "h-a"}
	s.cards.set(&committed, false)
	tx := s.Begin()
	rewritten := committed
	rewritten.HighestATC = 7
	tx.PutCard(rewritten)
	created := Card{ID: "card-b", BalanceID: "bal-1", PANHash: "h-b"}
	tx.PutCard(created)
	created.HighestATC = 3
	tx.PutCard(created)
	tx.PutCard(Card{ID: "card-c", BalanceID: "bal-2", PANHash: "h-c"})
	if ids := tx.CardIDsOfBalance("bal-1"); !slices.Equal(ids, []string{"card-a", "card-b"}) {
		t.Fatalf("bal-1 cards in the batch: %v, want [card-a card-b]", ids)
	}
	if ids := tx.CardIDsOfBalance("bal-2"); !slices.Equal(ids, []string{"card-c"}) {
		t.Fatalf("bal-2 cards in the batch: %v, want [card-c]", ids)
	}
	tx.Reset()
	if ids := tx.CardIDsOfBalance("bal-1"); !slices.Equal(ids, []string{"card-a"}) {
		t.Fatalf("bal-1 cards after Reset: %v, want [card-a]", ids)
	}
}
