package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
)

// Stored-credential agreements (card on file): a merchant keeps a card's (or a token's)
// credential under an agreement reference (field 48 subelement 21) that the cardholder agreed
// to in an initial operation. Merchant-initiated payments are let through only inside a live
// agreement of the same card and merchant (authz.StoredCredential). Agreements are few per card
// and read on the authorization path, so the State keeps them in memory (like cards) and the
// journal persists them as rows of their own table.

// TableAgreement is the journal table of agreements.
const TableAgreement = "agreement"

// AgreementState is an agreement's lifecycle state.
type AgreementState string

// Agreement states: an agreement is created ACTIVE and ends CANCELLED (by the cardholder, the
// partner or an operator, or when its card or token is removed); nothing leaves CANCELLED.
const (
	AgreementActive    AgreementState = "ACTIVE"
	AgreementCancelled AgreementState = "CANCELLED"
)

// agreementPaymentsMax bounds the recurring payments an agreement remembers: enough to restore
// the interval when the latest ones are reversed.
const agreementPaymentsMax = 4

// AgreementPayment is an approved payment that counts for a recurring agreement's interval.
type AgreementPayment struct {
	AuthKey string // the payment's auth record (OriginalKey)
	UnixDay int64  // the UTC day it was approved
}

// Agreement is one stored-credential agreement.
type Agreement struct {
	Key        string // AgreementKey(holder, reference)
	ID         string // AgreementID(Key): the agreement's opaque id in the API
	Reference  string // field 48 subelement 21
	CardID     string
	TokenID    string // the token the credential is, "" for the card itself
	CustomerID string
	MerchantID string // field 42 of the initial operation, without its trailing padding (MerchantID)
	State      AgreementState
	// HasTerms: recurring terms were given (field 48 subelement 22) on the initial operation.
	HasTerms     bool
	MinMinor     int64
	MaxMinor     int64
	IntervalDays int64
	EndUnixDay   int64
	// InitialVerified: the initial operation carried verified card data, so later
	// cardholder-initiated payments need no CVC2.
	InitialVerified bool
	Registration    bool // created by a zero-amount registration (no payment)
	// Payments are the latest approved payments that count for the interval (the paid initial
	// and recurring ones), oldest first, at most agreementPaymentsMax.
	Payments            []AgreementPayment
	CreatedAtUnixNano   int64
	LastUsedAtUnixNano  int64
	CancelledAtUnixNano int64
	CancelledBy         string
	// InitialAuthKey is the auth record of the paid initial operation: its reversal ends the
	// agreement ("" for a registration or an agreement made through the API).
	InitialAuthKey string // "cardholder", "partner", "operator", "card_removed", "token_deleted"
}

// AgreementKey is the key of the agreement named reference of a card or token (holder: the card
// id, or the token id when the credential is a token).
func AgreementKey(holder, reference string) string { return holder + "|" + reference }

// agreementIDHexLen is the length of the hash part of an agreement id: 80 bits, so ids of
// different keys do not collide in practice, and the id needs no counter (a pure function of
// the key, the same on every replay).
const agreementIDHexLen = 20

// AgreementID is the opaque id of the agreement with key: "agr_" and a hash of the key. The key
// itself (card or token id and the merchant's reference) is not shown in URLs.
func AgreementID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "agr_" + hex.EncodeToString(h[:])[:agreementIDHexLen]
}

// Terms returns the agreement's recurring terms.
func (a *Agreement) Terms() authz.Terms {
	return authz.Terms{MinMinor: a.MinMinor, MaxMinor: a.MaxMinor, IntervalDays: a.IntervalDays, EndUnixDay: a.EndUnixDay}
}

// LastRecurringUnixDay is the day of its latest payment that counts for the interval (0: none).
func (a *Agreement) LastRecurringUnixDay() int64 {
	var last int64
	for _, p := range a.Payments {
		last = max(last, p.UnixDay)
	}
	return last
}

// view is what the rules read of the agreement.
func (a *Agreement) view(found bool) authz.AgreementView {
	if !found {
		return authz.AgreementView{}
	}
	return authz.AgreementView{Found: true, MerchantID: a.MerchantID, Active: a.State == AgreementActive,
		HasTerms: a.HasTerms, Terms: a.Terms(), LastRecurringUnixDay: a.LastRecurringUnixDay(),
		NeedsCardData: !a.InitialVerified}
}

