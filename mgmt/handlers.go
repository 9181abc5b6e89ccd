package mgmt

import (
	"encoding/json"
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
)

// exec runs a command in the engine and waits until it is durable. A refusal changes nothing.
func exec[T any](s *Server, cmd ledger.Command[ledger.Result[T]]) (T, *apiError) {
	ctx, cancel := s.engineCtx()
	defer cancel()
	res, err := engine.Do(ctx, s.eng, cmd)
	if err != nil {
		s.log.Warn("management command not applied", "op", cmd.Kind().String(), "err", err)
		var zero T
		return zero, errUnavailable
	}
	if res.Refusal != nil {
		var zero T
		return zero, fromRefusal(res.Refusal)
	}
	return res.Value, nil
}

// customerScope is the customer a request is limited to: the session's on the customer channel,
// the path's {customerId} where the route has one.
func (c *call) customerScope() (string, bool) {
	if c.route.channel == chanCustomer {
		return c.who.CustomerID, true
	}
	for i := 0; i < c.nparams; i++ {
		if c.params[i].name == "customerId" {
			return c.params[i].value, true
		}
	}
	return "", false
}

func (c *call) loadCustomer() (ledger.Customer, *apiError) {
	id, _ := c.customerScope()
	cu, ok := c.s.eng.State().Customer(id)
	if !ok {
		return ledger.Customer{}, errNotFound("CUSTOMER_NOT_FOUND", "no such customer")
	}
	return cu, nil
}

// loadCard finds a card the caller may see: on the customer channel only the customer's own.
func (c *call) loadCard() (ledger.Card, *apiError) {
	card, ok := c.s.eng.State().Card(c.param("cardId"))
	if !ok {
		return ledger.Card{}, errNotFound("CARD_NOT_FOUND", "no such card")
	}
	if cust, scoped := c.customerScope(); scoped && card.CustomerID != cust {
		return ledger.Card{}, errNotFound("CARD_NOT_FOUND", "no such card")
	}
	if c.route.channel == chanCustomer && !cardholderSees(&card) {
		return ledger.Card{}, errNotFound("CARD_NOT_FOUND", "no such card")
	}
	return card, nil
}

// loadBalance finds a balance the caller may see: a user balance of the scoped customer, or on
// the admin channel any balance; partnerOnly limits it to partner balances.
func (c *call) loadBalance(partnerOnly bool) (ledger.Balance, *apiError) {
	b, ok := c.s.eng.State().Balance(c.param("balanceId"))
	if !ok {
		return ledger.Balance{}, errNotFound("BALANCE_NOT_FOUND", "no such balance")
	}
	if b.Kind == ledger.BalanceLoyalty {
		return ledger.Balance{}, errNotFound("BALANCE_NOT_FOUND", "no such balance") // points: the loyalty read-out
	}
	isPartner := b.Kind != ledger.BalanceUser
	if partnerOnly != isPartner && (partnerOnly || c.route.channel != chanAdmin) {
		return ledger.Balance{}, errNotFound("BALANCE_NOT_FOUND", "no such balance")
	}
	if cust, scoped := c.customerScope(); scoped && b.CustomerID != cust {
		return ledger.Balance{}, errNotFound("BALANCE_NOT_FOUND", "no such balance")
	}
	return b, nil
}

// Health and public key.

func (s *Server) hHealth(c *call) (int, any, *apiError) {
	if !s.ready() {
		return 0, nil, &apiError{Status: 503, Code: "UNAVAILABLE", Message: "starting or stopping"}
	}
	if s.health != nil {
		status, body := s.health()
		return status, body, nil
	}
	return 200, map[string]string{"status": "ok"}, nil
}

func (s *Server) hPublicKey(c *call) (int, any, *apiError) {
	return 200, map[string]string{"kid": s.key.KID(), "pem": s.key.PublicPEM()}, nil
}

// Customers.

