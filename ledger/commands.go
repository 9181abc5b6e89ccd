package ledger

import (
	"strconv"

	"github.com/cardswitch/cardswitch/authz"
)

// Command is one change the engine applies to the ledger: a value naming what it does (Kind),
// carrying its inputs, and applying them inside a batch's Tx with a result of its own type R.
// Apply runs on the engine goroutine and must not block. A command refused for a business reason
// reports the Refusal in its result; it changes nothing then.
//
// Keys names the auth records and replies Apply reads (prefetch.go): the engine loads them from
// the journal before the batch is applied, so Apply reads only memory. A command that reads
// none of them names nothing.
type Command[R any] interface {
	Kind() OpKind
	Keys(k *Keys)
	Apply(tx *Tx, env *Env) R
}

// OpKind names a command, for the engine's counters and logs.
type OpKind uint8

// Command kinds. OpOther is the kind of a command defined outside this package (tests).
const (
	OpOther OpKind = iota
	OpAuthorize
	OpExpireHolds
	OpProvision
	OpCreateCustomer
	OpSetKYC
	OpCreateBalance
	OpCreatePartnerBalance
	OpReload
	OpSetLowMark
	OpSetCreditLimit
	OpIssueCard
	OpIssueDigitalFirst
	OpLockCard
	OpUnlockCard
	OpActivateCard
	OpRemoveCard
	OpPersonaliseCard
	OpReplaceCVC2
	OpSetPVV
	OpSetCardLimits
	OpAddToken
	OpSetTokenState
	OpAudit        // an audit entry written in a batch of its own (management API)
	OpImportEvents // events of an earlier version's webhook outbox (events.go)
	OpCancelAgreement
	OpCreateAgreement
	OpPBA                 // a Pay by Account command (package pba)
	OpRegisterWalletToken // the token service hub's token registration (tsh.go)
	OpChangeWalletToken   // a change the token service hub notified (tsh.go)
	OpSendOTP             // a one-time password to deliver (tsh.go)
	OpWalletCVVChecked    // a CVV the token service hub sent, checked (tsh.go)
	OpSetBalanceState     // balance_state.go
	OpCustomerLifecycle   // customer_lifecycle.go
	OpKYCResult           // kyc_transition.go: an eKYC verification started or decided
	OpOpenCompanyBalances // fx.go
	OpLoyaltyEnroll
	OpLoyalty // the other loyalty commands (ledger/loyalty*.go)

	// NumOpKinds is the number of kinds: OpKind values are below it.
	NumOpKinds
)

var opKindNames = [NumOpKinds]string{
	OpOther: "other", OpAuthorize: "authorize", OpExpireHolds: "expire_holds", OpProvision: "provision",
	OpCreateCustomer: "create_customer", OpSetKYC: "set_kyc", OpCreateBalance: "create_balance",
	OpCreatePartnerBalance: "create_partner_balance", OpReload: "reload", OpSetLowMark: "set_low_mark",
	OpSetCreditLimit: "set_credit_limit", OpIssueCard: "issue_card", OpIssueDigitalFirst: "issue_digital_first",
	OpLockCard: "lock_card", OpUnlockCard: "unlock_card", OpActivateCard: "activate_card",
	OpRemoveCard: "remove_card", OpPersonaliseCard: "personalise_card", OpReplaceCVC2: "replace_cvc2",
	OpSetPVV: "set_pvv", OpSetCardLimits: "set_card_limits", OpAddToken: "add_token",
	OpSetTokenState: "set_token_state", OpAudit: "audit",
	OpImportEvents: "import_events", OpCancelAgreement: "cancel_agreement",
	OpCreateAgreement: "create_agreement",
	OpPBA:             "pba",
	// The token service hub (tsh.go).
	OpRegisterWalletToken: "register_wallet_token", OpChangeWalletToken: "change_wallet_token",
	OpSendOTP: "send_otp", OpWalletCVVChecked: "wallet_cvv_checked",
	OpSetBalanceState: "set_balance_state", OpCustomerLifecycle: "customer_lifecycle",
	OpKYCResult: "kyc_result", OpOpenCompanyBalances: "open_company_balances",
	OpLoyaltyEnroll: "loyalty_enroll", OpLoyalty: "loyalty",
}

func (k OpKind) String() string {
	if k < NumOpKinds {
		return opKindNames[k]
	}
	return "OpKind(" + strconv.Itoa(int(k)) + ")"
}

