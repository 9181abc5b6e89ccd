package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

var testDelivery = ledger.Delivery{Method: ledger.DeliveryCourier, Name: "Ada Lovelace", Line1: "12 rue de la Paix",
	PostalCode: "75002", City: "Paris", Country: "FR"}

func physical(id, pan string) ledger.IssueCard {
	return ledger.IssueCard{Candidates: []ledger.Card{{ID: id, BalanceID: lt.BalanceID, Program: lt.Program,
		Type: ledger.CardPhysical, PANHash: pan, PAN: pan, Last4: pan[len(pan)-4:], ExpiryYYMM: lt.Expiry, PSN: "00", CVC2: "321"}}}
}

// A plastic's delivery is stored with it, in the same batch, and comes back from the journal.
func TestPlasticDeliveryIsKept(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 0)
	run(f, "order", ledger.IssueWithDelivery{Issue: physical("card-p", "5351100000000019"), Delivery: testDelivery})
	run(f, "print", ledger.IssueWithDelivery{Issue: ledger.IssueDigitalFirst{CardID: "card-df", BalanceID: lt.BalanceID},
		Delivery: ledger.Delivery{Method: ledger.DeliveryPost, Name: "A", Line1: "B", PostalCode: "1", City: "C", Country: "DE"}})
	for _, st := range []*ledger.State{f.State, reloaded(t, mem)} {
		c, _ := st.Card("card-p")
		if d, ok := c.Delivery(); !ok || d != testDelivery {
			t.Fatalf("physical card delivery %+v %v", d, ok)
		}
		c, _ = st.Card("card-df")
		if d, ok := c.Delivery(); !ok || d.Method != ledger.DeliveryPost || d.Country != "DE" {
			t.Fatalf("digital-first delivery %+v %v", d, ok)
		}
		if v, _ := st.Card(lt.CardID); v.Labels != nil {
			t.Fatalf("the virtual card got the copy's labels: %v", v.Labels)
		}
	}
	// An unknown method is refused and stores no card.
	tx := f.State.Begin()
	env := ledger.Env{Now: f.Now, PANHasher: lt.IdentityHash}
	r := ledger.IssueWithDelivery{Issue: physical("card-x", "5351100000000027"), Delivery: ledger.Delivery{Method: "PIGEON"}}.Apply(tx, &env)
	tx.Rollback()
	if r.Refusal == nil || r.Refusal.Code != "INVALID_DELIVERY_METHOD" {
		t.Fatalf("refusal %v", r.Refusal)
	}
	if _, ok := f.State.Card("card-x"); ok {
		t.Fatal("a card was stored")
	}
}

// reloaded is the State recovered from the journal, as at a restart.
func reloaded(t *testing.T, mem *journaltest.Memory) *ledger.State {
	t.Helper()
	st := ledger.NewState(mem)
	if err := mem.Load(st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The bureau's confirmation links a physical card with its reference, once.
func TestLinkPhysicalCard(t *testing.T) {
	f := lt.NewFixture(t, 0)
	run(f, "order", physical("card-p", "5351100000000019"))
	link := func(ref string) *ledger.Refusal {
		tx := f.State.Begin()
		env := ledger.Env{Now: f.Now}
		r := ledger.LinkPhysicalCard{CardID: "card-p", Reference: ref}.Apply(tx, &env)
		if r.Refusal != nil {
			tx.Rollback()
			return r.Refusal
		}
		f.CommitTx(tx)
		return nil
	}
	if r := link("bureau-1"); r != nil {
		t.Fatal(r)
	}
	c, _ := f.State.Card("card-p")
	if !c.Personalised || c.BureauReference() != "bureau-1" || c.State != ledger.CardInactive {
		t.Fatalf("linked card %+v", c)
	}
	if r := link("bureau-1"); r != nil {
		t.Fatalf("a repeat: %v", r)
	}
	if r := link(""); r != nil {
		t.Fatalf("a repeat without reference: %v", r)
	}
	if r := link("bureau-2"); r == nil || r.Code != "CARD_ALREADY_LINKED" {
		t.Fatalf("another reference: %v", r)
	}
	if c, _ := f.State.Card("card-p"); c.BureauReference() != "bureau-1" {
		t.Fatal("the first reference was replaced")
	}
	tx := f.State.Begin()
	r := ledger.LinkPhysicalCard{CardID: lt.CardID, Reference: "x"}.Apply(tx, &ledger.Env{Now: f.Now})
	tx.Rollback()
	if r.Refusal == nil || r.Refusal.Code != "NOT_A_PHYSICAL_CARD" {
		t.Fatalf("a virtual card linked: %v", r.Refusal)
	}
}

// Scans visit rows in order from after a row, within a row budget, and say when they reached
// the end.
func TestScanCards(t *testing.T) {
	f := lt.NewFixture(t, 0)
	run(f, "a", physical("card-a", "5351100000000019"))
	run(f, "b", physical("card-b", "5351100000000027"))
	var seen []string
	last, end := f.State.ScanCards("", 2, func(c *ledger.Card) bool { seen = append(seen, c.ID); return true })
	if len(seen) != 2 || seen[0] != lt.CardID || last != "card-a" || end {
		t.Fatalf("first page %v %s %v", seen, last, end)
	}
	seen = nil
	last, end = f.State.ScanCards(last, 10, func(c *ledger.Card) bool { seen = append(seen, c.ID); return true })
	if len(seen) != 1 || seen[0] != "card-b" || last != "card-b" || !end {
		t.Fatalf("second page %v %s %v", seen, last, end)
	}
	last, end = f.State.ScanCards("", 10, func(c *ledger.Card) bool { return c.ID != "card-a" })
	if last != "card-a" || end {
		t.Fatalf("a stopped scan %s %v", last, end)
	}
	n := 0
	f.State.ScanCustomers("", 10, func(*ledger.Customer) bool { n++; return true })
	f.State.ScanBalances("", 10, func(*ledger.Balance) bool { n++; return true })
	if n != 2 {
		t.Fatalf("%d customers and balances", n)
	}
}
