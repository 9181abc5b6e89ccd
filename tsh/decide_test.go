package tsh

import (
	"errors"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
)

func TestEligibility(t *testing.T) {
	active := CardView{State: authz.CardStateActive, ExpiryYYMM: "2912"}
	for _, c := range []struct {
		name string
		card CardView
		exp  string
		want string
	}{
		{"active, no exp", active, "", ""},
		{"active, exp matches", active, "1229", ""},
		{"removed first", CardView{State: authz.CardStateRemoved, ExpiryYYMM: "2001"}, "0101", ReasonCardRemoved},
		{"locked", CardView{State: authz.CardStateLocked, ExpiryYYMM: "2912"}, "", ReasonCardLocked},
		{"inactive", CardView{State: authz.CardStateInactive, ExpiryYYMM: "2912"}, "", ReasonCardInactive},
		{"expired last month", CardView{State: authz.CardStateActive, ExpiryYYMM: "2611"}, "", ReasonCardExpired},
		{"expires this month: still valid", CardView{State: authz.CardStateActive, ExpiryYYMM: "2612"}, "", ""},
		{"exp mismatch", active, "1129", ReasonExpiryMismatch},
		{"exp in YYMM order is a mismatch", active, "2912", ReasonExpiryMismatch},
	} {
		if got := Eligibility(c.card, c.exp, "2612"); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLevelOfTrust(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		name string
		in   TrustInput
		rule TrustRule
		want string
	}{
		{"not eligible", TrustInput{NotEligible: ReasonCardLocked, CVV: CVVRight, TnCAccepted: true}, TrustRule{}, Red},
		{"cvv wrong", TrustInput{CVV: CVVWrong, TnCAccepted: true}, TrustRule{}, Red},
		{"cvvValidated false", TrustInput{CVVValidated: &no, TnCAccepted: true}, TrustRule{}, Red},
		{"cvv wrong beats cvvValidated true", TrustInput{CVV: CVVWrong, CVVValidated: &yes, TnCAccepted: true}, TrustRule{}, Red},
		{"cvv right + tnc", TrustInput{CVV: CVVRight, TnCAccepted: true}, TrustRule{}, Green},
		{"cvvValidated true + tnc", TrustInput{CVVValidated: &yes, TnCAccepted: true}, TrustRule{}, Green},
		{"cvv right, tnc not accepted", TrustInput{CVV: CVVRight}, TrustRule{}, Yellow},
		{"no cvv, tnc", TrustInput{TnCAccepted: true}, TrustRule{}, Yellow},
		{"no contact: still yellow (an empty list)", TrustInput{TnCAccepted: true}, TrustRule{}, Yellow},
		{"rule: always step up", TrustInput{CVV: CVVRight, TnCAccepted: true}, TrustRule{AlwaysStepUp: true}, Yellow},
		{"rule: green without cvv", TrustInput{TnCAccepted: true}, TrustRule{GreenWithoutCVV: true}, Green},
		{"rule: green without cvv needs tnc", TrustInput{}, TrustRule{GreenWithoutCVV: true}, Yellow},
		{"rule: green without cvv, wrong cvv still red", TrustInput{CVV: CVVWrong, TnCAccepted: true}, TrustRule{GreenWithoutCVV: true}, Red},
	} {
		if got := LevelOfTrust(c.in, c.rule); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestRuleFor(t *testing.T) {
	rules := []TrustRule{
		{AlwaysStepUp: true},                                  // any
		{Program: "demo-visa", GreenWithoutCVV: true},         // program
		{WalletProviderID: "ECOM", AlwaysStepUp: true},        // wallet
		{Program: "demo-visa", WalletProviderID: "APPLE_PAY"}, // both
		{Program: "demo-mc", WalletProviderID: "SPAYHCE", AlwaysStepUp: true},
	}
	for _, c := range []struct {
		program, wallet string
		want            TrustRule
	}{
		{"demo-mc", "APPLE_PAY", rules[0]},
		{"demo-visa", "ANDROID_PAY", rules[1]},
		{"demo-visa", "ECOM", rules[2]},
		{"demo-visa", "APPLE_PAY", rules[3]},
		{"demo-mc", "SPAYHCE", rules[4]},
	} {
		if got := RuleFor(rules, c.program, c.wallet); got != c.want {
			t.Errorf("%s/%s: %+v, want %+v", c.program, c.wallet, got, c.want)
		}
	}
	if got := RuleFor(nil, "x", "y"); got != (TrustRule{}) {
		t.Errorf("no rules: %+v", got)
	}
}

func TestDeviceBindingTrust(t *testing.T) {
	for _, c := range []struct {
		found  bool
		state  authz.TokenState
		reason string
		want   string
	}{
		{false, "", "", Red},
		{true, authz.TokenDeleted, "", Red},
		{true, authz.TokenSuspended, "", Red},
		{true, authz.TokenActive, ReasonCardLocked, Red},
		{true, authz.TokenActive, "", Yellow},
		{true, authz.TokenInactive, "", Yellow},
	} {
		if got := DeviceBindingTrust(c.found, c.state, c.reason); got != c.want {
			t.Errorf("%+v: %s", c, got)
		}
	}
}

func TestIDVMethodsAndMasking(t *testing.T) {
	ms := IDVMethods("card-1", "+33612345678", "alice@example.com")
	if len(ms) != 2 || ms[0].Type != MethodSMS || ms[0].Value != "*********678" ||
		ms[1].Type != MethodEmail || ms[1].Value != "a***@example.com" {
		t.Fatalf("%+v", ms)
	}
	again := IDVMethods("card-1", "+33612345678", "alice@example.com")
	if again[0].ID != ms[0].ID || again[1].ID != ms[1].ID {
		t.Fatal("ids not stable")
	}
	other := IDVMethods("card-2", "+33612345678", "")
	if len(other) != 1 || other[0].ID == ms[0].ID {
		t.Fatalf("another card's ids: %+v", other)
	}
	changed := IDVMethods("card-1", "+33600000678", "alice@example.com")
	if changed[0].ID == ms[0].ID {
		t.Fatal("a new phone kept the method id")
	}
	if len(IDVMethods("card-1", "", "")) != 0 {
		t.Fatal("methods without contacts")
	}
	if _, ok := FindMethod(ms, ms[1].ID); !ok {
		t.Fatal("FindMethod")
	}
	for in, want := range map[string]string{"12": "**", "123": "***", "1234": "*234", "": ""} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"bob@x.org": "b***@x.org", "noat": "***", "@x.org": "***", "élan@a.fr": "é***@a.fr"} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q", in, got)
		}
	}
}

