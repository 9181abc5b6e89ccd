package ledger

import "sort"

// The loyalty member lifecycle (issue 19): opt-out with a grace period, opting back in,
// replacement by another card, and the purge of what an opted-out or replaced member leaves
// once its grace has passed. Each is one command, applied in one batch.

func refuseMember(code, msg string) *Refusal { return refuse(Conflict, code, msg) }

// memberForChange finds a member of a customer ("" customer: any).
func (tx *Tx) memberForChange(cardID, customerID string) (LoyaltyMember, *Refusal) {
	m, ok := tx.LoyaltyMember(cardID)
	if !ok || (customerID != "" && m.CustomerID != customerID) {
		return LoyaltyMember{}, refuse(NotFound, "NOT_ENROLLED", "the card is not enrolled")
	}
	return m, nil
}

// OptOutLoyalty takes an enrolled card out of its programme: it earns nothing from now on, its
// points stay for the grace period, after which PurgeLoyalty removes the member.
type OptOutLoyalty struct{ CardID, CustomerID string }

func (OptOutLoyalty) Kind() OpKind { return OpLoyalty }
func (OptOutLoyalty) Keys(*Keys)   {}

func (c OptOutLoyalty) Apply(tx *Tx, env *Env) Result[LoyaltyMember] {
	m, r := tx.memberForChange(c.CardID, c.CustomerID)
	if r != nil {
		return Result[LoyaltyMember]{Refusal: r}
	}
	if m.Status != LoyaltyEnrolled {
		return Result[LoyaltyMember]{Refusal: refuseMember("NOT_ENROLLED", "the card is not enrolled")}
	}
	m.Status, m.OptedOutAtUnixNano = LoyaltyOptedOut, env.Now.UnixNano()
	tx.PutLoyaltyMember(m)
	return Result[LoyaltyMember]{Value: m}
}

// OptInLoyalty brings an opted-out card back during its grace period, with its points.
type OptInLoyalty struct{ CardID, CustomerID string }

func (OptInLoyalty) Kind() OpKind { return OpLoyalty }
func (OptInLoyalty) Keys(*Keys)   {}

func (c OptInLoyalty) Apply(tx *Tx, _ *Env) Result[LoyaltyMember] {
	m, r := tx.memberForChange(c.CardID, c.CustomerID)
	if r != nil {
		return Result[LoyaltyMember]{Refusal: r}
	}
	if m.Status != LoyaltyOptedOut {
		return Result[LoyaltyMember]{Refusal: refuseMember("NOT_OPTED_OUT", "the card is not in its opt-out grace period")}
	}
	m.Status, m.OptedOutAtUnixNano = LoyaltyEnrolled, 0
	tx.PutLoyaltyMember(m)
	return Result[LoyaltyMember]{Value: m}
}

// ReplaceLoyalty ends the old card's membership once the new card of the same customer is
// enrolled: the old member is CANCELLED (purged after the grace period) and its points move to
// the new card's balance in the same batch.
type ReplaceLoyalty struct{ OldCardID, NewCardID string }

func (ReplaceLoyalty) Kind() OpKind { return OpLoyalty }
func (ReplaceLoyalty) Keys(*Keys)   {}

func (c ReplaceLoyalty) Apply(tx *Tx, env *Env) Result[LoyaltyMember] {
	old, r := tx.memberForChange(c.OldCardID, "")
	if r != nil {
		return Result[LoyaltyMember]{Refusal: r}
	}
	nm, r := tx.memberForChange(c.NewCardID, old.CustomerID)
	if r != nil || nm.Status != LoyaltyEnrolled || c.OldCardID == c.NewCardID {
		return Result[LoyaltyMember]{Refusal: refuseMember("NOT_ENROLLED", "the new card is not an enrolled card of the customer")}
	}
	if old.Status == LoyaltyCancelled {
		return Result[LoyaltyMember]{Refusal: refuseMember("NOT_ENROLLED", "the old card was replaced already")}
	}
	if b, ok := tx.Balance(old.BalanceID); ok && b.CurrentMinor != 0 {
		pts := b.CurrentMinor
		tx.addPoints(old.BalanceID, -pts)
		tx.addPoints(nm.BalanceID, pts)
	}
	old.Status, old.OptedOutAtUnixNano, old.ReplacedByCardID = LoyaltyCancelled, env.Now.UnixNano(), nm.CardID
	tx.PutLoyaltyMember(old)
	return Result[LoyaltyMember]{Value: old}
}

// PurgeLoyalty removes the members whose opt-out or replacement is at least Grace old: the
// member row with its account reference, card hash and callback address, and its earnings.
// Points left on an opted-out card's balance are forfeited (booked off, so the books still
// balance); the balance row stays without personal data. At most Max members per batch.
type PurgeLoyalty struct {
	GraceNanos int64
	Max        int
}

// Purged names a purged member (for the confirmation and the log).
type Purged struct {
	CardID, CustomerID, CustomerExternalID, PartnerID, ConfirmationURL, RANAC, Last4 string
	Status                                                                           LoyaltyStatus
}

func (PurgeLoyalty) Kind() OpKind { return OpLoyalty }
func (PurgeLoyalty) Keys(*Keys)   {}

func (c PurgeLoyalty) Apply(tx *Tx, env *Env) Result[[]Purged] {
	now := env.Now.UnixNano()
	var due []string
	for id, m := range tx.s.loyalty.members { // committed members: a purge runs in a batch of its own
		if m.Status != LoyaltyEnrolled && m.OptedOutAtUnixNano != 0 && now-m.OptedOutAtUnixNano >= c.GraceNanos {
			due = append(due, id)
		}
	}
	sort.Strings(due) // the same batch on every run: oldest ids first, at most Max
	var out []Purged
	for _, id := range due {
		if len(out) >= c.Max {
			break
		}
		m := tx.s.loyalty.members[id]
		if cur, ok := tx.LoyaltyMember(m.CardID); !ok || cur.Status == LoyaltyEnrolled {
			continue // changed earlier in this batch
		}
		if b, ok := tx.Balance(m.BalanceID); ok && b.CurrentMinor != 0 {
			tx.addPoints(m.BalanceID, -b.CurrentMinor)
		}
		var keys []string
		for k, e := range tx.s.loyalty.earnings {
			if e.CardID == m.CardID {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			tx.loyalty.earnings.del(k)
		}
		tx.loyalty.members.del(m.CardID)
		out = append(out, Purged{CardID: m.CardID, CustomerID: m.CustomerID, CustomerExternalID: m.CustomerExternalID,
			PartnerID: m.PartnerID, ConfirmationURL: m.ConfirmationURL, RANAC: m.RANAC, Last4: m.Last4, Status: m.Status})
	}
	return Result[[]Purged]{Value: out}
}
