// Package authz is the pure authorization policy of cardswitch: given the state of a card and its
// balance, the verification results of the security checks and the request, it decides an action
// code. It does no I/O, reads no clock and keeps no state (ARCHITECTURE.md rule 1).
package authz

import "strconv"

// ActionCode is the 4-digit decision of contract §3. A decline is a value, not an error.
type ActionCode uint16

// The action codes of contract §3.
const (
	Approved               ActionCode = 0    // 00
	DoNotHonour            ActionCode = 1000 // 05: lock reason 3, original after its reversal
	ExpiredCard            ActionCode = 1001 // 54
	SuspectedFraud         ActionCode = 1002 // 59: lock reason 7
	RestrictedCard         ActionCode = 1004 // 62: restricted card, token not active
	PINTriesExceeded       ActionCode = 1006 // 75: lock reason 6
	InvalidCard            ActionCode = 1011 // 14: lock reason 8, unknown PAN or token
	InsufficientFunds      ActionCode = 1016 // 51: also lock reason 4
	IncorrectPIN           ActionCode = 1017 // 55
	CardInactive           ActionCode = 1018 // 78: lock reason 5, physical card not activated
	NotPermitted           ActionCode = 1019 // 57
	ExceedsAmountLimit     ActionCode = 1021 // 61
	ExceedsFrequencyLimit  ActionCode = 1023 // 65
	CryptogramFailure      ActionCode = 1029 // 82
	CurrencyNotAccepted    ActionCode = 1030 // 57
	CardVerificationFailed ActionCode = 1045 // N7
	OriginalNotFound       ActionCode = 1816 // 25
	LostCardPickUp         ActionCode = 2008 // 41: lock reason 1
	StolenCardPickUp       ActionCode = 2009 // 43: lock reason 2
	FormatError            ActionCode = 9100 // 30
	DuplicateMismatch      ActionCode = 9113 // 94
	SystemError            ActionCode = 9109 // 96
)

// AllActionCodes lists every action code of contract §3, in table order.
var AllActionCodes = []ActionCode{
	Approved, DoNotHonour, ExpiredCard, SuspectedFraud, RestrictedCard, PINTriesExceeded,
	InvalidCard, InsufficientFunds, IncorrectPIN, CardInactive, NotPermitted, ExceedsAmountLimit,
	ExceedsFrequencyLimit, CryptogramFailure, CurrencyNotAccepted, CardVerificationFailed,
	OriginalNotFound, LostCardPickUp, StolenCardPickUp, FormatError, DuplicateMismatch, SystemError,
}

// Field39 is the iso87 response code for the action code (contract §3 table).
func (a ActionCode) Field39() string {
	switch a {
	case Approved:
		return "00"
	case DoNotHonour:
		return "05"
	case ExpiredCard:
		return "54"
	case SuspectedFraud:
		return "59"
	case RestrictedCard:
		return "62"
	case PINTriesExceeded:
		return "75"
	case InvalidCard:
		return "14"
	case InsufficientFunds:
		return "51"
	case IncorrectPIN:
		return "55"
	case CardInactive:
		return "78"
	case NotPermitted, CurrencyNotAccepted:
		return "57"
	case ExceedsAmountLimit:
		return "61"
	case ExceedsFrequencyLimit:
		return "65"
	case CryptogramFailure:
		return "82"
	case CardVerificationFailed:
		return "N7"
	case OriginalNotFound:
		return "25"
	case LostCardPickUp:
		return "41"
	case StolenCardPickUp:
		return "43"
	case FormatError:
		return "30"
	case DuplicateMismatch:
		return "94"
	default:
		return "96"
	}
}

// String is the 4-digit form used in logs, events, history and the API.
func (a ActionCode) String() string {
	s := strconv.Itoa(int(a))
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// Approved reports whether the code approves the request.
func (a ActionCode) IsApproved() bool { return a == Approved }

// LockReason is a card lock reason of the seed card-lock table (contract §3).
type LockReason uint8

// Lock reasons 1..8; 0 means not locked.
const (
	NotLocked            LockReason = 0
	LockLost             LockReason = 1
	LockStolen           LockReason = 2
	LockPendingQuery     LockReason = 3
	LockConsolidation    LockReason = 4
	LockInactive         LockReason = 5
	LockPINTriesExceeded LockReason = 6
	LockSuspectedFraud   LockReason = 7
	LockReplaced         LockReason = 8
)

// Valid reports whether r is one of the eight lock reasons.
func (r LockReason) Valid() bool { return r >= LockLost && r <= LockReplaced }

// Irreversible reports whether a lock with this reason can never be unlocked (1, 2, 5, 8).
func (r LockReason) Irreversible() bool {
	return r == LockLost || r == LockStolen || r == LockInactive || r == LockReplaced
}

// ActionCode is the decline a lock with this reason causes.
func (r LockReason) ActionCode() ActionCode {
	switch r {
	case LockLost:
		return LostCardPickUp
	case LockStolen:
		return StolenCardPickUp
	case LockPendingQuery:
		return DoNotHonour
	case LockConsolidation:
		return InsufficientFunds
	case LockInactive:
		return CardInactive
	case LockPINTriesExceeded:
		return PINTriesExceeded
	case LockSuspectedFraud:
		return SuspectedFraud
	case LockReplaced:
		return InvalidCard
	}
	return Approved
}
