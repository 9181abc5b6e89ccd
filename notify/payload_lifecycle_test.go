package notify

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

// The data of balance.state_changed and customer.* events, as docs/api.md lists them.
func TestLifecycleEventData(t *testing.T) {
	tests := []struct {
		e    ledger.Event
		want map[string]any
	}{
		{ledger.Event{Type: ledger.EventBalanceStateChanged, BalanceID: "b1", CustomerID: "c1", Currency: "EUR",
			PreviousStatus: "ACTIVE", Status: "BLOCKED", Source: "admin", Actor: "mona"},
			map[string]any{"balanceId": "b1", "customerId": "c1", "currency": "EUR", "previousState": "ACTIVE",
				"state": "BLOCKED", "source": "admin", "actor": "mona"}},
		{ledger.Event{Type: ledger.EventCustomerDeleted, CustomerID: "c1", PreviousStatus: "ACTIVE", Status: "DELETED",
			Source: "customer", Actor: "customer:c1"},
			map[string]any{"customerId": "c1", "previousState": "ACTIVE", "state": "DELETED", "source": "customer",
				"actor": "customer:c1"}},
		{ledger.Event{Type: ledger.EventCustomerKYCChanged, CustomerID: "c1", PreviousStatus: "PENDING", Status: "VERIFIED",
			Source: "kyc", Actor: "kyc-provider"},
			map[string]any{"customerId": "c1", "previousKycStatus": "PENDING", "kycStatus": "VERIFIED", "source": "kyc",
				"actor": "kyc-provider"}},
	}
	for _, tt := range tests {
		env := envelope(&tt.e)
		var got map[string]any
		if err := json.Unmarshal(env.Data, &got); err != nil {
			t.Fatal(err)
		}
		if env.Type != tt.e.Type.String() || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %s %v, want %v", tt.e.Type, env.Type, got, tt.want)
		}
	}
}
