package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

const merchant = "MERCHANT0000001"

// storedCredential is a 0200 purchase of amountMinor with field 48 subelements 20 and 21 (and 22
// when terms are given).
func storedCredential(stan string, amountMinor int64, indicator, ref, terms string) *authz.Request {
	r := lt.Req("0200", "000000", lt.PAN, amountMinor, stan)
	r.StoredCredential = authz.StoredCredential{Indicator: indicator, Agreement: ref, Terms: terms}
	return r
}

// A subscription through a year: the initial payment with verified card data and terms creates
// the agreement; eleven monthly merchant-initiated payments go through; one out of range, one
// too early, one from another merchant, one after the end date and one after cancellation are
// declined 1019 (57); a reversed payment no longer counts for the interval; the books balance.
func TestRecurringAgreementThroughAYear(t *testing.T) {
	f := lt.NewFixture(t, 1000_00)
	stan := 0
	next := func() string { stan++; return fmt.Sprintf("%06d", stan) }
	paid := int64(0)
	expect := func(what string, r *authz.Request, want authz.ActionCode) {
		t.Helper()
		if got := f.Process(r); got.Action != want {
			t.Fatalf("%s on %s: %v, want %v", what, f.Now.Format("2006-01-02"), got.Action, want)
		}
		if want == authz.Approved {
			paid += r.AmountMinor
		}
	}
	key := ledger.AgreementKey(lt.CardID, "SUB-1")

	// The initial operation must carry verified card data, and sensible terms.
	expect("initial without CVC2", storedCredential(next(), 9_99, "1", "SUB-1", "5.00|49.99|28|30.04.2027"), authz.NotPermitted)
	bad := storedCredential(next(), 9_99, "1", "SUB-1", "50.00|49.99|28|30.04.2027")
	bad.CVC2 = lt.CVC2
	expect("terms with MIN > MAX", bad, authz.FormatError)
	if _, ok := f.State.Agreement(key); ok {
		t.Fatal("an agreement was created by a refused initial operation")
	}
	initial := storedCredential(next(), 9_99, "1", "SUB-1", "5.00|49.99|28|30.04.2027")
	initial.CVC2 = lt.CVC2
	expect("initial", initial, authz.Approved)
	a, ok := f.State.Agreement(key)
	if !ok || a.State != ledger.AgreementActive || a.MerchantID != merchant || !a.HasTerms ||
		a.MinMinor != 5_00 || a.MaxMinor != 49_99 || a.IntervalDays != 28 || len(a.Payments) != 1 {
		t.Fatalf("agreement after the initial operation: %+v", a)
	}

	mit := func(amountMinor int64) *authz.Request { return storedCredential(next(), amountMinor, "2", "SUB-1", "") }
	expect("recurring the day after the initial", mit(9_99), authz.NotPermitted)
	for month := 1; month <= 11; month++ {
		f.Now = f.Now.Add(30 * 24 * time.Hour)
		expect("above MAX", mit(50_00), authz.NotPermitted)
		expect("below MIN", mit(4_99), authz.NotPermitted)
		other := mit(9_99)
		other.MerchantID = "MERCHANT0000002"
		expect("another merchant", other, authz.NotPermitted)
		last := mit(9_99)
		expect(fmt.Sprintf("month %d", month), last, authz.Approved)
		expect("a second one the same day", mit(9_99), authz.NotPermitted)
		if month == 6 {
			// The month's payment is reversed: the interval counts from last month's again, so
			// a payment the next day is let through.
			f.Expect(lt.FollowUp("0400", last, 9_99, next()), authz.Approved)
			paid -= 9_99
			f.Now = f.Now.Add(24 * time.Hour)
			expect("again after the reversal", mit(9_99), authz.Approved)
		}
	}
	// The end date is the last day allowed.
	f.Now = time.Date(2027, 5, 1, 0, 0, 1, 0, time.UTC)
	expect("after the end date", mit(9_99), authz.NotPermitted)
	unscheduled := storedCredential(next(), 9_99, "3", "SUB-1", "")
	expect("unscheduled after the end date", unscheduled, authz.NotPermitted)

	// A second agreement, cancelled: merchant-initiated payments stop at once.
	second := storedCredential(next(), 0, "1", "SUB-2", "")
	second.MTI, second.BaseMTI, second.Kind = "0100", "0100", authz.KindAuthorization
	second.CVC2 = lt.CVC2
	expect("a zero-amount registration", second, authz.Approved)
	expect("unscheduled in the agreement", storedCredential(next(), 1_00, "3", "SUB-2", ""), authz.Approved)
	f.Manage("cancel", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.CancelAgreement{Key: ledger.AgreementKey(lt.CardID, "SUB-2"), By: "cardholder"}.Apply(tx, env).Refusal
	})
	expect("unscheduled after cancellation", storedCredential(next(), 1_00, "3", "SUB-2", ""), authz.NotPermitted)
	expect("cardholder-initiated after cancellation", storedCredential(next(), 1_00, "1", "SUB-2", ""), authz.NotPermitted)
	if a, _ := f.State.Agreement(ledger.AgreementKey(lt.CardID, "SUB-2")); a.State != ledger.AgreementCancelled ||
		!a.Registration || a.CancelledBy != "cardholder" {
		t.Fatalf("cancelled agreement %+v", a)
	}

	f.ExpectBalance(lt.BalanceID, 1000_00-paid, 0)
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
	if n := len(f.State.AgreementsOfCard(lt.CardID)); n != 2 {
		t.Fatalf("%d agreements of the card, want 2", n)
	}
}

