package journal

import (
	"reflect"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// The customer state and the status fields of balance.state_changed and customer.* events
// survive the journal; rows written before they existed decode with them empty.
func TestCodecLifecycleFields(t *testing.T) {
	rows := []struct {
		table string
		row   any
	}{
		{"customer", &ledger.Customer{ID: "c1", ExternalID: "e1", KYC: ledger.KYCVerified, State: ledger.CustomerDeleted}},
		{"customer", &ledger.Customer{ID: "c2", State: ledger.CustomerDeactivated}},
		{"customer", &ledger.Customer{ID: "c4", KYC: ledger.KYCPending, KYCReference: "kyc_0123"}},
		{"auth", &ledger.Auth{Key: "0100|1|2|3", BalanceID: "b1", State: ledger.AuthCaptured, AmountMinor: 920,
			PostedMinor: 920, FX: &ledger.AuthFX{TxnCurrencyNum: "840", TxnAmountMinor: 1000, CompanyID: "company-eur", CompanyPostedMinor: -4}}},
		{"auth", &ledger.Auth{Key: "0100|1|2|4", State: ledger.AuthOpen, FX: &ledger.AuthFX{TxnCurrencyNum: "840", TxnAmountMinor: 1},
			HasReply: true, RRN: "r", ReplyHash: 7, Response: authz.Response{Action: authz.Approved, AuthCode: "ABC123"}}},
		{ledger.TableEvent, &ledger.Event{Seq: 3, Type: ledger.EventBalanceStateChanged, BalanceID: "b1", CustomerID: "c1",
			Currency: "EUR", PreviousStatus: "ACTIVE", Status: "BLOCKED", Source: "admin", Actor: "mona"}},
	}
	for _, r := range rows {
		b, err := encodeRow(nil, r.row)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRow(r.table, b, newInterner())
		if err != nil || !reflect.DeepEqual(got, r.row) {
			t.Fatalf("%s: round trip %+v, %v; want %+v", r.table, got, err, r.row)
		}
	}
	// A customer row from before states: no trailing state.
	b, _ := encodeRow(nil, &ledger.Customer{ID: "c3", KYC: ledger.KYCPending})
	got, err := decodeRow("customer", b, newInterner())
	if err != nil || got.(*ledger.Customer).State != "" || got.(*ledger.Customer).ID != "c3" {
		t.Fatalf("old customer row: %+v %v", got, err)
	}
}
