package ledger

import (
	"sort"
)

// Redemption of points for catalog rewards (seed §6.5; the seed names no redeem operation of the
// rewards host, so the ledger's points are what is redeemed), households (§6.6) and the selected
// reward. A redemption debits the household's points atomically, in one batch: the redeemer's
// own card first, then the household's other cards in card id order; it is refused whole when
// the points are short or the member may not redeem. A cancellation gives every debit back.

// TableLoyaltyRedemption is the redemptions' journal table.
const TableLoyaltyRedemption = "loyalty_redemption"

// Redemption statuses.
const (
	RedemptionRedeemed  = "REDEEMED"
	RedemptionCancelled = "CANCELLED"
)

// RedemptionQuantityMax bounds a redemption's quantity.
const RedemptionQuantityMax = 100

// PointsDebit is what a redemption took from one points balance.
type PointsDebit struct {
	BalanceID string
	Points    int64
}

// LoyaltyRedemption is one redemption.
type LoyaltyRedemption struct {
	ID                  string
	CardID              string // the redeeming member
	CustomerID          string
	ItemID              string
	Quantity            int64
	Points              int64 // in all
	Debits              []PointsDebit
	Status              string
	CreatedAtUnixNano   int64
	CancelledAtUnixNano int64
}

type redemptionTable map[string]LoyaltyRedemption

func (t redemptionTable) get(k string) (LoyaltyRedemption, bool) { v, ok := t[k]; return v, ok }

// redeemer reports whether a household role may redeem (P and R; seed §6.6).
func redeemer(role string) bool { return role == RolePrimary || role == RoleRedeemer }

// live reports whether a member's points may be used (enrolled, or in its opt-out grace: the
// seed lets an opted-out cardholder redeem during the grace period).
func live(m *LoyaltyMember) bool { return m.Status == LoyaltyEnrolled || m.Status == LoyaltyOptedOut }

// householdMembers lists the live members sharing m's household (m first, then by card id).
func (tx *Tx) householdMembers(m LoyaltyMember) []LoyaltyMember {
	out := []LoyaltyMember{m}
	if m.HouseholdID == "" {
		return out
	}
	var ids []string
	for id, o := range tx.s.loyalty.members {
		if id != m.CardID && o.HouseholdID == m.HouseholdID && o.ProgramID == m.ProgramID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if o, ok := tx.LoyaltyMember(id); ok && live(&o) && o.HouseholdID == m.HouseholdID {
			out = append(out, o)
		}
	}
	return out
}

// RedeemLoyalty redeems Quantity of a catalog item worth PointsEach for the member CardID of
// CustomerID. The item's attributes come from the rewards host's catalog (the caller read it).
type RedeemLoyalty struct {
	ID, CardID, CustomerID, ItemID string
	PointsEach, Quantity           int64
	Redeemable, SingleQuantity     bool
}

func (RedeemLoyalty) Kind() OpKind { return OpLoyalty }
func (RedeemLoyalty) Keys(*Keys)   {}

func (c RedeemLoyalty) Apply(tx *Tx, env *Env) Result[LoyaltyRedemption] {
	invalid := func(code, field, msg string) Result[LoyaltyRedemption] {
		return Result[LoyaltyRedemption]{Refusal: &Refusal{Kind: Invalid, Code: code, Message: msg, Field: field}}
	}
	conflict := func(code, msg string) Result[LoyaltyRedemption] {
		return Result[LoyaltyRedemption]{Refusal: refuse(Conflict, code, msg)}
	}
	switch {
	case c.Quantity < 1 || c.Quantity > RedemptionQuantityMax:
		return invalid("INVALID_FIELD", "quantity", "quantity: 1 to 100")
	case c.SingleQuantity && c.Quantity != 1:
		return invalid("INVALID_FIELD", "quantity", "the item is redeemed one at a time")
	case c.PointsEach < 0:
		return invalid("INVALID_FIELD", "itemId", "the item has no point value")
	}
	if _, exists := tx.loyalty.redemptions.get(c.ID); exists {
		return conflict("REDEMPTION_EXISTS", "a redemption with this id exists")
	}
	m, r := tx.memberForChange(c.CardID, c.CustomerID)
	if r != nil {
		return Result[LoyaltyRedemption]{Refusal: r}
	}
	switch {
	case !live(&m):
		return conflict("NOT_ENROLLED", "the card is not enrolled")
	case !redeemer(m.Role):
		return conflict("NOT_A_REDEEMER", "the member's household role may not redeem (P or R may)")
	case !c.Redeemable:
		return conflict("ITEM_NOT_REDEEMABLE", "the reward cannot be redeemed")
	}
	need := c.PointsEach * c.Quantity
	members := tx.householdMembers(m)
	var have int64
	for i := range members {
		if b, ok := tx.Balance(members[i].BalanceID); ok && b.CurrentMinor > 0 {
			have += b.CurrentMinor
		}
	}
	if have < need {
		return conflict("INSUFFICIENT_POINTS", "the household's points are short of the reward")
	}
	red := LoyaltyRedemption{ID: c.ID, CardID: m.CardID, CustomerID: m.CustomerID, ItemID: c.ItemID, Quantity: c.Quantity,
		Points: need, Status: RedemptionRedeemed, CreatedAtUnixNano: env.Now.UnixNano()}
	left := need
	for i := range members {
		if left == 0 {
			break
		}
		b, ok := tx.Balance(members[i].BalanceID)
		if !ok || b.CurrentMinor <= 0 {
			continue
		}
		take := min(left, b.CurrentMinor)
		tx.addPoints(b.ID, -take)
		red.Debits = append(red.Debits, PointsDebit{BalanceID: b.ID, Points: take})
		left -= take
	}
	tx.loyalty.redemptions.put(red.ID, red)
	return Result[LoyaltyRedemption]{Value: red}
}

