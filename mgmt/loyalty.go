package mgmt

// The loyalty points read-out of contract §7 on the card management channels. The loyalty
// package answers it (LoyaltyReader); this file only decodes the route and encodes the answer.

// LoyaltyReader answers a customer's loyalty read-out (the loyalty package's Service).
type LoyaltyReader interface {
	// CustomerLoyalty is the read-out of a customer known to exist.
	CustomerLoyalty(customerID string) LoyaltySummary
}

// LoyaltySummary is GET .../loyalty (contract §7): status ENROLLED, OPTED_OUT (grace) or
// NOT_ENROLLED; points are whole numbers.
type LoyaltySummary struct {
	ProgramID string           `json:"programId"`
	Status    string           `json:"status"`
	Points    int64            `json:"points"`
	Accounts  []LoyaltyAccount `json:"accounts"`
}

// LoyaltyAccount is one enrolled card of the read-out.
type LoyaltyAccount struct {
	RANAC       string `json:"ranac"`
	CardID      string `json:"cardId"`
	Last4       string `json:"last4"`
	Status      string `json:"status"`
	Points      int64  `json:"points"`
	HouseholdID string `json:"householdId"`
	Role        string `json:"role"`
}

func (s *Server) hCustomerLoyalty(c *call) (int, any, *apiError) {
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	if s.loyalty == nil {
		return 0, nil, errNotFound("LOYALTY_NOT_CONFIGURED", "no loyalty programme is served")
	}
	return 200, s.loyalty.CustomerLoyalty(cu.ID), nil
}