// Result is the result of a management command: the row as the command left it, or the
// business refusal that left everything as it was.
type Result[T any] struct {
	Value   T
	Refusal *Refusal
}

func result[T any](v T, r *Refusal) Result[T] { return Result[T]{Value: v, Refusal: r} }

// Money messages.

// Authorize applies one money message of the ISO switch (Tx.Process); the result is its answer.
// Its events are recorded by the ledger in the same batch (events.go).
type Authorize struct{ Req *authz.Request }

func (Authorize) Kind() OpKind   { return OpAuthorize }
func (c Authorize) Keys(k *Keys) { KeysOf(c.Req, k) }

func (c Authorize) Apply(tx *Tx, env *Env) authz.Response { return tx.Process(c.Req, env) }

// ExpireHolds releases at most Max holds that are due; the result is how many it released.
type ExpireHolds struct{ Max int }

func (ExpireHolds) Kind() OpKind   { return OpExpireHolds }
func (c ExpireHolds) Keys(k *Keys) { k.ExpireMax = c.Max }

func (c ExpireHolds) Apply(tx *Tx, env *Env) int { return tx.ExpireHolds(env, c.Max) }

// Provisioning.

// ProvisionItem is one card of a provisioning batch with the customer and balance it needs.
type ProvisionItem struct {
	Customer  Customer // created and marked KYC-verified unless it exists
	Balance   Balance  // created unless it exists, then funded with FundMinor
	FundMinor int64
	Card      Card // skipped when its PAN is in use
}

// Provision creates many cards at once (load tests, demos). A re-run skips the cards that exist,
// so an interrupted run can be repeated.
type Provision struct{ Items []ProvisionItem }

// ProvisionResult counts the cards created and skipped; a refusal ends the batch at the item
// refused (the items before it stay booked).
type ProvisionResult struct {
	Created, Skipped int
	Refusal          *Refusal
}

func (Provision) Kind() OpKind { return OpProvision }
func (Provision) Keys(*Keys)   {}

func (c Provision) Apply(tx *Tx, env *Env) ProvisionResult {
	var r ProvisionResult
	for k := range c.Items {
		it := &c.Items[k]
		if _, ok := tx.CardIDByPANHash(it.Card.PANHash); ok {
			r.Skipped++
			continue
		}
		if _, ok := tx.Customer(it.Customer.ID); !ok {
			if _, ref := tx.CreateCustomer(it.Customer, env); ref != nil {
				r.Refusal = ref
				return r
			}
			if _, ref := tx.SetKYC(it.Customer.ID, KYCVerified); ref != nil {
				r.Refusal = ref
				return r
			}
		}
		if _, ok := tx.Balance(it.Balance.ID); !ok {
			if _, ref := tx.CreateBalance(it.Balance, env); ref != nil {
				r.Refusal = ref
				return r
			}
			if it.FundMinor > 0 {
				if _, ref := tx.Reload(it.Balance.ID, it.FundMinor, "", env); ref != nil {
					r.Refusal = ref
					return r
				}
			}
		}
		if _, ref := tx.IssueCard(it.Card, env); ref != nil {
			if ref.Code == "PAN_IN_USE" {
				r.Skipped++
				continue
			}
			r.Refusal = ref
			return r
		}
		r.Created++
	}
	return r
}

// Customers and balances.

// CreateCustomer registers a customer (Tx.CreateCustomer).
type CreateCustomer struct{ Customer Customer }

func (CreateCustomer) Kind() OpKind { return OpCreateCustomer }
func (CreateCustomer) Keys(*Keys)   {}

func (c CreateCustomer) Apply(tx *Tx, env *Env) Result[Customer] {
	return result(tx.CreateCustomer(c.Customer, env))
}

// SetKYC records a customer's identity verification outcome (Tx.SetKYC).
type SetKYC struct{ CustomerID, Status string }

func (SetKYC) Kind() OpKind { return OpSetKYC }
func (SetKYC) Keys(*Keys)   {}

func (c SetKYC) Apply(tx *Tx, _ *Env) Result[Customer] {
	return result(tx.SetKYC(c.CustomerID, c.Status))
}

// CreateBalance opens a user balance (Tx.CreateBalance).
type CreateBalance struct{ Balance Balance }

func (CreateBalance) Kind() OpKind { return OpCreateBalance }
func (CreateBalance) Keys(*Keys)   {}

func (c CreateBalance) Apply(tx *Tx, env *Env) Result[Balance] {
	return result(tx.CreateBalance(c.Balance, env))
}