// paid records an approved payment that counts for the interval.
func (a *Agreement) paid(authKey string, unixDay int64) {
	ps := append([]AgreementPayment(nil), a.Payments...)
	ps = append(ps, AgreementPayment{AuthKey: authKey, UnixDay: unixDay})
	if len(ps) > agreementPaymentsMax {
		ps = ps[len(ps)-agreementPaymentsMax:]
	}
	a.Payments = ps
}

// unpaid forgets a payment that was reversed; it reports whether the agreement had it.
func (a *Agreement) unpaid(authKey string) bool {
	for i, p := range a.Payments {
		if p.AuthKey == authKey {
			ps := append([]AgreementPayment(nil), a.Payments[:i]...)
			a.Payments = append(ps, a.Payments[i+1:]...)
			return true
		}
	}
	return false
}

// agreementStore is the State's agreements: by key, by id, and the keys of each card's and each
// customer's agreements. The engine goroutine reads it without the lock (it is the only writer,
// under State.mu in Commit); queries from other goroutines take State.mu.
type agreementStore struct {
	byKey      map[string]Agreement
	byID       map[string]string // AgreementID -> key
	byCard     map[string][]string
	byCustomer map[string][]string
}

func newAgreementStore() *agreementStore {
	return &agreementStore{byKey: map[string]Agreement{}, byID: map[string]string{},
		byCard: map[string][]string{}, byCustomer: map[string][]string{}}
}

func (s *agreementStore) get(key string) (Agreement, bool) {
	a, ok := s.byKey[key]
	return a, ok
}

func (s *agreementStore) set(a *Agreement) {
	v := *a
	if v.ID == "" { // a row written before agreements had ids
		v.ID = AgreementID(v.Key)
	}
	if _, ok := s.byKey[v.Key]; !ok {
		s.byCard[v.CardID] = append(s.byCard[v.CardID], v.Key)
		s.byCustomer[v.CustomerID] = append(s.byCustomer[v.CustomerID], v.Key)
		s.byID[v.ID] = v.Key
	}
	s.byKey[v.Key] = v
}

// Agreement returns an agreement as the batch sees it.
func (tx *Tx) Agreement(key string) (Agreement, bool) { return tx.agreements.get(key) }

// PutAgreement writes an agreement in the batch.
func (tx *Tx) PutAgreement(a Agreement) {
	if _, dirty := tx.agreements.dirty[a.Key]; !dirty {
		if _, committed := tx.s.agreements.byKey[a.Key]; !committed {
			tx.newAgreements = append(tx.newAgreements, a.Key)
		}
	}
	tx.agreements.put(a.Key, a)
}

// AgreementKeysOfCard lists the keys of a card's agreements, committed and new in the batch.
func (tx *Tx) AgreementKeysOfCard(cardID string) []string {
	keys := append([]string(nil), tx.s.agreements.byCard[cardID]...)
	for _, k := range tx.newAgreements {
		if a := tx.agreements.dirty[k]; a != nil && a.CardID == cardID {
			keys = append(keys, k)
		}
	}
	return keys
}

// Agreement returns a committed agreement (queries).
func (s *State) Agreement(key string) (Agreement, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agreements.get(key)
}

// AgreementByID returns a committed agreement by its id (queries).
func (s *State) AgreementByID(id string) (Agreement, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	key, ok := s.agreements.byID[id]
	if !ok {
		return Agreement{}, false
	}
	return s.agreements.get(key)
}

// AgreementsOfCard lists a card's committed agreements (its tokens' included) in creation order
// (queries).
func (s *State) AgreementsOfCard(cardID string) []Agreement {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agreements.list(s.agreements.byCard[cardID])
}

// AgreementsOfCustomer lists the committed agreements of all a customer's cards in creation
// order (queries).
func (s *State) AgreementsOfCustomer(customerID string) []Agreement {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agreements.list(s.agreements.byCustomer[customerID])
}

func (s *agreementStore) list(keys []string) []Agreement {
	out := make([]Agreement, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.byKey[k])
	}
	return out
}

