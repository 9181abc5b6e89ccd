package ledger

import "strings"

// The earning rule of the loyalty programmes (contract §7, seed loyalty-rewards.txt §6.5): a
// pure function of the programme, the purchase and the card, so the ledger books exactly what
// the table tests say and a replayed batch books the same points.

// Limits of a programme's numbers (config validation refuses more): with an amount of at most
// 12 digits (field 4), amount × pointsPerUnit × multiplier stays far inside int64.
const (
	PointsPerUnitMax        = 1000
	OfferMultiplierMax      = 100
	OfferBonusMax           = 1_000_000
	OfferCashbackPercentMax = 100
)

// LoyaltyProgram is one rewards programme as the ledger applies it.
type LoyaltyProgram struct {
	ID string
	// CardPrograms are the card programmes whose cards may enrol and earn.
	CardPrograms []string
	// BusinessCardPrograms are card programmes of business cards: they may enrol and earn the
	// offers, but not the always-on base rate (the seed: "Always-On Promotions configured for
	// all cards (except Business)").
	BusinessCardPrograms []string
	// PointsPerUnit is the always-on base rate: points per 1.00 (one major unit) captured.
	PointsPerUnit int64
	// Offers come on top of the base rate; the first that matches a purchase applies.
	Offers []LoyaltyOffer
}

// LoyaltyOffer is a partner-merchant offer (a personalised card-linked offer of the seed): it
// matches by merchant id (field 42), by MCC (field 18), or by both when both are set, and gives
// a multiplier of the base rate, a fixed bonus, or cashback points.
type LoyaltyOffer struct {
	MerchantID string // field 42 without its padding; "" matches any merchant
	MCC        string // "" matches any MCC
	// Multiplier: the purchase earns Multiplier times the base rate in all (the offer's part
	// is the (Multiplier − 1) times above the base).
	Multiplier int64
	// Bonus: fixed points per purchase with a positive amount.
	Bonus int64
	// CashbackPercent: points worth that percentage of the amount, one point per minor unit of
	// money back (2 % of 100.00 is 2.00 back, 200 points), convertible to money later.
	CashbackPercent int64
}

// matches reports whether the offer applies to a purchase at merchantID (field 42, padded or
// not) with mcc. An offer with neither condition matches nothing (config refuses it).
func (o *LoyaltyOffer) matches(merchantID, mcc string) bool {
	if o.MerchantID == "" && o.MCC == "" {
		return false
	}
	if o.MerchantID != "" && o.MerchantID != MerchantID(merchantID) {
		return false
	}
	return o.MCC == "" || o.MCC == mcc
}

// Eligible reports whether a card of cardProgram may enrol in the programme, and whether it is a
// business card.
func (p *LoyaltyProgram) Eligible(cardProgram string) (ok, business bool) {
	for _, c := range p.BusinessCardPrograms {
		if c == cardProgram {
			return true, true
		}
	}
	for _, c := range p.CardPrograms {
		if c == cardProgram {
			return true, false
		}
	}
	return false, false
}

// EarnRule is what an earning was counted with, kept with it so that a reversal takes back
// exactly what the purchase earned even after the programme's configuration changed.
type EarnRule struct {
	PointsPerUnit   int64
	Exponent        int  // the currency's minor-unit exponent
	Business        bool // no base rate
	Multiplier      int64
	Bonus           int64
	CashbackPercent int64
	// OfferIndex is the offer that matched (-1: none), for the read-out.
	OfferIndex int
}

// RuleFor picks the rule of a purchase at merchantID with mcc: the base rate and the first
// matching offer.
func (p *LoyaltyProgram) RuleFor(merchantID, mcc string, exponent int, business bool) EarnRule {
	r := EarnRule{PointsPerUnit: p.PointsPerUnit, Exponent: exponent, Business: business, OfferIndex: -1}
	for i := range p.Offers {
		o := &p.Offers[i]
		if o.matches(merchantID, mcc) {
			r.Multiplier, r.Bonus, r.CashbackPercent, r.OfferIndex = o.Multiplier, o.Bonus, o.CashbackPercent, i
			break
		}
	}
	return r
}

// Points is what a captured amount (minor units, not negative) earns under the rule: whole
// points, each part rounded down. The base part is floor(amount × pointsPerUnit / 10^exponent)
// (none for a business card); a multiplier offer adds floor(amount × pointsPerUnit ×
// multiplier / 10^exponent) − base; a bonus offer adds its bonus; a cashback offer adds
// floor(amount × percent / 100). A zero amount earns nothing.
func (r EarnRule) Points(amountMinor int64) int64 {
	if amountMinor <= 0 {
		return 0
	}
	unit := pow10(r.Exponent)
	base := amountMinor * r.PointsPerUnit / unit
	var offer int64
	if r.Multiplier > 1 {
		offer += amountMinor*r.PointsPerUnit*r.Multiplier/unit - base
	}
	offer += r.Bonus
	offer += amountMinor * r.CashbackPercent / 100
	if r.Business {
		return offer
	}
	return base + offer
}

func pow10(e int) int64 {
	v := int64(1)
	for range max(e, 0) {
		v *= 10
	}
	return v
}

// LoyaltyRules are the configured programmes, by id (Env.Loyalty).
type LoyaltyRules struct {
	Programs map[string]*LoyaltyProgram
}

// Program finds a programme.
func (r *LoyaltyRules) Program(id string) (*LoyaltyProgram, bool) {
	if r == nil {
		return nil, false
	}
	p, ok := r.Programs[strings.TrimSpace(id)]
	return p, ok
}
