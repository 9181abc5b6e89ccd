package ledger_test

import (
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Every scenario runs messages through Tx.Process one batch each (lt.Fixture.Process), and after
// every message checks the books: available = current − held, held = the open holds on the
// balance, current = loaded − posted.

func okey(r *authz.Request) string {
	return ledger.OriginalKey(r.BaseMTI, r.STAN, r.F7, r.AcquirerID)
}

func expectAuth(t *testing.T, f *lt.Fixture, r *authz.Request, state ledger.AuthState, heldMinor, postedMinor int64) {
	t.Helper()
	a, ok := f.State.Auth(okey(r))
	if !ok {
		t.Fatalf("no auth record for STAN %s", r.STAN)
	}
	if a.State != state || a.HeldMinor != heldMinor || a.PostedMinor != postedMinor {
		t.Fatalf("auth STAN %s: state %s held %d posted %d, want %s held %d posted %d",
			r.STAN, a.State, a.HeldMinor, a.PostedMinor, state, heldMinor, postedMinor)
	}
}

// Contract §2 0100: on approval a hold is placed; 0220 captures for the amount of field 4 and
// releases the rest of the hold.
func TestAuthThenPartialCompletion(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	resp := f.Expect(auth, authz.Approved)
	if len(resp.AuthCode) != 6 {
		t.Errorf("approved 0110 carries field 38 of 6 characters, got %q", resp.AuthCode)
	}
	if !resp.HasBalance || resp.AvailableMinor != 7000 || resp.CurrencyNum != lt.EUR {
		t.Errorf("approved 0110 carries field 54 with the available balance: got %+v", resp)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 3000)
	expectAuth(t, f, auth, ledger.AuthOpen, 3000, 0)

	f.Expect(lt.FollowUp("0220", auth, 2000, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 8000, 0)
	expectAuth(t, f, auth, ledger.AuthCaptured, 0, 2000)

	// A second completion of the same original changes nothing.
	f.Expect(lt.FollowUp("0220", auth, 2000, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 8000, 0)
}

// Contract §2 0220 is an advice: a completion above the hold is booked as settled.
func TestCompletionAboveHold(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	f.Expect(lt.FollowUp("0220", auth, 3500, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 6500, 0)
}

// Contract §2 0400: a full reversal releases the whole hold.
func TestAuthThenFullReversal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	f.Expect(lt.FollowUp("0400", auth, 3000, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	expectAuth(t, f, auth, ledger.AuthReversed, 0, 0)
}

// Contract §2 0400 with field 95: a partial reversal leaves the replacement amount held; the
// completion then captures it.
func TestPartialReversalThenCompletion(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	f.Expect(lt.PartialReversal(auth, 1200, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 1200)
	expectAuth(t, f, auth, ledger.AuthOpen, 1200, 0)
	f.Expect(lt.FollowUp("0220", auth, 1200, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 8800, 0)
	expectAuth(t, f, auth, ledger.AuthCaptured, 0, 1200)
}

// Contract §2: a reversal for an unknown original is answered 25 and remembered; the original
// arriving afterwards is declined 05 and leaves no hold.
func TestReversalBeforeOriginal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(lt.FollowUp("0400", auth, 3000, "000002"), authz.OriginalNotFound)
	f.Expect(auth, authz.DoNotHonour)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	// The original's retransmission gets the same 05.
	f.Expect(auth, authz.DoNotHonour)
	// A later reversal of it changes nothing and is answered 00.
	f.Expect(lt.FollowUp("0400", auth, 3000, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// Contract §2 0420: as 0400 but always answered 00; the unknown original is remembered.
func TestReversalAdviceBeforeOriginal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(lt.FollowUp("0420", auth, 3000, "000002"), authz.Approved)
	f.Expect(auth, authz.DoNotHonour)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// Contract §2: a second reversal of the same original is answered 00 and changes nothing.
func TestDoubleReversal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	f.Expect(lt.FollowUp("0400", auth, 3000, "000002"), authz.Approved)
	before := lt.Take(f.State)
	f.Expect(lt.FollowUp("0420", auth, 3000, "000003"), authz.Approved)
	f.Expect(lt.FollowUp("0400", auth, 3000, "000004"), authz.Approved)
	after := lt.Take(f.State)
	before.Counts, after.Counts = nil, nil // the remembered replies grow
	if d := lt.Diff(before, after); d != "" {
		t.Fatalf("a second reversal changed the books:\n%s", d)
	}
}

// Contract §2 retransmissions: the same key and content get the original answer and change
// nothing; a repeat MTI (0101) is matched to the base MTI's key; the same key with other content
// is answered 94.
func TestRetransmission(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	first := f.Expect(auth, authz.Approved)
	again := f.Expect(lt.Auth(lt.PAN, 3000, "000001"), authz.Approved)
	repeat := lt.Req("0101", "000000", lt.PAN, 3000, "000001")
	rep := f.Expect(repeat, authz.Approved)
	if again.AuthCode != first.AuthCode || rep.AuthCode != first.AuthCode || again.AvailableMinor != first.AvailableMinor {
		t.Errorf("retransmission answered %+v and %+v, first answer %+v", again, rep, first)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 3000)

	changed := lt.Auth(lt.PAN, 3100, "000001")
	f.Expect(changed, authz.DuplicateMismatch)
	f.ExpectBalance(lt.BalanceID, 10000, 3000)

	// A declined request retransmitted is declined again, identically.
	big := lt.Auth(lt.PAN, 999999, "000002")
	f.Expect(big, authz.InsufficientFunds)
	f.Expect(lt.Req("0101", "000000", lt.PAN, 999999, "000002"), authz.InsufficientFunds)

	// Retransmitted follow-ups change nothing either.
	rev := lt.FollowUp("0400", auth, 3000, "000003")
	f.Expect(rev, authz.Approved)
	f.Expect(rev, authz.Approved)
	rep401 := lt.FollowUp("0401", auth, 3000, "000003")
	f.Expect(rep401, authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// A retransmission within the same batch is caught too: the overlay remembers the reply.
func TestRetransmissionInSameBatch(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	a := tx.Process(lt.Auth(lt.PAN, 3000, "000001"), &env)
	b := tx.Process(lt.Req("0101", "000000", lt.PAN, 3000, "000001"), &env)
	f.CommitTx(tx)
	if a.Action != authz.Approved || b.Action != authz.Approved || a.AuthCode != b.AuthCode {
		t.Fatalf("answers %+v and %+v", a, b)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 3000)
}

// Contract §2 0120: booked as a hold like an approved 0100, even past the available balance;
// answered 00.
func TestAdvicePastZero(t *testing.T) {
	f := lt.NewFixture(t, 1000)
	adv := lt.Req("0120", "000000", lt.PAN, 1500, "000001")
	f.Expect(adv, authz.Approved)
	f.ExpectBalance(lt.BalanceID, 1000, 1500)
	if b := f.Balance(lt.BalanceID); b.AvailableMinor() != -500 {
		t.Fatalf("available %d, want -500", b.AvailableMinor())
	}
	f.Expect(lt.Auth(lt.PAN, 1, "000002"), authz.InsufficientFunds)
	// The advice's hold is captured like an authorization's.
	f.Expect(lt.FollowUp("0220", adv, 1500, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, -500, 0)
}

// Contract §2 0200: a financial request debits at once; its reversal gives the money back.
func TestFinancialAndReversal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	fin := lt.Req("0200", "000000", lt.PAN, 2500, "000001")
	resp := f.Expect(fin, authz.Approved)
	if !resp.HasBalance || resp.AvailableMinor != 7500 || len(resp.AuthCode) != 6 {
		t.Errorf("approved 0210 carries fields 38 and 54: %+v", resp)
	}
	f.ExpectBalance(lt.BalanceID, 7500, 0)
	expectAuth(t, f, fin, ledger.AuthPosted, 0, 2500)
	f.Expect(lt.Req("0200", "000000", lt.PAN, 7501, "000002"), authz.InsufficientFunds)
	f.Expect(lt.FollowUp("0400", fin, 2500, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	expectAuth(t, f, fin, ledger.AuthReversed, 0, 0)
}

// Contract §2 0200 with field 95: a partial reversal of a financial request gives back the difference.
func TestFinancialPartialReversal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	fin := lt.Req("0200", "000000", lt.PAN, 2500, "000001")
	f.Expect(fin, authz.Approved)
	f.Expect(lt.PartialReversal(fin, 1000, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 9000, 0)
	expectAuth(t, f, fin, ledger.AuthPosted, 0, 1000)
}

// Contract §2 0200 processing code 20xxxx: a refund credits the balance, whatever its funds; its
// reversal takes the credit back.
func TestRefund(t *testing.T) {
	f := lt.NewFixture(t, 0)
	ref := lt.Req("0200", "200000", lt.PAN, 1999, "000001")
	resp := f.Expect(ref, authz.Approved)
	if resp.AvailableMinor != 1999 {
		t.Errorf("refund answer carries the new available balance: %+v", resp)
	}
	f.ExpectBalance(lt.BalanceID, 1999, 0)
	expectAuth(t, f, ref, ledger.AuthPosted, 0, -1999)
	f.Expect(lt.FollowUp("0400", ref, 1999, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 0, 0)
}

// Contract §2 0100 processing code 30xxxx/31xxxx: a balance inquiry places no hold and answers
// field 54 with the available balance, and field 38 as every approved 0110/0210.
func TestBalanceInquiry(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Expect(lt.Auth(lt.PAN, 2500, "000001"), authz.Approved)
	for i, proc := range []string{"300000", "310000"} {
		resp := f.Expect(lt.Req("0100", proc, lt.PAN, 0, "00001"+string(rune('2'+i))), authz.Approved)
		if !resp.HasBalance || resp.AvailableMinor != 7500 || resp.CurrencyNum != lt.EUR {
			t.Fatalf("balance inquiry %s answered %+v, want field 54 with 7500 EUR", proc, resp)
		}
		if len(resp.AuthCode) != 6 {
			t.Fatalf("balance inquiry %s answered without an approval code (field 38): %+v", proc, resp)
		}
	}
	f.ExpectBalance(lt.BalanceID, 10000, 2500)
	// A balance inquiry is decided like any request: a lost card is declined.
	f.Manage("lock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.ChangeCard(lt.CardID, ledger.ChangeLock, authz.LockLost)
		return r
	})
	f.Expect(lt.Req("0100", "300000", lt.PAN, 0, "000014"), authz.LostCardPickUp)
}

// docs/design.md: a completion whose original is unknown is force-posted on the card of field 2;
// the original arriving afterwards is approved and places no hold.
func TestCompletionBeforeOriginal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(lt.FollowUp("0220", auth, 2800, "000002"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 7200, 0)
	resp := f.Expect(auth, authz.Approved)
	if len(resp.AuthCode) != 6 {
		t.Errorf("late original answered without field 38: %+v", resp)
	}
	f.ExpectBalance(lt.BalanceID, 7200, 0)
	expectAuth(t, f, auth, ledger.AuthCaptured, 0, 2800)
	// A completion for an unknown original on an unknown card has nowhere to go: 25.
	ghost := lt.Auth("5351109999999999", 100, "000003")
	f.Expect(lt.FollowUp("0220", ghost, 100, "000004"), authz.OriginalNotFound)
}

// Holds expire after the hold TTL (clock passed in); a captured authorization is not expired.
func TestHoldExpiry(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Env.HoldTTL = time.Hour
	open := lt.Auth(lt.PAN, 3000, "000001")
	captured := lt.Auth(lt.PAN, 2000, "000002")
	f.Expect(open, authz.Approved)
	f.Expect(captured, authz.Approved)
	f.Expect(lt.FollowUp("0220", captured, 2000, "000003"), authz.Approved)

	expire := func(at time.Time) int {
		tx := f.State.Begin()
		env := f.Env
		env.Now = at
		f.Load(tx, &ledger.Keys{ExpireMax: 100}, &env)
		n := tx.ExpireHolds(&env, 100)
		f.CommitTx(tx)
		if err := lt.CheckBooks(f.State); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := expire(f.Now.Add(time.Hour - time.Nanosecond)); n != 0 {
		t.Fatalf("released %d holds before their expiry", n)
	}
	f.ExpectBalance(lt.BalanceID, 8000, 3000)
	if n := expire(f.Now.Add(time.Hour)); n != 1 {
		t.Fatalf("released %d holds at expiry, want 1", n)
	}
	f.ExpectBalance(lt.BalanceID, 8000, 0)
	expectAuth(t, f, open, ledger.AuthExpired, 0, 0)
	expectAuth(t, f, captured, ledger.AuthCaptured, 0, 2000)
	if n := expire(f.Now.Add(48 * time.Hour)); n != 0 {
		t.Fatalf("released %d holds twice", n)
	}
	// A reversal after expiry changes no money.
	f.Expect(lt.FollowUp("0400", open, 3000, "000004"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 8000, 0)
}

// A partially reversed hold still expires once, at its original expiry.
func TestPartiallyReversedHoldExpiresOnce(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Env.HoldTTL = time.Hour
	auth := lt.Auth(lt.PAN, 3000, "000001")
	f.Expect(auth, authz.Approved)
	f.Expect(lt.PartialReversal(auth, 1000, "000002"), authz.Approved)
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now.Add(2 * time.Hour)
	f.Load(tx, &ledger.Keys{ExpireMax: 100}, &env)
	if n := tx.ExpireHolds(&env, 100); n != 1 {
		t.Errorf("ExpireHolds reported %d releases, want 1", n)
	}
	f.CommitTx(tx)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// Contract §3 1016: insufficient funds; nothing is held on a decline.
func TestInsufficientFunds(t *testing.T) {
	f := lt.NewFixture(t, 1000)
	f.Expect(lt.Auth(lt.PAN, 600, "000001"), authz.Approved)
	resp := f.Expect(lt.Auth(lt.PAN, 401, "000002"), authz.InsufficientFunds)
	if resp.AuthCode != "" {
		t.Errorf("a decline carries no field 38: %+v", resp)
	}
	f.Expect(lt.Auth(lt.PAN, 400, "000003"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 1000, 1000)
}

// Contract §3 1016: a partner balance also bounds what the program's cards can spend, and its
// holds follow the card's.
func TestPartnerBalance(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.AddPartner("partner-1", 5000)
	auth := lt.Auth(lt.PAN, 4000, "000001")
	f.Expect(auth, authz.Approved)
	f.ExpectBalance("partner-1", 5000, 4000)
	f.Expect(lt.Auth(lt.PAN, 1001, "000002"), authz.InsufficientFunds)
	f.Expect(lt.FollowUp("0220", auth, 3000, "000003"), authz.Approved)
	f.ExpectBalance("partner-1", 2000, 0)
	f.ExpectBalance(lt.BalanceID, 7000, 0)
}

// Contract §3 1030: the currency of field 49 must be the balance's.
func TestCurrencyMismatch(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	r := lt.Auth(lt.PAN, 100, "000001")
	r.CurrencyNum = lt.USD
	f.Expect(r, authz.CurrencyNotAccepted)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
}

// Contract §3 1011 and 1001 through the ledger: unknown PAN; field 14 mismatch; expired card.
func TestCardChecks(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Expect(lt.Auth("5351109999999999", 100, "000001"), authz.InvalidCard)
	r := lt.Auth(lt.PAN, 100, "000002")
	r.ExpiryYYMM = "2711"
	f.Expect(r, authz.ExpiredCard)
	r = lt.Auth(lt.PAN, 100, "000003")
	r.ExpiryYYMM = lt.Expiry
	f.Expect(r, authz.Approved)
	f.Now = time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Expect(lt.Auth(lt.PAN, 100, "000004"), authz.ExpiredCard)
	r = lt.Auth(lt.PAN, 100, "000005")
	r.CVC2 = "999"
	f.Now = lt.Epoch
	f.Expect(r, authz.CardVerificationFailed)
	f.ExpectBalance(lt.BalanceID, 10000, 100)
}

// Contract §3 card lock table: each reason declines with its code; reasons 1, 2, 5 and 8 cannot
// be unlocked, the others can, and the card then approves again.
func TestLockedCard(t *testing.T) {
	tests := []struct {
		reason authz.LockReason
		want   authz.ActionCode
	}{
		{authz.LockLost, authz.LostCardPickUp},
		{authz.LockStolen, authz.StolenCardPickUp},
		{authz.LockPendingQuery, authz.DoNotHonour},
		{authz.LockConsolidation, authz.InsufficientFunds},
		{authz.LockInactive, authz.CardInactive},
		{authz.LockPINTriesExceeded, authz.PINTriesExceeded},
		{authz.LockSuspectedFraud, authz.SuspectedFraud},
		{authz.LockReplaced, authz.InvalidCard},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			f := lt.NewFixture(t, 10000)
			f.Manage("lock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
				_, r := tx.ChangeCard(lt.CardID, ledger.ChangeLock, tt.reason)
				return r
			})
			f.Expect(lt.Auth(lt.PAN, 100, "000001"), tt.want)
			f.ExpectBalance(lt.BalanceID, 10000, 0)
			tx := f.State.Begin()
			_, refusal := tx.ChangeCard(lt.CardID, ledger.ChangeUnlock, 0)
			f.CommitTx(tx)
			if tt.reason.Irreversible() {
				if refusal == nil || refusal.Code != "CARD_LOCK_IRREVERSIBLE" {
					t.Fatalf("unlock of reason %d: %v, want CARD_LOCK_IRREVERSIBLE", tt.reason, refusal)
				}
				f.Expect(lt.Auth(lt.PAN, 100, "000002"), tt.want)
				return
			}
			if refusal != nil {
				t.Fatalf("unlock of reason %d refused: %v", tt.reason, refusal)
			}
			f.Expect(lt.Auth(lt.PAN, 100, "000002"), authz.Approved)
		})
	}
}

// Contract §3: a wrong PIN is 1017; the third consecutive wrong PIN is 1006 and locks the card
// with reason 6; a correct PIN resets the count.
func TestPINTries(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	withPIN := func(stan, pin string) *authz.Request {
		r := lt.Auth(lt.PAN, 100, stan)
		r.PINBlock = []byte(pin)
		return r
	}
	f.Expect(withPIN("000001", "0000"), authz.IncorrectPIN)
	f.Expect(withPIN("000002", "0000"), authz.IncorrectPIN)
	f.Expect(withPIN("000003", lt.PVV), authz.Approved) // resets
	if c := f.Card(lt.CardID); c.PINTries != 0 {
		t.Fatalf("a correct PIN left %d tries", c.PINTries)
	}
	f.Expect(withPIN("000004", "0000"), authz.IncorrectPIN)
	f.Expect(withPIN("000005", "0000"), authz.IncorrectPIN)
	// A request without a PIN neither counts nor resets.
	f.Expect(lt.Auth(lt.PAN, 100, "000006"), authz.Approved)
	f.Expect(withPIN("000007", "0000"), authz.PINTriesExceeded)
	c := f.Card(lt.CardID)
	if c.State != ledger.CardLocked || c.LockReason != authz.LockPINTriesExceeded {
		t.Fatalf("after the third wrong PIN the card is %s reason %d, want LOCKED reason 6", c.State, c.LockReason)
	}
	// Locked: even the right PIN is declined 1006.
	f.Expect(withPIN("000008", lt.PVV), authz.PINTriesExceeded)
	// Reason 6 is reversible; unlocking clears the count.
	f.Manage("unlock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.ChangeCard(lt.CardID, ledger.ChangeUnlock, 0)
		return r
	})
	f.Expect(withPIN("000009", "0000"), authz.IncorrectPIN)
	f.ExpectBalance(lt.BalanceID, 10000, 200) // STANs 3 and 6 approved
}

// Contract §3 1029: a failed ARQC or a replayed ATC; field 55 is answered whenever an ARQC was
// checked, approved or not.
func TestCryptogramAndATCReplay(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	withICC := func(stan, icc string) *authz.Request {
		r := lt.Auth(lt.PAN, 100, stan)
		r.ICC = []byte(icc)
		return r
	}
	resp := f.Expect(withICC("000001", "ATC=5"), authz.Approved)
	if string(resp.ICCResponse) != "91:0000" {
		t.Errorf("field 55 on approval = %q", resp.ICCResponse)
	}
	resp = f.Expect(withICC("000002", "ATC=5"), authz.CryptogramFailure) // replay
	if string(resp.ICCResponse) != "91:1029" {
		t.Errorf("field 55 on ATC replay = %q", resp.ICCResponse)
	}
	f.Expect(withICC("000003", "ATC=4"), authz.CryptogramFailure) // older
	f.Expect(withICC("000004", "BAD"), authz.CryptogramFailure)
	f.Expect(withICC("000005", "ATC=6"), authz.Approved)
	if c := f.Card(lt.CardID); c.HighestATC != 6 {
		t.Errorf("highest ATC %d, want 6", c.HighestATC)
	}
	// An ATC used by a declined request is used up too.
	big := withICC("000006", "ATC=7")
	big.AmountMinor = 1e9
	f.Expect(big, authz.InsufficientFunds)
	f.Expect(withICC("000007", "ATC=7"), authz.CryptogramFailure)
	f.ExpectBalance(lt.BalanceID, 10000, 200)
}

// Contract §3 1021/1023: limits apply only where configured.
func TestLimits(t *testing.T) {
	f := lt.NewFixture(t, 100000)
	f.Manage("limits", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.SetCardLimits(lt.CardID, ledger.Limits{MaxAmountMinor: 5000, MaxCountPerDay: 2, MaxAmountPerDay: 9000})
		return r
	})
	f.Expect(lt.Auth(lt.PAN, 5001, "000001"), authz.ExceedsAmountLimit)
	f.Expect(lt.Auth(lt.PAN, 5000, "000002"), authz.Approved)
	f.Expect(lt.Auth(lt.PAN, 4001, "000003"), authz.ExceedsAmountLimit) // 9001 today
	f.Expect(lt.Auth(lt.PAN, 4000, "000004"), authz.Approved)           // 9000 today, 2 approvals
	f.Expect(lt.Auth(lt.PAN, 0, "000005"), authz.ExceedsFrequencyLimit)
	f.Now = f.Now.Add(24 * time.Hour) // a new UTC day
	f.Expect(lt.Auth(lt.PAN, 1, "000006"), authz.Approved)
}

// Contract §2 key: the same MTI, STAN, field 7 and acquirer with another RRN cannot be told apart
// by field 90, so it is refused as a duplicate (94) and books nothing.
func TestSameOriginalKeyOtherRRN(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Expect(lt.Auth(lt.PAN, 100, "000001"), authz.Approved)
	r := lt.Auth(lt.PAN, 100, "000001")
	r.RRN = "OTHER0000001"
	f.Expect(r, authz.DuplicateMismatch)
	f.ExpectBalance(lt.BalanceID, 10000, 100)
}

// A follow-up without field 90 is a format error (contract §2: 90 is mandatory on 0220/0400/0420).
func TestFollowUpWithoutField90(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	for i, mti := range []string{"0220", "0400", "0420"} {
		r := lt.Req(mti, "000000", lt.PAN, 100, "00000"+string(rune('1'+i)))
		f.Expect(r, authz.FormatError)
	}
}

// Tokens: an authorization through an active token is decided on its card; suspended → 1004;
// deleted → 1011.
func TestTokenStates(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	const tokenPAN = "5351100000009999"
	f.Manage("token", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.AddToken(ledger.Token{ID: "tok-1", CardID: lt.CardID, PANHash: tokenPAN, PAN: tokenPAN,
			ExpiryYYMM: "2812", Type: ledger.TokenSE}, env)
		return r
	})
	f.Expect(lt.Auth(tokenPAN, 100, "000001"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 100)
	for i, tt := range []struct {
		state authz.TokenState
		want  authz.ActionCode
	}{{authz.TokenSuspended, authz.RestrictedCard}, {authz.TokenDeleted, authz.InvalidCard}} {
		f.Manage("token state", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
			_, r := tx.SetTokenState("tok-1", tt.state)
			return r
		})
		f.Expect(lt.Auth(tokenPAN, 100, "00001"+string(rune('0'+i))), tt.want)
	}
	// The card itself is unaffected.
	f.Expect(lt.Auth(lt.PAN, 100, "000020"), authz.Approved)
}

// Contract §2: 0120 is always answered 00; an advice whose reversal came first is acknowledged
// but, like any original after its reversal, leaves no hold.
func TestAdviceAfterItsReversal(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	adv := lt.Req("0120", "000000", lt.PAN, 3000, "000001")
	f.Expect(lt.FollowUp("0420", adv, 3000, "000002"), authz.Approved)
	f.Expect(adv, authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	expectAuth(t, f, adv, ledger.AuthReversed, 0, 0)
}
