package authz

import "testing"

// approvable is an authorization that every rule lets through: an active card, not expired, in the
// balance's currency, with funds. Each case below changes one thing.
func approvable() Input {
	return Input{
		Kind:               KindAuthorization,
		CardFound:          true,
		CardState:          CardStateActive,
		CardExpiryYYMM:     "2712",
		NowYYMM:            "2605",
		RequestCurrencyNum: "978",
		BalanceCurrencyNum: "978",
		BalanceActive:      true,
		AmountMinor:        1000,
		AvailableMinor:     5000,
	}
}

func locked(r LockReason) func(*Input) {
	return func(in *Input) { in.CardState, in.LockReason = CardStateLocked, r }
}

func viaToken(state TokenState) func(*Input) {
	return func(in *Input) { in.ViaToken, in.TokenState, in.TokenExpiryYYMM = true, state, "2812" }
}

// TestDecideActionCodes has one row per action code of contract §3 that the policy produces.
func TestDecideActionCodes(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Input)
		want   ActionCode
	}{
		{"approved", func(*Input) {}, Approved},
		{"amount equal to available is approved", func(in *Input) { in.AmountMinor = 5000 }, Approved},
		// §3 1000: lock reason 3 pending query.
		{"1000 lock reason 3", locked(LockPendingQuery), DoNotHonour},
		// §3 1001: expired card, or field 14 differs from the card's expiry; §2: expiry checked only when present.
		{"1001 card expired last month", func(in *Input) { in.CardExpiryYYMM = "2604" }, ExpiredCard},
		{"valid through the end of its expiry month", func(in *Input) { in.CardExpiryYYMM = "2605" }, Approved},
		{"1001 field 14 differs from card expiry", func(in *Input) { in.RequestExpiryYYMM = "2711" }, ExpiredCard},
		{"field 14 equal to card expiry", func(in *Input) { in.RequestExpiryYYMM = "2712" }, Approved},
		{"1001 token expired", func(in *Input) { viaToken(TokenActive)(in); in.TokenExpiryYYMM = "2601" }, ExpiredCard},
		{"token: field 14 may carry the token expiry", func(in *Input) { viaToken(TokenActive)(in); in.RequestExpiryYYMM = "2812" }, Approved},
		// §3 1002: lock reason 7.
		{"1002 lock reason 7", locked(LockSuspectedFraud), SuspectedFraud},
		// §3 1004: restricted card / token not active.
		{"1004 token suspended", viaToken(TokenSuspended), RestrictedCard},
		{"1004 token inactive", viaToken(TokenInactive), RestrictedCard},
		{"1004 balance closed", func(in *Input) { in.BalanceActive = false }, RestrictedCard},
		{"1004 holder deactivated or KYC revoked", func(in *Input) { in.HolderInactive = true }, RestrictedCard},
		{"1004 holder inactive, refund too", func(in *Input) { in.HolderInactive, in.Kind = true, KindRefund }, RestrictedCard},
		{"1004 locked with no valid reason", locked(NotLocked), RestrictedCard},
		{"1004 unknown card state", func(in *Input) { in.CardState = "WEIRD" }, RestrictedCard},
		{"token active", viaToken(TokenActive), Approved},
		// §3 1006: PIN tries exceeded: third consecutive wrong PIN, and a card locked with reason 6.
		{"1006 third wrong PIN", func(in *Input) { in.PIN, in.PINTries = CheckFailed, 2 }, PINTriesExceeded},
		{"1006 lock reason 6", locked(LockPINTriesExceeded), PINTriesExceeded},
		// §3 1011: lock reason 8, unknown PAN or token, removed card, deleted token.
		{"1011 unknown PAN", func(in *Input) { in.CardFound = false }, InvalidCard},
		{"1011 lock reason 8 replaced", locked(LockReplaced), InvalidCard},
		{"1011 card removed", func(in *Input) { in.CardState = CardStateRemoved }, InvalidCard},
		{"1011 token deleted", viaToken(TokenDeleted), InvalidCard},
		{"1011 token without state", viaToken(""), InvalidCard},
		// §3 1016: insufficient funds, lock reason 4; a partner balance also bounds spending.
		{"1016 insufficient funds", func(in *Input) { in.AmountMinor = 5001 }, InsufficientFunds},
		{"1016 negative available", func(in *Input) { in.AvailableMinor = -10 }, InsufficientFunds},
		{"1016 lock reason 4", locked(LockConsolidation), InsufficientFunds},
		{"1016 partner balance insufficient", func(in *Input) { in.HasPartner, in.PartnerAvailableMinor = true, 999 }, InsufficientFunds},
		{"partner balance sufficient", func(in *Input) { in.HasPartner, in.PartnerAvailableMinor = true, 1000 }, Approved},
		{"1016 financial request", func(in *Input) { in.Kind, in.AmountMinor = KindFinancial, 6000 }, InsufficientFunds},
		// §3 1017: incorrect PIN.
		{"1017 first wrong PIN", func(in *Input) { in.PIN = CheckFailed }, IncorrectPIN},
		{"1017 second wrong PIN", func(in *Input) { in.PIN, in.PINTries = CheckFailed, 1 }, IncorrectPIN},
		{"correct PIN after two wrong", func(in *Input) { in.PIN, in.PINTries = CheckPassed, 2 }, Approved},
		// §3 1018: card inactive (lock reason 5, physical card not activated).
		{"1018 lock reason 5", locked(LockInactive), CardInactive},
		{"1018 physical card not activated", func(in *Input) { in.CardState = CardStateInactive }, CardInactive},
		// §3 1019: not permitted to cardholder (outside a recurring agreement).
		{"1019 recurring violation", func(in *Input) { in.RecurringViolation = true }, NotPermitted},
		{"1019 balance blocked", func(in *Input) { in.BalanceBlocked = true }, NotPermitted},
		{"1019 balance blocked, balance inquiry", func(in *Input) { in.BalanceBlocked, in.Kind = true, KindBalanceInquiry }, NotPermitted},
		{"balance blocked takes a refund", func(in *Input) { in.BalanceBlocked, in.Kind = true, KindRefund }, Approved},
		// §3 1021, 1023: limits, only where configured (§2).
		{"1021 above per-authorization limit", func(in *Input) { in.MaxAmountMinor = 999 }, ExceedsAmountLimit},
		{"at per-authorization limit", func(in *Input) { in.MaxAmountMinor = 1000 }, Approved},
		{"1021 above daily amount", func(in *Input) { in.MaxAmountPerDay, in.AmountTodayMinor = 3000, 2001 }, ExceedsAmountLimit},
		{"at daily amount", func(in *Input) { in.MaxAmountPerDay, in.AmountTodayMinor = 3000, 2000 }, Approved},
		{"1023 daily count reached", func(in *Input) { in.MaxCountPerDay, in.CountToday = 3, 3 }, ExceedsFrequencyLimit},
		{"below daily count", func(in *Input) { in.MaxCountPerDay, in.CountToday = 3, 2 }, Approved},
		// §3 1029: cryptogram failure or replayed ATC (the ledger turns a replay into CheckFailed).
		{"1029 ARQC failed", func(in *Input) { in.Cryptogram = CheckFailed }, CryptogramFailure},
		{"ARQC passed", func(in *Input) { in.Cryptogram = CheckPassed }, Approved},
		// §3 1030: currency not accepted for this balance.
		{"1030 currency mismatch", func(in *Input) { in.RequestCurrencyNum = "840" }, CurrencyNotAccepted},
		// §3 1045: card verification data failed.
		{"1045 CVC2 failed", func(in *Input) { in.CardData = CheckFailed }, CardVerificationFailed},
		{"CVC2 passed", func(in *Input) { in.CardData = CheckPassed }, Approved},
		// §3 2008, 2009: lost and stolen cards.
		{"2008 lock reason 1", locked(LockLost), LostCardPickUp},
		{"2009 lock reason 2", locked(LockStolen), StolenCardPickUp},
		// Kinds that take no money from the cardholder skip limits and funds.
		{"refund with no funds", func(in *Input) { in.Kind, in.AvailableMinor = KindRefund, 0 }, Approved},
		{"balance inquiry with negative balance", func(in *Input) { in.Kind, in.AvailableMinor = KindBalanceInquiry, -5 }, Approved},
		{"refund above the amount limit", func(in *Input) { in.Kind, in.MaxAmountMinor = KindRefund, 1 }, Approved},
		// §2: checks apply only when their data is present.
		{"no security data", func(in *Input) {
			in.CardData, in.PIN, in.Cryptogram = CheckNotPresent, CheckNotPresent, CheckNotPresent
		}, Approved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := approvable()
			tt.change(&in)
			if got := Decide(in).Action; got != tt.want {
				t.Fatalf("Decide = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestDecideCoversPolicyCodes makes sure the table above exercises every code of contract §3 that
// the policy can produce (the others come from the ledger: 1816, 9100, 9113, 9109).
func TestDecideCoversPolicyCodes(t *testing.T) {
	produced := map[ActionCode]bool{}
	for _, c := range []ActionCode{Approved, DoNotHonour, ExpiredCard, SuspectedFraud, RestrictedCard,
		PINTriesExceeded, InvalidCard, InsufficientFunds, IncorrectPIN, CardInactive, NotPermitted,
		ExceedsAmountLimit, ExceedsFrequencyLimit, CryptogramFailure, CurrencyNotAccepted,
		CardVerificationFailed, LostCardPickUp, StolenCardPickUp} {
		produced[c] = true
	}
	for _, c := range AllActionCodes {
		switch c {
		case OriginalNotFound, FormatError, DuplicateMismatch, SystemError:
			continue
		}
		if !produced[c] {
			t.Errorf("%s has no row in TestDecideActionCodes", c)
		}
	}
}

// TestDecidePrecedence checks the order of the rules when several fail at once: card and token
// existence, card state, balance, expiry, card data, cryptogram, PIN, currency, recurring, limits,
// funds (the first failing rule answers).
func TestDecidePrecedence(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Input)
		want   ActionCode
	}{
		{"unknown card beats everything", func(in *Input) {
			in.CardFound, in.AmountMinor, in.CardExpiryYYMM = false, 1e9, "1001"
		}, InvalidCard},
		{"deleted token beats lost card", func(in *Input) { viaToken(TokenDeleted)(in); locked(LockLost)(in) }, InvalidCard},
		{"suspended token beats lost card", func(in *Input) { viaToken(TokenSuspended)(in); locked(LockLost)(in) }, RestrictedCard},
		{"lock reason beats expiry", func(in *Input) { locked(LockStolen)(in); in.CardExpiryYYMM = "2001" }, StolenCardPickUp},
		{"lock reason beats wrong PIN", func(in *Input) { locked(LockSuspectedFraud)(in); in.PIN = CheckFailed }, SuspectedFraud},
		{"closed balance beats blocked", func(in *Input) { in.BalanceActive, in.BalanceBlocked = false, true }, RestrictedCard},
		{"inactive holder beats blocked balance", func(in *Input) { in.HolderInactive, in.BalanceBlocked = true, true }, RestrictedCard},
		{"lock reason beats inactive holder", func(in *Input) { locked(LockLost)(in); in.HolderInactive = true }, LostCardPickUp},
		{"blocked balance beats expiry", func(in *Input) { in.BalanceBlocked, in.CardExpiryYYMM = true, "2001" }, NotPermitted},
		{"inactive card beats funds", func(in *Input) { in.CardState, in.AmountMinor = CardStateInactive, 1e9 }, CardInactive},
		{"expiry beats CVC2", func(in *Input) { in.CardExpiryYYMM, in.CardData = "2001", CheckFailed }, ExpiredCard},
		{"CVC2 beats cryptogram", func(in *Input) { in.CardData, in.Cryptogram = CheckFailed, CheckFailed }, CardVerificationFailed},
		{"cryptogram beats PIN", func(in *Input) { in.Cryptogram, in.PIN = CheckFailed, CheckFailed }, CryptogramFailure},
		{"PIN beats currency", func(in *Input) { in.PIN, in.RequestCurrencyNum = CheckFailed, "840" }, IncorrectPIN},
		{"currency beats recurring", func(in *Input) { in.RequestCurrencyNum, in.RecurringViolation = "840", true }, CurrencyNotAccepted},
		{"recurring beats limits", func(in *Input) { in.RecurringViolation, in.MaxAmountMinor = true, 1 }, NotPermitted},
		{"amount limit beats frequency", func(in *Input) {
			in.MaxAmountMinor, in.MaxCountPerDay, in.CountToday = 1, 1, 1
		}, ExceedsAmountLimit},
		{"frequency beats funds", func(in *Input) { in.MaxCountPerDay, in.CountToday, in.AmountMinor = 1, 1, 1e9 }, ExceedsFrequencyLimit},
		{"currency beats funds", func(in *Input) { in.RequestCurrencyNum, in.AmountMinor = "840", 1e9 }, CurrencyNotAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := approvable()
			tt.change(&in)
			if got := Decide(in).Action; got != tt.want {
				t.Fatalf("Decide = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestDecidePINTries checks the PIN try counter of contract §3: a wrong PIN is 1017, the third
// consecutive wrong PIN is 1006 and locks the card with reason 6, a correct PIN resets the count,
// and a request without a PIN leaves it alone.
func TestDecidePINTries(t *testing.T) {
	tests := []struct {
		name      string
		pin       CheckResult
		triesIn   int
		want      ActionCode
		triesOut  int
		lockAfter LockReason
	}{
		{"first wrong", CheckFailed, 0, IncorrectPIN, 1, NotLocked},
		{"second wrong", CheckFailed, 1, IncorrectPIN, 2, NotLocked},
		{"third wrong locks", CheckFailed, 2, PINTriesExceeded, 3, LockPINTriesExceeded},
		{"correct resets", CheckPassed, 2, Approved, 0, NotLocked},
		{"no PIN keeps the count", CheckNotPresent, 2, Approved, 2, NotLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := approvable()
			in.PIN, in.PINTries = tt.pin, tt.triesIn
			d := Decide(in)
			if d.Action != tt.want || d.PINTries != tt.triesOut || d.LockCard != tt.lockAfter {
				t.Fatalf("Decide = {%s tries %d lock %d}, want {%s tries %d lock %d}",
					d.Action, d.PINTries, d.LockCard, tt.want, tt.triesOut, tt.lockAfter)
			}
		})
	}
	// A correct PIN resets the count even when the request is then declined for funds.
	in := approvable()
	in.PIN, in.PINTries, in.AmountMinor = CheckPassed, 2, 1e9
	if d := Decide(in); d.Action != InsufficientFunds || d.PINTries != 0 {
		t.Fatalf("correct PIN, no funds: got {%s tries %d}, want {1016 tries 0}", d.Action, d.PINTries)
	}
}

func BenchmarkDecide(b *testing.B) {
	in := approvable()
	in.CardData, in.PIN, in.Cryptogram = CheckPassed, CheckPassed, CheckPassed
	in.HasPartner, in.PartnerAvailableMinor = true, 1e9
	b.ReportAllocs()
	var d Decision
	for b.Loop() {
		d = Decide(in)
	}
	if d.Action != Approved {
		b.Fatal(d.Action)
	}
}
