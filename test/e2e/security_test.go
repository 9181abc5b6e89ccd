package e2e

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/security"
)

// Issue 4 over real TCP: every kind of card-security data the switch checks, good and bad.

const pin = "4321"

// secureCard provisions a card with a PIN and returns it with its program.
func (s *sw) secureCard(t *testing.T) (card, *config.Program) {
	c := s.provision(100000)
	prog := &s.app.Config().Programs[0]
	pvv, err := security.PVV(config.Key(prog.Keys.PVK), prog.Keys.PVKI, c.pan, pin)
	if err != nil {
		t.Fatal(err)
	}
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.SetCardSecret(c.id, "", pvv)
		if r != nil {
			return r
		}
		return nil
	})
	return c, prog
}

func TestECommerceCVC2(t *testing.T) {
	s := startSwitch(t)
	c, prog := s.secureCard(t)
	cvc2, _ := security.CVC2(config.Key(prog.Keys.CVK), c.pan, c.expiry)
	r := s.req("0100", "000000", c, 100)
	r.CVC2 = cvc2
	if got := s.send(r); got.ResponseCode != "00" {
		t.Fatalf("right CVC2: 39=%s", got.ResponseCode)
	}
	r = s.req("0100", "000000", c, 100)
	r.CVC2 = wrongDigits(cvc2)
	if got := s.send(r); got.ResponseCode != "N7" {
		t.Fatalf("wrong CVC2: 39=%s, want N7", got.ResponseCode)
	}
	// After a reset the old value is declined and the new one approved.
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		tx.SetCardSecret(c.id, wrongDigits(cvc2), "")
		return nil
	})
	r = s.req("0100", "000000", c, 100)
	r.CVC2 = cvc2
	if got := s.send(r); got.ResponseCode != "N7" {
		t.Fatalf("old CVC2 after reset: 39=%s, want N7", got.ResponseCode)
	}
	r = s.req("0100", "000000", c, 100)
	r.CVC2 = wrongDigits(cvc2)
	if got := s.send(r); got.ResponseCode != "00" {
		t.Fatalf("new CVC2 after reset: 39=%s", got.ResponseCode)
	}
}

func TestMagneticStripeCVV(t *testing.T) {
	s := startSwitch(t)
	c, prog := s.secureCard(t)
	track, err := security.BuildTrack2(config.Key(prog.Keys.CVK), c.pan, c.expiry, "101")
	if err != nil {
		t.Fatal(err)
	}
	r := s.req("0200", "000000", c, 500)
	r.POSEntryMode, r.Track2 = "901", track
	if got := s.send(r); got.ResponseCode != "00" {
		t.Fatalf("good track 2: 39=%s", got.ResponseCode)
	}
	bad := []byte(track)
	i := len(bad) - 8 // inside the discretionary data, where the CVV is
	bad[i] = '0' + (bad[i]-'0'+1)%10
	r = s.req("0200", "000000", c, 500)
	r.POSEntryMode, r.Track2 = "901", string(bad)
	if got := s.send(r); got.ResponseCode != "N7" {
		t.Fatalf("altered track 2: 39=%s, want N7", got.ResponseCode)
	}
}

func TestPINAtATMThreeWrongThenLocked(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c, _ := s.secureCard(t)
	zpk := config.Key(s.app.Config().Security.ZPK)
	cash := func(p string) string {
		blk, err := security.BuildPINBlock(zpk, c.pan, p)
		if err != nil {
			t.Fatal(err)
		}
		r := s.req("0200", "010000", c, 2000)
		r.POSEntryMode, r.PINBlock = "051", blk
		return s.send(r).ResponseCode
	}
	if got := cash(pin); got != "00" {
		t.Fatalf("right PIN: 39=%s", got)
	}
	if got := cash("0000"); got != "55" {
		t.Fatalf("wrong PIN 1: 39=%s, want 55", got)
	}
	if got := cash(pin); got != "00" {
		t.Fatalf("right PIN resets the counter: 39=%s", got)
	}
	for i, want := range []string{"55", "55", "75"} {
		if got := cash("9999"); got != want {
			t.Fatalf("wrong PIN %d: 39=%s, want %s", i+1, got, want)
		}
	}
	// The lock and the counter survive a restart; even the right PIN is now refused.
	s.stop()
	s = startSwitchIn(t, dir)
	if card, _ := s.app.Engine().State().Card(c.id); card.State != ledger.CardLocked || card.LockReason != authz.LockPINTriesExceeded {
		t.Fatalf("after restart: state %s reason %d", card.State, card.LockReason)
	}
	if got := cash(pin); got != "75" {
		t.Fatalf("locked card, right PIN: 39=%s, want 75", got)
	}
}

