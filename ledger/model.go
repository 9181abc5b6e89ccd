// Package ledger is the pure accounting of cardswitch: customers, balances, cards, holds,
// captures, reversals, refunds and idempotency. Every change happens inside a Tx, a write overlay
// over the State that the engine makes durable before it is merged (persist before reply). The
// package does no I/O and reads no clock: time is passed in.
package ledger

import "github.com/cardswitch/cardswitch/authz"

// KYC states of a customer.
const (
	KYCPending  = "PENDING"
	KYCVerified = "VERIFIED"
	KYCRejected = "REJECTED"
)

// Customer is a cardholder. Its personal data is encrypted at rest by the journal.
type Customer struct {
	ID                string `json:"id"`
	ExternalID        string `json:"externalId"`
	FirstName         string `json:"firstName"`
	LastName          string `json:"lastName"`
	Email             string `json:"email"`
	Phone             string `json:"phone"`
	KYC               string `json:"kyc"`
	CreatedAtUnixNano int64  `json:"createdAt"`
	// State is the customer's lifecycle state (customer_lifecycle.go); "" on rows written
	// before it existed reads as ACTIVE (Customer.Lifecycle).
	State CustomerState `json:"state,omitempty"`
	// KYCReference is the id of the customer's latest eKYC verification (kyc_transition.go):
	// a provider's result is applied only when it names it.
	KYCReference string `json:"kycReference,omitempty"`
}

// CustomerState is a customer's lifecycle state, stored and shown as this string.
type CustomerState string

// Customer states (customer_lifecycle.go).
const (
	CustomerActive      CustomerState = "ACTIVE"
	CustomerDeactivated CustomerState = "DEACTIVATED" // cards declined 1004 until reactivated
	CustomerDeleted     CustomerState = "DELETED"     // final: cards removed, personal data erased
)

// Lifecycle is the customer's state, ACTIVE for a row written before states existed.
func (c *Customer) Lifecycle() CustomerState {
	if c.State == "" {
		return CustomerActive
	}
	return c.State
}

// Balance kinds: a customer's own balance, or a partner balance that also bounds what the users
// of a program can spend.
const (
	BalanceUser           = "USER"
	BalancePartnerDeposit = "PARTNER_DEPOSIT"
	BalancePartnerCredit  = "PARTNER_CREDIT"
)

// BalanceState is a balance's state, stored and shown as this string.
type BalanceState string

// Balance states.
const (
	BalanceActive BalanceState = "ACTIVE"
	BalanceClosed BalanceState = "CLOSED"
	// BalanceBlocked is open but frozen by the issuer: authorizations are declined 1019,
	// reloads and refunds still land (balance_state.go).
	BalanceBlocked BalanceState = "BLOCKED"
)

// Balance holds money in one currency. Invariant: AvailableMinor = CurrentMinor - HeldMinor
// (+ CreditLimitMinor for a partner credit balance).
type Balance struct {
	ID                string       `json:"id"`
	Kind              string       `json:"kind"`
	CustomerID        string       `json:"customerId,omitempty"`
	Program           string       `json:"program,omitempty"` // partner balances: the program they fund
	Currency          string       `json:"currency"`
	CurrentMinor      int64        `json:"current"`
	HeldMinor         int64        `json:"held"`
	CreditLimitMinor  int64        `json:"creditLimit,omitempty"`
	LowMarkMinor      int64        `json:"lowMark,omitempty"` // low-balance notification threshold
	State             BalanceState `json:"state"`
	LoadedMinor       int64        `json:"loaded"` // sum of reloads: for the books
	CreatedAtUnixNano int64        `json:"createdAt"`
}

// AvailableMinor is what can still be authorized against the balance.
func (b *Balance) AvailableMinor() int64 { return b.CurrentMinor - b.HeldMinor + b.CreditLimitMinor }

// Card types (contract §4).
const (
	CardVirtual      = "VIRTUAL"
	CardPhysical     = "PHYSICAL"
	CardDigitalFirst = "DIGITAL_FIRST"
)

