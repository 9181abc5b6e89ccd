package ledger

// Management rules on cards that the management API needs beyond manage.go.

// PersonaliseCard records the personalisation bureau's confirmation that a physical card was
// made and linked: only a PHYSICAL card that is not removed can be personalised, once.
func (tx *Tx) PersonaliseCard(cardID string) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if c.Type != CardPhysical {
		return Card{}, refuse(Conflict, "NOT_A_PHYSICAL_CARD", "only a PHYSICAL card is personalised")
	}
	if c.Personalised {
		return c, nil
	}
	return tx.ChangeCard(cardID, ChangePersonalise, 0)
}

// ActivateCard activates a card; a PHYSICAL card must have been personalised first (it does
// not exist before). Virtual and digital-first cards are active from issue.
func (tx *Tx) ActivateCard(cardID string) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if c.Type == CardPhysical && !c.Personalised && c.State == CardInactive {
		return Card{}, refuse(Conflict, "CARD_NOT_PERSONALISED", "the physical card has not been personalised yet")
	}
	return tx.ChangeCard(cardID, ChangeActivate, 0)
}

// DigitalFirstSource picks the virtual card a DIGITAL_FIRST physical copy is made from: the
// named one, or the latest virtual card of the balance that is not removed.
func (tx *Tx) DigitalFirstSource(balanceID, virtualCardID string) (Card, *Refusal) {
	if virtualCardID != "" {
		c, ok := tx.Card(virtualCardID)
		if !ok || c.BalanceID != balanceID {
			return Card{}, &Refusal{Kind: NotFound, Code: "CARD_NOT_FOUND", Message: "no such virtual card on this balance", Field: "virtualCardId"}
		}
		if c.Type != CardVirtual {
			return Card{}, &Refusal{Kind: Invalid, Code: "NOT_A_VIRTUAL_CARD", Message: "virtualCardId must name a VIRTUAL card", Field: "virtualCardId"}
		}
		if c.State == CardRemoved {
			return Card{}, refuse(Conflict, "CARD_REMOVED", "the virtual card was removed")
		}
		return c, nil
	}
	ids := tx.CardIDsOfBalance(balanceID)
	for i := len(ids) - 1; i >= 0; i-- {
		if c, ok := tx.Card(ids[i]); ok && c.Type == CardVirtual && c.State != CardRemoved {
			return c, nil
		}
	}
	return Card{}, refuse(Conflict, "VIRTUAL_CARD_REQUIRED", "a DIGITAL_FIRST card copies a virtual card of the balance; there is none")
}