// apply runs a command in a batch of its own stamped with the fixture's time, as the engine does,
// and returns its result and the events the batch recorded.
func apply[R any](f *lt.Fixture, cmd ledger.Command[R]) (R, []ledger.Event) {
	f.T.Helper()
	var out R
	var events []ledger.Event
	f.Manage(cmd.Kind().String(), func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		tx.SetBatchTime(env.Now)
		out = cmd.Apply(tx, env)
		events = append(events, tx.Events()...)
		return nil
	})
	return out, events
}

// An agreement created through the API belongs to the card, matches field 42 with its padding,
// and needs verified card data on its first cardholder-initiated payment; references
// are unique per card and terms are checked as subelement 22's.
func TestCreateAgreement(t *testing.T) {
	f := lt.NewFixture(t, 100_00)
	day := f.Now.Unix() / 86400
	terms := authz.Terms{MinMinor: 1_00, MaxMinor: 20_00, IntervalDays: 7, EndUnixDay: day + 365}
	r, events := apply(f, ledger.CreateAgreement{CardID: lt.CardID, Reference: "API-1", MerchantID: "SHOP1",
		HasTerms: true, Terms: terms})
	a := r.Value
	if r.Refusal != nil || a.ID != ledger.AgreementID(ledger.AgreementKey(lt.CardID, "API-1")) ||
		a.MerchantID != "SHOP1" || a.InitialVerified || a.CustomerID != lt.Customer ||
		a.State != ledger.AgreementActive || a.Terms() != terms || a.CreatedAtUnixNano != f.Now.UnixNano() {
		t.Fatalf("created %+v, %v", a, r.Refusal)
	}
	if len(events) != 1 || events[0].Type != ledger.EventAgreementCreated || events[0].Source != "api" ||
		events[0].AgreementRef != "API-1" {
		t.Fatalf("events %+v", events)
	}
	if got, ok := f.State.AgreementByID(a.ID); !ok || got.Key != a.Key {
		t.Fatalf("by id: %+v %v", got, ok)
	}
	if n := len(f.State.AgreementsOfCustomer(lt.Customer)); n != 1 {
		t.Fatalf("%d agreements of the customer", n)
	}

	refusals := []struct {
		name string
		cmd  ledger.CreateAgreement
		code string
	}{
		{"duplicate reference", ledger.CreateAgreement{CardID: lt.CardID, Reference: "API-1", MerchantID: "OTHER"}, "AGREEMENT_EXISTS"},
		{"unknown card", ledger.CreateAgreement{CardID: "nope", Reference: "X", MerchantID: "M"}, "CARD_NOT_FOUND"},
		{"reference too long", ledger.CreateAgreement{CardID: lt.CardID, Reference: "123456789012345678901234567890123", MerchantID: "M"}, "INVALID_FIELD"},
		{"merchant too long", ledger.CreateAgreement{CardID: lt.CardID, Reference: "X", MerchantID: "1234567890123456"}, "INVALID_FIELD"},
		{"min above max", ledger.CreateAgreement{CardID: lt.CardID, Reference: "X", MerchantID: "M", HasTerms: true,
			Terms: authz.Terms{MinMinor: 5_00, MaxMinor: 4_00, IntervalDays: 1, EndUnixDay: day}}, "INVALID_TERMS"},
		{"zero days", ledger.CreateAgreement{CardID: lt.CardID, Reference: "X", MerchantID: "M", HasTerms: true,
			Terms: authz.Terms{MaxMinor: 4_00, EndUnixDay: day}}, "INVALID_TERMS"},
		{"end date past", ledger.CreateAgreement{CardID: lt.CardID, Reference: "X", MerchantID: "M", HasTerms: true,
			Terms: authz.Terms{MaxMinor: 4_00, IntervalDays: 1, EndUnixDay: day - 1}}, "INVALID_TERMS"},
	}
	for _, tc := range refusals {
		if r, ev := apply(f, tc.cmd); r.Refusal == nil || r.Refusal.Code != tc.code || len(ev) != 0 {
			t.Errorf("%s: %+v, events %v", tc.name, r.Refusal, ev)
		}
	}

	// Field 42 as the acquirer sends it matches; the first cardholder-initiated payment needs
	// verified card data, merchant-initiated ones need none.
	mit := storedCredential("000001", 5_00, "2", "API-1", "")
	mit.MerchantID = "SHOP1          "
	f.Expect(mit, authz.Approved)
	cit := storedCredential("000002", 5_00, "1", "API-1", "")
	cit.MerchantID = "SHOP1          "
	f.Expect(cit, authz.NotPermitted)
	cit = storedCredential("000003", 5_00, "1", "API-1", "")
	cit.MerchantID, cit.CVC2 = "SHOP1          ", lt.CVC2
	f.Expect(cit, authz.Approved)
}