// emitAgreement records agreement.created or agreement.cancelled for a.
func (tx *Tx) emitAgreement(t EventType, a *Agreement, source string) {
	tx.emit(Event{Type: t, CardID: a.CardID, CustomerID: a.CustomerID, AgreementRef: a.Reference,
		MerchantID: a.MerchantID, TokenID: a.TokenID, Source: source})
}

// storedCredential is what the stored-credential rules made of a request (gather), for booking
// it once approved.
type storedCredential struct {
	use         authz.StoredCredentialUse
	key         string // the agreement's key ("" without a reference)
	agreement   Agreement
	found       bool
	terms       authz.Terms
	hasTerms    bool
	verified    bool
	formatError bool // subelement 22 does not make sense (30)
}

// gatherStoredCredential applies the stored-credential rules to a request on the resolved card
// (after the security checks, which say whether the card data was verified) and sets
// RecurringViolation in the decision's input.
func (tx *Tx) gatherStoredCredential(req *authz.Request, env *Env, r *resolved, g *gathered) {
	sc := &req.StoredCredential
	if req.Kind != authz.KindAuthorization && req.Kind != authz.KindFinancial {
		// A refund gives money back (also under an agreement that has ended); an inquiry takes
		// none: the agreement's rules are for payments.
		return
	}
	out := &g.sc
	day := env.Now.Unix() / 86400
	if sc.Terms != "" {
		// Terms that cannot hold are a format error wherever they come (contract §2).
		exp := 2
		if cur, ok := CurrencyByAlpha(g.bal.Currency); ok {
			exp = cur.Exponent
		}
		t, err := authz.ParseTerms(sc.Terms, exp, day)
		if err != nil {
			out.formatError = true
			return
		}
		out.terms, out.hasTerms = t, true
	}
	if sc.Indicator == "" || (sc.Indicator == "1" && sc.Agreement == "") {
		return // no stored credential, or a cardholder-initiated payment outside any agreement
	}
	holder := r.card.ID
	if r.token != nil {
		holder = r.token.ID
	}
	if sc.Agreement != "" {
		out.key = AgreementKey(holder, sc.Agreement)
		out.agreement, out.found = tx.Agreement(out.key)
	}
	// A wallet token is verified card data: the token service vouched for the cardholder when
	// it put the card in the wallet, and the device's cryptogram for this payment.
	out.verified = g.checks.CardData == authz.CheckPassed || g.checks.Cryptogram == authz.CheckPassed ||
		(r.token != nil && r.token.Wallet())
	var violation bool
	out.use, violation = authz.CheckStoredCredential(authz.StoredCredentialInput{Indicator: sc.Indicator,
		Reference: sc.Agreement, MerchantID: MerchantID(req.MerchantID), AmountMinor: req.AmountMinor, NowUnixDay: day,
		CardDataVerified: out.verified, Agreement: out.agreement.view(out.found)})
	g.in.RecurringViolation = violation
}

// bookStoredCredential records what an approved request does to its agreement: an initial
// operation creates it, a paid initial or recurring payment counts for the interval, every use
// is remembered.
func (tx *Tx) bookStoredCredential(req *authz.Request, env *Env, r *resolved, g *gathered, authKey string) {
	sc := &g.sc
	if sc.use == authz.SCNone || sc.key == "" {
		return
	}
	now := env.Now.UnixNano()
	day := env.Now.Unix() / 86400
	paid := req.AmountMinor > 0
	switch sc.use {
	case authz.SCInitial:
		a := Agreement{Key: sc.key, ID: AgreementID(sc.key), Reference: req.StoredCredential.Agreement, CardID: r.card.ID,
			CustomerID: r.card.CustomerID, MerchantID: MerchantID(req.MerchantID), State: AgreementActive,
			HasTerms: sc.hasTerms, MinMinor: sc.terms.MinMinor, MaxMinor: sc.terms.MaxMinor,
			IntervalDays: sc.terms.IntervalDays, EndUnixDay: sc.terms.EndUnixDay,
			InitialVerified: sc.verified, Registration: !paid,
			CreatedAtUnixNano: now, LastUsedAtUnixNano: now}
		if r.token != nil {
			a.TokenID = r.token.ID
		}
		if paid {
			a.paid(authKey, day)
			a.InitialAuthKey = authKey
		}
		tx.PutAgreement(a)
		tx.emitAgreement(EventAgreementCreated, &a, "authorization")
	case authz.SCRecurring:
		a := sc.agreement
		a.paid(authKey, day)
		a.LastUsedAtUnixNano = now
		tx.PutAgreement(a)
	default: // a subsequent cardholder-initiated or an unscheduled payment
		a := sc.agreement
		a.LastUsedAtUnixNano = now
		if sc.use == authz.SCSubsequentCIT && sc.verified {
			a.InitialVerified = true // verified card data now: later ones need none
		}
		tx.PutAgreement(a)
	}
}