type customerIn struct {
	ExternalID string `json:"externalId"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
}

func (in *customerIn) validate() *apiError {
	in.FirstName, in.LastName = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	switch {
	case in.ExternalID != "" && !reExtID.MatchString(in.ExternalID):
		return errInvalid("externalId", "externalId: 1-64 letters, digits or ._:-")
	case in.FirstName == "":
		return errMissing("firstName")
	case !reName.MatchString(in.FirstName):
		return errInvalid("firstName", "firstName: 1-100 letters, spaces, apostrophes, dots or hyphens")
	case in.LastName == "":
		return errMissing("lastName")
	case !reName.MatchString(in.LastName):
		return errInvalid("lastName", "lastName: 1-100 letters, spaces, apostrophes, dots or hyphens")
	case in.Email != "" && (!reEmail.MatchString(in.Email) || len(in.Email) > 254):
		return errInvalid("email", "email is not an e-mail address")
	case in.Phone != "" && (!rePhone.MatchString(in.Phone) || !phoneDigitsOK(in.Phone)):
		return errInvalid("phone", "phone: E.164 digits with an optional leading +")
	}
	return nil
}

// createCustomer records a customer from a validated input.
func (s *Server) createCustomer(c *call, in *customerIn) (ledger.Customer, *apiError) {
	cu := ledger.Customer{ID: "cus_" + randID(12), ExternalID: in.ExternalID, FirstName: in.FirstName,
		LastName: in.LastName, Email: in.Email, Phone: in.Phone}
	return execAudited(c, ledger.CreateCustomer{Customer: cu}, "customer.create", "customer",
		func(after ledger.Customer) (string, any, any) { return after.ID, nil, viewCustomer(after) })
}

func (s *Server) hCreateCustomer(c *call) (int, any, *apiError) {
	var in customerIn
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.validate(); err != nil {
		return 0, nil, err
	}
	cu, err := s.createCustomer(c, &in)
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]string{"customerId": cu.ID}, nil
}

func (s *Server) hGetCustomer(c *call) (int, any, *apiError) {
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	return 200, viewCustomer(cu), nil
}

func (s *Server) hSetKYC(c *call) (int, any, *apiError) {
	var in struct {
		Status string `json:"status"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Status == "" {
		return 0, nil, errMissing("status")
	}
	before, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	cu, aerr := execAudited(c, partnerKYC{ledger.SetKYC{CustomerID: before.ID, Status: in.Status}, c.origin(c.who.Channel)}, "customer.kyc", "customer",
		func(after ledger.Customer) (string, any, any) {
			return before.ID, viewCustomer(before), viewCustomer(after)
		})
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, viewCustomer(cu), nil
}

func (s *Server) hCreateSession(c *call) (int, any, *apiError) {
	if err := decodeStrict(c.body, &struct{}{}, true); err != nil {
		return 0, nil, err
	}
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	if st := cu.Lifecycle(); st != ledger.CustomerActive { // mgmt/lifecycle.go
		return 0, nil, errConflict("CUSTOMER_"+string(st), "the customer is "+strings.ToLower(string(st)))
	}
	tok, ttl, ok := s.sessions.create(cu.ID, s.clock())
	if !ok {
		return 0, nil, errUnavailable
	}
	c.audit("session.create", "customer", cu.ID, nil, nil)
	return 201, map[string]any{"sessionToken": tok, "expiresIn": int(ttl.Seconds())}, nil
}

func (s *Server) hEndSession(c *call) (int, any, *apiError) {
	s.sessions.end(c.session)
	return 204, nil, nil
}

// Balances.