// CreatePartnerBalance opens a partner balance (Tx.CreatePartnerBalance).
type CreatePartnerBalance struct{ Balance Balance }

func (CreatePartnerBalance) Kind() OpKind { return OpCreatePartnerBalance }
func (CreatePartnerBalance) Keys(*Keys)   {}

func (c CreatePartnerBalance) Apply(tx *Tx, env *Env) Result[Balance] {
	return result(tx.CreatePartnerBalance(c.Balance, env))
}

// Reload adds money to a balance, once per idempotency key (Tx.Reload).
type Reload struct {
	BalanceID      string
	AmountMinor    int64
	IdempotencyKey string
}

func (Reload) Kind() OpKind   { return OpReload }
func (c Reload) Keys(k *Keys) { ReloadKeys(c.BalanceID, c.IdempotencyKey, k) }

func (c Reload) Apply(tx *Tx, env *Env) Result[Balance] {
	return result(tx.Reload(c.BalanceID, c.AmountMinor, c.IdempotencyKey, env))
}

// SetLowMark sets a balance's low-balance threshold (Tx.SetLowMark).
type SetLowMark struct {
	BalanceID    string
	LowMarkMinor int64
}

func (SetLowMark) Kind() OpKind { return OpSetLowMark }
func (SetLowMark) Keys(*Keys)   {}

func (c SetLowMark) Apply(tx *Tx, _ *Env) Result[Balance] {
	return result(tx.SetLowMark(c.BalanceID, c.LowMarkMinor))
}

// SetCreditLimit changes a partner credit balance's limit (Tx.SetCreditLimit).
type SetCreditLimit struct {
	BalanceID  string
	LimitMinor int64
}

func (SetCreditLimit) Kind() OpKind { return OpSetCreditLimit }
func (SetCreditLimit) Keys(*Keys)   {}

func (c SetCreditLimit) Apply(tx *Tx, _ *Env) Result[Balance] {
	return result(tx.SetCreditLimit(c.BalanceID, c.LimitMinor))
}

// Cards.

// IssueCard records a new card from candidates that differ only in their drawn PAN (and the
// secrets derived from it): the first whose PAN is not in use is issued. When every candidate's
// PAN is in use the refusal is PAN_IN_USE.
type IssueCard struct{ Candidates []Card }

func (IssueCard) Kind() OpKind { return OpIssueCard }
func (IssueCard) Keys(*Keys)   {}

func (c IssueCard) Apply(tx *Tx, env *Env) Result[Card] {
	var r *Refusal
	for i := range c.Candidates {
		var out Card
		if out, r = tx.IssueCard(c.Candidates[i], env); r == nil || r.Code != "PAN_IN_USE" {
			return result(out, r)
		}
	}
	return result(Card{}, r)
}

// IssueDigitalFirst issues the DIGITAL_FIRST physical copy of a virtual card of the balance: the
// named one, or the latest (Tx.DigitalFirstSource). The copy keeps the virtual card's PAN,
// secrets and program, and from then on shares its condition (twin.go): the counters, the highest
// ATC and a lock in place are copied too. A Program given that differs is refused.
type IssueDigitalFirst struct {
	CardID, BalanceID, VirtualCardID string
	Program                          string // "" or the program the caller expects
}

func (IssueDigitalFirst) Kind() OpKind { return OpIssueDigitalFirst }
func (IssueDigitalFirst) Keys(*Keys)   {}

func (c IssueDigitalFirst) Apply(tx *Tx, env *Env) Result[Card] {
	src, r := tx.DigitalFirstSource(c.BalanceID, c.VirtualCardID)
	if r != nil {
		return result(Card{}, r)
	}
	if c.Program != "" && c.Program != src.Program {
		return result(Card{}, &Refusal{Kind: Invalid, Code: "PROGRAM_MISMATCH",
			Message: "a DIGITAL_FIRST card keeps its virtual card's program", Field: "program"})
	}
	cp := Card{ID: c.CardID, BalanceID: c.BalanceID, Program: src.Program, Type: CardDigitalFirst,
		PANHash: src.PANHash, PAN: src.PAN, Last4: src.Last4, ExpiryYYMM: src.ExpiryYYMM,
		PSN: src.PSN, CVC2: src.CVC2, PVV: src.PVV, PINTries: src.PINTries,
		CardDataFails: src.CardDataFails, HighestATC: src.HighestATC}
	out, r := tx.IssueCard(cp, env)
	if r == nil && src.State == CardLocked {
		// The copy reflects the card's condition from its first day: a lock of the virtual
		// card is the copy's too, and an unlock returns the copy to its own state at issue.
		out.lock(src.LockReason)
		tx.PutCard(out)
	}
	return result(out, r)
}

