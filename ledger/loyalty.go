package ledger

import (
	"sort"

	"github.com/cardswitch/cardswitch/authz"
)

// Loyalty points (contract §7, issue 19). A card enrolled in a rewards programme is a loyalty
// member; its points are a balance of its own in the unit PTS, booked in the same batch as the
// purchase that earns them, so points are exactly as durable, idempotent (a retransmission gets
// the remembered answer and books nothing) and crash-safe as money. Points are earned when a
// purchase is captured (an approved financial request, a completion) and taken back by its
// reversal or a refund. Each earning is remembered by the auth record's key with the rule it was
// counted with, so a reversal takes back exactly what was earned.
//
// A points balance keeps the ledger's books: LoadedMinor is the net of the points credited and
// debited (every earning, take-back and redemption moves it with CurrentMinor), and no auth
// record posts to it, so current = loaded − posted holds as for money.

// Journal tables of the loyalty members and earnings.
const (
	TableLoyaltyMember  = "loyalty_member"
	TableLoyaltyEarning = "loyalty_earning"
)

// BalanceLoyalty is the kind of a points balance; PointsUnit its currency.
const (
	BalanceLoyalty = "LOYALTY"
	PointsUnit     = "PTS"
)

// LoyaltyStatus is a member's status, shown as this string.
type LoyaltyStatus string

// Member statuses: ENROLLED earns; OPTED_OUT is the grace period after an opt-out (points kept,
// nothing earned, opt back in possible); CANCELLED is a card replaced by another (kept until its
// purge so its reversals still take points back).
const (
	LoyaltyEnrolled  LoyaltyStatus = "ENROLLED"
	LoyaltyOptedOut  LoyaltyStatus = "OPTED_OUT"
	LoyaltyCancelled LoyaltyStatus = "CANCELLED"
)

// Household roles (seed §6.6): P primary redeemer, R redeemer, N non-redeemer.
const (
	RolePrimary     = "P"
	RoleRedeemer    = "R"
	RoleNonRedeemer = "N"
)

// LoyaltyMember is a card enrolled in a programme. The PAN is not kept here: the rewards host's
// account reference (RANAC) and the keyed PAN hash are; the journal seals the row at rest.
type LoyaltyMember struct {
	CardID     string
	CustomerID string
	ProgramID  string
	BalanceID  string // the PTS balance
	RANAC      string
	CardHash   string // HMAC-SHA-256 of the PAN (seed §4.3), lowercase hex
	Last4      string
	Status     LoyaltyStatus
	Business   bool
	// HouseholdID and Role are the member's household at the rewards host.
	HouseholdID string
	Role        string
	// AccountID is the host's internal account id (households).
	AccountID          string
	EnrolledAtUnixNano int64
	OptedOutAtUnixNano int64 // OPTED_OUT or CANCELLED: when
	ReplacedByCardID   string
	SelectedRewardID   string // the reward the member marked as selected (seed §6.5)
	PartnerID          string // the partner that initialized the enrollment (token iss)
	ConfirmationURL    string
	CustomerExternalID string // the token's sub (parentId of the callbacks)
}

// LoyaltyEarning is what one captured purchase (or refund) did to a member's points, keyed by
// the auth record's key.
type LoyaltyEarning struct {
	AuthKey     string
	CardID      string
	AmountMinor int64 // the amount the points are counted on now (after partial reversals)
	Refund      bool  // a refund: the points were taken back
	Points      int64 // signed: booked on the points balance (negative for a refund)
	Rule        EarnRule
	AtUnixNano  int64
}

// loyaltyStore is the State's members (by card) and earnings (by auth key). The engine goroutine
// reads it without the lock; queries take State.mu.
type loyaltyStore struct {
	members       memberTable
	earnings      earningTable
	confirmations confirmationTable   // the confirmation outbox (loyalty_outbox.go)
	redemptions   redemptionTable     // loyalty_redeem.go
	byCustomer    map[string][]string // card ids, enrollment order
}

type memberTable map[string]LoyaltyMember

func (t memberTable) get(k string) (LoyaltyMember, bool) { v, ok := t[k]; return v, ok }

type earningTable map[string]LoyaltyEarning

func (t earningTable) get(k string) (LoyaltyEarning, bool) { v, ok := t[k]; return v, ok }

