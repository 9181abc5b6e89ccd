package authz

import "testing"

// TestField39 checks the iso87 field 39 of every action code against the table of contract §3,
// row by row.
func TestField39(t *testing.T) {
	contract := map[ActionCode]string{ // contract §3, "Action | Meaning | 39"
		0: "00", 1000: "05", 1001: "54", 1002: "59", 1004: "62", 1006: "75", 1011: "14",
		1016: "51", 1017: "55", 1018: "78", 1019: "57", 1021: "61", 1023: "65", 1029: "82",
		1030: "57", 1045: "N7", 1816: "25", 2008: "41", 2009: "43", 9100: "30", 9113: "94",
		9109: "96",
	}
	if len(AllActionCodes) != len(contract) {
		t.Fatalf("AllActionCodes has %d codes, contract §3 has %d", len(AllActionCodes), len(contract))
	}
	seen := map[ActionCode]bool{}
	for _, a := range AllActionCodes {
		if seen[a] {
			t.Errorf("%s listed twice in AllActionCodes", a)
		}
		seen[a] = true
		want, ok := contract[a]
		if !ok {
			t.Errorf("%s is not an action code of contract §3", a)
			continue
		}
		if got := a.Field39(); got != want {
			t.Errorf("%s.Field39() = %q, contract §3 says %q", a, got, want)
		}
	}
	// An action code outside the table is a system error on the wire (96), never an approval.
	if got := ActionCode(4242).Field39(); got != "96" {
		t.Errorf("unknown action code maps to %q, want 96", got)
	}
}

// TestActionCodeString checks the 4-digit form used in logs, events and the API (contract §3).
func TestActionCodeString(t *testing.T) {
	for a, want := range map[ActionCode]string{Approved: "0000", DoNotHonour: "1000",
		OriginalNotFound: "1816", LostCardPickUp: "2008", SystemError: "9109"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint16(a), got, want)
		}
	}
	if !Approved.IsApproved() || InsufficientFunds.IsApproved() {
		t.Error("IsApproved: only 0000 approves")
	}
}

// TestLockReasons checks the card-lock table of contract §3: the decline each reason causes and
// which reasons are irreversible (1, 2, 5, 8).
func TestLockReasons(t *testing.T) {
	tests := []struct {
		reason       LockReason
		action       ActionCode
		irreversible bool
	}{
		{LockLost, LostCardPickUp, true},
		{LockStolen, StolenCardPickUp, true},
		{LockPendingQuery, DoNotHonour, false},
		{LockConsolidation, InsufficientFunds, false},
		{LockInactive, CardInactive, true},
		{LockPINTriesExceeded, PINTriesExceeded, false},
		{LockSuspectedFraud, SuspectedFraud, false},
		{LockReplaced, InvalidCard, true},
	}
	for _, tt := range tests {
		if !tt.reason.Valid() {
			t.Errorf("reason %d: Valid() = false", tt.reason)
		}
		if got := tt.reason.ActionCode(); got != tt.action {
			t.Errorf("reason %d: ActionCode() = %s, want %s", tt.reason, got, tt.action)
		}
		if got := tt.reason.Irreversible(); got != tt.irreversible {
			t.Errorf("reason %d: Irreversible() = %v, want %v", tt.reason, got, tt.irreversible)
		}
	}
	for _, r := range []LockReason{NotLocked, 9, 255} {
		if r.Valid() {
			t.Errorf("reason %d: Valid() = true, only 1..8 are lock reasons", r)
		}
	}
}
