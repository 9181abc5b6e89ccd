package authz

import (
	"errors"
	"strconv"
)

// Stored credentials (contract §2, field 48 subelements 20, 21, 22; issue 17). A merchant keeps a
// card (or token) on file under an agreement the cardholder consented to; the rules below say
// which requests may create or use one. They are judged on cardswitch's own clock in whole UTC
// days, which the caller passes in: nothing here reads a clock.

// Terms are the recurring terms of subelement 22: MIN|MAX|DAYS|DD.MM.YYYY.
type Terms struct {
	MinMinor, MaxMinor int64 // in the balance currency's minor units
	IntervalDays       int64 // minimum days between recurring payments
	EndUnixDay         int64 // the last day allowed, as days since the Unix epoch (UTC)
}

// ErrBadTerms is matched (errors.Is) by every ParseTerms error; the switch answers 30.
var ErrBadTerms = errors.New("bad recurring terms")

// TermsError says which part of subelement 22 is wrong. Terms carry no secrets, so the value is
// kept for the log.
type TermsError struct {
	Part   string // "MIN", "MAX", "DAYS", "END", or "" for the whole value
	Value  string
	Reason string
}

func (e *TermsError) Error() string {
	if e.Part == "" {
		return "recurring terms " + strconv.Quote(e.Value) + ": " + e.Reason
	}
	return "recurring terms " + e.Part + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap makes every TermsError match ErrBadTerms.
func (e *TermsError) Unwrap() error { return ErrBadTerms }

// Grammar bounds of subelement 22, the same as the codec's (switch/codec validTerms): an amount is
// 1 to termsAmountDigitsMax integer digits, a dot and two decimals; DAYS is 1 to termsDaysDigitsMax
// digits. With ten integer digits and an exponent up to 4 an amount stays far inside int64.
const (
	termsAmountDigitsMax = 10
	termsDaysDigitsMax   = 4
	// exponentMax is the largest ISO 4217 minor-unit exponent (CLF, UYW).
	exponentMax = 4
)

// ParseTerms parses subelement 22. Amounts are written with two decimals; exponent is the
// balance currency's (2 for EUR, 0 for JPY, 3 for BHD): "5.00" is 500 at exponent 2, 5 at 0 (an
// amount with non-zero decimals at exponent 0 is an error), 5000 at 3. Errors (the switch answers
// 30, all match ErrBadTerms): bad grammar, MIN > MAX, DAYS = 0, an end date before nowUnixDay,
// impossible dates (31.04, 29.02 outside leap years). An end date equal to nowUnixDay is allowed:
// the end date is the last day allowed.
//
// An exponent outside 0..4 is a programmer error (currencies come from a fixed table) and panics.
func ParseTerms(s string, exponent int, nowUnixDay int64) (Terms, error) {
	if exponent < 0 || exponent > exponentMax {
		panic("authz: ParseTerms: currency exponent out of range")
	}
	var parts [4]string
	n, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '|' {
			if n == len(parts) {
				return Terms{}, &TermsError{Value: s, Reason: "more than four parts"}
			}
			parts[n] = s[start:i]
			n++
			start = i + 1
		}
	}
	if n != len(parts) {
		return Terms{}, &TermsError{Value: s, Reason: "want MIN|MAX|DAYS|DD.MM.YYYY"}
	}
	var t Terms
	var err error
	if t.MinMinor, err = parseTermsAmount("MIN", parts[0], exponent); err != nil {
		return Terms{}, err
	}
	if t.MaxMinor, err = parseTermsAmount("MAX", parts[1], exponent); err != nil {
		return Terms{}, err
	}
	if t.MinMinor > t.MaxMinor {
		return Terms{}, &TermsError{Value: s, Reason: "MIN is above MAX"}
	}
	days, ok := parseUint(parts[2], termsDaysDigitsMax)
	if !ok {
		return Terms{}, &TermsError{Part: "DAYS", Value: parts[2], Reason: "want 1 to 4 digits"}
	}
	if days == 0 {
		return Terms{}, &TermsError{Part: "DAYS", Value: parts[2], Reason: "interval of zero days"}
	}
	t.IntervalDays = days
	end, ok := parseDate(parts[3])
	if !ok {
		return Terms{}, &TermsError{Part: "END", Value: parts[3], Reason: "not a date DD.MM.YYYY"}
	}
	if end < nowUnixDay {
		return Terms{}, &TermsError{Part: "END", Value: parts[3], Reason: "end date already past"}
	}
	t.EndUnixDay = end
	return t, nil
}

