package journal

import (
	"reflect"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

// TestLoyaltyRowsRoundTrip: every field of the loyalty rows survives the binary encoding.
func TestLoyaltyRowsRoundTrip(t *testing.T) {
	m := &ledger.LoyaltyMember{CardID: "crd_1", CustomerID: "cus_1", ProgramID: "DEMO-PROGRAM", BalanceID: "pts_crd_1",
		RANAC: "03643782610476418733", CardHash: "4f64c445", Last4: "2222", Status: ledger.LoyaltyOptedOut,
		Business: true, HouseholdID: "HH1", Role: "P", AccountID: "A1", EnrolledAtUnixNano: 1, OptedOutAtUnixNano: 2,
		ReplacedByCardID: "crd_2", SelectedRewardID: "R1", PartnerID: "demo-partner",
		ConfirmationURL: "https://partner.example/cb", CustomerExternalID: "ext-1"}
	e := &ledger.LoyaltyEarning{AuthKey: "0200|000001|0501120000|00000012345", CardID: "crd_1", AmountMinor: 1234,
		Refund: true, Points: -37, AtUnixNano: 3, Rule: ledger.EarnRule{PointsPerUnit: 1, Exponent: 2, Business: true,
			Multiplier: 3, Bonus: 50, CashbackPercent: 2, OfferIndex: -1}}
	c := &ledger.LoyaltyConfirmation{ID: "lc_1", URL: "https://partner.example/cb", Body: []byte(`{"status":"SUCCESS_ENROLLMENT"}`),
		Status: ledger.ConfirmationFailed, Attempts: 12, NextAtUnixNano: 5, LastError: "status 500", CreatedAtUnixNano: 4}
	red := &ledger.LoyaltyRedemption{ID: "red_1", CardID: "crd_1", CustomerID: "cus_1", ItemID: "RMI-1", Quantity: 2, Points: 200,
		Debits: []ledger.PointsDebit{{BalanceID: "pts_crd_1", Points: 150}, {BalanceID: "pts_crd_2", Points: 50}},
		Status: ledger.RedemptionCancelled, CreatedAtUnixNano: 1, CancelledAtUnixNano: 2}
	for table, row := range map[string]any{ledger.TableLoyaltyMember: m, ledger.TableLoyaltyEarning: e,
		ledger.TableLoyaltyConfirmation: c, ledger.TableLoyaltyRedemption: red} {
		b, err := encodeRow(nil, row)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRow(table, b, newInterner())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, row) {
			t.Fatalf("%s: got %+v, want %+v", table, got, row)
		}
		if _, err := decodeRow(table, b[:len(b)-1], nil); err == nil {
			t.Fatalf("%s: a truncated row decoded", table)
		}
	}
}