// Card states: the policy's type (authz.CardState), so that the ledger and authz.Decide name
// the same states.
const (
	CardActive   = authz.CardStateActive
	CardInactive = authz.CardStateInactive
	CardLocked   = authz.CardStateLocked
	CardRemoved  = authz.CardStateRemoved
)

// Card is a payment card. PAN, CVC2 and PVV are kept in memory for the authorization path and
// encrypted at rest by the journal; lookups by PAN go through PANHash, a keyed hash.
type Card struct {
	ID         string           `json:"id"`
	BalanceID  string           `json:"balanceId"`
	CustomerID string           `json:"customerId"`
	Program    string           `json:"program"`
	Type       string           `json:"type"`
	State      authz.CardState  `json:"state"`
	LockReason authz.LockReason `json:"lockReason"`
	// StateBeforeLock is the state a lock took the card out of (ACTIVE or INACTIVE), which an
	// unlock returns it to; empty while the card is not locked, and on a card locked before the
	// field existed (unlock then falls back to ACTIVE: see Tx.ChangeCard).
	StateBeforeLock authz.CardState `json:"stateBeforeLock,omitempty"`
	PANHash         string          `json:"panHash"`
	PAN             string          `json:"pan"`
	Last4           string          `json:"last4"`
	ExpiryYYMM      string          `json:"expiry"`
	PSN             string          `json:"psn"`
	CVC2            string          `json:"cvc2"`
	PVV             string          `json:"pvv,omitempty"`
	PINTries        int             `json:"pinTries"`
	// CardDataFails counts consecutive wrong CVC2/CVV/iCVV values (stored with PINTries).
	CardDataFails     int               `json:"cardDataFails,omitempty"`
	HighestATC        int               `json:"highestAtc"`
	Personalised      bool              `json:"personalised,omitempty"`
	Limits            Limits            `json:"limits"`
	Usage             Usage             `json:"usage"`
	CreatedAtUnixNano int64             `json:"createdAt"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// Limits are optional per-card limits; zero means not set (contract §2: none by default).
type Limits struct {
	MaxAmountMinor  int64 `json:"maxAmount,omitempty"`       // per authorization -> 1021
	MaxCountPerDay  int   `json:"maxCountPerDay,omitempty"`  // approvals per UTC day -> 1023
	MaxAmountPerDay int64 `json:"maxAmountPerDay,omitempty"` // sum per UTC day -> 1021
}

func (l Limits) any() bool { return l.MaxCountPerDay != 0 || l.MaxAmountPerDay != 0 }

// Usage counts approvals in the current UTC day for the frequency and daily limits. It is kept
// only while the card has a daily limit (count or amount): approvals before a daily limit is set
// do not count towards it.
type Usage struct {
	UnixDay     int64 `json:"day"` // days since the Unix epoch
	Count       int   `json:"count"`
	AmountMinor int64 `json:"amount"`
}

// AuthState is what became of an auth record's original message, stored and shown as this
// string.
type AuthState string

// Auth states.
const (
	AuthOpen     AuthState = "OPEN"     // approved, hold (if any) in place
	AuthCaptured AuthState = "CAPTURED" // completion captured it; the rest of the hold released
	AuthReversed AuthState = "REVERSED" // fully reversed
	AuthExpired  AuthState = "EXPIRED"  // hold released by expiry
	AuthDeclined AuthState = "DECLINED" // the original was declined: nothing to reverse
	AuthPosted   AuthState = "POSTED"   // financial/refund/forced post: money moved at once
	// AuthReversedFirst marks a reversal that arrived before its original: the original, when
	// it comes, is declined and leaves no hold.
	AuthReversedFirst AuthState = "REVERSED_BEFORE_ORIGINAL"
)

// Auth is what the ledger remembers of a money-moving original message, keyed by the part of
// its key that field 90 can name (MTI, STAN, field 7, acquirer).
type Auth struct {
	Key               string           `json:"key"`
	CardID            string           `json:"cardId,omitempty"`
	BalanceID         string           `json:"balanceId,omitempty"`
	PartnerID         string           `json:"partnerId,omitempty"`
	Kind              authz.Kind       `json:"kind"`
	State             AuthState        `json:"state"`
	Action            authz.ActionCode `json:"action"`
	AmountMinor       int64            `json:"amount"`    // approved amount
	HeldMinor         int64            `json:"held"`      // still held on the balance(s)
	PostedMinor       int64            `json:"posted"`    // net debit (negative: net credit) booked
	ExpiresAtUnixNano int64            `json:"expiresAt"` // 0: no hold
	CreatedAtUnixNano int64            `json:"createdAt"`
	// Merchant is field 43 (name and location) and MCC field 18 of the original, for history.
	Merchant string `json:"merchant,omitempty"`
	MCC      string `json:"mcc,omitempty"`
	// The answer to the message that created the record, kept here rather than in a Reply row
	// of its own (one row fewer per approval): a retransmission of that message (same key and
	// field 37 RRN) is recognised from the auth record. Records created otherwise (a reversal
	// before its original) have none.
	HasReply  bool           `json:"hasReply,omitempty"`
	RRN       string         `json:"rrn,omitempty"`
	ReplyHash uint64         `json:"replyHash,omitempty"`
	Response  authz.Response `json:"response,omitempty"`
	// FX is set on a cross-currency authorization's record (fx.go); AmountMinor, HeldMinor and
	// PostedMinor are then in the balance's currency. A pointer, so that a same-currency record
	// is no larger than before (the hot path copies records); it is replaced, never changed in
	// place, since records are values the batch copies from the committed state.
	FX *AuthFX `json:"fx,omitempty"`
}

// AuthFX is what a cross-currency authorization's record adds (fx.go).
type AuthFX struct {
	// The authorization's own currency (field 49) and amount (field 4) as approved.
	TxnCurrencyNum string `json:"txnCurrency"`
	TxnAmountMinor int64  `json:"txnAmount"`
	// CompanyID is the company balance that booked the difference between the captured amount
	// and what the cardholder was debited; CompanyPostedMinor what it booked (debit > 0).
	CompanyID          string `json:"companyId,omitempty"`
	CompanyPostedMinor int64  `json:"companyPosted,omitempty"`
}

// Reply is the remembered answer to a request key, for retransmissions.
type Reply struct {
	Key         string         `json:"key"`
	ContentHash uint64         `json:"hash"`
	Response    authz.Response `json:"response"`
	AtUnixNano  int64          `json:"at"`
	// The balance as a management request (reload) answered it.
	CurrentMinor int64 `json:"current,omitempty"`
	HeldMinor    int64 `json:"held,omitempty"`
}

// Token types and the token record of the token vault: a token PAN that stands for a funding card.
const (
	TokenSE   = "SE"
	TokenHCE  = "HCE"
	TokenCOF  = "COF"
	TokenECOM = "ECOM"
	TokenQRC  = "QRC"
)

// Token is a payment token (wallet or card-on-file) whose authorizations are decided on its
// funding card. The token PAN is encrypted at rest; lookups go through PANHash.
type Token struct {
	ID                string           `json:"id"`
	CardID            string           `json:"cardId"`
	PANHash           string           `json:"panHash"`
	PAN               string           `json:"pan"`
	Last4             string           `json:"last4"`
	ExpiryYYMM        string           `json:"expiry"`
	PSN               string           `json:"psn"`
	State             authz.TokenState `json:"state"`
	Type              string           `json:"type"`
	WalletProvider    string           `json:"walletProvider,omitempty"`
	AssuranceLevel    int              `json:"assuranceLevel,omitempty"`
	HighestATC        int              `json:"highestAtc"`
	CreatedAtUnixNano int64            `json:"createdAt"`
}

// Wallet reports whether the token is a device wallet's (secure element or host card
// emulation): the token service verified the cardholder when it put the card in the wallet.
func (t *Token) Wallet() bool { return t.Type == TokenSE || t.Type == TokenHCE }