func TestChipAndContactlessARQC(t *testing.T) {
	s := startSwitch(t)
	c, prog := s.secureCard(t)
	for i, entry := range []string{"051", "071"} {
		atc := uint16(10 + i)
		icc, err := security.BuildARQCField55(prog, c.pan, "00", atc, 1500, "978", [4]byte{1, 2, 3, byte(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := s.req("0100", "000000", c, 1500)
		r.POSEntryMode, r.ICC, r.CardSeq = entry, icc, "000"
		got := s.send(r)
		if got.ResponseCode != "00" {
			t.Fatalf("%s: 39=%s", entry, got.ResponseCode)
		}
		if len(got.ICC) == 0 {
			t.Fatalf("%s: no field 55 (tag 91) in the answer", entry)
		}
		if _, err := security.CheckIssuerResponse(prog, c.pan, "00", icc, got.ICC); err != nil {
			t.Fatalf("%s: the card would reject the ARPC: %v", entry, err)
		}
		// The same ATC again is a replay: 82, and tag 91 still answers.
		r2 := s.req("0100", "000000", c, 1500)
		r2.POSEntryMode, r2.ICC, r2.CardSeq = entry, icc, "000"
		if got := s.send(r2); got.ResponseCode != "82" || len(got.ICC) == 0 {
			t.Fatalf("%s replayed ATC: 39=%s tag91=%v, want 82 with tag 91", entry, got.ResponseCode, len(got.ICC) > 0)
		}
	}
	// A cryptogram for another amount fails.
	icc, _ := security.BuildARQCField55(prog, c.pan, "00", 50, 1500, "978", [4]byte{9, 9, 9, 9}, nil)
	r := s.req("0100", "000000", c, 1600)
	r.POSEntryMode, r.ICC, r.CardSeq = "051", icc, "000"
	if got := s.send(r); got.ResponseCode != "82" {
		t.Fatalf("ARQC for another amount: 39=%s, want 82", got.ResponseCode)
	}
}

func TestTokenTransactionsInEveryState(t *testing.T) {
	s := startSwitch(t)
	c, prog := s.secureCard(t)
	const tokenPAN = "5351100000009993"
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.AddToken(ledger.Token{ID: "tok-1", CardID: c.id, PANHash: s.hash(tokenPAN), PAN: tokenPAN,
			Last4: "9993", ExpiryYYMM: c.expiry, PSN: "00", Type: ledger.TokenHCE, WalletProvider: "demo-wallet"}, env)
		if r != nil {
			return r
		}
		return nil
	})
	tokenCard := card{id: c.id, balanceID: c.balanceID, pan: tokenPAN, expiry: c.expiry}
	atc := uint16(1)
	send := func() *authzResp {
		icc, err := security.BuildARQCField55(prog, tokenPAN, "00", atc, 700, "978", [4]byte{7, 7, 7, byte(atc)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		atc++
		r := s.req("0100", "000000", tokenCard, 700)
		r.POSEntryMode, r.ICC, r.CardSeq = "071", icc, "000"
		got := s.send(r)
		return &authzResp{code: got.ResponseCode, pan: got.PAN}
	}
	setState := func(state authz.TokenState) {
		s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal { tx.SetTokenState("tok-1", state); return nil })
	}
	got := send()
	if got.code != "00" || got.pan != tokenPAN {
		t.Fatalf("active token: 39=%s field 2 %s (must echo the token PAN)", got.code, got.pan)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 700 {
		t.Fatalf("token approval not held on the funding card's balance: %+v", b)
	}
	for _, tc := range []struct{ state, want string }{
		{"SUSPENDED", "62"}, {"INACTIVE", "62"}, {"ACTIVE", "00"}, {"DELETED", "14"},
	} {
		setState(authz.TokenState(tc.state))
		if got := send(); got.code != tc.want {
			t.Errorf("token %s: 39=%s, want %s", tc.state, got.code, tc.want)
		}
	}
	unknown := card{pan: "5351100000008888", expiry: c.expiry}
	if got := s.send(s.req("0100", "000000", unknown, 100)); got.ResponseCode != "14" {
		t.Errorf("unknown token: 39=%s, want 14", got.ResponseCode)
	}
}

type authzResp struct{ code, pan string }

// wrongDigits returns a different value of the same length.
func wrongDigits(v string) string {
	b := []byte(v)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// A digital-first plastic shares its virtual card's PAN and reflects its condition (seed; issue 20,
// defect 2): card-present requests are decided on the plastic's record, card-not-present ones on
// the virtual card's, and a lock of either is the other's too. A lost plastic is declined as lost
// at the terminal and online alike: the earlier rule, where the virtual card kept working online,
// is gone.
func TestDigitalFirstPlasticSharesTheLock(t *testing.T) {
	s := startSwitch(t)
	c, prog := s.secureCard(t)
	plastic := c.id + "-plastic"
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		r := ledger.IssueDigitalFirst{CardID: plastic, BalanceID: c.balanceID, VirtualCardID: c.id}.Apply(tx, env).Refusal
		if r != nil {
			return r
		}
		_, r = tx.ChangeCard(plastic, ledger.ChangeLock, authz.LockLost)
		return r
	})
	track, _ := security.BuildTrack2(config.Key(prog.Keys.CVK), c.pan, c.expiry, "101")
	swipe := s.req("0200", "000000", c, 100)
	swipe.POSEntryMode, swipe.Track2 = "901", track
	if got := s.send(swipe); got.ResponseCode != "41" {
		t.Fatalf("swipe of the lost plastic: 39=%s, want 41", got.ResponseCode)
	}
	online := s.req("0100", "000000", c, 100)
	if got := s.send(online); got.ResponseCode != "41" {
		t.Fatalf("online with the virtual card of a lost plastic: 39=%s, want 41", got.ResponseCode)
	}
}

// Guessing CVC2s locks the card: the fifth consecutive wrong value is declined N7 and locks the
// card with reason 7, after which even the right value gets 59; the lock survives a restart.
func TestCVC2GuessesLockTheCard(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c, prog := s.secureCard(t)
	cvc2, _ := security.CVC2(config.Key(prog.Keys.CVK), c.pan, c.expiry)
	try := func(v string) string {
		r := s.req("0100", "000000", c, 100)
		r.CVC2 = v
		return s.send(r).ResponseCode
	}
	for i := 0; i < authz.CardDataTriesMax; i++ {
		if got := try(wrongDigits(cvc2)); got != "N7" {
			t.Fatalf("wrong CVC2 %d: 39=%s, want N7", i+1, got)
		}
	}
	s.stop()
	s = startSwitchIn(t, dir)
	if got := try(cvc2); got != "59" {
		t.Fatalf("right CVC2 after five wrong ones: 39=%s, want 59 (locked, suspected fraud)", got)
	}
}