func (s *Server) hCreateBalance(c *call) (int, any, *apiError) {
	var in struct {
		Currency string `json:"currency"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Currency == "" {
		return 0, nil, errMissing("currency")
	}
	if !reCurrency.MatchString(in.Currency) {
		return 0, nil, errBad("UNKNOWN_CURRENCY", "currency must be an ISO 4217 alpha-3 code such as EUR", "currency")
	}
	cust, _ := c.customerScope()
	b := ledger.Balance{ID: "bal_" + randID(12), CustomerID: cust, Currency: in.Currency}
	created, aerr := execAudited(c, ledger.CreateBalance{Balance: b}, "balance.create", "balance",
		func(after ledger.Balance) (string, any, any) { return after.ID, nil, viewBalance(after, nil) })
	if aerr != nil {
		return 0, nil, aerr
	}
	return 201, viewBalance(created, nil), nil
}

func (s *Server) hListBalances(c *call) (int, any, *apiError) {
	if _, err := c.loadCustomer(); err != nil {
		return 0, nil, err
	}
	cust, _ := c.customerScope()
	out := []balanceView{}
	for _, b := range s.balancesOfCustomer(cust) {
		out = append(out, viewBalance(b, c.visibleCardIDs(b.ID)))
	}
	return 200, map[string]any{"balances": out}, nil
}

func (s *Server) hGetBalance(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	return 200, viewBalance(b, c.visibleCardIDs(b.ID)), nil
}

func (s *Server) hAdminGetBalance(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	if b.Kind != ledger.BalanceUser {
		return 200, s.viewPartner(b), nil
	}
	return 200, viewBalance(b, s.cardIDsOf(b.ID)), nil
}

// reload books a reload on a balance the caller may see; Idempotency-Key makes a repeat a no-op
// answered as the first time.
func (s *Server) reload(c *call, b ledger.Balance) (ledger.Balance, *apiError) {
	var in struct {
		Amount json.RawMessage `json:"amount"`
	}
	if err := c.decode(&in); err != nil {
		return ledger.Balance{}, err
	}
	amount, aerr := parseAmount("amount", in.Amount, b.Currency, false)
	if aerr != nil {
		return ledger.Balance{}, aerr
	}
	key := string(c.ctx.Request.Header.Peek("Idempotency-Key"))
	if key != "" && !reIdemKey.MatchString(key) {
		return ledger.Balance{}, errBad("INVALID_IDEMPOTENCY_KEY", "Idempotency-Key: 1-128 printable ASCII characters", "Idempotency-Key")
	}
	after, aerr := exec(s, inBatch[ledger.Balance]{cmd: ledger.Reload{BalanceID: b.ID, AmountMinor: amount, IdempotencyKey: key},
		then: func(tx *ledger.Tx, after ledger.Balance) {
			c.auditIn(tx, "balance.reload", "balance", b.ID, map[string]any{"current": formatAmount(b.CurrentMinor, b.Currency)},
				map[string]any{"current": formatAmount(after.CurrentMinor, after.Currency),
					"amount": formatAmount(amount, b.Currency), "idempotencyKey": key})
		}})
	if aerr != nil {
		return ledger.Balance{}, aerr
	}
	return after, nil
}

func (s *Server) hReload(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	after, err := s.reload(c, b)
	if err != nil {
		return 0, nil, err
	}
	return 200, viewBalance(after, s.cardIDsOf(b.ID)), nil
}

func (s *Server) hSetLowMark(c *call) (int, any, *apiError) {
	partner := c.route.channel == chanAdmin
	b, err := c.loadBalance(partner)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Threshold json.RawMessage `json:"threshold"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	mark, aerr := parseAmount("threshold", in.Threshold, b.Currency, true)
	if aerr != nil {
		return 0, nil, aerr
	}
	after, aerr := exec(s, inBatch[ledger.Balance]{cmd: ledger.SetLowMark{BalanceID: b.ID, LowMarkMinor: mark},
		then: func(tx *ledger.Tx, after ledger.Balance) {
			c.auditIn(tx, "balance.low_balance_alert", "balance", b.ID,
				map[string]string{"threshold": formatAmount(b.LowMarkMinor, b.Currency)},
				map[string]string{"threshold": formatAmount(after.LowMarkMinor, b.Currency)})
		}})
	if aerr != nil {
		return 0, nil, aerr
	}
	if partner {
		return 200, s.viewPartner(after), nil
	}
	return 200, viewBalance(after, s.cardIDsOf(b.ID)), nil
}

// phoneDigitsOK reports whether a phone number has 6 to 15 digits (E.164 allows at most 15).
func phoneDigitsOK(p string) bool {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] >= '0' && p[i] <= '9' {
			n++
		}
	}
	return n >= 6 && n <= 15
}
