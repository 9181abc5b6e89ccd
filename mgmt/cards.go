package mgmt

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/internal/pan"
	"github.com/cardswitch/cardswitch/ledger"
)

// panDraws is how many PANs are drawn for one issue; the engine takes the first unused one.
// With 9 random digits a collision is already rare, four in a row means the BIN is full.
const panDraws = 4

// randDigits returns n uniformly random decimal digits.
func randDigits(n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("mgmt: no randomness: " + err.Error())
		}
		for _, b := range buf {
			if b < 250 && len(out) < n { // 250 = 25*10: no modulo bias
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out)
}

// newPAN draws a PAN under the program's BIN: BIN, random digits, Luhn check digit.
func newPAN(p *config.Program) string {
	payload := p.BIN + randDigits(p.PANLength-len(p.BIN)-1)
	check, err := cardcrypto.LuhnCheckDigit(payload)
	if err != nil {
		panic("mgmt: program BIN and PAN length not validated: " + err.Error())
	}
	return payload + string(check)
}

// expiryYYMM is the expiry months after now (the card is valid to the end of that month).
func expiryYYMM(now time.Time, months int) string {
	now = now.UTC()
	m := int(now.Month()) - 1 + months
	y := now.Year() + m/12
	return fmt.Sprintf("%02d%02d", y%100, m%12+1)
}

func (s *Server) programFor(name, currency string) (*config.Program, *apiError) {
	if name != "" {
		p, ok := s.cfg.Program(name)
		if !ok {
			return nil, errBad("UNKNOWN_PROGRAM", "no such program", "program")
		}
		if p.Currency != currency {
			return nil, errBad("PROGRAM_CURRENCY_MISMATCH", "the program's currency differs from the balance's", "program")
		}
		return p, nil
	}
	for i := range s.cfg.Programs {
		if s.cfg.Programs[i].Currency == currency {
			return &s.cfg.Programs[i], nil
		}
	}
	return nil, errConflict("NO_PROGRAM_FOR_CURRENCY", "no card program issues in the balance's currency")
}

