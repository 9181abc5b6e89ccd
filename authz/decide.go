package authz

// CheckResult is the outcome of one card-security check.
type CheckResult uint8

// Check outcomes. NotPresent means the request carried no data for the check (contract §2:
// checks apply only when their data is present).
const (
	CheckNotPresent CheckResult = iota
	CheckPassed
	CheckFailed
)

// CardState is a card's lifecycle state (contract §4). The ledger stores it and the management
// API shows it as this string; the policy and the ledger share the one type, so a state cannot
// be misspelt in one of them.
type CardState string

// Card states.
const (
	CardStateActive   CardState = "ACTIVE"
	CardStateInactive CardState = "INACTIVE"
	CardStateLocked   CardState = "LOCKED"
	CardStateRemoved  CardState = "REMOVED"
)

// TokenState is a payment token's lifecycle state (token vault), stored and shown as this string.
type TokenState string

// Token states.
const (
	TokenInactive  TokenState = "INACTIVE"
	TokenActive    TokenState = "ACTIVE"
	TokenSuspended TokenState = "SUSPENDED"
	TokenDeleted   TokenState = "DELETED"
)

// PINTriesMax is how many consecutive wrong PINs lock a card with reason 6 (contract §3).
const PINTriesMax = 3

// CardDataTriesMax is how many consecutive wrong CVC2/CVV/iCVV values lock a card with reason 7
// (suspected fraud): a 3-digit value must not be guessable by trying a thousand of them.
const CardDataTriesMax = 5

// Input is everything the policy looks at. The caller gathers it from the ledger state and the
// security checks; Decide itself has no other source of truth.
type Input struct {
	Kind Kind

	CardFound       bool
	CardState       CardState
	LockReason      LockReason
	CardExpiryYYMM  string // the card's expiry
	ViaToken        bool   // field 2 carried a token PAN
	TokenState      TokenState
	TokenExpiryYYMM string

	RequestExpiryYYMM string // field 14, "" when absent
	NowYYMM           string // the current UTC year and month, YYMM

	RequestCurrencyNum string
	BalanceCurrencyNum string
	BalanceActive      bool
	// BalanceBlocked: the balance is BLOCKED (open but frozen by the issuer): what would take
	// money or show it is declined 1019, a credit (refund) still lands, as a reload does.
	BalanceBlocked bool
	// HolderInactive: the card's customer may not use cards now (deactivated, or KYC no
	// longer VERIFIED after it was): every kind is declined 1004.
	HolderInactive bool

	AmountMinor           int64
	AvailableMinor        int64
	HasPartner            bool
	PartnerAvailableMinor int64

	MaxAmountMinor     int64 // 0: no limit
	MaxCountPerDay     int   // 0: no limit
	MaxAmountPerDay    int64 // 0: no limit
	CountToday         int
	AmountTodayMinor   int64
	RecurringViolation bool // stored-credential rules refused the transaction

	CardData   CheckResult // CVC2, CVV or iCVV
	Cryptogram CheckResult // ARQC (and ATC freshness)
	PIN        CheckResult
	PINTries   int // consecutive wrong PINs before this request
	// CardDataFails is the card's consecutive wrong CVC2/CVV/iCVV count before this request.
	CardDataFails int
}

// Decision is the policy's answer: the action code and what it implies for the card.
type Decision struct {
	Action ActionCode
	// PINTries is the card's consecutive wrong-PIN count after this request.
	PINTries int
	// CardDataFails is the card's consecutive wrong-card-data count after this request.
	CardDataFails int
	// LockCard is set when this request locks the card (third wrong PIN: reason 6).
	LockCard LockReason
}