// Deleting a token ends the token's agreements, and removing a card ends all the card's (its
// tokens' included), in the batch that deletes or removes it, each with agreement.cancelled.
func TestAgreementsEndWithTheirCredential(t *testing.T) {
	f := lt.NewFixture(t, 100_00)
	tok, _ := apply(f, ledger.AddToken{Token: ledger.Token{ID: "tok-1", CardID: lt.CardID, PANHash: "5351109999999999",
		PAN: "5351109999999999", Last4: "9999", ExpiryYYMM: lt.Expiry, PSN: "00", Type: ledger.TokenHCE, State: authz.TokenActive}})
	if tok.Refusal != nil {
		t.Fatal(tok.Refusal)
	}
	apply(f, ledger.AddToken{Token: ledger.Token{ID: "tok-2", CardID: lt.CardID, PANHash: "5351108888888888",
		PAN: "5351108888888888", Last4: "8888", ExpiryYYMM: lt.Expiry, PSN: "00", Type: ledger.TokenHCE, State: authz.TokenActive}})
	// Agreements of the card, of each token (as an initial operation with the token makes them),
	// and one already cancelled.
	for _, a := range []ledger.Agreement{
		{Reference: "CARD-1", CardID: lt.CardID},
		{Reference: "TOK1-1", CardID: lt.CardID, TokenID: "tok-1"},
		{Reference: "TOK2-1", CardID: lt.CardID, TokenID: "tok-2"},
		{Reference: "TOK1-2", CardID: lt.CardID, TokenID: "tok-1", State: ledger.AgreementCancelled, CancelledBy: "partner"},
	} {
		holder := a.CardID
		if a.TokenID != "" {
			holder = a.TokenID
		}
		a.Key = ledger.AgreementKey(holder, a.Reference)
		a.ID, a.CustomerID, a.MerchantID = ledger.AgreementID(a.Key), lt.Customer, merchant
		if a.State == "" {
			a.State = ledger.AgreementActive
		}
		f.Manage("agreement", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal { tx.PutAgreement(a); return nil })
	}
	state := func(holder, ref string) (ledger.AgreementState, string) {
		a, _ := f.State.Agreement(ledger.AgreementKey(holder, ref))
		return a.State, a.CancelledBy
	}
	cancelled := func(events []ledger.Event, source string) []string {
		var refs []string
		for _, e := range events {
			if e.Type == ledger.EventAgreementCancelled && e.Source == source {
				refs = append(refs, e.AgreementRef)
			}
		}
		return refs
	}

	f.Now = f.Now.Add(time.Hour)
	r, events := apply(f, ledger.SetTokenState{TokenID: "tok-1", State: authz.TokenDeleted})
	if r.Refusal != nil {
		t.Fatal(r.Refusal)
	}
	if got := cancelled(events, ledger.CancelledByTokenDeleted); len(got) != 1 || got[0] != "TOK1-1" {
		t.Fatalf("deleting tok-1 cancelled %v (events %+v)", got, events)
	}
	if s, by := state("tok-1", "TOK1-1"); s != ledger.AgreementCancelled || by != ledger.CancelledByTokenDeleted {
		t.Fatalf("TOK1-1 after the token's deletion: %s %s", s, by)
	}
	if a, _ := f.State.Agreement(ledger.AgreementKey("tok-1", "TOK1-1")); a.CancelledAtUnixNano != f.Now.UnixNano() {
		t.Fatalf("cancelled at %d, want the batch's time", a.CancelledAtUnixNano)
	}
	if s, by := state("tok-1", "TOK1-2"); by != "partner" {
		t.Fatalf("an agreement cancelled before: %s %s", s, by)
	}
	for _, ref := range [][2]string{{lt.CardID, "CARD-1"}, {"tok-2", "TOK2-1"}} {
		if s, _ := state(ref[0], ref[1]); s != ledger.AgreementActive {
			t.Fatalf("%s ended with another token: %s", ref[1], s)
		}
	}
	// A suspension ends nothing.
	if _, events := apply(f, ledger.SetTokenState{TokenID: "tok-2", State: authz.TokenSuspended}); len(events) != 0 {
		t.Fatalf("suspending a token: %+v", events)
	}

	r2, events := apply(f, ledger.RemoveCard{CardID: lt.CardID})
	if r2.Refusal != nil {
		t.Fatal(r2.Refusal)
	}
	if got := cancelled(events, ledger.CancelledByCardRemoved); fmt.Sprint(got) != "[CARD-1 TOK2-1]" {
		t.Fatalf("removing the card cancelled %v", got)
	}
	for _, a := range f.State.AgreementsOfCard(lt.CardID) {
		if a.State != ledger.AgreementCancelled {
			t.Fatalf("%s active after the card's removal", a.Reference)
		}
	}
	if _, by := state("tok-1", "TOK1-1"); by != ledger.CancelledByTokenDeleted {
		t.Fatalf("an ended agreement changed again: %s", by)
	}
	if r, _ := apply(f, ledger.CreateAgreement{CardID: lt.CardID, Reference: "LATE", MerchantID: "M"}); r.Refusal == nil ||
		r.Refusal.Code != "CARD_REMOVED" {
		t.Fatalf("an agreement for a removed card: %+v", r.Refusal)
	}
}

