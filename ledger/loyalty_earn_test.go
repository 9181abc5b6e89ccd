package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

// demoProgram is the development profile's programme (contract §7): 1 point per 1.00, three
// times at the partner merchant, 50 bonus points at grocery stores (MCC 5411); plus a cashback
// offer and a business card programme for the rules the profile does not show.
func demoProgram() *ledger.LoyaltyProgram {
	return &ledger.LoyaltyProgram{ID: "DEMO-PROGRAM", CardPrograms: []string{"demo-mc"},
		BusinessCardPrograms: []string{"demo-business"}, PointsPerUnit: 1,
		Offers: []ledger.LoyaltyOffer{
			{MerchantID: "PARTNER0000001", Multiplier: 3},
			{MCC: "5411", Bonus: 50},
			{MerchantID: "CASHBACK000001", CashbackPercent: 2},
			{MerchantID: "PARTNER0000002", MCC: "5812", Multiplier: 2},
		}}
}

// TestEarnPoints is the earning rule, one row per rule of docs/loyalty.md "Earning".
func TestEarnPoints(t *testing.T) {
	p := demoProgram()
	for _, tc := range []struct {
		name       string
		amount     int64 // minor units
		exponent   int
		merchantID string
		mcc        string
		business   bool
		want       int64
		wantOffer  int
	}{
		{"base rate, whole points rounded down", 12_99, 2, "SHOP", "5999", false, 12, -1},
		{"under one unit earns nothing", 99, 2, "SHOP", "5999", false, 0, -1},
		{"zero amount earns nothing, not even a bonus", 0, 2, "SHOP", "5411", false, 0, 1},
		{"merchant multiplier: three times the base", 12_99, 2, "PARTNER0000001", "5999", false, 38, 0},
		{"merchant id padded as field 42", 10_00, 2, "PARTNER0000001 ", "5999", false, 30, 0},
		{"MCC bonus on top of the base", 20_00, 2, "SHOP", "5411", false, 70, 1},
		{"first matching offer wins (merchant before MCC)", 20_00, 2, "PARTNER0000001", "5411", false, 60, 0},
		{"cashback: 2 % of the amount in minor units", 100_00, 2, "CASHBACK000001", "5999", false, 100 + 200, 2},
		{"offer with merchant and MCC needs both", 10_00, 2, "PARTNER0000002", "5999", false, 10, -1},
		{"offer with merchant and MCC, both match", 10_00, 2, "PARTNER0000002", "5812", false, 20, 3},
		{"business card: no base rate", 12_99, 2, "SHOP", "5999", true, 0, -1},
		{"business card: the multiplier's part above the base", 12_99, 2, "PARTNER0000001", "5999", true, 26, 0},
		{"business card: the bonus", 20_00, 2, "SHOP", "5411", true, 50, 1},
		{"currency without minor units", 1299, 0, "SHOP", "5999", false, 1299, -1},
		{"currency with three decimals", 12_999, 3, "SHOP", "5999", false, 12, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.RuleFor(tc.merchantID, tc.mcc, tc.exponent, tc.business)
			if r.OfferIndex != tc.wantOffer {
				t.Errorf("offer %d, want %d", r.OfferIndex, tc.wantOffer)
			}
			if got := r.Points(tc.amount); got != tc.want {
				t.Errorf("points %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEligible(t *testing.T) {
	p := demoProgram()
	for _, tc := range []struct {
		program            string
		eligible, business bool
	}{{"demo-mc", true, false}, {"demo-business", true, true}, {"demo-visa", false, false}} {
		ok, b := p.Eligible(tc.program)
		if ok != tc.eligible || b != tc.business {
			t.Errorf("%s: eligible %v business %v, want %v %v", tc.program, ok, b, tc.eligible, tc.business)
		}
	}
}

// TestEarnPointsLargestAmount: the largest field 4 at the largest rate and multiplier does not
// overflow.
func TestEarnPointsLargestAmount(t *testing.T) {
	r := ledger.EarnRule{PointsPerUnit: ledger.PointsPerUnitMax, Exponent: 0,
		Multiplier: ledger.OfferMultiplierMax, CashbackPercent: ledger.OfferCashbackPercentMax, Bonus: ledger.OfferBonusMax}
	const amount = 999_999_999_999
	want := int64(amount)*ledger.PointsPerUnitMax*ledger.OfferMultiplierMax + ledger.OfferBonusMax + amount
	if got := r.Points(amount); got != want || got <= 0 {
		t.Fatalf("points %d, want %d", got, want)
	}
}