// reversedPayment forgets a reversed payment in the agreement it counted for, so the interval
// is measured from the payment before it again.
func (tx *Tx) reversedPayment(cardID, authKey string) {
	if cardID == "" {
		return
	}
	for _, k := range tx.AgreementKeysOfCard(cardID) {
		a, ok := tx.Agreement(k)
		if !ok {
			continue
		}
		if a.InitialAuthKey == authKey && a.State == AgreementActive {
			// The payment the cardholder agreed with was reversed: there is no agreement
			// without it (a merchant keeps a credential only after a successful payment).
			a.unpaid(authKey)
			a.State, a.CancelledAtUnixNano, a.CancelledBy = AgreementCancelled, tx.now, "initial_reversed"
			tx.PutAgreement(a)
			tx.emitAgreement(EventAgreementCancelled, &a, "initial_reversed")
			return
		}
		if a.unpaid(authKey) {
			tx.PutAgreement(a)
			return
		}
	}
}

// CancelAgreement ends an agreement: merchant-initiated payments under it are declined from the
// batch that cancels it on. By says who ("cardholder", "partner", "operator"). Cancelling a
// cancelled agreement changes nothing and answers it as it is.
type CancelAgreement struct{ Key, By string }

func (CancelAgreement) Kind() OpKind { return OpCancelAgreement }
func (CancelAgreement) Keys(*Keys)   {}

func (c CancelAgreement) Apply(tx *Tx, env *Env) Result[Agreement] {
	a, ok := tx.Agreement(c.Key)
	if !ok {
		return Result[Agreement]{Refusal: refuse(NotFound, "AGREEMENT_NOT_FOUND", "no such agreement")}
	}
	if a.State == AgreementCancelled {
		return Result[Agreement]{Value: a}
	}
	tx.cancelAgreement(&a, env.Now.UnixNano(), c.By)
	return Result[Agreement]{Value: a}
}

// cancelAgreement ends an active agreement in the batch, with its agreement.cancelled event.
func (tx *Tx) cancelAgreement(a *Agreement, atUnixNano int64, by string) {
	a.State, a.CancelledAtUnixNano, a.CancelledBy = AgreementCancelled, atUnixNano, by
	tx.PutAgreement(*a)
	tx.emitAgreement(EventAgreementCancelled, a, by)
}

// Why an agreement ended when its credential did (Agreement.CancelledBy and the event source).
const (
	CancelledByCardRemoved  = "card_removed"
	CancelledByTokenDeleted = "token_deleted"
)

// endAgreements cancels the active agreements of a card that is removed (tokenID ""), or those
// of one of its tokens that is deleted, in the batch that removes or deletes it. An issuer does
// not let a merchant keep charging a credential that no longer exists: the agreements end with
// it, each with its agreement.cancelled event, and a new card means new agreements (the
// cardholder gives the merchant the new card; nothing is moved).
func (tx *Tx) endAgreements(cardID, tokenID, by string) {
	for _, k := range tx.AgreementKeysOfCard(cardID) {
		a, ok := tx.Agreement(k)
		if !ok || a.State != AgreementActive || (tokenID != "" && a.TokenID != tokenID) {
			continue
		}
		tx.cancelAgreement(&a, tx.now, by)
	}
}

// Bounds of an agreement created through the API, the same as the wire's: the reference is
// subelement 21 (1 to 32 characters), the merchant id is field 42 (ans 15).
const (
	AgreementReferenceMax = 32
	MerchantIDLen         = 15
)

