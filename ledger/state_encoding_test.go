package ledger_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// The states are named string types shared with authz; their JSON (stored rows of format 1,
// the management API's views) must stay the plain strings stores and clients already hold.
func TestStatesEncodeAsTheirStrings(t *testing.T) {
	for _, tc := range []struct {
		row  any
		want string
	}{
		{ledger.Card{State: ledger.CardLocked}, `"state":"LOCKED"`},
		{ledger.Card{State: authz.CardStateRemoved}, `"state":"REMOVED"`},
		{ledger.Token{State: authz.TokenSuspended}, `"state":"SUSPENDED"`},
		{ledger.Balance{State: ledger.BalanceClosed}, `"state":"CLOSED"`},
		{ledger.Auth{State: ledger.AuthReversedFirst}, `"state":"REVERSED_BEFORE_ORIGINAL"`},
	} {
		b, err := json.Marshal(tc.row)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%T encodes as %s, want it to contain %s", tc.row, b, tc.want)
		}
	}
	var c ledger.Card
	if err := json.Unmarshal([]byte(`{"state":"INACTIVE"}`), &c); err != nil || c.State != ledger.CardInactive {
		t.Fatalf("a stored card state decodes as %q (%v), want INACTIVE", c.State, err)
	}
}