// Decide applies the authorization policy. Precedence, first match wins: the card and token
// exist and may be used; the balance is open and its holder active (1004); the balance is not
// blocked (1019, refunds excepted); the card is not expired; the card data, cryptogram and PIN are right;
// the currency fits the balance; limits; funds. Money checks are skipped for kinds that do not
// take money from the cardholder (refunds, balance inquiries).
func Decide(in Input) Decision {
	d := Decision{PINTries: in.PINTries, CardDataFails: in.CardDataFails}
	if !in.CardFound {
		d.Action = InvalidCard
		return d
	}
	if in.ViaToken {
		switch in.TokenState {
		case TokenActive:
		case TokenDeleted, "":
			d.Action = InvalidCard
			return d
		default:
			d.Action = RestrictedCard
			return d
		}
	}
	switch in.CardState {
	case CardStateRemoved:
		d.Action = InvalidCard
		return d
	case CardStateLocked:
		if in.LockReason.Valid() {
			d.Action = in.LockReason.ActionCode()
		} else {
			d.Action = RestrictedCard
		}
		return d
	case CardStateInactive:
		d.Action = CardInactive
		return d
	case CardStateActive:
	default:
		d.Action = RestrictedCard
		return d
	}
	if !in.BalanceActive || in.HolderInactive {
		d.Action = RestrictedCard
		return d
	}
	if in.BalanceBlocked && in.Kind != KindRefund {
		d.Action = NotPermitted
		return d
	}
	if expired(in.CardExpiryYYMM, in.NowYYMM) || (in.ViaToken && expired(in.TokenExpiryYYMM, in.NowYYMM)) {
		d.Action = ExpiredCard
		return d
	}
	if in.RequestExpiryYYMM != "" && in.RequestExpiryYYMM != in.CardExpiryYYMM &&
		!(in.ViaToken && in.RequestExpiryYYMM == in.TokenExpiryYYMM) {
		d.Action = ExpiredCard
		return d
	}
	switch in.CardData {
	case CheckFailed:
		d.CardDataFails = in.CardDataFails + 1
		if d.CardDataFails >= CardDataTriesMax {
			d.LockCard = LockSuspectedFraud
		}
		d.Action = CardVerificationFailed
		return d
	case CheckPassed:
		d.CardDataFails = 0
	}
	if in.Cryptogram == CheckFailed {
		d.Action = CryptogramFailure
		return d
	}
	switch in.PIN {
	case CheckFailed:
		d.PINTries = in.PINTries + 1
		if d.PINTries >= PINTriesMax {
			d.Action = PINTriesExceeded
			d.LockCard = LockPINTriesExceeded
		} else {
			d.Action = IncorrectPIN
		}
		return d
	case CheckPassed:
		d.PINTries = 0
	}
	if in.RequestCurrencyNum != in.BalanceCurrencyNum {
		d.Action = CurrencyNotAccepted
		return d
	}
	if in.RecurringViolation {
		d.Action = NotPermitted
		return d
	}
	if !takesMoney(in.Kind) {
		return d
	}
	if in.MaxAmountMinor > 0 && in.AmountMinor > in.MaxAmountMinor {
		d.Action = ExceedsAmountLimit
		return d
	}
	if in.MaxAmountPerDay > 0 && in.AmountTodayMinor+in.AmountMinor > in.MaxAmountPerDay {
		d.Action = ExceedsAmountLimit
		return d
	}
	if in.MaxCountPerDay > 0 && in.CountToday+1 > in.MaxCountPerDay {
		d.Action = ExceedsFrequencyLimit
		return d
	}
	if in.AmountMinor > in.AvailableMinor || (in.HasPartner && in.AmountMinor > in.PartnerAvailableMinor) {
		d.Action = InsufficientFunds
		return d
	}
	return d
}

func takesMoney(k Kind) bool {
	return k == KindAuthorization || k == KindFinancial
}

// expired reports whether a card with expiry YYMM is past its last valid month at now (YYMM).
// Cards are valid through the end of their expiry month. Years are in the 2000s.
func expired(expiryYYMM, nowYYMM string) bool {
	if len(expiryYYMM) != 4 || len(nowYYMM) != 4 {
		return expiryYYMM != "" // an unreadable expiry is treated as expired
	}
	return expiryYYMM < nowYYMM
}
