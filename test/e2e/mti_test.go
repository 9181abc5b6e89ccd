package e2e

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// Contract §2 table, row by row, over real TCP.

func TestNetworkManagement0800(t *testing.T) {
	s := startSwitch(t)
	for _, code := range []string{"001", "301", "002"} { // sign-on, echo, sign-off
		stan, _, f7 := s.next()
		r := s.send(&authz.Request{MTI: "0800", F7: f7, STAN: stan, NetworkCode: code})
		if r.MTI != "0810" || r.ResponseCode != "00" || r.NetworkCode != code || r.STAN != stan {
			t.Errorf("0800/%s: got MTI %s 39=%s 70=%s", code, r.MTI, r.ResponseCode, r.NetworkCode)
		}
	}
}

func TestAuthorization0100PlacesHold(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	req := s.req("0100", "000000", c, 2500)
	r := s.send(req)
	if r.MTI != "0110" || r.ResponseCode != "00" {
		t.Fatalf("got %s 39=%s", r.MTI, r.ResponseCode)
	}
	if len(r.AuthCode) != 6 {
		t.Errorf("field 38 = %q, want 6 characters", r.AuthCode)
	}
	if !r.HasBalance || r.AvailableMinor != 7500 || r.BalanceCurrencyNum != "978" {
		t.Errorf("field 54: has=%v available=%d currency=%s", r.HasBalance, r.AvailableMinor, r.BalanceCurrencyNum)
	}
	for id, want := range map[int]string{2: req.PAN, 3: "000000", 11: req.STAN, 37: req.RRN, 41: req.TerminalID, 49: "978"} {
		if got, _ := r.Field(id); got != want {
			t.Errorf("echo of field %d = %q, want %q", id, got, want)
		}
	}
	b := s.balance(c.balanceID)
	if b.HeldMinor != 2500 || b.CurrentMinor != 10000 || b.AvailableMinor() != 7500 {
		t.Errorf("balance after 0100: %+v", b)
	}
}

