package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// Stored credentials over ISO 8583 (contract §2, field 48 subelements 20/21/22; issue 17 items
// 1-3): initial operations, subsequent cardholder- and merchant-initiated payments, reversal,
// zero-amount registration, and a restart on the same data directory.
//
// The app under test runs on the real clock: app.Start and app.Options offer no clock to inject
// (the engine is given time.Now in app.go), so nothing here can move time forward. The rules
// that need days to pass (the interval since the last recurring payment, the end date, a year of
// monthly payments with the out-of-range, too-early, expired and cancelled attempts) are run at
// ledger level with an injected clock (ledger/agreement_test.go). Over the wire, the interval is
// checked in its "too early" direction, and a reversal restoring it is checked the other way.

// Recurring terms of the tests: 5.00 to 49.99 EUR, every 30 days, ending about a year ahead.
func termsAYearAhead() string {
	return "5.00|49.99|30|" + time.Now().UTC().AddDate(1, 0, 0).Format("02.01.2006")
}

const (
	otherMerchant = "OTHERMERCHANT01"
	// posCredentialOnFile is field 22 for a stored credential used without the card (10x).
	posCredentialOnFile = "102"
)

// cvc2 is the card's CVC2 as the harness issued it (CVK of the first program, service code 000).
func (s *sw) cvc2(c card) string {
	s.t.Helper()
	v, err := cardcrypto.CVV(config.Key(s.app.Config().Programs[0].Keys.CVK), c.pan, c.expiry, "000")
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// initial is a cardholder-initiated request (20 = 1) naming ref, with the CVC2 when withCVC2.
func (s *sw) initial(mti string, c card, amountMinor int64, ref, terms string, withCVC2 bool) *authz.Request {
	r := s.req(mti, "000000", c, amountMinor)
	r.StoredCredential = authz.StoredCredential{Indicator: authz.IndicatorCIT, Agreement: ref, Terms: terms}
	if withCVC2 {
		r.CVC2 = s.cvc2(c)
	}
	return r
}

// onFile is a 0200 under agreement ref with the given indicator and no card verification data:
// a subsequent CIT (1) or a MIT (2 recurring, 3 unscheduled).
func (s *sw) onFile(indicator string, c card, amountMinor int64, ref string) *authz.Request {
	r := s.req("0200", "000000", c, amountMinor)
	r.POSEntryMode = posCredentialOnFile
	r.StoredCredential = authz.StoredCredential{Indicator: indicator, Agreement: ref}
	return r
}

// sendWith48 sends r with field 48 replaced by raw (subelements the client would refuse to pack).
func (s *sw) sendWith48(r *authz.Request, raw string) *codec.ResponseMessage {
	s.t.Helper()
	packed, err := codec.BuildRequest(r)
	if err != nil {
		s.t.Fatalf("build: %v", err)
	}
	msg := iso8583.NewMessage(codec.Spec)
	if err := msg.Unpack(packed); err != nil {
		s.t.Fatal(err)
	}
	if err := msg.Field(48, raw); err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.conn.Send(msg)
	if err != nil {
		s.t.Fatalf("send: %v", err)
	}
	out, err := resp.Pack()
	if err != nil {
		s.t.Fatal(err)
	}
	d, err := codec.DecodeResponse(out)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// want sends r and fails the test unless field 39 is code.
func (s *sw) want(what string, r *authz.Request, code string) {
	s.t.Helper()
	if got := s.send(r); got.ResponseCode != code {
		s.t.Errorf("%s: 39=%s, want %s", what, got.ResponseCode, code)
	}
}

func TestStoredCredentialOverTheWire(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c := s.provision(100000)
	terms := termsAYearAhead()

	// Issue 17 item 1: an initial 0200 with CVC2 and terms is approved and creates the agreement.
	init := s.initial("0200", c, 999, "SUB-1", terms, true)
	r := s.send(init)
	if r.MTI != "0210" || r.ResponseCode != "00" || len(r.AuthCode) != 6 {
		t.Fatalf("initial: %s 39=%s 38=%q", r.MTI, r.ResponseCode, r.AuthCode)
	}
	if !r.HasBalance || r.AvailableMinor != 100000-999 {
		t.Errorf("initial: field 54 %v/%d", r.HasBalance, r.AvailableMinor)
	}
	a, ok := s.app.Engine().State().Agreement(ledger.AgreementKey(c.id, "SUB-1"))
	if !ok || a.State != ledger.AgreementActive || !a.HasTerms || a.MinMinor != 500 || a.MaxMinor != 4999 ||
		a.IntervalDays != 30 || a.MerchantID != init.MerchantID || !a.InitialVerified {
		t.Fatalf("agreement after the initial: %v %+v", ok, a)
	}

	// An initial without verified card data: 1019 (57), and no agreement is made.
	s.want("initial without CVC2", s.initial("0200", c, 999, "SUB-NOCVC", terms, false), "57")
	s.want("MIT on the agreement the declined initial did not make", s.onFile(authz.IndicatorMITUnscheduled, c, 500, "SUB-NOCVC"), "57")

	// Malformed terms and reference (contract §2): 30, nothing booked, no agreement.
	before := s.balance(c.balanceID)
	past := time.Now().UTC().AddDate(0, 0, -1).Format("02.01.2006")
	for _, tc := range []struct{ name, ref, terms string }{
		{"MIN > MAX", "BAD-MINMAX", "50.00|49.99|30|" + terms[len(terms)-10:]},
		{"DAYS = 0", "BAD-DAYS", "5.00|49.99|0|" + terms[len(terms)-10:]},
		{"end date past", "BAD-END", "5.00|49.99|30|" + past},
	} {
		s.want("initial with "+tc.name, s.initial("0200", c, 999, tc.ref, tc.terms, true), "30")
		if _, ok := s.app.Engine().State().Agreement(ledger.AgreementKey(c.id, tc.ref)); ok {
			t.Errorf("%s: an agreement was made", tc.name)
		}
	}
	// A reference longer than 32 characters cannot be packed by codec.BuildRequest (it checks
	// field 48 with the decoder's rules), so it is sent with its subelements written by hand.
	long := s.initial("0200", c, 999, "", "", true)
	long.StoredCredential.Indicator = ""
	long.CVC2 = ""
	if r := s.sendWith48(long, "20011"+"2133"+strings.Repeat("R", 33)+"9203"+s.cvc2(c)); r.ResponseCode != "30" {
		t.Errorf("reference of 33 characters: 39=%s, want 30", r.ResponseCode)
	}
	if after := s.balance(c.balanceID); after.CurrentMinor != before.CurrentMinor || after.HeldMinor != before.HeldMinor {
		t.Errorf("malformed requests changed the balance: %+v -> %+v", before, after)
	}

	// Item 2: a subsequent CIT needs no CVC2 after a verified initial.
	s.want("subsequent CIT without CVC2", s.onFile(authz.IndicatorCIT, c, 1500, "SUB-1"), "00")
	// ... and must come from the agreement's merchant.
	cit := s.onFile(authz.IndicatorCIT, c, 1500, "SUB-1")
	cit.MerchantID = otherMerchant
	s.want("subsequent CIT from another merchant", cit, "57")

	// Item 3, on SUB-1: the paid initial counts for the interval, so a recurring MIT today is
	// too early although its amount is in range; an unscheduled one needs no interval.
	s.want("MIT recurring too early", s.onFile(authz.IndicatorMITRecurring, c, 999, "SUB-1"), "57")
	s.want("MIT unscheduled in the agreement", s.onFile(authz.IndicatorMITUnscheduled, c, 1200, "SUB-1"), "00")
	mit := s.onFile(authz.IndicatorMITUnscheduled, c, 1200, "SUB-1")
	mit.MerchantID = otherMerchant
	s.want("MIT unscheduled from another merchant", mit, "57")
	s.want("MIT with an unknown reference", s.onFile(authz.IndicatorMITRecurring, c, 999, "NEVER-MADE"), "57")

	// A zero-amount 0100 registration: approved, no hold, field 54 unchanged. A registration is
	// no payment, so the first recurring MIT of its agreement has no interval to wait: the
	// amount rules and the merchant can be seen alone.
	before = s.balance(c.balanceID)
	reg := s.initial("0100", c, 0, "REG-1", terms, true)
	r = s.send(reg)
	if r.MTI != "0110" || r.ResponseCode != "00" || len(r.AuthCode) != 6 {
		t.Fatalf("registration: %s 39=%s 38=%q", r.MTI, r.ResponseCode, r.AuthCode)
	}
	if !r.HasBalance || r.AvailableMinor != before.AvailableMinor() {
		t.Errorf("registration: field 54 %v/%d, want %d", r.HasBalance, r.AvailableMinor, before.AvailableMinor())
	}
	if after := s.balance(c.balanceID); after.HeldMinor != before.HeldMinor || after.CurrentMinor != before.CurrentMinor {
		t.Errorf("registration moved money: %+v -> %+v", before, after)
	}
	if a, ok := s.app.Engine().State().Agreement(ledger.AgreementKey(c.id, "REG-1")); !ok || !a.Registration || len(a.Payments) != 0 {
		t.Errorf("registration agreement: %v %+v", ok, a)
	}

	s.want("MIT recurring above MAX", s.onFile(authz.IndicatorMITRecurring, c, 5000, "REG-1"), "57")
	s.want("MIT recurring below MIN", s.onFile(authz.IndicatorMITRecurring, c, 499, "REG-1"), "57")
	other := s.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1")
	other.MerchantID = otherMerchant
	s.want("MIT recurring from another merchant", other, "57")
	first := s.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1")
	s.want("first MIT recurring after a registration", first, "00")
	s.want("second MIT recurring the same day", s.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1"), "57")

	// A reversal (0400) of the approved recurring payment: the money comes back and the payment
	// no longer counts for the interval, so the next recurring MIT is in time again.
	before = s.balance(c.balanceID)
	rev := s.followUp("0400", first, 2000)
	if r := s.send(rev); r.MTI != "0410" || r.ResponseCode != "00" {
		t.Fatalf("reversal: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if after := s.balance(c.balanceID); after.CurrentMinor != before.CurrentMinor+2000 {
		t.Errorf("reversal: current %d, want %d", after.CurrentMinor, before.CurrentMinor+2000)
	}
	s.want("MIT recurring after the reversal of the last one", s.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1"), "00")
	s.want("and again the same day", s.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1"), "57")

	// The agreements are durable: after a restart on the same data directory the interval of
	// SUB-1 (its paid initial today) still holds and the agreement still lets MITs through.
	s.stop()
	s2 := startSwitchIn(t, dir)
	if a, ok := s2.app.Engine().State().Agreement(ledger.AgreementKey(c.id, "SUB-1")); !ok || a.State != ledger.AgreementActive || len(a.Payments) != 1 {
		t.Fatalf("SUB-1 after restart: %v %+v", ok, a)
	}
	s2.want("MIT recurring too early after restart", s2.onFile(authz.IndicatorMITRecurring, c, 999, "SUB-1"), "57")
	s2.want("MIT unscheduled after restart", s2.onFile(authz.IndicatorMITUnscheduled, c, 1200, "SUB-1"), "00")
	s2.want("MIT recurring on REG-1 too early after restart", s2.onFile(authz.IndicatorMITRecurring, c, 2000, "REG-1"), "57")
}

// A subsequent CIT of an agreement needs the agreement to be the merchant's; a MIT needs an
// indicator together with a reference and a merchant (field 42).
func TestStoredCredentialWithoutMerchantOrReference(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	s.want("initial", s.initial("0200", c, 999, "SUB-1", termsAYearAhead(), true), "00")
	noRef := s.onFile(authz.IndicatorMITUnscheduled, c, 500, "")
	s.want("MIT without a reference", noRef, "57")
	noMerchant := s.onFile(authz.IndicatorMITUnscheduled, c, 500, "SUB-1")
	noMerchant.MerchantID = ""
	s.want("MIT without field 42", noMerchant, "57")
	// A CIT without a reference is an ordinary payment: no agreement is involved.
	plain := s.req("0200", "000000", c, 500)
	plain.StoredCredential.Indicator = authz.IndicatorCIT
	s.want("CIT without a reference", plain, "00")
}
