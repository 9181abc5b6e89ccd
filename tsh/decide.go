package tsh

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/cardswitch/cardswitch/authz"
)

// The decisions of contract §5 as pure functions of what was read (no clock, no I/O): the
// handlers read the card and the token, call these, and apply what they decide.

// Reasons a card cannot be tokenized (409 CARD_NOT_ELIGIBLE), in the order they are checked.
const (
	ReasonCardRemoved    = "CARD_REMOVED"
	ReasonCardLocked     = "CARD_LOCKED"
	ReasonCardInactive   = "CARD_INACTIVE"
	ReasonCardExpired    = "CARD_EXPIRED"
	ReasonExpiryMismatch = "EXPIRY_MISMATCH"
)

// CardView is what the decisions read of a card.
type CardView struct {
	State      authz.CardState
	ExpiryYYMM string // the card's expiry, YYMM
}

// Eligibility says why a card cannot be tokenized, or "" when it can. expMMYY is the expiry
// the hub gave ("" : none given); nowYYMM is the current month. A card is expired after the
// last day of its expiry month.
func Eligibility(c CardView, expMMYY, nowYYMM string) string {
	switch {
	case c.State == authz.CardStateRemoved:
		return ReasonCardRemoved
	case c.State == authz.CardStateLocked:
		return ReasonCardLocked
	case c.State != authz.CardStateActive:
		return ReasonCardInactive
	case c.ExpiryYYMM < nowYYMM:
		return ReasonCardExpired
	case expMMYY != "" && expMMYY[2:]+expMMYY[:2] != c.ExpiryYYMM:
		return ReasonExpiryMismatch
	}
	return ""
}

// Levels of trust (the seed's lowercase values).
const (
	Green  = "green"
	Yellow = "yellow"
	Red    = "red"
)

// CVVCheck is what is known of the card verification value of a digitization request.
type CVVCheck uint8

// CVV outcomes: not checked by anyone; checked right or wrong by cardswitch (a CVV given in
// authenticationValue or cipheredCardInfo); or as the hub reports (cvvValidated).
const (
	CVVNotChecked CVVCheck = iota
	CVVRight
	CVVWrong
)

// TrustInput is what levelOfTrust is decided on.
type TrustInput struct {
	NotEligible string   // an eligibility reason, or ""
	CVV         CVVCheck // cardswitch's own check (a CVV was given)
	// CVVValidated is the hub's cvvValidated: nil absent (the TSP did not check).
	CVVValidated *bool
	TnCAccepted  bool // tncStatus true
}

// TrustRule is a configured change of the default rules (config tsh.trustRules).
type TrustRule struct {
	Program          string // "" : any
	WalletProviderID string // "" : any
	AlwaysStepUp     bool   // never green
	GreenWithoutCVV  bool   // accepted terms alone give green when no CVV was checked
}