func TestBalanceInquiryNoHold(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(4200)
	r := s.send(s.req("0100", "300000", c, 0))
	if r.ResponseCode != "00" || !r.HasBalance || r.AvailableMinor != 4200 {
		t.Fatalf("inquiry: 39=%s balance=%v/%d", r.ResponseCode, r.HasBalance, r.AvailableMinor)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 0 {
		t.Errorf("inquiry placed a hold: %+v", b)
	}
}

func TestFinancial0200DebitsAndRefundCredits(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	if r := s.send(s.req("0200", "000000", c, 3000)); r.MTI != "0210" || r.ResponseCode != "00" || r.AuthCode == "" {
		t.Fatalf("0200: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.CurrentMinor != 7000 || b.HeldMinor != 0 {
		t.Fatalf("after 0200: %+v", b)
	}
	if r := s.send(s.req("0200", "200000", c, 1000)); r.ResponseCode != "00" {
		t.Fatalf("refund: 39=%s", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.CurrentMinor != 8000 {
		t.Fatalf("after refund: %+v", b)
	}
}

func TestAdvice0120BookedPastAvailable(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(1000)
	r := s.send(s.req("0120", "000000", c, 5000))
	if r.MTI != "0130" || r.ResponseCode != "00" {
		t.Fatalf("0120: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 5000 || b.AvailableMinor() != -4000 {
		t.Fatalf("advice not booked past zero: %+v", b)
	}
}

func TestCompletion0220PartialCapture(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	auth := s.req("0100", "000000", c, 5000)
	if r := s.send(auth); r.ResponseCode != "00" {
		t.Fatal(r.ResponseCode)
	}
	r := s.send(s.followUp("0220", auth, 3200))
	if r.MTI != "0230" || r.ResponseCode != "00" {
		t.Fatalf("0220: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if r.Original == nil || r.Original.STAN != auth.STAN {
		t.Errorf("0230 does not echo field 90")
	}
	if b := s.balance(c.balanceID); b.CurrentMinor != 6800 || b.HeldMinor != 0 {
		t.Fatalf("after partial capture: %+v", b)
	}
}

func TestReversal0400FullAndPartial(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	a1 := s.req("0100", "000000", c, 4000)
	s.send(a1)
	if r := s.send(s.followUp("0400", a1, 4000)); r.MTI != "0410" || r.ResponseCode != "00" {
		t.Fatalf("0400: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 0 || b.CurrentMinor != 10000 {
		t.Fatalf("after full reversal: %+v", b)
	}
	a2 := s.req("0100", "000000", c, 4000)
	s.send(a2)
	partial := s.followUp("0400", a2, 4000)
	partial.ReplacementAmountMinor, partial.HasReplacement = 1500, true
	if r := s.send(partial); r.ResponseCode != "00" {
		t.Fatalf("partial 0400: 39=%s", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 1500 {
		t.Fatalf("after partial reversal hold should be 1500: %+v", b)
	}
}

func TestReversalAdvice0420AlwaysApproved(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	a := s.req("0100", "000000", c, 1000)
	s.send(a)
	if r := s.send(s.followUp("0420", a, 1000)); r.MTI != "0430" || r.ResponseCode != "00" {
		t.Fatalf("0420: %s 39=%s", r.MTI, r.ResponseCode)
	}
	unknown := s.req("0100", "000000", c, 700)
	if r := s.send(s.followUp("0420", unknown, 700)); r.ResponseCode != "00" {
		t.Fatalf("0420 of an unknown original: 39=%s", r.ResponseCode)
	}
	// The original arriving after its reversal advice is declined and leaves no hold.
	if r := s.send(unknown); r.ResponseCode != "05" {
		t.Fatalf("original after 0420: 39=%s, want 05", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 0 {
		t.Fatalf("hold left: %+v", b)
	}
}

func TestRepeatMTIsAnsweredWithBaseResponse(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	a := s.req("0100", "000000", c, 1000)
	first := s.send(a)
	a.MTI = "0101"
	again := s.send(a)
	if again.MTI != "0110" || again.ResponseCode != first.ResponseCode || again.AuthCode != first.AuthCode {
		t.Fatalf("0101: %s 39=%s 38=%s, first 39=%s 38=%s", again.MTI, again.ResponseCode, again.AuthCode, first.ResponseCode, first.AuthCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 1000 {
		t.Fatalf("repeat placed a second hold: %+v", b)
	}
	for _, m := range []struct{ mti, resp string }{{"0121", "0130"}, {"0201", "0210"}} {
		r := s.send(s.req(m.mti, "000000", c, 10))
		if r.MTI != m.resp || r.ResponseCode != "00" {
			t.Errorf("%s: %s 39=%s", m.mti, r.MTI, r.ResponseCode)
		}
	}
	o := s.req("0100", "000000", c, 100)
	s.send(o)
	for _, m := range []struct{ mti, resp string }{{"0221", "0230"}, {"0401", "0410"}, {"0421", "0430"}} {
		r := s.send(s.followUp(m.mti, o, 100))
		if r.MTI != m.resp || r.ResponseCode != "00" {
			t.Errorf("%s: %s 39=%s", m.mti, r.MTI, r.ResponseCode)
		}
	}
}

func TestOutOfOrderAndDuplicates(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)

	// Reversal before its original: 25, then the original is declined 05 and leaves no hold.
	orig := s.req("0100", "000000", c, 3000)
	if r := s.send(s.followUp("0400", orig, 3000)); r.ResponseCode != "25" {
		t.Fatalf("reversal of unknown original: 39=%s, want 25", r.ResponseCode)
	}
	if r := s.send(orig); r.ResponseCode != "05" {
		t.Fatalf("original after reversal: 39=%s, want 05", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 0 {
		t.Fatalf("hold left: %+v", b)
	}

	// Retransmission: same answer, no second hold; same key other content: 94.
	a := s.req("0100", "000000", c, 1200)
	r1 := s.send(a)
	r2 := s.send(a)
	if r1.ResponseCode != "00" || r2.ResponseCode != "00" || r1.AuthCode != r2.AuthCode {
		t.Fatalf("retransmission: %s/%s %s/%s", r1.ResponseCode, r2.ResponseCode, r1.AuthCode, r2.AuthCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 1200 {
		t.Fatalf("second hold placed: %+v", b)
	}
	changed := *a
	changed.AmountMinor = 9999
	if r := s.send(&changed); r.ResponseCode != "94" {
		t.Fatalf("same key, other content: 39=%s, want 94", r.ResponseCode)
	}

	// Double reversal: 00 and no change.
	rev := s.followUp("0400", a, 1200)
	s.send(rev)
	rev2 := s.followUp("0400", a, 1200)
	if r := s.send(rev2); r.ResponseCode != "00" {
		t.Fatalf("second reversal: 39=%s", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 0 || b.CurrentMinor != 10000 {
		t.Fatalf("after double reversal: %+v", b)
	}
}

// Contract §3: the declines a card's state and balance produce, over the wire.
func TestActionCodesOverTheWire(t *testing.T) {
	s := startSwitch(t)
	lock := func(c card, reason authz.LockReason) {
		s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
			_, r := tx.ChangeCard(c.id, ledger.ChangeLock, reason)
			if r != nil {
				return r
			}
			return nil
		})
	}
	cases := []struct {
		name  string
		setup func(c *card)
		amt   int64
		want  string
	}{
		{"approved", nil, 100, "00"},
		{"insufficient funds", nil, 20000, "51"},
		{"unknown card", func(c *card) { c.pan = "5351109999999999" }, 100, "14"},
		{"expiry differs", func(c *card) { c.expiry = "2001" }, 100, "54"},
		{"lost", func(c *card) { lock(*c, authz.LockLost) }, 100, "41"},
		{"stolen", func(c *card) { lock(*c, authz.LockStolen) }, 100, "43"},
		{"pending query", func(c *card) { lock(*c, authz.LockPendingQuery) }, 100, "05"},
		{"consolidation", func(c *card) { lock(*c, authz.LockConsolidation) }, 100, "51"},
		{"inactive", func(c *card) { lock(*c, authz.LockInactive) }, 100, "78"},
		{"PIN tries exceeded", func(c *card) { lock(*c, authz.LockPINTriesExceeded) }, 100, "75"},
		{"suspected fraud", func(c *card) { lock(*c, authz.LockSuspectedFraud) }, 100, "59"},
		{"replaced", func(c *card) { lock(*c, authz.LockReplaced) }, 100, "14"},
		{"removed", func(c *card) {
			s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				tx.ChangeCard(c.id, ledger.ChangeRemove, 0)
				return nil
			})
		}, 100, "14"},
		{"limit", func(c *card) {
			s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				tx.SetCardLimits(c.id, ledger.Limits{MaxAmountMinor: 50})
				return nil
			})
		}, 100, "61"},
		{"frequency", func(c *card) {
			s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				tx.SetCardLimits(c.id, ledger.Limits{MaxCountPerDay: 1})
				return nil
			})
			s.send(s.req("0100", "000000", *c, 10))
		}, 100, "65"},
	}
	for _, tc := range cases {
		c := s.provision(10000)
		if tc.setup != nil {
			tc.setup(&c)
		}
		if r := s.send(s.req("0100", "000000", c, tc.amt)); r.ResponseCode != tc.want {
			t.Errorf("%s: 39=%s, want %s", tc.name, r.ResponseCode, tc.want)
		}
	}
	c := s.provision(10000)
	r := s.req("0100", "000000", c, 100)
	r.CurrencyNum = "840"
	if got := s.send(r); got.ResponseCode != "57" {
		t.Errorf("currency not accepted: 39=%s, want 57", got.ResponseCode)
	}
}

// A restart keeps every approval and hold: the store is durable.
func TestRestartKeepsBooks(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c := s.provision(10000)
	a := s.req("0100", "000000", c, 2500)
	first := s.send(a)
	s.stop()

	s2 := startSwitchIn(t, dir)
	if b := s2.balance(c.balanceID); b.HeldMinor != 2500 || b.CurrentMinor != 10000 {
		t.Fatalf("after restart: %+v", b)
	}
	again := s2.send(a)
	if again.ResponseCode != first.ResponseCode || again.AuthCode != first.AuthCode {
		t.Fatalf("retransmission after restart: 39=%s 38=%s, first 39=%s 38=%s", again.ResponseCode, again.AuthCode, first.ResponseCode, first.AuthCode)
	}
}

// The merchant of an authorization (fields 43 and 18) is kept with its record for history.
func TestAuthRecordKeepsMerchant(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	a := s.req("0100", "000000", c, 100)
	s.send(a)
	rec, ok := s.app.Engine().State().Auth(ledger.OriginalKey("0100", a.STAN, a.F7, a.AcquirerID))
	if !ok || rec.Merchant != a.MerchantName || rec.MCC != "5999" {
		t.Fatalf("auth record merchant %q mcc %q", rec.Merchant, rec.MCC)
	}
}
