package ledger

import (
	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// RefusalKind classifies why a management command was refused; the API maps it to a status.
type RefusalKind uint8

// Refusal kinds.
const (
	Invalid  RefusalKind = iota + 1 // 400
	NotFound                        // 404
	Conflict                        // 409
)

// Refusal is a management command's business refusal: a value, not an operating error.
type Refusal struct {
	Kind    RefusalKind
	Code    string // UPPER_SNAKE, as the API shows it
	Message string
	Field   string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

func refuse(k RefusalKind, code, msg string) *Refusal {
	return &Refusal{Kind: k, Code: code, Message: msg}
}

// CreateCustomer registers a customer; the external id must be unique.
func (tx *Tx) CreateCustomer(c Customer, env *Env) (Customer, *Refusal) {
	if c.ExternalID != "" {
		if _, ok := tx.CustomerIDByExternal(c.ExternalID); ok {
			return Customer{}, refuse(Conflict, "CUSTOMER_EXISTS", "a customer with this externalId exists")
		}
	}
	if _, ok := tx.Customer(c.ID); ok {
		return Customer{}, refuse(Conflict, "CUSTOMER_EXISTS", "customer id in use")
	}
	c.KYC, c.State = KYCPending, CustomerActive
	c.CreatedAtUnixNano = env.Now.UnixNano()
	tx.PutCustomer(c)
	return c, nil
}

// SetKYC records the outcome of the customer's identity verification.
func (tx *Tx) SetKYC(customerID, status string) (Customer, *Refusal) {
	c, ok := tx.Customer(customerID)
	if !ok {
		return Customer{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	if c.State == CustomerDeleted {
		return Customer{}, refuse(Conflict, "CUSTOMER_DELETED", "the customer was deleted")
	}
	if status != KYCVerified && status != KYCRejected {
		return Customer{}, &Refusal{Kind: Invalid, Code: "INVALID_STATUS", Message: "status must be VERIFIED or REJECTED", Field: "status"}
	}
	c.KYC = status
	tx.PutCustomer(c)
	return c, nil
}

// CreateBalance opens a user balance; the customer must have passed KYC.
func (tx *Tx) CreateBalance(b Balance, env *Env) (Balance, *Refusal) {
	c, ok := tx.Customer(b.CustomerID)
	if !ok {
		return Balance{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	if r := customerUsable(&c); r != nil {
		return Balance{}, r
	}
	if c.KYC != KYCVerified {
		return Balance{}, refuse(Conflict, "KYC_REQUIRED", "the customer has not passed KYC")
	}
	if _, ok := CurrencyByAlpha(b.Currency); !ok {
		return Balance{}, &Refusal{Kind: Invalid, Code: "UNKNOWN_CURRENCY", Message: "unknown currency", Field: "currency"}
	}
	b.Kind, b.State, b.CreatedAtUnixNano = BalanceUser, BalanceActive, env.Now.UnixNano()
	b.CurrentMinor, b.HeldMinor, b.LoadedMinor = 0, 0, 0
	tx.PutBalance(b)
	return b, nil
}

// CreatePartnerBalance opens a partner balance (deposit or credit) for a program.
func (tx *Tx) CreatePartnerBalance(b Balance, env *Env) (Balance, *Refusal) {
	if b.Kind != BalancePartnerDeposit && b.Kind != BalancePartnerCredit {
		return Balance{}, &Refusal{Kind: Invalid, Code: "INVALID_KIND", Message: "kind must be PARTNER_DEPOSIT or PARTNER_CREDIT", Field: "kind"}
	}
	if _, ok := tx.Balance(b.ID); ok {
		return Balance{}, refuse(Conflict, "BALANCE_EXISTS", "balance id in use")
	}
	if b.Kind == BalancePartnerDeposit {
		b.CreditLimitMinor = 0
	}
	b.State, b.CreatedAtUnixNano = BalanceActive, env.Now.UnixNano()
	tx.PutBalance(b)
	return b, nil
}

// Reload adds money to a balance. With an idempotency key, a repeat with the same key and amount
// changes nothing and gets the balance as it was answered the first time; the same key with
// another amount is refused.
func (tx *Tx) Reload(balanceID string, amountMinor int64, idempotencyKey string, env *Env) (Balance, *Refusal) {
	b, ok := tx.Balance(balanceID)
	if !ok {
		return Balance{}, refuse(NotFound, "BALANCE_NOT_FOUND", "no such balance")
	}
	if amountMinor <= 0 {
		return Balance{}, &Refusal{Kind: Invalid, Code: "INVALID_AMOUNT", Message: "amount must be positive", Field: "amount"}
	}
	var rkey string
	if idempotencyKey != "" {
		rkey = reloadKey(balanceID, idempotencyKey)
		if prev, ok := tx.Reply(rkey); ok {
			if prev.ContentHash != uint64(amountMinor) {
				return Balance{}, refuse(Conflict, "IDEMPOTENCY_KEY_REUSED", "the Idempotency-Key was used with another request")
			}
			b.CurrentMinor, b.HeldMinor = prev.CurrentMinor, prev.HeldMinor
			return b, nil
		}
	}
	if b.State == BalanceClosed { // a BLOCKED balance takes reloads (balance_state.go)
		return Balance{}, refuse(Conflict, "BALANCE_CLOSED", "the balance is closed")
	}
	b.CurrentMinor += amountMinor
	b.LoadedMinor += amountMinor
	tx.PutBalance(b)
	if rkey != "" {
		tx.PutReply(Reply{Key: rkey, ContentHash: uint64(amountMinor), AtUnixNano: env.Now.UnixNano(),
			CurrentMinor: b.CurrentMinor, HeldMinor: b.HeldMinor})
	}
	return b, nil
}

// IssueCard records a new card whose PAN, CVC2 and expiry the caller generated. A PAN already in
// use is refused with PAN_IN_USE so the caller can draw another, unless the new card is the
// digital-first physical copy of that very card.
func (tx *Tx) IssueCard(c Card, env *Env) (Card, *Refusal) {
	b, ok := tx.Balance(c.BalanceID)
	if !ok || b.Kind != BalanceUser {
		return Card{}, refuse(NotFound, "BALANCE_NOT_FOUND", "no such balance")
	}
	if b.State == BalanceBlocked {
		return Card{}, refuse(Conflict, "BALANCE_BLOCKED", "the balance is blocked")
	}
	if b.State != BalanceActive {
		return Card{}, refuse(Conflict, "BALANCE_CLOSED", "the balance is closed")
	}
	if id, used := tx.CardIDByPANHash(c.PANHash); used {
		other, _ := tx.Card(id)
		if c.Type != CardDigitalFirst || other.BalanceID != c.BalanceID {
			return Card{}, refuse(Conflict, "PAN_IN_USE", "the PAN is in use")
		}
	}
	if _, used := tx.TokenIDByPANHash(c.PANHash); used {
		return Card{}, refuse(Conflict, "PAN_IN_USE", "the PAN is in use")
	}
	if cu, ok := tx.Customer(b.CustomerID); ok {
		if r := customerUsable(&cu); r != nil {
			return Card{}, r
		}
	}
	c.CustomerID = b.CustomerID
	c.CreatedAtUnixNano = env.Now.UnixNano()
	switch c.Type {
	case CardVirtual, CardDigitalFirst:
		c.State = CardActive
	case CardPhysical:
		c.State = CardInactive
	default:
		return Card{}, &Refusal{Kind: Invalid, Code: "INVALID_CARD_TYPE", Message: "type must be VIRTUAL, PHYSICAL or DIGITAL_FIRST", Field: "type"}
	}
	tx.PutCard(c)
	return c, nil
}

// CardChange is a state change of a card requested through management.
type CardChange uint8

// Card changes.
const (
	ChangeLock CardChange = iota + 1
	ChangeUnlock
	ChangeActivate
	ChangeRemove
	ChangePersonalise
)

// ChangeCard applies a lock, unlock, activation, removal or personalisation to a card. Every
// change takes effect on the very next authorization, since both go through the same engine.
// Removal ends the card's stored-credential agreements, its tokens' included, in the same batch
// (endAgreements). A lock, an unlock and a removal apply to the card's other form factor too (a
// digital-first card's virtual card, and back: twin.go), whose card.state_changed is recorded with
// source "twin"; ChangeCardBy names who made the change instead.
func (tx *Tx) ChangeCard(cardID string, change CardChange, reason authz.LockReason) (Card, *Refusal) {
	return tx.ChangeCardBy(cardID, change, reason, Origin{})
}

// ChangeCardBy is ChangeCard with the origin of the change, for the events of the twin.
func (tx *Tx) ChangeCardBy(cardID string, change CardChange, reason authz.LockReason, by Origin) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if c.State == CardRemoved {
		return Card{}, refuse(Conflict, "CARD_REMOVED", "the card was removed")
	}
	// The lock, unlock and removal are the one card's, whichever form factor is named.
	var twins []Card
	if change == ChangeLock || change == ChangeUnlock || change == ChangeRemove {
		twins = tx.twinsOf(&c)
	}
	irreversible, locked := c.State == CardLocked && c.LockReason.Irreversible(), c.State == CardLocked
	for i := range twins {
		t := &twins[i]
		irreversible = irreversible || t.State == CardLocked && t.LockReason.Irreversible()
		locked = locked || t.State == CardLocked
	}
	prevTwins := append([]Card(nil), twins...)
	switch change {
	case ChangeLock:
		if !reason.Valid() {
			return Card{}, &Refusal{Kind: Invalid, Code: "INVALID_REASON_CODE", Message: "reasonCode must be 1..8", Field: "reasonCode"}
		}
		if irreversible {
			return Card{}, refuse(Conflict, "CARD_LOCK_IRREVERSIBLE", "the card carries an irreversible lock")
		}
		c.lock(reason)
		for i := range twins {
			twins[i].lock(reason)
		}
	case ChangeUnlock:
		if !locked {
			return Card{}, refuse(Conflict, "CARD_NOT_LOCKED", "the card is not locked")
		}
		if irreversible {
			return Card{}, refuse(Conflict, "CARD_LOCK_IRREVERSIBLE", "the lock reason is irreversible")
		}
		c.unlockWithCounters()
		for i := range twins {
			twins[i].unlockWithCounters()
		}
	case ChangeActivate:
		switch c.State {
		case CardActive:
			return c, nil
		case CardLocked:
			return Card{}, refuse(Conflict, "CARD_LOCKED", "a locked card cannot be activated")
		}
		c.State = CardActive
	case ChangeRemove:
		// Removal is final: no unlock will need the state before a lock.
		c.State, c.StateBeforeLock = CardRemoved, ""
		tx.endAgreements(c.ID, "", CancelledByCardRemoved) // its tokens' agreements too
		for i := range twins {
			twins[i].State, twins[i].StateBeforeLock = CardRemoved, ""
			tx.endAgreements(twins[i].ID, "", CancelledByCardRemoved)
		}
	case ChangePersonalise:
		c.Personalised = true
	}
	tx.PutCard(c)
	for i := range twins {
		tx.putTwin(prevTwins[i], twins[i], by)
	}
	return c, nil
}

// unlockWithCounters lifts a card's lock, if it has one, and resets a counter that reached its
// maximum (the PIN tries or wrong card-data values the automatic lock was for).
func (c *Card) unlockWithCounters() {
	if c.State == CardLocked {
		c.unlock()
	}
	if c.PINTries >= authz.PINTriesMax {
		c.PINTries = 0
	}
	if c.CardDataFails >= authz.CardDataTriesMax {
		c.CardDataFails = 0
	}
}

// lock moves the card into LOCKED with reason and remembers the state the lock took it out of,
// for the unlock. Every lock goes through here: management and external locks (ChangeCard) and
// the automatic ones of an authorization (applyCardEffects: PIN tries, wrong CVC2 values).
// Re-locking a locked card with another reason keeps the state it had before its first lock.
func (c *Card) lock(reason authz.LockReason) {
	if c.State == CardActive || c.State == CardInactive {
		c.StateBeforeLock = c.State
	}
	c.State, c.LockReason = CardLocked, reason
}

// unlock lifts the card's lock: the card returns to the state it had before the lock, so a
// physical card locked before its activation is INACTIVE again, not activated by an unlock.
// A card locked before StateBeforeLock existed has none stored; it goes back to ACTIVE, as every
// unlock did then, since such a card was most likely active (a lock of an INACTIVE card was rare).
func (c *Card) unlock() {
	c.State, c.LockReason = c.StateBeforeLock, authz.NotLocked
	if c.State == "" {
		c.State = CardActive
	}
	c.StateBeforeLock = ""
}

// SetCardSecret replaces the card's CVC2 (reset) or PVV (new PIN; resets the try counter), on
// its other form factor too (twin.go): one card, one CVC2, one PIN.
func (tx *Tx) SetCardSecret(cardID string, cvc2, pvv string) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if c.State == CardRemoved {
		return Card{}, refuse(Conflict, "CARD_REMOVED", "the card was removed")
	}
	c.setSecret(cvc2, pvv)
	tx.PutCard(c)
	for _, t := range tx.twinsOf(&c) {
		t.setSecret(cvc2, pvv)
		tx.PutCard(t)
	}
	return c, nil
}

func (c *Card) setSecret(cvc2, pvv string) {
	if cvc2 != "" {
		c.CVC2 = cvc2
	}
	if pvv != "" {
		c.PVV, c.PINTries = pvv, 0
	}
}

// SetCardLimits sets the optional per-card limits.
func (tx *Tx) SetCardLimits(cardID string, l Limits) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	c.Limits = l
	tx.PutCard(c)
	return c, nil
}

// AddToken registers a token PAN for a card.
func (tx *Tx) AddToken(t Token, env *Env) (Token, *Refusal) {
	if _, ok := tx.Card(t.CardID); !ok {
		return Token{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if _, used := tx.TokenIDByPANHash(t.PANHash); used {
		return Token{}, refuse(Conflict, "TOKEN_EXISTS", "the token PAN is registered")
	}
	if _, used := tx.CardIDByPANHash(t.PANHash); used {
		return Token{}, refuse(Conflict, "TOKEN_EXISTS", "the token PAN is a card PAN")
	}
	switch t.Type {
	case TokenSE, TokenHCE, TokenCOF, TokenECOM, TokenQRC:
	default:
		return Token{}, &Refusal{Kind: Invalid, Code: "INVALID_TOKEN_TYPE", Message: "type must be SE, HCE, COF, ECOM or QRC", Field: "type"}
	}
	state, err := tokenvault.InitialTokenState(t.State)
	if err != nil {
		return Token{}, &Refusal{Kind: Invalid, Code: "INVALID_STATE", Message: "unknown token state", Field: "state"}
	}
	t.State = state
	t.CreatedAtUnixNano = env.Now.UnixNano()
	tx.PutToken(t)
	return t, nil
}

// SetTokenState moves a token through its lifecycle (tokenvault.TokenTransition: DELETED is
// final). Deletion ends the token's stored-credential agreements in the same batch
// (endAgreements); a suspension does not (the token's own state declines meanwhile).
func (tx *Tx) SetTokenState(tokenID string, state authz.TokenState) (Token, *Refusal) {
	t, ok := tx.Token(tokenID)
	if !ok {
		return Token{}, refuse(NotFound, "TOKEN_NOT_FOUND", "no such token")
	}
	switch err := tokenvault.TokenTransition(t.State, state); err {
	case nil:
	case tokenvault.ErrTokenDeleted:
		return Token{}, refuse(Conflict, "TOKEN_DELETED", "the token was deleted")
	default:
		return Token{}, &Refusal{Kind: Invalid, Code: "INVALID_STATE", Message: "unknown token state", Field: "state"}
	}
	if state != t.State {
		switch state {
		case authz.TokenDeleted: // a deleted token ends the agreements it was the credential of
			tx.endAgreements(t.CardID, t.ID, CancelledByTokenDeleted)
		}
	}
	t.State = state
	tx.PutToken(t)
	return t, nil
}
