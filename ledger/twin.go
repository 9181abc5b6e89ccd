package ledger

import "github.com/cardswitch/cardswitch/authz"

// A DIGITAL_FIRST card is the physical copy of a VIRTUAL card and "reflects its actual
// condition" (seed, Digital-first card): one card in two form factors, kept as two records that
// share a PAN. What the cardholder sees as the card's condition is shared, and every change to
// it is applied to both records in the same batch, inside the ledger (issue 20, defect 2):
//
//   - the CVC2 and the PVV (SetCardSecret);
//   - the lock: LOCKED, its reason, and the unlock returning each record to its own state
//     before the lock (StateBeforeLock), so a plastic not yet activated is INACTIVE again;
//   - removal;
//   - the PIN try counter and the card-data fail counter, with their automatic locks, and the
//     highest ATC: both form factors share the PAN and PSN, hence the EMV keys
//     (applyCardEffects).
//
// Each record keeps its own lifecycle otherwise: activation, personalisation, limits, usage.

// hasTwins reports whether c can have another form factor at all: only VIRTUAL and
// DIGITAL_FIRST cards pay for looking.
func hasTwins(c *Card) bool { return c.Type == CardVirtual || c.Type == CardDigitalFirst }

// twinsOf lists c's other form factors that are not removed: the cards of the same balance with
// the same PAN hash, of type VIRTUAL or DIGITAL_FIRST. Cards keep no stored link to their twin
// (a copy issued before this rule has none either), so the balance's cards are looked through;
// there are few. Usually one twin; a virtual card printed twice has two copies, all sharing.
func (tx *Tx) twinsOf(c *Card) []Card {
	if !hasTwins(c) {
		return nil
	}
	var out []Card
	for _, id := range tx.CardIDsOfBalance(c.BalanceID) {
		if id == c.ID {
			continue
		}
		if t, ok := tx.Card(id); ok && t.PANHash == c.PANHash && hasTwins(&t) && t.State != CardRemoved {
			out = append(out, t)
		}
	}
	return out
}

// putTwin stores a twin changed by a change to its other form factor, with card.state_changed
// when its state or lock reason moved (the management API records the named card's own event).
func (tx *Tx) putTwin(prev, next Card, by Origin) {
	if by.Source == "" {
		by.Source = "twin"
	}
	tx.EmitCardState(prev, next, by.Source, by.Actor)
	tx.PutCard(next)
}

// lockTwin carries a lock to a twin, unless the twin carries an irreversible lock already (two
// records that drifted apart before the rule: the stronger lock stays).
func lockTwin(t *Card, reason authz.LockReason) {
	if t.State == CardLocked && t.LockReason.Irreversible() {
		return
	}
	t.lock(reason)
}

// shareCardEffects copies what an authorization did to card c (the counters, an automatic lock,
// the highest ATC) to its twins, with card.state_changed for a twin locked.
func (tx *Tx) shareCardEffects(c *Card, lock authz.LockReason) {
	for _, t := range tx.twinsOf(c) {
		prev := t
		t.PINTries, t.CardDataFails = c.PINTries, c.CardDataFails
		if c.HighestATC > t.HighestATC {
			t.HighestATC = c.HighestATC
		}
		if lock != authz.NotLocked {
			lockTwin(&t, lock)
		}
		tx.putTwin(prev, t, Origin{Source: "authorization", Actor: "switch"})
	}
}