// parseTermsAmount reads an amount with two decimals ("49.99") into minor units at exponent.
func parseTermsAmount(part, v string, exponent int) (int64, error) {
	dot := len(v) - 3
	if dot < 1 || dot > termsAmountDigitsMax || v[dot] != '.' {
		return 0, &TermsError{Part: part, Value: v, Reason: "want an amount with two decimals"}
	}
	units, ok1 := parseUint(v[:dot], termsAmountDigitsMax)
	cents, ok2 := parseUint(v[dot+1:], 2)
	if !ok1 || !ok2 {
		return 0, &TermsError{Part: part, Value: v, Reason: "want an amount with two decimals"}
	}
	hundredths := units*100 + cents
	if exponent >= 2 {
		return hundredths * pow10(exponent-2), nil
	}
	unit := pow10(2 - exponent) // hundredths in one minor unit
	if hundredths%unit != 0 {
		return 0, &TermsError{Part: part, Value: v, Reason: "more decimals than the currency has"}
	}
	return hundredths / unit, nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// parseUint reads 1 to maxDigits ASCII digits.
func parseUint(v string, maxDigits int) (int64, bool) {
	if len(v) == 0 || len(v) > maxDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseDate reads DD.MM.YYYY (a real calendar date, year 0001 or later) as days since the Unix
// epoch.
func parseDate(v string) (int64, bool) {
	if len(v) != 10 || v[2] != '.' || v[5] != '.' {
		return 0, false
	}
	day, ok1 := parseUint(v[0:2], 2)
	month, ok2 := parseUint(v[3:5], 2)
	year, ok3 := parseUint(v[6:10], 4)
	if !ok1 || !ok2 || !ok3 || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	return daysFromCivil(year, month, day), true
}

func daysIn(year, month int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the proleptic Gregorian date
// year-month-day (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"), so authz needs no
// time.Time to compare a date with the caller's day.
func daysFromCivil(year, month, day int64) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400 // year >= 0 here: parseDate takes years from 1
	yoe := year - era*400
	mp := (month + 9) % 12 // March is 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// AgreementView is what the rules read of the card's (or token's) agreement named by subelement 21.
type AgreementView struct {
	Found      bool
	MerchantID string // field 42 of its initial operation
	Active     bool   // not cancelled or ended
	HasTerms   bool
	Terms      Terms
	// LastRecurringUnixDay is the day of the last approved recurring payment or paid initial
	// operation that still stands (a reversal restores the previous one); 0: none.
	LastRecurringUnixDay int64
	// NeedsCardData is set when the agreement was made without verified card data (created through
	// the management API): its next cardholder-initiated payment must verify the card. The zero
	// value, an agreement made by a verified initial operation, needs none (issue 17 item 2).
	NeedsCardData bool
}

// StoredCredentialInput is what the stored-credential rules look at.
type StoredCredentialInput struct {
	Indicator        string // subelement 20: "" none, "1" CIT, "2" MIT recurring, "3" MIT unscheduled
	Reference        string // subelement 21
	MerchantID       string // field 42, compared byte for byte with the agreement's
	AmountMinor      int64
	NowUnixDay       int64
	CardDataVerified bool // CVC2 passed, a checked cryptogram passed, or a wallet/PbA token
	Agreement        AgreementView
}

// StoredCredentialUse says what an approved request does to its agreement.
type StoredCredentialUse uint8

// Stored-credential uses.
const (
	SCNone          StoredCredentialUse = iota // no stored-credential data
	SCInitial                                  // creates the agreement (CIT with a reference the card does not have)
	SCSubsequentCIT                            // a cardholder-initiated payment under the agreement
	SCRecurring                                // counts for the interval
	SCUnscheduled                              // a merchant-initiated payment outside the schedule
)

var scUseNames = [...]string{"none", "initial", "subsequent_cit", "recurring", "unscheduled"}

func (u StoredCredentialUse) String() string {
	if int(u) < len(scUseNames) {
		return scUseNames[u]
	}
	return "unknown"
}

// Stored-credential indicators (subelement 20).
const (
	IndicatorCIT            = "1"
	IndicatorMITRecurring   = "2"
	IndicatorMITUnscheduled = "3"
)

// CheckStoredCredential applies the stored-credential rules of contract §2 and issue 17: it returns
// the use and whether the request breaks them (the switch answers 1019 -> field 39 "57" through
// Decide's RecurringViolation). The use is the request's kind even when violation is set, for
// logging; the caller changes the agreement only for an approved request.
//
// (Named CheckStoredCredential because the type StoredCredential, field 48 as decoded, already
// holds the name in this package.)
//
//   - No indicator: SCNone, no violation; a reference or terms without an indicator are ignored.
//   - Any stored-credential request needs a reference and a merchant (field 42) to bind the
//     agreement to; without either it is a violation.
//   - "1" with a reference the card does not have: SCInitial; the card data must be verified.
//   - "1" with a known reference: SCSubsequentCIT; the agreement must be active and the
//     merchant's, and verified card data is needed only when the agreement has NeedsCardData.
//   - "2": SCRecurring; an active agreement of the merchant and, when it has terms: on or before
//     the end day, MIN <= amount <= MAX, and at least DAYS after the last recurring payment.
//   - "3": SCUnscheduled; an active agreement of the merchant, on or before the end day if any.
//   - Any other indicator: SCNone and a violation (the codec rejects them; this stays total).
func CheckStoredCredential(in StoredCredentialInput) (use StoredCredentialUse, violation bool) {
	switch in.Indicator {
	case "":
		return SCNone, false
	case IndicatorCIT:
		if !in.Agreement.Found {
			use = SCInitial
		} else {
			use = SCSubsequentCIT
		}
	case IndicatorMITRecurring:
		use = SCRecurring
	case IndicatorMITUnscheduled:
		use = SCUnscheduled
	default:
		return SCNone, true
	}
	if in.Reference == "" || in.MerchantID == "" {
		return use, true
	}
	a := in.Agreement
	if use == SCInitial {
		return use, !in.CardDataVerified
	}
	if !a.Found || !a.Active || a.MerchantID != in.MerchantID {
		return use, true
	}
	switch use {
	case SCSubsequentCIT:
		return use, a.NeedsCardData && !in.CardDataVerified
	case SCRecurring:
		if !a.HasTerms {
			return use, false
		}
		t := a.Terms
		if in.NowUnixDay > t.EndUnixDay || in.AmountMinor < t.MinMinor || in.AmountMinor > t.MaxMinor {
			return use, true
		}
		if a.LastRecurringUnixDay != 0 && in.NowUnixDay-a.LastRecurringUnixDay < t.IntervalDays {
			return use, true
		}
		return use, false
	default: // SCUnscheduled
		return use, a.HasTerms && in.NowUnixDay > a.Terms.EndUnixDay
	}
}
