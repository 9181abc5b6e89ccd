// Package loyalty is cardswitch as the loyalty platform of the rewards seed
// (loyalty-rewards.txt, contract §7, docs/loyalty.md): partners initialize enrollments with signed
// tokens, cardholders enroll their cards on cardswitch's page, the rewards host (MRS, an outside
// party behind the Host interface) keeps the accounts, and the ledger earns points from the
// purchases cardswitch authorizes (ledger/loyalty.go).
package loyalty

import (
	"encoding/json"
	"fmt"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/mgmt"
)

// Customer statuses of the read-out (contract §7).
const (
	StatusEnrolled    = "ENROLLED"
	StatusOptedOut    = "OPTED_OUT"
	StatusNotEnrolled = "NOT_ENROLLED"
)

// Summarize builds a customer's read-out from its members (enrollment order) and their points:
// ENROLLED while a card is enrolled, OPTED_OUT while no card is but one is in its opt-out grace,
// NOT_ENROLLED otherwise. The customer's points are those of the cards that are not cancelled
// (a replaced card's points moved to its successor). The programme is the first live card's.
func Summarize(members []ledger.LoyaltyMember, points func(balanceID string) int64) mgmt.LoyaltySummary {
	out := mgmt.LoyaltySummary{Status: StatusNotEnrolled, Accounts: []mgmt.LoyaltyAccount{}}
	for _, m := range members {
		pts := points(m.BalanceID)
		out.Accounts = append(out.Accounts, mgmt.LoyaltyAccount{RANAC: m.RANAC, CardID: m.CardID, Last4: m.Last4,
			Status: string(m.Status), Points: pts, HouseholdID: m.HouseholdID, Role: m.Role})
		switch m.Status {
		case ledger.LoyaltyEnrolled:
			if out.Status != StatusEnrolled {
				out.ProgramID = m.ProgramID
			}
			out.Status = StatusEnrolled
		case ledger.LoyaltyOptedOut:
			if out.Status == StatusNotEnrolled {
				out.Status, out.ProgramID = StatusOptedOut, m.ProgramID
			}
		default:
			continue
		}
		out.Points += pts
	}
	return out
}

// Readout answers the read-out from the committed ledger (mgmt.LoyaltyReader).
type Readout struct{ State *ledger.State }

// CustomerLoyalty is the read-out of a customer.
func (r Readout) CustomerLoyalty(customerID string) mgmt.LoyaltySummary {
	return Summarize(r.State.LoyaltyMembersOfCustomer(customerID), func(id string) int64 {
		b, _ := r.State.Balance(id)
		return b.CurrentMinor
	})
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("loyalty: %w", err)
	}
	return b, nil
}