// Every action from every state: one row per rule of contract §5.
func TestTransition(t *testing.T) {
	const (
		I = authz.TokenInactive
		A = authz.TokenActive
		S = authz.TokenSuspended
		D = authz.TokenDeleted
	)
	type row struct {
		from   authz.TokenState
		action string
		to     authz.TokenState
		effect Effect
		err    bool
	}
	rows := []row{
		{I, "ACTIVATE", A, EffectActivate, false},
		{A, "ACTIVATE", A, EffectActivate, false},
		{S, "ACTIVATE", A, EffectActivate, false},
		{A, "SUSPEND", S, EffectNone, false},
		{I, "SUSPEND", S, EffectNone, false},
		{S, "SUSPEND", S, EffectNone, false},
		{S, "RESUME", A, EffectNone, false},
		{A, "RESUME", "", 0, true},
		{I, "RESUME", A, EffectNone, false},
		{A, "DELETE", D, EffectNone, false},
		{S, "DELETE_FROM_APP", D, EffectNone, false},
		{I, "DELETE", D, EffectNone, false},
		{A, "UPDATE", A, EffectFunding, false},
		{S, "RENEW", S, EffectRenew, false},
		{A, "ERASE", D, EffectErase, false},
		{D, "ERASE", D, EffectErase, false},
		{A, "DEVICE_BOUND", A, EffectBind, false},
		{A, "DEVICE_UNBOUND", A, EffectUnbind, false},
		{I, "CARDHOLDER_STEPUP_OTP", I, EffectStepUp, false},
		{A, "CARDHOLDER_STEPUP_ISSUER_APP", A, EffectStepUp, false},
		{A, "CARDHOLDER_STEPUP_CALL_CENTER", A, EffectStepUp, false},
		{A, "CARDHOLDER_STEPUP_APPROVED", A, EffectStepUp, false},
		{A, "", A, EffectNone, false},
		{A, "NOT_AN_ACTION", "", 0, true},
	}
	for _, a := range vcardActions {
		if a != "ERASE" {
			rows = append(rows, row{D, a, "", 0, true}) // DELETED is final
		}
	}
	for _, r := range rows {
		to, eff, err := Transition(r.from, r.action)
		if r.err {
			if !errors.Is(err, ErrTransition) {
				t.Errorf("%s %s: %v %v, want refusal", r.from, r.action, to, err)
			}
			continue
		}
		if err != nil || to != r.to || eff != r.effect {
			t.Errorf("%s %s: %s %d %v, want %s %d", r.from, r.action, to, eff, err, r.to, r.effect)
		}
	}
}

func TestStandInState(t *testing.T) {
	for in, want := range map[string]authz.TokenState{"": authz.TokenInactive, "INACTIVE": authz.TokenInactive,
		"SUSPENDED": authz.TokenSuspended, "RESUMED": authz.TokenActive, "UPDATED": authz.TokenActive,
		"DELETED": authz.TokenDeleted} {
		if got := StandInState(in); got != want {
			t.Errorf("%q: %s", in, got)
		}
	}
}
