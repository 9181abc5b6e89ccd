package mgmt

import (
	"sort"
	"strconv"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// The API views. None carries a PAN, CVC2, PVV or key: the only answer with card data is the
// encrypted full-data one.

type customerView struct {
	CustomerID string `json:"customerId"`
	ExternalID string `json:"externalId,omitempty"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	KYCStatus  string `json:"kycStatus"`
	CreatedAt  string `json:"createdAt"`
	State      string `json:"state"` // ACTIVE, DEACTIVATED, DELETED (mgmt/lifecycle.go)
}

func viewCustomer(c ledger.Customer) customerView {
	return customerView{CustomerID: c.ID, ExternalID: c.ExternalID, FirstName: c.FirstName, LastName: c.LastName,
		Email: c.Email, Phone: c.Phone, KYCStatus: c.KYC, CreatedAt: nanosRFC3339(c.CreatedAtUnixNano),
		State: string(c.Lifecycle())}
}

type balanceView struct {
	BalanceID           string   `json:"balanceId"`
	CustomerID          string   `json:"customerId"`
	Currency            string   `json:"currency"`
	Available           string   `json:"available"`
	Held                string   `json:"held"`
	Current             string   `json:"current"`
	State               string   `json:"state"`
	CardIDs             []string `json:"cardIds"`
	LowBalanceThreshold string   `json:"lowBalanceThreshold,omitempty"`
}

func viewBalance(b ledger.Balance, cardIDs []string) balanceView {
	if cardIDs == nil {
		cardIDs = []string{}
	}
	v := balanceView{BalanceID: b.ID, CustomerID: b.CustomerID, Currency: b.Currency,
		Available: formatAmount(b.AvailableMinor(), b.Currency), Held: formatAmount(b.HeldMinor, b.Currency),
		Current: formatAmount(b.CurrentMinor, b.Currency), State: string(b.State), CardIDs: cardIDs}
	if b.LowMarkMinor > 0 {
		v.LowBalanceThreshold = formatAmount(b.LowMarkMinor, b.Currency)
	}
	return v
}

type partnerBalanceView struct {
	BalanceID           string `json:"balanceId"`
	Kind                string `json:"kind"`
	Program             string `json:"program"`
	Currency            string `json:"currency"`
	Available           string `json:"available"`
	Held                string `json:"held"`
	Current             string `json:"current"`
	CreditLimit         string `json:"creditLimit"`
	State               string `json:"state"`
	BoundsProgram       bool   `json:"boundsProgram"`
	LowBalanceThreshold string `json:"lowBalanceThreshold,omitempty"`
}

func (s *Server) viewPartner(b ledger.Balance) partnerBalanceView {
	v := partnerBalanceView{BalanceID: b.ID, Kind: b.Kind, Program: b.Program, Currency: b.Currency,
		Available: formatAmount(b.AvailableMinor(), b.Currency), Held: formatAmount(b.HeldMinor, b.Currency),
		Current: formatAmount(b.CurrentMinor, b.Currency), CreditLimit: formatAmount(b.CreditLimitMinor, b.Currency),
		State: string(b.State)}
	if p, ok := s.cfg.Program(b.Program); ok && p.PartnerBalanceID == b.ID {
		v.BoundsProgram = true
	}
	if b.LowMarkMinor > 0 {
		v.LowBalanceThreshold = formatAmount(b.LowMarkMinor, b.Currency)
	}
	return v
}

type cardView struct {
	CardID            string `json:"cardId"`
	BalanceID         string `json:"balanceId"`
	Program           string `json:"program"`
	Type              string `json:"type"`
	State             string `json:"state"`
	LockReason        int    `json:"lockReason"`
	Last4             string `json:"last4"`
	ExpiryMonth       int    `json:"expiryMonth"`
	ExpiryYear        int    `json:"expiryYear"`
	PANSequenceNumber string `json:"panSequenceNumber"`
	// Linked (PHYSICAL cards only): the personalisation bureau confirmed the plastic, and the
	// cardholder sees the card (seed "Link card").
	Linked          *bool         `json:"linked,omitempty"`
	BureauReference string        `json:"bureauReference,omitempty"`
	Delivery        *deliveryView `json:"delivery,omitempty"`
}

type deliveryView struct {
	Method  string      `json:"method"`
	Address addressView `json:"address"`
}

type addressView struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	PostalCode string `json:"postalCode"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

func viewCard(c ledger.Card) cardView {
	m, y := splitExpiry(c.ExpiryYYMM)
	v := cardView{CardID: c.ID, BalanceID: c.BalanceID, Program: c.Program, Type: c.Type, State: string(c.State),
		LockReason: int(c.LockReason), Last4: c.Last4, ExpiryMonth: m, ExpiryYear: y, PANSequenceNumber: c.PSN}
	if c.Type == ledger.CardPhysical {
		linked := c.Personalised
		v.Linked, v.BureauReference = &linked, c.BureauReference()
	}
	if d, ok := c.Delivery(); ok {
		v.Delivery = &deliveryView{Method: string(d.Method), Address: addressView{Name: d.Name, Line1: d.Line1,
			Line2: d.Line2, PostalCode: d.PostalCode, City: d.City, Country: d.Country}}
	}
	return v
}

// splitExpiry turns YYMM into month 1-12 and a four-digit year (20YY).
func splitExpiry(yymm string) (month, year int) {
	if len(yymm) != 4 {
		return 0, 0
	}
	yy, _ := strconv.Atoi(yymm[:2])
	mm, _ := strconv.Atoi(yymm[2:])
	return mm, 2000 + yy
}

type tokenView struct {
	TokenID           string `json:"tokenId"`
	CardID            string `json:"cardId"`
	Type              string `json:"type"`
	State             string `json:"state"`
	Last4             string `json:"last4"`
	ExpiryMonth       int    `json:"expiryMonth"`
	ExpiryYear        int    `json:"expiryYear"`
	PANSequenceNumber string `json:"panSequenceNumber"`
	WalletProvider    string `json:"walletProvider,omitempty"`
	AssuranceLevel    int    `json:"assuranceLevel,omitempty"`
	CreatedAt         string `json:"createdAt"`
}

func viewToken(t ledger.Token) tokenView {
	m, y := splitExpiry(t.ExpiryYYMM)
	return tokenView{TokenID: t.ID, CardID: t.CardID, Type: t.Type, State: string(t.State), Last4: t.Last4,
		ExpiryMonth: m, ExpiryYear: y, PANSequenceNumber: t.PSN, WalletProvider: t.WalletProvider,
		AssuranceLevel: t.AssuranceLevel, CreatedAt: nanosRFC3339(t.CreatedAtUnixNano)}
}

type limitsView struct {
	CardID          string `json:"cardId"`
	MaxAmount       string `json:"maxAmount,omitempty"`
	MaxCountPerDay  int    `json:"maxCountPerDay,omitempty"`
	MaxAmountPerDay string `json:"maxAmountPerDay,omitempty"`
}

func viewLimits(c ledger.Card, currency string) limitsView {
	v := limitsView{CardID: c.ID, MaxCountPerDay: c.Limits.MaxCountPerDay}
	if c.Limits.MaxAmountMinor > 0 {
		v.MaxAmount = formatAmount(c.Limits.MaxAmountMinor, currency)
	}
	if c.Limits.MaxAmountPerDay > 0 {
		v.MaxAmountPerDay = formatAmount(c.Limits.MaxAmountPerDay, currency)
	}
	return v
}

func nanosRFC3339(n int64) string {
	if n == 0 {
		return ""
	}
	return time.Unix(0, n).UTC().Format(time.RFC3339Nano)
}

// cardsOf lists a balance's cards as views, in issue order.
func (s *Server) cardIDsOf(balanceID string) []string {
	return s.eng.State().CardIDsOfBalance(balanceID)
}

func (s *Server) balancesOfCustomer(customerID string) []ledger.Balance {
	var out []ledger.Balance
	for _, b := range s.eng.State().Balances() {
		if b.Kind == ledger.BalanceUser && b.CustomerID == customerID {
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAtUnixNano < out[j].CreatedAtUnixNano })
	return out
}
