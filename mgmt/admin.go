package mgmt

import (
	"encoding/json"
	"sort"
	"strconv"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Partner balances.

func (s *Server) hCreatePartner(c *call) (int, any, *apiError) {
	var in struct {
		Program             string          `json:"program"`
		Kind                string          `json:"kind"`
		BalanceID           string          `json:"balanceId"`
		CreditLimit         json.RawMessage `json:"creditLimit"`
		LowBalanceThreshold json.RawMessage `json:"lowBalanceThreshold"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Program == "" {
		return 0, nil, errMissing("program")
	}
	p, ok := s.cfg.Program(in.Program)
	if !ok {
		return 0, nil, errBad("UNKNOWN_PROGRAM", "no such program", "program")
	}
	switch in.Kind {
	case "":
		return 0, nil, errMissing("kind")
	case ledger.BalancePartnerDeposit, ledger.BalancePartnerCredit:
	default:
		return 0, nil, errBad("INVALID_KIND", "kind must be PARTNER_DEPOSIT or PARTNER_CREDIT", "kind")
	}
	b := ledger.Balance{Kind: in.Kind, Program: p.Name, Currency: p.Currency, ID: in.BalanceID}
	if b.ID == "" {
		b.ID = p.PartnerBalanceID
	}
	if b.ID == "" {
		b.ID = "pbl_" + randID(12)
	} else if !reExtID.MatchString(b.ID) {
		return 0, nil, errInvalid("balanceId", "balanceId: 1-64 letters, digits or ._:-")
	}
	var err *apiError
	if len(in.CreditLimit) > 0 && string(in.CreditLimit) != "null" {
		if in.Kind != ledger.BalancePartnerCredit {
			return 0, nil, errInvalid("creditLimit", "only a PARTNER_CREDIT balance has a credit limit")
		}
		if b.CreditLimitMinor, err = parseAmount("creditLimit", in.CreditLimit, p.Currency, true); err != nil {
			return 0, nil, err
		}
	}
	if len(in.LowBalanceThreshold) > 0 && string(in.LowBalanceThreshold) != "null" {
		if b.LowMarkMinor, err = parseAmount("lowBalanceThreshold", in.LowBalanceThreshold, p.Currency, true); err != nil {
			return 0, nil, err
		}
	}
	created, err := execAudited(c, ledger.CreatePartnerBalance{Balance: b}, "partner_balance.create", "balance",
		func(after ledger.Balance) (string, any, any) { return after.ID, nil, s.viewPartner(after) })
	if err != nil {
		return 0, nil, err
	}
	return 201, s.viewPartner(created), nil
}

func (s *Server) hListPartners(c *call) (int, any, *apiError) {
	out := []partnerBalanceView{}
	for _, b := range s.eng.State().Balances() {
		if b.Kind != ledger.BalanceUser && b.Kind != ledger.BalanceLoyalty { // points are no partner's money
			out = append(out, s.viewPartner(b))
		}
	}
	return 200, map[string]any{"balances": out}, nil
}

func (s *Server) hGetPartner(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(true)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewPartner(b), nil
}

func (s *Server) hPartnerReload(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(true)
	if err != nil {
		return 0, nil, err
	}
	after, err := s.reload(c, b)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewPartner(after), nil
}

func (s *Server) hSetCreditLimit(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(true)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		CreditLimit json.RawMessage `json:"creditLimit"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	limit, err := parseAmount("creditLimit", in.CreditLimit, b.Currency, true)
	if err != nil {
		return 0, nil, err
	}
	changed, err := execAudited(c, ledger.SetCreditLimit{BalanceID: b.ID, LimitMinor: limit}, "partner_balance.credit_limit",
		"balance", func(after ledger.Balance) (string, any, any) { return b.ID, s.viewPartner(b), s.viewPartner(after) })
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewPartner(changed), nil
}

// Balance summary per currency.

type sums struct {
	Count     int    `json:"count"`
	Current   string `json:"current"`
	Held      string `json:"held"`
	Available string `json:"available"`
	cur, held int64
	avail     int64
}

func (x *sums) add(b *ledger.Balance) {
	x.Count++
	x.cur += b.CurrentMinor
	x.held += b.HeldMinor
	x.avail += b.AvailableMinor()
}

func (x *sums) format(currency string) {
	x.Current, x.Held, x.Available = formatAmount(x.cur, currency), formatAmount(x.held, currency), formatAmount(x.avail, currency)
}

func (s *Server) hBalanceSummary(c *call) (int, any, *apiError) {
	type row struct {
		Currency string `json:"currency"`
		Users    sums   `json:"users"`
		Partners sums   `json:"partners"`
		Total    sums   `json:"total"`
	}
	by := map[string]*row{}
	for _, b := range s.eng.State().Balances() {
		if b.Kind == ledger.BalanceLoyalty {
			continue // points (PTS) are not money: the loyalty read-out shows them
		}
		r := by[b.Currency]
		if r == nil {
			r = &row{Currency: b.Currency}
			by[b.Currency] = r
		}
		if b.Kind == ledger.BalanceUser {
			r.Users.add(&b)
		} else {
			r.Partners.add(&b)
		}
		r.Total.add(&b)
	}
	out := []row{}
	for _, r := range by {
		r.Users.format(r.Currency)
		r.Partners.format(r.Currency)
		r.Total.format(r.Currency)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return 200, map[string]any{"currencies": out}, nil
}

// Tokens.

func (s *Server) hAddToken(c *call) (int, any, *apiError) {
	var in struct {
		TokenPAN          string `json:"tokenPan"`
		ExpiryMonth       int    `json:"expiryMonth"`
		ExpiryYear        int    `json:"expiryYear"`
		Type              string `json:"type"`
		WalletProvider    string `json:"walletProvider"`
		AssuranceLevel    int    `json:"assuranceLevel"`
		PANSequenceNumber string `json:"panSequenceNumber"`
	}
	err := c.decode(&in)
	clear(c.body)
	if err != nil {
		return 0, nil, err
	}
	hash, terr := s.vault.TokenPAN(tokenvault.PAN(in.TokenPAN))
	switch {
	case in.TokenPAN == "":
		return 0, nil, errMissing("tokenPan")
	case terr != nil:
		return 0, nil, errBad("INVALID_PAN", "tokenPan must be 13 to 19 digits passing the Luhn check", "tokenPan")
	case in.ExpiryMonth == 0:
		return 0, nil, errMissing("expiryMonth")
	case in.ExpiryMonth < 1 || in.ExpiryMonth > 12:
		return 0, nil, errInvalid("expiryMonth", "expiryMonth must be 1..12")
	case in.ExpiryYear == 0:
		return 0, nil, errMissing("expiryYear")
	case in.ExpiryYear < 2000 || in.ExpiryYear > 2099:
		return 0, nil, errInvalid("expiryYear", "expiryYear must be four digits, 2000..2099")
	case in.Type == "":
		return 0, nil, errMissing("type")
	case len(in.WalletProvider) > 64:
		return 0, nil, errInvalid("walletProvider", "walletProvider: at most 64 characters")
	case in.AssuranceLevel < 0 || in.AssuranceLevel > 99:
		return 0, nil, errInvalid("assuranceLevel", "assuranceLevel must be 0..99")
	}
	psn := in.PANSequenceNumber
	if psn == "" {
		psn = "00"
	} else if len(psn) != 2 || !reDigits.MatchString(psn) {
		return 0, nil, errInvalid("panSequenceNumber", "panSequenceNumber must be two digits")
	}
	card, aerr := c.loadCard()
	if aerr != nil {
		return 0, nil, aerr
	}
	t := ledger.Token{ID: "tok_" + randID(12), CardID: card.ID, PANHash: hash, PAN: in.TokenPAN,
		Last4: in.TokenPAN[len(in.TokenPAN)-4:], ExpiryYYMM: twoDigits(in.ExpiryYear%100) + twoDigits(in.ExpiryMonth),
		PSN: psn, Type: in.Type, WalletProvider: in.WalletProvider, AssuranceLevel: in.AssuranceLevel,
		State: authz.TokenActive}
	added, aerr := execAudited(c, ledger.AddToken{Token: t}, "token.add", "token",
		func(after ledger.Token) (string, any, any) { return after.ID, nil, viewToken(after) })
	if aerr != nil {
		return 0, nil, aerr
	}
	return 201, viewToken(added), nil
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func (s *Server) hListTokens(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	out := []tokenView{}
	for _, id := range s.eng.State().TokenIDsOfCard(card.ID) {
		if t, ok := s.eng.State().Token(id); ok {
			out = append(out, viewToken(t))
		}
	}
	return 200, map[string]any{"tokens": out}, nil
}

func (c *call) loadToken() (ledger.Token, *apiError) {
	t, ok := c.s.eng.State().Token(c.param("tokenId"))
	if !ok {
		return ledger.Token{}, errNotFound("TOKEN_NOT_FOUND", "no such token")
	}
	return t, nil
}

func (s *Server) hGetToken(c *call) (int, any, *apiError) {
	t, err := c.loadToken()
	if err != nil {
		return 0, nil, err
	}
	return 200, viewToken(t), nil
}

func (s *Server) setTokenState(c *call, state authz.TokenState, action string, from ...authz.TokenState) (int, any, *apiError) {
	if !c.route.noBody {
		if err := c.decode(&struct{}{}); err != nil {
			return 0, nil, err
		}
	}
	t, err := c.loadToken()
	if err != nil {
		return 0, nil, err
	}
	if len(from) > 0 && t.State != authz.TokenDeleted {
		allowed := false
		for _, f := range from {
			allowed = allowed || t.State == f
		}
		if !allowed {
			return 0, nil, errConflict("INVALID_TOKEN_STATE", "the token is "+string(t.State))
		}
	}
	changed, err := execAudited(c, ledger.SetTokenState{TokenID: t.ID, State: state}, action, "token",
		func(after ledger.Token) (string, any, any) { return t.ID, viewToken(t), viewToken(after) })
	if err != nil {
		return 0, nil, err
	}
	return 200, viewToken(changed), nil
}

func (s *Server) hSuspendToken(c *call) (int, any, *apiError) {
	return s.setTokenState(c, authz.TokenSuspended, "token.suspend", authz.TokenActive, authz.TokenSuspended)
}

func (s *Server) hResumeToken(c *call) (int, any, *apiError) {
	return s.setTokenState(c, authz.TokenActive, "token.resume", authz.TokenSuspended, authz.TokenActive)
}

func (s *Server) hDeleteToken(c *call) (int, any, *apiError) {
	return s.setTokenState(c, authz.TokenDeleted, "token.delete")
}

// Audit trail and webhooks.

func pageLimit(c *call) (int, *apiError) {
	q := c.query("limit")
	if q == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > 200 {
		return 0, errInvalid("limit", "limit must be 1..200")
	}
	return n, nil
}

func seqCursor(c *call) (uint64, *apiError) {
	q := c.query("cursor")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(q, 10, 64)
	if err != nil || n == 0 {
		return 0, errBad("INVALID_CURSOR", "cursor is not one this API gave", "cursor")
	}
	return n, nil
}

func (s *Server) hAudit(c *call) (int, any, *apiError) {
	limit, err := pageLimit(c)
	if err != nil {
		return 0, nil, err
	}
	before, err := seqCursor(c)
	if err != nil {
		return 0, nil, err
	}
	resID, actorQ, action := c.query("resourceId"), c.query("actor"), c.query("action")
	corr := c.query("correlationId") // a /tsh session's calls (tokens_tsh.go)
	items := s.audit.list(before, limit, func(e *AuditEntry) bool {
		return (resID == "" || e.ResourceID == resID) && (actorQ == "" || e.Actor == actorQ) &&
			(action == "" || e.Action == action) && (corr == "" || e.CorrelationID == corr)
	})
	resp := map[string]any{"items": items}
	if items == nil {
		resp["items"] = []AuditEntry{}
	}
	if len(items) == limit && items[len(items)-1].Seq > 1 {
		resp["nextCursor"] = strconv.FormatUint(items[len(items)-1].Seq, 10)
	}
	return 200, resp, nil
}

func (s *Server) hWebhookEvents(c *call) (int, any, *apiError) {
	limit, err := pageLimit(c)
	if err != nil {
		return 0, nil, err
	}
	before, err := seqCursor(c)
	if err != nil {
		return 0, nil, err
	}
	status := c.query("status")
	switch status {
	case "", deliveryPending, deliveryDelivered, deliveryFailed:
	default:
		return 0, nil, errInvalid("status", "status must be PENDING, DELIVERED or FAILED")
	}
	items := s.hooks.list(before, limit, status)
	resp := map[string]any{"items": items, "enabled": s.hooks.enabled()}
	if items == nil {
		resp["items"] = []delivery{}
	}
	if len(items) == limit && items[len(items)-1].Event.Seq > 1 {
		resp["nextCursor"] = strconv.FormatUint(items[len(items)-1].Event.Seq, 10)
	}
	return 200, resp, nil
}

func (s *Server) hWebhookReplay(c *call) (int, any, *apiError) {
	var in struct {
		EventIDs []string `json:"eventIds"`
		FromSeq  *uint64  `json:"fromSeq"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if (len(in.EventIDs) == 0) == (in.FromSeq == nil) {
		return 0, nil, errInvalid("eventIds", "give either eventIds or fromSeq")
	}
	if len(in.EventIDs) > 1000 {
		return 0, nil, errInvalid("eventIds", "at most 1000 eventIds")
	}
	if !s.hooks.enabled() {
		return 0, nil, errConflict("WEBHOOKS_DISABLED", "no webhook URL is configured")
	}
	var from uint64
	if in.FromSeq != nil {
		from = *in.FromSeq
	}
	n := s.hooks.replay(in.EventIDs, from)
	c.audit("webhooks.replay", "webhook", "", nil, map[string]any{"replayed": n, "eventIds": in.EventIDs, "fromSeq": in.FromSeq})
	return 202, map[string]int{"replayed": n}, nil
}
