package mgmt

import (
	"strconv"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// Channel parity with the seed's "Actions" tables (docs/cards-channels.md): the same handlers
// serve every channel; what differs per channel is data of the route table (issuePolicy, the
// route's least role and encryption) and the scope checks below.

// issuePolicy is what a card-issuing route may issue: per card type the least operator role
// (roleNone on the customer channel); a type not listed is refused on the route with 403
// CARD_TYPE_NOT_ALLOWED. requireDelivery: a plastic (PHYSICAL, DIGITAL_FIRST) must name its
// delivery. A route without a policy issues every type, plain or encrypted, with the delivery
// optional.
type issuePolicy struct {
	roles           map[string]role
	requireDelivery bool
	// encrypted lists the types that need an encrypted request on a route that takes plain ones
	// too: 400 ENCRYPTION_REQUIRED otherwise.
	encrypted map[string]bool
	// encryptedOptIn: encrypted applies only when http.requireEncryptedIssuance is set.
	encryptedOptIn bool
}

var (
	// Seed "Create virtual" (Customer), "Order physical card" and "Print virtual" (Customer):
	// a cardholder issues every type for themselves.
	customerIssue = &issuePolicy{roles: map[string]role{ledger.CardVirtual: roleNone,
		ledger.CardPhysical: roleNone, ledger.CardDigitalFirst: roleNone}, requireDelivery: true}
	// Seed availability for admin roles: "Create virtual" Admin, Manager; "Order physical card"
	// and "Print virtual" Admin, Manager, Employee.
	adminIssue = &issuePolicy{roles: map[string]role{ledger.CardVirtual: roleManager,
		ledger.CardPhysical: roleEmployee, ledger.CardDigitalFirst: roleEmployee}, requireDelivery: true}
	// API row: every type; "Order physical card" and "Print virtual" need JWE. "Create virtual"
	// does too in the seed, except for its asynchronous process; contract §4 fixes the /secure
	// issuance as taking plain requests, which every partner integration (the simulator, the
	// load generator, the end-to-end tests) uses for virtual cards, and the answer carries no
	// card data (that is GET /secure/cards/{cardId}/full, encrypted only): a virtual card stays
	// plain-or-encrypted on /secure (docs/cards-channels.md). Contract §4 fixes the plastics'
	// issuance on /secure the same way, so the seed's JWE rule for "Order physical card" and
	// "Print virtual" is the issuer's choice there: http.requireEncryptedIssuance turns it on.
	secureIssue = &issuePolicy{roles: map[string]role{ledger.CardVirtual: roleNone,
		ledger.CardPhysical: roleNone, ledger.CardDigitalFirst: roleNone},
		encrypted: map[string]bool{ledger.CardPhysical: true, ledger.CardDigitalFirst: true}, encryptedOptIn: true}
)

// mayIssue checks the route's issuance policy for a card type.
func (c *call) mayIssue(typ string) *apiError {
	p := c.route.issue
	if p == nil {
		return nil
	}
	least, ok := p.roles[typ]
	if !ok {
		return &apiError{Status: 403, Code: "CARD_TYPE_NOT_ALLOWED", Message: "this channel does not issue " + typ + " cards", Field: "type"}
	}
	if c.route.channel == chanAdmin && c.adminRole() < least {
		return &apiError{Status: 403, Code: errRole.Code, Message: "issuing a " + typ + " card needs the role " + least.String()}
	}
	strict := !p.encryptedOptIn || c.s.cfg.HTTP.RequireEncryptedIssuance
	if strict && p.encrypted[typ] && c.clientKey == nil {
		return errBad(errEncryptionRequired.Code, "issuing a "+typ+" card needs an encrypted request (Encrypted-Request: true and Public-Key)", "")
	}
	return nil
}

// adminRole is the operator's role on the admin channel.
func (c *call) adminRole() role {
	r, _ := parseRole(c.who.Role)
	return r
}

// deliveryIn is the delivery of a plastic in an issuance request.
type deliveryIn struct {
	Method  string `json:"method"`
	Address *struct {
		Name       string `json:"name"`
		Line1      string `json:"line1"`
		Line2      string `json:"line2"`
		PostalCode string `json:"postalCode"`
		City       string `json:"city"`
		Country    string `json:"country"`
	} `json:"address"`
}

// Bounds of a delivery address's fields (characters).
const (
	deliveryLineMax = 100
	deliveryCodeMax = 16
)

// delivery validates a delivery; nil in: none given.
func (in *deliveryIn) delivery() (ledger.Delivery, *apiError) {
	switch {
	case in.Method == "":
		return ledger.Delivery{}, errMissing("delivery.method")
	case !ledger.DeliveryMethod(in.Method).Valid():
		return ledger.Delivery{}, errBad("INVALID_DELIVERY_METHOD", "delivery.method must be COURIER or POST", "delivery.method")
	case in.Address == nil:
		return ledger.Delivery{}, errMissing("delivery.address")
	}
	a := in.Address
	d := ledger.Delivery{Method: ledger.DeliveryMethod(in.Method), Name: strings.TrimSpace(a.Name),
		Line1: strings.TrimSpace(a.Line1), Line2: strings.TrimSpace(a.Line2), PostalCode: strings.TrimSpace(a.PostalCode),
		City: strings.TrimSpace(a.City), Country: strings.TrimSpace(a.Country)}
	for _, f := range []struct {
		name, v  string
		required bool
		max      int
	}{
		{"delivery.address.name", d.Name, true, deliveryLineMax},
		{"delivery.address.line1", d.Line1, true, deliveryLineMax},
		{"delivery.address.line2", d.Line2, false, deliveryLineMax},
		{"delivery.address.postalCode", d.PostalCode, true, deliveryCodeMax},
		{"delivery.address.city", d.City, true, deliveryLineMax},
	} {
		if f.v == "" && f.required {
			return ledger.Delivery{}, errMissing(f.name)
		}
		if len(f.v) > f.max || !printable(f.v) {
			return ledger.Delivery{}, errInvalid(f.name, f.name+": at most "+strconv.Itoa(f.max)+" printable characters")
		}
	}
	if d.Country == "" {
		return ledger.Delivery{}, errMissing("delivery.address.country")
	}
	if len(d.Country) != 2 || strings.ToUpper(d.Country) != d.Country || !isLetters(d.Country) {
		return ledger.Delivery{}, errInvalid("delivery.address.country", "delivery.address.country: an ISO 3166-1 alpha-2 code such as FR")
	}
	return d, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Cardholder visibility (seed "Link card"): a PHYSICAL card is in the cardholder's resources
// once the personalisation bureau confirmed it (POST /secure/cards/{cardId}/personalisation);
// before, the customer channel does not list it and answers 404 CARD_NOT_FOUND for it. The order
// answer names it, with "linked": false.
func cardholderSees(card *ledger.Card) bool {
	return card.Type != ledger.CardPhysical || card.Personalised
}

// visibleCardIDs lists a balance's cards as the caller may see them.
func (c *call) visibleCardIDs(balanceID string) []string {
	ids := c.s.cardIDsOf(balanceID)
	if c.route.channel != chanCustomer {
		return ids
	}
	out := ids[:0:0]
	for _, id := range ids {
		if card, ok := c.s.eng.State().Card(id); ok && cardholderSees(&card) {
			out = append(out, id)
		}
	}
	return out
}

// cvc2Resettable: seed "Reset CVV": "generation of new CVC2 or CVV number for virtual or digital
// first cards". A PHYSICAL card's CVC2 is printed on the plastic: a new value would decline the
// card the cardholder holds.
func cvc2Resettable(card *ledger.Card) bool {
	return card.Type == ledger.CardVirtual || card.Type == ledger.CardDigitalFirst
}

// Cardholder locks and unlocks (seed "Lock" and "Unlock", Customer row): a cardholder locks with
// any reason of the seed's table, 1 to 8, and lifts any lock the seed calls reversible (3, 4, 6)
// except one kept with the issuer on purpose: 7, suspected fraud. The switch sets it itself after
// five wrong CVC2/CVV values in a row (authz.CardDataTriesMax), which is someone trying card
// data that is not theirs, and networks and fraud teams set it from outside; a lift from the app
// would hand the guesser five more tries without anyone at the issuer having looked. A lock with
// 1, 2, 5 or 8 is irreversible on every channel (ledger: CARD_LOCK_IRREVERSIBLE).
func cardholderMayUnlock(r authz.LockReason) bool {
	return !r.Irreversible() && r != authz.LockSuspectedFraud
}

// hAdminReload reloads a user balance (seed "Reload user balance"; Manager): partner balances
// have their own route (POST /admin/partner-balances/{balanceId}/reload, Admin).
func (s *Server) hAdminReload(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	if b.Kind != ledger.BalanceUser {
		return 0, nil, errNotFound("BALANCE_NOT_FOUND", "no such user balance")
	}
	return s.hReload(c)
}