func newLoyaltyStore() *loyaltyStore {
	return &loyaltyStore{members: memberTable{}, earnings: earningTable{}, confirmations: confirmationTable{},
		redemptions: redemptionTable{}, byCustomer: map[string][]string{}}
}

func (s *loyaltyStore) setMember(m *LoyaltyMember) {
	if _, ok := s.members[m.CardID]; !ok {
		s.byCustomer[m.CustomerID] = append(s.byCustomer[m.CustomerID], m.CardID)
	}
	s.members[m.CardID] = *m
}

func (s *loyaltyStore) deleteMember(cardID string) {
	m, ok := s.members[cardID]
	if !ok {
		return
	}
	delete(s.members, cardID)
	ids := s.byCustomer[m.CustomerID]
	for i, id := range ids {
		if id == cardID {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(s.byCustomer, m.CustomerID)
	} else {
		s.byCustomer[m.CustomerID] = ids
	}
}

// loadLoyalty puts a recovered row into the store (State.Load).
func (s *State) loadLoyalty(row any) {
	switch r := row.(type) {
	case *LoyaltyMember:
		s.loyalty.setMember(r)
	case *LoyaltyEarning:
		s.loyalty.earnings[r.AuthKey] = *r
	case *LoyaltyConfirmation:
		s.loyalty.confirmations[r.ID] = *r
	case *LoyaltyRedemption:
		s.loyalty.redemptions[r.ID] = *r
	}
}

// loyaltyTx is the batch's overlay of the loyalty tables (a Tx field).
type loyaltyTx struct {
	members       overlay[LoyaltyMember]
	earnings      overlay[LoyaltyEarning]
	confirmations overlay[LoyaltyConfirmation]
	redemptions   overlay[LoyaltyRedemption]
}

func (tx *Tx) beginLoyalty() {
	tx.loyalty.members = overlay[LoyaltyMember]{base: tx.s.loyalty.members, dirty: map[string]*LoyaltyMember{}}
	tx.loyalty.earnings = overlay[LoyaltyEarning]{base: tx.s.loyalty.earnings, dirty: map[string]*LoyaltyEarning{}}
	tx.loyalty.confirmations = overlay[LoyaltyConfirmation]{base: tx.s.loyalty.confirmations,
		dirty: map[string]*LoyaltyConfirmation{}}
	tx.loyalty.redemptions = overlay[LoyaltyRedemption]{base: tx.s.loyalty.redemptions, dirty: map[string]*LoyaltyRedemption{}}
}

func (tx *Tx) resetLoyalty() {
	tx.loyalty.members.reset()
	tx.loyalty.earnings.reset()
	tx.loyalty.confirmations.reset()
	tx.loyalty.redemptions.reset()
}

func (tx *Tx) loyaltyWrites() int {
	return len(tx.loyalty.members.order) + len(tx.loyalty.earnings.order) + len(tx.loyalty.confirmations.order) +
		len(tx.loyalty.redemptions.order)
}

func (tx *Tx) appendLoyaltyChanges(dst []Change) []Change {
	dst = appendChanges(dst, TableLoyaltyMember, &tx.loyalty.members)
	dst = appendChanges(dst, TableLoyaltyEarning, &tx.loyalty.earnings)
	dst = appendChanges(dst, TableLoyaltyConfirmation, &tx.loyalty.confirmations)
	return appendChanges(dst, TableLoyaltyRedemption, &tx.loyalty.redemptions)
}

// commitLoyalty merges the batch's loyalty rows (under State.mu, from Commit). Members are
// deleted by their purge; earnings with them.
func (tx *Tx) commitLoyalty() {
	s := tx.s.loyalty
	for _, k := range tx.loyalty.members.order {
		if v := tx.loyalty.members.dirty[k]; v != nil {
			s.setMember(v)
		} else {
			s.deleteMember(k)
		}
	}
	for _, k := range tx.loyalty.earnings.order {
		if v := tx.loyalty.earnings.dirty[k]; v != nil {
			s.earnings[k] = *v
		} else {
			delete(s.earnings, k)
		}
	}
	for _, k := range tx.loyalty.confirmations.order {
		if v := tx.loyalty.confirmations.dirty[k]; v != nil {
			s.confirmations[k] = *v
		} else {
			delete(s.confirmations, k)
		}
	}
	for _, k := range tx.loyalty.redemptions.order {
		if v := tx.loyalty.redemptions.dirty[k]; v != nil {
			s.redemptions[k] = *v
		}
	}
}

// LoyaltyMember returns a member as the batch sees it.
func (tx *Tx) LoyaltyMember(cardID string) (LoyaltyMember, bool) {
	return tx.loyalty.members.get(cardID)
}

// PutLoyaltyMember writes a member in the batch.
func (tx *Tx) PutLoyaltyMember(m LoyaltyMember) { tx.loyalty.members.put(m.CardID, m) }

// LoyaltyEarning returns an earning as the batch sees it.
func (tx *Tx) LoyaltyEarning(authKey string) (LoyaltyEarning, bool) {
	return tx.loyalty.earnings.get(authKey)
}

// memberOf is the hot path's only loyalty cost for a card that is not enrolled: with no member
// at all (no programme in use) not even the lookup.
func (tx *Tx) memberOf(cardID string) (LoyaltyMember, bool) {
	if cardID == "" || (len(tx.s.loyalty.members) == 0 && len(tx.loyalty.members.dirty) == 0) {
		return LoyaltyMember{}, false
	}
	return tx.loyalty.members.get(cardID)
}

// addPoints moves a member's points balance by delta (signed) in the batch.
func (tx *Tx) addPoints(balanceID string, delta int64) bool {
	b, ok := tx.Balance(balanceID)
	if !ok {
		return false
	}
	b.CurrentMinor += delta
	b.LoadedMinor += delta
	tx.PutBalance(b)
	return true
}

// captured books the points of a captured purchase (refund false) or takes back those of an
// approved refund (refund true), on the card's member, under the auth record authKey.
func (tx *Tx) loyaltyCaptured(env *Env, cardID, authKey string, amountMinor int64, refund bool, merchantID, mcc string) {
	m, ok := tx.memberOf(cardID)
	if !ok || amountMinor <= 0 {
		return
	}
	if !refund && m.Status != LoyaltyEnrolled {
		return // an opted-out or replaced card earns nothing; its refunds still take back
	}
	p, ok := env.Loyalty.Program(m.ProgramID)
	if !ok {
		return // the programme was removed from the configuration: nothing to count with
	}
	exp := 2
	if card, ok := tx.Card(cardID); ok {
		if bal, ok := tx.Balance(card.BalanceID); ok {
			if cur, ok := CurrencyByAlpha(bal.Currency); ok {
				exp = cur.Exponent
			}
		}
	}
	rule := p.RuleFor(merchantID, mcc, exp, m.Business)
	pts := rule.Points(amountMinor)
	if pts == 0 {
		return
	}
	if refund {
		pts = -pts
	}
	if e, ok := tx.LoyaltyEarning(authKey); ok && e.Points != 0 {
		return // booked already (a completion of a purchase that earned)
	}
	if !tx.addPoints(m.BalanceID, pts) {
		return
	}
	tx.loyalty.earnings.put(authKey, LoyaltyEarning{AuthKey: authKey, CardID: cardID, AmountMinor: amountMinor,
		Refund: refund, Points: pts, Rule: rule, AtUnixNano: env.Now.UnixNano()})
}

// loyaltyReversed takes back (or, for a refund, gives back) the points of an earning whose
// purchase is now counted at remainingMinor (0: reversed in full). A reversal that names no
// earning changes nothing.
func (tx *Tx) loyaltyReversed(cardID, authKey string, remainingMinor int64) {
	if _, ok := tx.memberOf(cardID); !ok {
		return
	}
	e, ok := tx.LoyaltyEarning(authKey)
	if !ok {
		return
	}
	m, ok := tx.LoyaltyMember(e.CardID)
	if !ok {
		return // purged: nothing left to take back from
	}
	want := e.Rule.Points(remainingMinor)
	if e.Refund {
		want = -want
	}
	if want == e.Points {
		return
	}
	if !tx.addPoints(m.BalanceID, want-e.Points) {
		return
	}
	e.Points, e.AmountMinor = want, remainingMinor
	tx.loyalty.earnings.put(authKey, e)
}

// PointsBalanceID is the id of a card's points balance.
func PointsBalanceID(cardID string) string { return "pts_" + cardID }

// EnrollLoyalty makes a card a member of a programme once the rewards host has enrolled it
// (RANAC). Its points balance is opened (or, for a card enrolled before, kept with its points).
// Refused: an unknown card or programme, a card outside the programme's card programmes, a card
// already enrolled.
type EnrollLoyalty struct {
	CardID, ProgramID, RANAC, CardHash string
	HouseholdID, Role, AccountID       string
	PartnerID, ConfirmationURL         string
	CustomerExternalID                 string
}

func (EnrollLoyalty) Kind() OpKind { return OpLoyaltyEnroll }
func (EnrollLoyalty) Keys(*Keys)   {}

func (c EnrollLoyalty) Apply(tx *Tx, env *Env) Result[LoyaltyMember] {
	m, r := tx.enrollLoyalty(&c, env)
	return Result[LoyaltyMember]{Value: m, Refusal: r}
}

func (tx *Tx) enrollLoyalty(c *EnrollLoyalty, env *Env) (LoyaltyMember, *Refusal) {
	card, ok := tx.Card(c.CardID)
	if !ok {
		return LoyaltyMember{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if card.State == CardRemoved {
		return LoyaltyMember{}, refuse(Conflict, "CARD_REMOVED", "the card was removed")
	}
	p, ok := env.Loyalty.Program(c.ProgramID)
	if !ok {
		return LoyaltyMember{}, &Refusal{Kind: Invalid, Code: "INVALID_PROGRAM", Message: "no such loyalty programme", Field: "programId"}
	}
	eligible, business := p.Eligible(card.Program)
	if !eligible {
		return LoyaltyMember{}, refuse(Conflict, "CARD_NOT_IN_PROGRAM", "the card's programme does not take part")
	}
	if old, ok := tx.LoyaltyMember(card.ID); ok && old.Status != LoyaltyCancelled {
		return LoyaltyMember{}, refuse(Conflict, "ALREADY_ENROLLED", "the card is enrolled")
	}
	if c.RANAC == "" {
		return LoyaltyMember{}, &Refusal{Kind: Invalid, Code: "MISSING_FIELD", Message: "ranac is required", Field: "ranac"}
	}
	role := c.Role
	if role == "" || role == RoleNonRedeemer {
		role = RoleRedeemer // seed §6.6: non-redeemers are made redeemers by default
	}
	bid := PointsBalanceID(card.ID)
	if _, ok := tx.Balance(bid); !ok {
		tx.PutBalance(Balance{ID: bid, Kind: BalanceLoyalty, CustomerID: card.CustomerID, Currency: PointsUnit,
			State: BalanceActive, CreatedAtUnixNano: env.Now.UnixNano()})
	}
	m := LoyaltyMember{CardID: card.ID, CustomerID: card.CustomerID, ProgramID: p.ID, BalanceID: bid,
		RANAC: c.RANAC, CardHash: c.CardHash, Last4: card.Last4, Status: LoyaltyEnrolled, Business: business,
		HouseholdID: c.HouseholdID, Role: role, AccountID: c.AccountID, EnrolledAtUnixNano: env.Now.UnixNano(),
		PartnerID: c.PartnerID, ConfirmationURL: c.ConfirmationURL, CustomerExternalID: c.CustomerExternalID}
	tx.PutLoyaltyMember(m)
	return m, nil
}

// LoyaltyMember returns a committed member (queries).
func (s *State) LoyaltyMember(cardID string) (LoyaltyMember, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loyalty.members.get(cardID)
}

// LoyaltyMembersOfCustomer lists a customer's committed members in enrollment order (queries).
func (s *State) LoyaltyMembersOfCustomer(customerID string) []LoyaltyMember {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := s.loyalty.byCustomer[customerID]
	out := make([]LoyaltyMember, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.loyalty.members[id])
	}
	return out
}

// LoyaltyEarningsOfCard lists a card's committed earnings by time (queries, tests).
func (s *State) LoyaltyEarningsOfCard(cardID string) []LoyaltyEarning {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []LoyaltyEarning
	for _, e := range s.loyalty.earnings {
		if e.CardID == cardID {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AtUnixNano != out[j].AtUnixNano {
			return out[i].AtUnixNano < out[j].AtUnixNano
		}
		return out[i].AuthKey < out[j].AuthKey
	})
	return out
}

// loyaltyKind says whether a money message of kind k can earn or take back points at capture.
func loyaltyKind(k authz.Kind) (earns, refund bool) {
	switch k {
	case authz.KindFinancial:
		return true, false
	case authz.KindRefund:
		return true, true
	}
	return false, false
}