// Terms that cannot hold are a format error on any payment, not only an initial one; a refund
// is not judged by the agreements (money goes back whatever they say); reversing the paid
// initial operation ends the agreement it made.
func TestAgreementEdges(t *testing.T) {
	f := lt.NewFixture(t, 1000_00)
	initial := storedCredential("000001", 9_99, "1", "SUB-1", "5.00|49.99|28|30.04.2027")
	initial.CVC2 = lt.CVC2
	f.Expect(initial, authz.Approved)
	f.Now = f.Now.Add(30 * 24 * time.Hour)

	mit := storedCredential("000002", 9_99, "2", "SUB-1", "50.00|49.99|28|30.04.2027")
	f.Expect(mit, authz.FormatError)
	refund := storedCredential("000003", 5_00, "2", "SUB-UNKNOWN", "")
	refund.ProcessingCode, refund.Kind = "200000", authz.KindRefund
	f.Expect(refund, authz.Approved)

	f.Expect(lt.FollowUp("0400", initial, 9_99, "000004"), authz.Approved)
	a, _ := f.State.Agreement(ledger.AgreementKey(lt.CardID, "SUB-1"))
	if a.State != ledger.AgreementCancelled || a.CancelledBy != "initial_reversed" {
		t.Fatalf("agreement after its initial payment was reversed: %+v", a)
	}
	f.Expect(storedCredential("000005", 9_99, "2", "SUB-1", ""), authz.NotPermitted)
	f.ExpectBalance(lt.BalanceID, 1000_00+5_00, 0)
}