// RuleFor picks the most specific rule matching program and wallet provider (both named, then
// the wallet provider, then the program, then one naming neither); the zero rule (the defaults)
// when none matches.
func RuleFor(rules []TrustRule, program, walletProviderID string) TrustRule {
	best, bestScore := TrustRule{}, -1
	for _, r := range rules {
		if (r.Program != "" && r.Program != program) || (r.WalletProviderID != "" && r.WalletProviderID != walletProviderID) {
			continue
		}
		score := 0
		if r.WalletProviderID != "" {
			score += 2
		}
		if r.Program != "" {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// LevelOfTrust decides requestCardDigitization (contract §5): red when the card is not eligible,
// a CVV was checked wrong (by cardswitch, or cvvValidated false); green when a CVV was checked
// right and the terms were accepted; yellow (ID&V) otherwise, also for a customer without any
// contact (the hub then gets an empty method list and decides). A rule can forbid green
// (AlwaysStepUp) or allow it on accepted terms without a CVV check (GreenWithoutCVV).
func LevelOfTrust(in TrustInput, rule TrustRule) string {
	if in.NotEligible != "" || in.CVV == CVVWrong || (in.CVVValidated != nil && !*in.CVVValidated) {
		return Red
	}
	cvvRight := in.CVV == CVVRight || (in.CVVValidated != nil && *in.CVVValidated)
	if !rule.AlwaysStepUp && in.TnCAccepted && (cvvRight || rule.GreenWithoutCVV) {
		return Green
	}
	return Yellow
}

// DeviceBindingTrust decides requestDeviceBinding: red for an unknown, deleted or suspended
// token or an ineligible card; otherwise yellow (binding a new device always steps the
// cardholder up).
func DeviceBindingTrust(tokenFound bool, token authz.TokenState, notEligible string) string {
	if !tokenFound || token == authz.TokenDeleted || token == authz.TokenSuspended || notEligible != "" {
		return Red
	}
	return Yellow
}

// ID&V method types.
const (
	MethodSMS   = "SMS"
	MethodEmail = "EMAIL"
)

// IDVMethod is one way to reach the cardholder, as answered to the hub.
type IDVMethod struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Value string `json:"value"` // masked
}

// IDVMethods lists one method per contact of the customer (phone: SMS, email: EMAIL). An id is
// a hash of the card and the contact: stable for the card while the contact stays, and a new
// contact gets a new id (an OTP is never sent to a number the cardholder chose before a change).
func IDVMethods(cardID, phone, email string) []IDVMethod {
	out := []IDVMethod{}
	if phone != "" {
		out = append(out, IDVMethod{ID: methodID(cardID, MethodSMS, phone), Type: MethodSMS, Value: MaskPhone(phone)})
	}
	if email != "" {
		out = append(out, IDVMethod{ID: methodID(cardID, MethodEmail, email), Type: MethodEmail, Value: MaskEmail(email)})
	}
	return out
}

func methodID(cardID, typ, contact string) string {
	h := sha256.Sum256([]byte(cardID + "|" + typ + "|" + contact))
	return strings.ToLower(typ) + "-" + hex.EncodeToString(h[:8])
}

// FindMethod finds the method of id in methods.
func FindMethod(methods []IDVMethod, id string) (IDVMethod, bool) {
	for _, m := range methods {
		if m.ID == id {
			return m, true
		}
	}
	return IDVMethod{}, false
}

// MaskPhone replaces every character but the last 3 with '*'.
func MaskPhone(p string) string {
	n := utf8.RuneCountInString(p)
	if n <= 3 {
		return strings.Repeat("*", n)
	}
	r := []rune(p)
	return strings.Repeat("*", n-3) + string(r[n-3:])
}

// MaskEmail keeps the first letter and the domain: "a***@example.com". An address without a
// domain is masked whole.
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(e)
	return string(first) + "***" + e[at:]
}

// Token lifecycle (notifyVirtualCardChange actions).

// ErrTransition is an action the token's state forbids (409 INVALID_TOKEN_TRANSITION).
var ErrTransition = errors.New("tsh: the token's state does not allow this action")

// Effect is what an action does to a token besides its state.
type Effect uint8

// Effects of actions.
const (
	EffectNone     Effect = iota
	EffectFunding         // UPDATE: the token funds from the card of issuerCardRefId
	EffectRenew           // RENEW: new token PAN and expiry from tokenInfo
	EffectErase           // ERASE: personal data removed
	EffectBind            // DEVICE_BOUND
	EffectUnbind          // DEVICE_UNBOUND
	EffectStepUp          // CARDHOLDER_STEPUP_*
	EffectActivate        // ACTIVATE
)

// Transition decides an action on a token in state from: the state after it and its effect,
// exactly as contract §5 lists them. ACTIVATE and RESUME make the token ACTIVE; SUSPEND makes it
// SUSPENDED; DELETE and DELETE_FROM_APP delete; ERASE deletes and erases, also a deleted token;
// UPDATE, RENEW, the device and step-up actions keep the state. Refused (the contract's two
// rules): anything but ERASE after DELETED, which is final, and RESUME of an active token. No
// action ("") keeps the state.
func Transition(from authz.TokenState, action string) (authz.TokenState, Effect, error) {
	if from == authz.TokenDeleted && action != "ERASE" {
		return "", 0, ErrTransition
	}
	switch action {
	case "":
		return from, EffectNone, nil
	case "ACTIVATE":
		return authz.TokenActive, EffectActivate, nil
	case "SUSPEND":
		return authz.TokenSuspended, EffectNone, nil
	case "RESUME":
		if from == authz.TokenActive {
			return "", 0, ErrTransition
		}
		return authz.TokenActive, EffectNone, nil
	case "DELETE", "DELETE_FROM_APP":
		return authz.TokenDeleted, EffectNone, nil
	case "ERASE":
		return authz.TokenDeleted, EffectErase, nil
	case "UPDATE":
		return from, EffectFunding, nil
	case "RENEW":
		return from, EffectRenew, nil
	case "DEVICE_BOUND":
		return from, EffectBind, nil
	case "DEVICE_UNBOUND":
		return from, EffectUnbind, nil
	case "CARDHOLDER_STEPUP_OTP", "CARDHOLDER_STEPUP_ISSUER_APP", "CARDHOLDER_STEPUP_CALL_CENTER", "CARDHOLDER_STEPUP_APPROVED":
		return from, EffectStepUp, nil
	}
	return "", 0, ErrTransition
}

// StandInState is the token state of notifyStandInProcess's status: the scheme's stand-in
// reports what it did; RESUMED and UPDATED leave the token in use (ACTIVE); absent is INACTIVE.
func StandInState(status string) authz.TokenState {
	switch status {
	case "SUSPENDED":
		return authz.TokenSuspended
	case "RESUMED", "UPDATED":
		return authz.TokenActive
	case "DELETED":
		return authz.TokenDeleted
	}
	return authz.TokenInactive
}