// CancelRedemption cancels a redemption and gives its points back to the balances it debited.
// Cancelling a cancelled redemption changes nothing.
type CancelRedemption struct{ ID, CustomerID string }

func (CancelRedemption) Kind() OpKind { return OpLoyalty }
func (CancelRedemption) Keys(*Keys)   {}

func (c CancelRedemption) Apply(tx *Tx, env *Env) Result[LoyaltyRedemption] {
	red, ok := tx.loyalty.redemptions.get(c.ID)
	if !ok || (c.CustomerID != "" && red.CustomerID != c.CustomerID) {
		return Result[LoyaltyRedemption]{Refusal: refuse(NotFound, "REDEMPTION_NOT_FOUND", "no such redemption")}
	}
	if red.Status == RedemptionCancelled {
		return Result[LoyaltyRedemption]{Value: red}
	}
	for _, d := range red.Debits {
		tx.addPoints(d.BalanceID, d.Points)
	}
	red.Status, red.CancelledAtUnixNano = RedemptionCancelled, env.Now.UnixNano()
	tx.loyalty.redemptions.put(red.ID, red)
	return Result[LoyaltyRedemption]{Value: red}
}

// SelectReward marks a catalog item as the member's selected reward ("" clears it).
type SelectReward struct{ CardID, CustomerID, ItemID string }

func (SelectReward) Kind() OpKind { return OpLoyalty }
func (SelectReward) Keys(*Keys)   {}

func (c SelectReward) Apply(tx *Tx, _ *Env) Result[LoyaltyMember] {
	m, r := tx.memberForChange(c.CardID, c.CustomerID)
	if r != nil {
		return Result[LoyaltyMember]{Refusal: r}
	}
	if !live(&m) {
		return Result[LoyaltyMember]{Refusal: refuseMember("NOT_ENROLLED", "the card is not enrolled")}
	}
	m.SelectedRewardID = c.ItemID
	tx.PutLoyaltyMember(m)
	return Result[LoyaltyMember]{Value: m}
}

// SetHousehold records a member's household and role as the rewards host answered a household
// change (move, remove, role update). A role outside P, R, N is refused.
type SetHousehold struct{ CardID, CustomerID, HouseholdID, Role string }

func (SetHousehold) Kind() OpKind { return OpLoyalty }
func (SetHousehold) Keys(*Keys)   {}

func (c SetHousehold) Apply(tx *Tx, _ *Env) Result[LoyaltyMember] {
	if c.Role != RolePrimary && c.Role != RoleRedeemer && c.Role != RoleNonRedeemer {
		return Result[LoyaltyMember]{Refusal: &Refusal{Kind: Invalid, Code: "INVALID_FIELD", Message: "roleId: P, R or N", Field: "roleId"}}
	}
	m, r := tx.memberForChange(c.CardID, c.CustomerID)
	if r != nil {
		return Result[LoyaltyMember]{Refusal: r}
	}
	m.HouseholdID, m.Role = c.HouseholdID, c.Role
	tx.PutLoyaltyMember(m)
	return Result[LoyaltyMember]{Value: m}
}

// LoyaltyRedemptionsOfCustomer lists a customer's committed redemptions, oldest first.
func (s *State) LoyaltyRedemptionsOfCustomer(customerID string) []LoyaltyRedemption {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []LoyaltyRedemption
	for _, r := range s.loyalty.redemptions {
		if r.CustomerID == customerID {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAtUnixNano != out[j].CreatedAtUnixNano {
			return out[i].CreatedAtUnixNano < out[j].CreatedAtUnixNano
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// LoyaltyRedemption returns a committed redemption.
func (s *State) LoyaltyRedemption(id string) (LoyaltyRedemption, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loyalty.redemptions.get(id)
}
