package mgmt

import (
	"encoding/json"
	"errors"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

func (s *Server) programFor(name, currency string) (*config.Program, *apiError) {
	if name != "" {
		p, ok := s.cfg.Program(name)
		if !ok || p.TokensOnly { // a Pay by Account program issues token PANs only
			return nil, errBad("UNKNOWN_PROGRAM", "no such program", "program")
		}
		if p.Currency != currency {
			return nil, errBad("PROGRAM_CURRENCY_MISMATCH", "the program's currency differs from the balance's", "program")
		}
		return p, nil
	}
	for i := range s.cfg.Programs {
		if s.cfg.Programs[i].Currency == currency && !s.cfg.Programs[i].TokensOnly {
			return &s.cfg.Programs[i], nil
		}
	}
	return nil, errConflict("NO_PROGRAM_FOR_CURRENCY", "no card program issues in the balance's currency")
}

func (s *Server) hIssueCard(c *call) (int, any, *apiError) {
	var in struct {
		Type          string      `json:"type"`
		Program       string      `json:"program"`
		VirtualCardID string      `json:"virtualCardId"`
		Delivery      *deliveryIn `json:"delivery"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	switch in.Type {
	case "":
		return 0, nil, errMissing("type")
	case ledger.CardVirtual, ledger.CardPhysical, ledger.CardDigitalFirst:
	default:
		return 0, nil, errBad("INVALID_CARD_TYPE", "type must be VIRTUAL, PHYSICAL or DIGITAL_FIRST", "type")
	}
	if err := c.mayIssue(in.Type); err != nil {
		return 0, nil, err
	}
	if in.VirtualCardID != "" && in.Type != ledger.CardDigitalFirst {
		return 0, nil, errInvalid("virtualCardId", "virtualCardId is only for a DIGITAL_FIRST card")
	}
	// A plastic's delivery: required where the route's policy says so (customer and admin
	// channels), optional on /secure, where contract §4 fixes the body.
	var delivery *ledger.Delivery
	switch {
	case in.Delivery != nil && in.Type == ledger.CardVirtual:
		return 0, nil, errInvalid("delivery", "a VIRTUAL card has no delivery")
	case in.Delivery != nil:
		d, err := in.Delivery.delivery()
		if err != nil {
			return 0, nil, err
		}
		delivery = &d
	case in.Type != ledger.CardVirtual && c.route.issue != nil && c.route.issue.requireDelivery:
		return 0, nil, errMissing("delivery")
	}
	b, aerr := c.loadBalance(false)
	if aerr != nil {
		return 0, nil, aerr
	}
	if b.Kind != ledger.BalanceUser { // the admin channel sees partner balances too
		return 0, nil, errNotFound("BALANCE_NOT_FOUND", "no such user balance")
	}
	withDelivery := func(cmd ledger.Command[ledger.Result[ledger.Card]]) ledger.Command[ledger.Result[ledger.Card]] {
		if delivery == nil {
			return cmd
		}
		return ledger.IssueWithDelivery{Issue: cmd, Delivery: *delivery}
	}
	id := "crd_" + randID(12)
	var v ledger.Card
	if in.Type == ledger.CardDigitalFirst {
		if in.Program != "" {
			if _, aerr := s.programFor(in.Program, b.Currency); aerr != nil {
				return 0, nil, aerr
			}
		}
		v, aerr = execAudited(c, withDelivery(ledger.IssueDigitalFirst{CardID: id, BalanceID: b.ID, VirtualCardID: in.VirtualCardID, Program: in.Program}),
			"card.issue", "card", issued)
	} else {
		p, aerr := s.programFor(in.Program, b.Currency)
		if aerr != nil {
			return 0, nil, aerr
		}
		// Drawn by the token vault outside the batch, unused by any card or token committed;
		// the batch issues the first candidate no card or token of its own took meanwhile.
		req := tokenvault.IssueRequest{Program: p.Name, Now: s.clock()}
		var cands [issueCandidates]ledger.Card
		for i := range cands {
			iss, err := s.vault.Issue(req, s.eng.State())
			if err != nil {
				return 0, nil, errConflict("PAN_IN_USE", "the PAN is in use")
			}
			cands[i] = ledger.Card{ID: id, BalanceID: b.ID, Program: p.Name, Type: in.Type,
				PANHash: iss.PANHash, PAN: iss.PAN.Reveal(), Last4: iss.PAN.Last4(), ExpiryYYMM: iss.ExpiryYYMM,
				PSN: iss.PSN, CVC2: iss.CVC2.Reveal()}
		}
		v, aerr = execAudited(c, withDelivery(ledger.IssueCard{Candidates: cands[:]}), "card.issue", "card", issued)
	}
	if aerr != nil {
		return 0, nil, aerr
	}
	return 201, viewCard(v), nil
}

func (s *Server) hGetCard(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return 200, viewCard(card), nil
}

func (s *Server) hListMyCards(c *call) (int, any, *apiError) {
	cust := c.who.CustomerID
	out := []cardView{}
	for _, b := range s.balancesOfCustomer(cust) {
		for _, id := range c.visibleCardIDs(b.ID) {
			if card, ok := s.eng.State().Card(id); ok {
				out = append(out, viewCard(card))
			}
		}
	}
	return 200, map[string]any{"cards": out}, nil
}

// hCardFull answers the card data, always encrypted (the route requires an encrypted request).
func (s *Server) hCardFull(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	if card.State == ledger.CardRemoved {
		return 0, nil, errConflict("CARD_REMOVED", "the card was removed")
	}
	m, y := splitExpiry(card.ExpiryYYMM)
	c.audit("card.full_data_read", "card", card.ID, nil, nil)
	// The only answer with the clear card data: the route's reply is encrypted (JWE).
	return 200, map[string]any{"pan": tokenvault.PAN(card.PAN).Reveal(), "expiryMonth": m, "expiryYear": y,
		"cvc2": tokenvault.CVC2(card.CVC2).Reveal()}, nil
}

// issued is the audit entry of an issued card: its view (last 4 only, never the PAN or CVC2).
func issued(after ledger.Card) (string, any, any) { return after.ID, nil, viewCard(after) }

// issueCandidates is how many card numbers the vault draws for one issue: the batch takes the
// first that no card or token issued meanwhile holds.
const issueCandidates = 4

// cardRead applies a card command after noting the card as the batch held it before the change
// (the previous state of card.state_changed).
type cardRead struct {
	cmd  ledger.Command[ledger.Result[ledger.Card]]
	id   string
	prev *ledger.Card
}

func (r cardRead) Kind() ledger.OpKind { return r.cmd.Kind() }
func (r cardRead) Keys(k *ledger.Keys) { r.cmd.Keys(k) }

func (r cardRead) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[ledger.Card] {
	*r.prev, _ = tx.Card(r.id)
	return r.cmd.Apply(tx, env)
}

// origin names the caller as the source and actor of the card.state_changed events the ledger
// records itself: those of a digital-first card's other form factor, changed with the card named.
func (c *call) origin(source string) ledger.Origin {
	return ledger.Origin{Source: source, Actor: c.who.Name}
}

// changeCard applies a state change; its audit entry and card.state_changed (with the card's
// state as the batch held it before the change) are rows of the same batch.
func (s *Server) changeCard(c *call, before ledger.Card, action, source string,
	cmd ledger.Command[ledger.Result[ledger.Card]]) (int, any, *apiError) {
	var prev ledger.Card
	after, aerr := exec(s, inBatch[ledger.Card]{cmd: cardRead{cmd: cmd, id: before.ID, prev: &prev},
		then: func(tx *ledger.Tx, after ledger.Card) {
			tx.EmitCardState(prev, after, source, c.who.Name)
			c.auditIn(tx, action, "card", after.ID, viewCard(prev), viewCard(after))
		}})
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, viewCard(after), nil
}

func lockReasonIn(c *call) (authz.LockReason, *apiError) {
	var in struct {
		ReasonCode *int `json:"reasonCode"`
	}
	if err := c.decode(&in); err != nil {
		return 0, err
	}
	if in.ReasonCode == nil {
		return 0, errMissing("reasonCode")
	}
	if *in.ReasonCode < 1 || *in.ReasonCode > 8 {
		return 0, errBad("INVALID_REASON_CODE", "reasonCode must be 1..8", "reasonCode")
	}
	return authz.LockReason(*in.ReasonCode), nil
}

func (s *Server) hLock(c *call) (int, any, *apiError) {
	reason, err := lockReasonIn(c)
	if err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.changeCard(c, card, "card.lock", c.who.Channel, ledger.LockCard{CardID: card.ID, Reason: reason, By: c.origin(c.who.Channel)})
}

func (s *Server) hUnlock(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	// Irreversible locks are the ledger's to refuse (CARD_LOCK_IRREVERSIBLE, on every channel).
	if c.route.channel == chanCustomer && card.State == ledger.CardLocked &&
		!card.LockReason.Irreversible() && !cardholderMayUnlock(card.LockReason) {
		return 0, nil, errConflict("UNLOCK_NOT_ALLOWED", "this lock can be lifted by the issuer only")
	}
	return s.changeCard(c, card, "card.unlock", c.who.Channel, ledger.UnlockCard{CardID: card.ID, By: c.origin(c.who.Channel)})
}

func (s *Server) hActivate(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.changeCard(c, card, "card.activate", c.who.Channel, ledger.ActivateCard{CardID: card.ID})
}

func (s *Server) hRemove(c *call) (int, any, *apiError) {
	if err := c.decodeNone(); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.changeCard(c, card, "card.remove", c.who.Channel, ledger.RemoveCard{CardID: card.ID, By: c.origin(c.who.Channel)})
}

func (s *Server) hPersonalise(c *call) (int, any, *apiError) {
	var in struct {
		Reference string `json:"reference"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.Reference) > 64 {
		return 0, nil, errInvalid("reference", "reference: at most 64 characters")
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	// The card view in the audit entry's after carries the bureau reference.
	return s.changeCard(c, card, "card.personalise", c.who.Channel, ledger.LinkPhysicalCard{CardID: card.ID, Reference: in.Reference})
}

// hResetCVC2 replaces the CVC2 with a random three-digit value different from the old one (not
// the CVV algorithm's value, which for the same PAN, expiry and key would never change); the
// authorization path compares field 48.92 with the stored value, so the old one is declined
// from the next authorization on. The new value is only given by the encrypted full-data answer.
func (s *Server) hResetCVC2(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	if !cvc2Resettable(&card) {
		return 0, nil, errConflict("CVC2_RESET_NOT_ALLOWED", "the CVC2 of a PHYSICAL card is printed on it: only VIRTUAL and DIGITAL_FIRST cards get a new one")
	}
	r := tokenvault.ReplacementCVC2s()
	cands := []string{r[0].Reveal(), r[1].Reveal()}
	return s.changeCard(c, card, "card.reset_cvc2", c.who.Channel, ledger.ReplaceCVC2{CardID: card.ID, Candidates: cands})
}

// hSetPIN stores the PIN as a Visa PVV under the program PVK (never the PIN) and resets the
// try counter.
func (s *Server) hSetPIN(c *call) (int, any, *apiError) {
	var in struct {
		PIN string `json:"pin"`
	}
	err := c.decode(&in)
	clear(c.body)
	if err != nil {
		return 0, nil, err
	}
	if in.PIN == "" {
		return 0, nil, errMissing("pin")
	}
	if len(in.PIN) < 4 || len(in.PIN) > 12 || !reDigits.MatchString(in.PIN) {
		return 0, nil, errBad("INVALID_PIN", "pin must be 4 to 12 digits", "pin")
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	pvv, perr := s.vault.PVV(card.Program, tokenvault.PAN(card.PAN), tokenvault.PIN(in.PIN))
	switch {
	case errors.Is(perr, tokenvault.ErrUnknownProgram):
		return 0, nil, errConflict("UNKNOWN_PROGRAM", "the card's program is no longer configured")
	case perr != nil:
		return 0, nil, errBad("INVALID_PIN", "pin must be 4 to 12 digits", "pin")
	}
	_, aerr := execAudited(c, ledger.SetPVV{CardID: card.ID, PVV: pvv.Reveal()}, "card.set_pin", "card",
		func(ledger.Card) (string, any, any) { return card.ID, nil, nil })
	if aerr != nil {
		return 0, nil, aerr
	}
	return 204, nil, nil
}

// hExternalLock is a lock requested from outside (a network or an acquirer) by PAN or token
// PAN; it is encrypted because it carries a PAN.
func (s *Server) hExternalLock(c *call) (int, any, *apiError) {
	var in struct {
		PAN        string `json:"pan"`
		ReasonCode *int   `json:"reasonCode"`
		Source     string `json:"source"`
		Reference  string `json:"reference"`
	}
	err := c.decode(&in)
	clear(c.body)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case in.PAN == "":
		return 0, nil, errMissing("pan")
	case len(in.PAN) < 13 || len(in.PAN) > 19 || !reDigits.MatchString(in.PAN) || !cardcrypto.LuhnValid(in.PAN):
		return 0, nil, errBad("INVALID_PAN", "pan must be 13 to 19 digits passing the Luhn check", "pan")
	case in.ReasonCode == nil:
		return 0, nil, errMissing("reasonCode")
	case *in.ReasonCode < 1 || *in.ReasonCode > 8:
		return 0, nil, errBad("INVALID_REASON_CODE", "reasonCode must be 1..8", "reasonCode")
	case in.Source == "":
		return 0, nil, errMissing("source")
	case in.Source != "NETWORK" && in.Source != "ACQUIRER":
		return 0, nil, errInvalid("source", "source must be NETWORK or ACQUIRER")
	case len(in.Reference) > 64:
		return 0, nil, errInvalid("reference", "reference: at most 64 characters")
	}
	number := tokenvault.PAN(in.PAN)
	card, _, ok := tokenvault.Resolve[ledger.Card, ledger.Token](stateLookup{s.eng.State()}, s.panHash, number)
	if !ok {
		s.log.Info("external lock for an unknown PAN", "pan", number, "source", in.Source)
		return 0, nil, errNotFound("CARD_NOT_FOUND", "no card or token with this PAN")
	}
	reason := authz.LockReason(*in.ReasonCode)
	return s.changeCard(c, card, "card.external_lock", "external:"+in.Source,
		ledger.LockCard{CardID: card.ID, Reason: reason, By: c.origin("external:" + in.Source)})
}

func (s *Server) balanceCurrency(balanceID string) string {
	if b, ok := s.eng.State().Balance(balanceID); ok {
		return b.Currency
	}
	return "EUR"
}

func (s *Server) hGetLimits(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return 200, viewLimits(card, s.balanceCurrency(card.BalanceID)), nil
}

func (s *Server) hSetLimits(c *call) (int, any, *apiError) {
	var in struct {
		MaxAmount       json.RawMessage `json:"maxAmount"`
		MaxCountPerDay  *int            `json:"maxCountPerDay"`
		MaxAmountPerDay json.RawMessage `json:"maxAmountPerDay"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	cur := s.balanceCurrency(card.BalanceID)
	var l ledger.Limits
	if len(in.MaxAmount) > 0 && string(in.MaxAmount) != "null" {
		if l.MaxAmountMinor, err = parseAmount("maxAmount", in.MaxAmount, cur, true); err != nil {
			return 0, nil, err
		}
	}
	if len(in.MaxAmountPerDay) > 0 && string(in.MaxAmountPerDay) != "null" {
		if l.MaxAmountPerDay, err = parseAmount("maxAmountPerDay", in.MaxAmountPerDay, cur, true); err != nil {
			return 0, nil, err
		}
	}
	if in.MaxCountPerDay != nil {
		if *in.MaxCountPerDay < 0 || *in.MaxCountPerDay > 100000 {
			return 0, nil, errInvalid("maxCountPerDay", "maxCountPerDay must be 0..100000")
		}
		l.MaxCountPerDay = *in.MaxCountPerDay
	}
	changed, aerr := execAudited(c, ledger.SetCardLimits{CardID: card.ID, Limits: l}, "card.limits", "card",
		func(after ledger.Card) (string, any, any) {
			return card.ID, viewLimits(card, cur), viewLimits(after, cur)
		})
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, viewLimits(changed, cur), nil
}

// stateLookup is the token vault's view of the committed ledger state (tokenvault.Lookup).
type stateLookup struct{ st *ledger.State }

func (l stateLookup) CardByPANHash(h string) (ledger.Card, bool) {
	id, ok := l.st.CardIDByPANHash(h)
	if !ok {
		return ledger.Card{}, false
	}
	return l.st.Card(id)
}

func (l stateLookup) TokenByPANHash(h string) (ledger.Token, bool) {
	id, ok := l.st.TokenIDByPANHash(h)
	if !ok {
		return ledger.Token{}, false
	}
	return l.st.Token(id)
}

func (l stateLookup) CardOfToken(t *ledger.Token) (ledger.Card, bool) { return l.st.Card(t.CardID) }