// MerchantID is the merchant id of field 42 (ans 15, fixed: left-justified and padded with
// spaces) without its trailing spaces. Agreements keep and compare it in this form, so one
// registered through the API as "SHOP1" matches the field 42 "SHOP1          " an acquirer sends,
// and views and events show "SHOP1".
func MerchantID(field42 string) string { return strings.TrimRight(field42, " ") }

// CreateAgreement registers an agreement through the API, for a merchant that registered the
// card outside the authorization flow: the card data was not verified by cardswitch, so the
// agreement's first cardholder-initiated payment must carry verified card data
// (InitialVerified false). It belongs to the card itself (not a token). A reference the card
// already has, active or cancelled, is refused with AGREEMENT_EXISTS; terms are checked as those
// of subelement 22 (MIN <= MAX, at least one day, end date not past).
type CreateAgreement struct {
	CardID     string
	Reference  string
	MerchantID string // 1 to 15 characters, as MerchantID leaves field 42
	HasTerms   bool
	Terms      authz.Terms
}

func (CreateAgreement) Kind() OpKind { return OpCreateAgreement }
func (CreateAgreement) Keys(*Keys)   {}

func (c CreateAgreement) Apply(tx *Tx, env *Env) Result[Agreement] {
	card, ok := tx.Card(c.CardID)
	if !ok {
		return Result[Agreement]{Refusal: refuse(NotFound, "CARD_NOT_FOUND", "no such card")}
	}
	if card.State == CardRemoved {
		return Result[Agreement]{Refusal: refuse(Conflict, "CARD_REMOVED", "the card was removed")}
	}
	if r := c.check(env.Now.Unix() / 86400); r != nil {
		return Result[Agreement]{Refusal: r}
	}
	key := AgreementKey(card.ID, c.Reference)
	if _, exists := tx.Agreement(key); exists {
		return Result[Agreement]{Refusal: &Refusal{Kind: Conflict, Code: "AGREEMENT_EXISTS",
			Message: "the card has an agreement with this reference", Field: "reference"}}
	}
	now := env.Now.UnixNano()
	a := Agreement{Key: key, ID: AgreementID(key), Reference: c.Reference, CardID: card.ID,
		CustomerID: card.CustomerID, MerchantID: MerchantID(c.MerchantID), State: AgreementActive,
		HasTerms: c.HasTerms, CreatedAtUnixNano: now}
	if c.HasTerms {
		a.MinMinor, a.MaxMinor, a.IntervalDays, a.EndUnixDay = c.Terms.MinMinor, c.Terms.MaxMinor,
			c.Terms.IntervalDays, c.Terms.EndUnixDay
	}
	tx.PutAgreement(a)
	tx.emitAgreement(EventAgreementCreated, &a, "api")
	return Result[Agreement]{Value: a}
}

// check refuses what the wire would refuse as a format error (30).
func (c *CreateAgreement) check(todayUnixDay int64) *Refusal {
	invalid := func(code, field, msg string) *Refusal {
		return &Refusal{Kind: Invalid, Code: code, Message: msg, Field: field}
	}
	switch {
	case len(c.Reference) == 0 || len(c.Reference) > AgreementReferenceMax:
		return invalid("INVALID_FIELD", "reference", "reference: 1 to 32 characters")
	case MerchantID(c.MerchantID) == "" || len(c.MerchantID) > MerchantIDLen:
		return invalid("INVALID_FIELD", "merchantId", "merchantId: 1 to 15 characters")
	case !c.HasTerms:
		return nil
	case c.Terms.MinMinor < 0:
		return invalid("INVALID_TERMS", "terms.minAmount", "minAmount must not be negative")
	case c.Terms.MinMinor > c.Terms.MaxMinor:
		return invalid("INVALID_TERMS", "terms.maxAmount", "maxAmount is below minAmount")
	case c.Terms.IntervalDays < 1:
		return invalid("INVALID_TERMS", "terms.frequencyDays", "frequencyDays must be at least 1")
	case c.Terms.EndUnixDay < todayUnixDay:
		return invalid("INVALID_TERMS", "terms.endDate", "endDate is past")
	}
	return nil
}
