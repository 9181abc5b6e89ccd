package journal

import "github.com/cardswitch/cardswitch/ledger"

// The binary rows of the loyalty tables (ledger/loyalty.go), in the layout of codec.go: fields
// in a fixed order; a new field goes at the end and is read only when the row has it.

func encodeLoyaltyMember(e *enc, r *ledger.LoyaltyMember) {
	e.str(r.CardID)
	e.str(r.CustomerID)
	e.str(r.ProgramID)
	e.str(r.BalanceID)
	e.str(r.RANAC)
	e.str(r.CardHash)
	e.str(r.Last4)
	e.str(string(r.Status))
	e.bool(r.Business)
	e.str(r.HouseholdID)
	e.str(r.Role)
	e.str(r.AccountID)
	e.i64(r.EnrolledAtUnixNano)
	e.i64(r.OptedOutAtUnixNano)
	e.str(r.ReplacedByCardID)
	e.str(r.SelectedRewardID)
	e.str(r.PartnerID)
	e.str(r.ConfirmationURL)
	e.str(r.CustomerExternalID)
}

func decodeLoyaltyMember(d *dec) *ledger.LoyaltyMember {
	r := &ledger.LoyaltyMember{}
	r.CardID = d.str()
	r.CustomerID = d.str()
	r.ProgramID = d.sym()
	r.BalanceID = d.str()
	r.RANAC = d.str()
	r.CardHash = d.str()
	r.Last4 = d.str()
	r.Status = ledger.LoyaltyStatus(d.sym())
	r.Business = d.bool()
	r.HouseholdID = d.str()
	r.Role = d.sym()
	r.AccountID = d.str()
	r.EnrolledAtUnixNano = d.i64()
	r.OptedOutAtUnixNano = d.i64()
	r.ReplacedByCardID = d.str()
	r.SelectedRewardID = d.str()
	r.PartnerID = d.sym()
	r.ConfirmationURL = d.str()
	r.CustomerExternalID = d.str()
	return r
}

func encodeLoyaltyEarning(e *enc, r *ledger.LoyaltyEarning) {
	e.str(r.AuthKey)
	e.str(r.CardID)
	e.i64(r.AmountMinor)
	e.bool(r.Refund)
	e.i64(r.Points)
	u := &r.Rule
	e.i64(u.PointsPerUnit)
	e.i64(int64(u.Exponent))
	e.bool(u.Business)
	e.i64(u.Multiplier)
	e.i64(u.Bonus)
	e.i64(u.CashbackPercent)
	e.i64(int64(u.OfferIndex))
	e.i64(r.AtUnixNano)
}

func decodeLoyaltyEarning(d *dec) *ledger.LoyaltyEarning {
	r := &ledger.LoyaltyEarning{}
	r.AuthKey = d.str()
	r.CardID = d.str()
	r.AmountMinor = d.i64()
	r.Refund = d.bool()
	r.Points = d.i64()
	u := &r.Rule
	u.PointsPerUnit = d.i64()
	u.Exponent = d.int()
	u.Business = d.bool()
	u.Multiplier = d.i64()
	u.Bonus = d.i64()
	u.CashbackPercent = d.i64()
	u.OfferIndex = d.int()
	r.AtUnixNano = d.i64()
	return r
}

func encodeLoyaltyConfirmation(e *enc, r *ledger.LoyaltyConfirmation) {
	e.str(r.ID)
	e.str(r.URL)
	e.bytes(r.Body)
	e.str(r.Status)
	e.i64(int64(r.Attempts))
	e.i64(r.NextAtUnixNano)
	e.str(r.LastError)
	e.i64(r.CreatedAtUnixNano)
}

func decodeLoyaltyConfirmation(d *dec) *ledger.LoyaltyConfirmation {
	r := &ledger.LoyaltyConfirmation{}
	r.ID = d.str()
	r.URL = d.str()
	if b := d.raw(); len(b) > 0 {
		r.Body = append([]byte(nil), b...)
	}
	r.Status = d.sym()
	r.Attempts = d.int()
	r.NextAtUnixNano = d.i64()
	r.LastError = d.str()
	r.CreatedAtUnixNano = d.i64()
	return r
}

func encodeLoyaltyRedemption(e *enc, r *ledger.LoyaltyRedemption) {
	e.str(r.ID)
	e.str(r.CardID)
	e.str(r.CustomerID)
	e.str(r.ItemID)
	e.i64(r.Quantity)
	e.i64(r.Points)
	e.u64(uint64(len(r.Debits)))
	for _, d := range r.Debits {
		e.str(d.BalanceID)
		e.i64(d.Points)
	}
	e.str(r.Status)
	e.i64(r.CreatedAtUnixNano)
	e.i64(r.CancelledAtUnixNano)
}

func decodeLoyaltyRedemption(d *dec) *ledger.LoyaltyRedemption {
	r := &ledger.LoyaltyRedemption{}
	r.ID = d.str()
	r.CardID = d.str()
	r.CustomerID = d.str()
	r.ItemID = d.str()
	r.Quantity = d.i64()
	r.Points = d.i64()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)-d.pos) {
			d.err = errShortRow
			return r
		}
		r.Debits = make([]ledger.PointsDebit, 0, n)
		for range n {
			r.Debits = append(r.Debits, ledger.PointsDebit{BalanceID: d.str(), Points: d.i64()})
		}
	}
	r.Status = d.sym()
	r.CreatedAtUnixNano = d.i64()
	r.CancelledAtUnixNano = d.i64()
	return r
}
