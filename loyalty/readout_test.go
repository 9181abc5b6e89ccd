package loyalty

import (
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

func TestSummarize(t *testing.T) {
	pts := map[string]int64{"pts_a": 10, "pts_b": 20, "pts_c": 5}
	m := func(card string, st ledger.LoyaltyStatus) ledger.LoyaltyMember {
		return ledger.LoyaltyMember{CardID: card, BalanceID: "pts_" + card, Status: st, ProgramID: "P-" + card, Role: "R"}
	}
	for _, tc := range []struct {
		name    string
		members []ledger.LoyaltyMember
		status  string
		program string
		points  int64
	}{
		{"no card", nil, StatusNotEnrolled, "", 0},
		{"one enrolled", []ledger.LoyaltyMember{m("a", ledger.LoyaltyEnrolled)}, StatusEnrolled, "P-a", 10},
		{"opted out keeps its points in grace", []ledger.LoyaltyMember{m("a", ledger.LoyaltyOptedOut)}, StatusOptedOut, "P-a", 10},
		{"enrolled wins over opted out", []ledger.LoyaltyMember{m("a", ledger.LoyaltyOptedOut), m("b", ledger.LoyaltyEnrolled)}, StatusEnrolled, "P-b", 30},
		{"a replaced card does not count", []ledger.LoyaltyMember{m("c", ledger.LoyaltyCancelled), m("b", ledger.LoyaltyEnrolled)}, StatusEnrolled, "P-b", 20},
		{"only cancelled", []ledger.LoyaltyMember{m("c", ledger.LoyaltyCancelled)}, StatusNotEnrolled, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.members, func(id string) int64 { return pts[id] })
			if s.Status != tc.status || s.ProgramID != tc.program || s.Points != tc.points || len(s.Accounts) != len(tc.members) {
				t.Fatalf("%+v", s)
			}
		})
	}
}
