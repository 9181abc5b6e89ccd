package ledger

// Management rules on balances that the management API needs beyond manage.go.

// SetLowMark sets a balance's low-balance notification threshold (minor units; 0 turns the
// notification off).
func (tx *Tx) SetLowMark(balanceID string, lowMarkMinor int64) (Balance, *Refusal) {
	b, ok := tx.Balance(balanceID)
	if !ok {
		return Balance{}, refuse(NotFound, "BALANCE_NOT_FOUND", "no such balance")
	}
	if lowMarkMinor < 0 {
		return Balance{}, &Refusal{Kind: Invalid, Code: "INVALID_AMOUNT", Message: "threshold must not be negative", Field: "threshold"}
	}
	b.LowMarkMinor = lowMarkMinor
	tx.PutBalance(b)
	return b, nil
}

// SetCreditLimit changes a partner credit balance's credit limit.
func (tx *Tx) SetCreditLimit(balanceID string, limitMinor int64) (Balance, *Refusal) {
	b, ok := tx.Balance(balanceID)
	if !ok {
		return Balance{}, refuse(NotFound, "BALANCE_NOT_FOUND", "no such balance")
	}
	if b.Kind != BalancePartnerCredit {
		return Balance{}, refuse(Conflict, "NOT_A_CREDIT_BALANCE", "only a PARTNER_CREDIT balance has a credit limit")
	}
	if limitMinor < 0 {
		return Balance{}, &Refusal{Kind: Invalid, Code: "INVALID_AMOUNT", Message: "creditLimit must not be negative", Field: "creditLimit"}
	}
	b.CreditLimitMinor = limitMinor
	tx.PutBalance(b)
	return b, nil
}

// IsLow reports whether the balance is under its low-balance threshold.
func (b *Balance) IsLow() bool { return b.LowMarkMinor > 0 && b.AvailableMinor() < b.LowMarkMinor }

// ReplaceCVC2 sets a new CVC2 on a card: the first candidate that differs from the current one
// (the caller draws at least two distinct candidates, so one always differs). The old value is
// declined from the very next authorization on.
func (tx *Tx) ReplaceCVC2(cardID string, candidates []string) (Card, *Refusal) {
	c, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	for _, v := range candidates {
		if v != c.CVC2 {
			return tx.SetCardSecret(cardID, v, "")
		}
	}
	panic("ledger: ReplaceCVC2 without a candidate differing from the current CVC2")
}