func (s *Server) hIssueCard(c *call) (int, any, *apiError) {
	var in struct {
		Type          string `json:"type"`
		Program       string `json:"program"`
		VirtualCardID string `json:"virtualCardId"`
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
	if in.VirtualCardID != "" && in.Type != ledger.CardDigitalFirst {
		return 0, nil, errInvalid("virtualCardId", "virtualCardId is only for a DIGITAL_FIRST card")
	}
	b, aerr := c.loadBalance(false)
	if aerr != nil {
		return 0, nil, aerr
	}
	id := "crd_" + randID(12)
	var v ledger.Card
	if in.Type == ledger.CardDigitalFirst {
		if in.Program != "" {
			if _, aerr := s.programFor(in.Program, b.Currency); aerr != nil {
				return 0, nil, aerr
			}
		}
		v, aerr = exec(s, ledger.IssueDigitalFirst{CardID: id, BalanceID: b.ID, VirtualCardID: in.VirtualCardID, Program: in.Program})
	} else {
		p, aerr := s.programFor(in.Program, b.Currency)
		if aerr != nil {
			return 0, nil, aerr
		}
		expiry := expiryYYMM(s.clock(), p.ExpiryMonths)
		cvk := config.Key(p.Keys.CVK)
		var cands [panDraws]ledger.Card
		for i := range cands {
			number := newPAN(p)
			cvc2, err := cardcrypto.CVV(cvk, number, expiry, "000")
			if err != nil {
				panic("mgmt: CVC2 of a generated PAN: " + err.Error())
			}
			cands[i] = ledger.Card{ID: id, BalanceID: b.ID, Program: p.Name, Type: in.Type,
				PANHash: s.panHash(number), PAN: number, Last4: number[len(number)-4:], ExpiryYYMM: expiry,
				PSN: "00", CVC2: cvc2}
		}
		clear(cvk)
		v, aerr = exec(s, ledger.IssueCard{Candidates: cands[:]})
	}
	if aerr != nil {
		return 0, nil, aerr
	}
	card := viewCard(v)
	c.audit("card.issue", "card", card.CardID, nil, card)
	return 201, card, nil
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
		for _, id := range s.cardIDsOf(b.ID) {
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
	return 200, map[string]any{"pan": card.PAN, "expiryMonth": m, "expiryYear": y, "cvc2": card.CVC2}, nil
}

// changeCard applies a state change, audits it and publishes card.state_changed.
func (s *Server) changeCard(c *call, before ledger.Card, action, source string,
	cmd ledger.Command[ledger.Result[ledger.Card]]) (int, any, *apiError) {
	after, aerr := exec(s, cmd)
	if aerr != nil {
		return 0, nil, aerr
	}
	bv, av := viewCard(before), viewCard(after)
	c.audit(action, "card", after.ID, bv, av)
	if bv.State != av.State || bv.LockReason != av.LockReason {
		s.hooks.publish(EventCardStateChanged, map[string]any{"cardId": after.ID, "balanceId": after.BalanceID,
			"previousState": bv.State, "state": av.State, "previousLockReason": bv.LockReason,
			"lockReason": av.LockReason, "source": source, "actor": c.who.Name})
	}
	return 200, av, nil
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

// customerLockReasons are the reasons a cardholder may lock with: lost, stolen, pending query.
func customerLockReason(r authz.LockReason) bool {
	return r == authz.LockLost || r == authz.LockStolen || r == authz.LockPendingQuery
}

func (s *Server) hLock(c *call) (int, any, *apiError) {
	reason, err := lockReasonIn(c)
	if err != nil {
		return 0, nil, err
	}
	if c.route.channel == chanCustomer && !customerLockReason(reason) {
		return 0, nil, errBad("INVALID_REASON_CODE", "a cardholder locks with reasonCode 1 (lost), 2 (stolen) or 3 (pending query)", "reasonCode")
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.changeCard(c, card, "card.lock", c.who.Channel, ledger.LockCard{CardID: card.ID, Reason: reason})
}

func (s *Server) hUnlock(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	if c.route.channel == chanCustomer && card.State == ledger.CardLocked &&
		!card.LockReason.Irreversible() && card.LockReason != authz.LockPendingQuery {
		return 0, nil, errConflict("UNLOCK_NOT_ALLOWED", "this lock can be lifted by the issuer only")
	}
	return s.changeCard(c, card, "card.unlock", c.who.Channel, ledger.UnlockCard{CardID: card.ID})
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
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.changeCard(c, card, "card.remove", c.who.Channel, ledger.RemoveCard{CardID: card.ID})
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
	return s.changeCard(c, card, "card.personalise", c.who.Channel, ledger.PersonaliseCard{CardID: card.ID})
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
	a := randDigits(3)
	b := randDigits(3)
	for b == a {
		b = randDigits(3)
	}
	cands := []string{a, b}
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
	p, ok := s.cfg.Program(card.Program)
	if !ok {
		return 0, nil, errConflict("UNKNOWN_PROGRAM", "the card's program is no longer configured")
	}
	pvk := config.Key(p.Keys.PVK)
	pvv, perr := cardcrypto.PVV(pvk, card.PAN, p.Keys.PVKI, in.PIN)
	clear(pvk)
	if perr != nil {
		return 0, nil, errBad("INVALID_PIN", "pin must be 4 to 12 digits", "pin")
	}
	_, aerr := exec(s, ledger.SetPVV{CardID: card.ID, PVV: pvv})
	if aerr != nil {
		return 0, nil, aerr
	}
	c.audit("card.set_pin", "card", card.ID, nil, nil)
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
	st := s.eng.State()
	h := s.panHash(in.PAN)
	id, ok := st.CardIDByPANHash(h)
	if !ok {
		if tid, tok := st.TokenIDByPANHash(h); tok {
			if t, found := st.Token(tid); found {
				id, ok = t.CardID, true
			}
		}
	}
	if !ok {
		s.log.Info("external lock for an unknown PAN", "pan", pan.Mask(in.PAN), "source", in.Source)
		return 0, nil, errNotFound("CARD_NOT_FOUND", "no card or token with this PAN")
	}
	card, _ := st.Card(id)
	reason := authz.LockReason(*in.ReasonCode)
	return s.changeCard(c, card, "card.external_lock", "external:"+in.Source,
		ledger.LockCard{CardID: card.ID, Reason: reason})
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
	changed, aerr := exec(s, ledger.SetCardLimits{CardID: card.ID, Limits: l})
	if aerr != nil {
		return 0, nil, aerr
	}
	after := viewLimits(changed, cur)
	c.audit("card.limits", "card", card.ID, viewLimits(card, cur), after)
	return 200, after, nil
}