// Origin names who made a card change: the Source and Actor of the card.state_changed event the
// ledger records for the change's other form factor (a digital-first card's virtual card, and
// back). The management API records the named card's own event. Zero: source "twin".
type Origin struct{ Source, Actor string }

// LockCard locks a card with a reason (Tx.ChangeCard, ChangeLock).
type LockCard struct {
	CardID string
	Reason authz.LockReason
	By     Origin // who locks: the source and actor of the twin's card.state_changed
}

func (LockCard) Kind() OpKind { return OpLockCard }
func (LockCard) Keys(*Keys)   {}

func (c LockCard) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.ChangeCardBy(c.CardID, ChangeLock, c.Reason, c.By))
}

// UnlockCard lifts a reversible lock (Tx.ChangeCard, ChangeUnlock).
type UnlockCard struct {
	CardID string
	By     Origin
}

func (UnlockCard) Kind() OpKind { return OpUnlockCard }
func (UnlockCard) Keys(*Keys)   {}

func (c UnlockCard) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.ChangeCardBy(c.CardID, ChangeUnlock, authz.NotLocked, c.By))
}

// ActivateCard activates a card; a physical one must be personalised (Tx.ActivateCard).
type ActivateCard struct{ CardID string }

func (ActivateCard) Kind() OpKind { return OpActivateCard }
func (ActivateCard) Keys(*Keys)   {}

func (c ActivateCard) Apply(tx *Tx, _ *Env) Result[Card] { return result(tx.ActivateCard(c.CardID)) }

// RemoveCard removes a card for good (Tx.ChangeCard, ChangeRemove).
type RemoveCard struct {
	CardID string
	By     Origin
}

func (RemoveCard) Kind() OpKind { return OpRemoveCard }
func (RemoveCard) Keys(*Keys)   {}

func (c RemoveCard) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.ChangeCardBy(c.CardID, ChangeRemove, authz.NotLocked, c.By))
}

// PersonaliseCard records a physical card's personalisation (Tx.PersonaliseCard).
type PersonaliseCard struct{ CardID string }

func (PersonaliseCard) Kind() OpKind { return OpPersonaliseCard }
func (PersonaliseCard) Keys(*Keys)   {}

func (c PersonaliseCard) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.PersonaliseCard(c.CardID))
}

// ReplaceCVC2 sets the first candidate differing from the card's CVC2 (Tx.ReplaceCVC2).
type ReplaceCVC2 struct {
	CardID     string
	Candidates []string
}

func (ReplaceCVC2) Kind() OpKind { return OpReplaceCVC2 }
func (ReplaceCVC2) Keys(*Keys)   {}

func (c ReplaceCVC2) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.ReplaceCVC2(c.CardID, c.Candidates))
}

// SetPVV stores a new PIN as its PVV and resets the PIN try counter (Tx.SetCardSecret).
type SetPVV struct{ CardID, PVV string }

func (SetPVV) Kind() OpKind { return OpSetPVV }
func (SetPVV) Keys(*Keys)   {}

func (c SetPVV) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.SetCardSecret(c.CardID, "", c.PVV))
}

// SetCardLimits sets a card's optional limits (Tx.SetCardLimits).
type SetCardLimits struct {
	CardID string
	Limits Limits
}

func (SetCardLimits) Kind() OpKind { return OpSetCardLimits }
func (SetCardLimits) Keys(*Keys)   {}

func (c SetCardLimits) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.SetCardLimits(c.CardID, c.Limits))
}

// Tokens.

// AddToken registers a token PAN for a card (Tx.AddToken).
type AddToken struct{ Token Token }

func (AddToken) Kind() OpKind { return OpAddToken }
func (AddToken) Keys(*Keys)   {}

func (c AddToken) Apply(tx *Tx, env *Env) Result[Token] { return result(tx.AddToken(c.Token, env)) }

// SetTokenState moves a token through its lifecycle (Tx.SetTokenState).
type SetTokenState struct {
	TokenID string
	State   authz.TokenState
}

func (SetTokenState) Kind() OpKind { return OpSetTokenState }
func (SetTokenState) Keys(*Keys)   {}

func (c SetTokenState) Apply(tx *Tx, _ *Env) Result[Token] {
	return result(tx.SetTokenState(c.TokenID, c.State))
}
