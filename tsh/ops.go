package tsh

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math/big"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

var randRead = rand.Read

// The eight operations. Each reads what it needs, decides with the pure functions of decide.go
// and applies a change through exec (its audit entry in the same batch).

// open decrypts an encrypted field with the key the request names.
func (s *Service) open(m map[string]json.RawMessage, f field) ([]byte, *reply) {
	keyID := str(m, fPublicKeyIdentifier)
	if keyID == "" {
		r := invalidField(fPublicKeyIdentifier.name, "publicKeyIdentifier is required with "+f.name)
		return nil, &r
	}
	plain, err := s.d.Keys.Open(keyID, str(m, f))
	switch {
	case errors.Is(err, cms.ErrUnknownKey):
		r := fail(400, "UNKNOWN_PUBLIC_KEY_IDENTIFIER", "publicKeyIdentifier names no key of this issuer")
		return nil, &r
	case err != nil:
		r := reply{err: &apiError{Status: 400, Code: "CANT_DECRYPT", Message: f.name + " does not open with the key of publicKeyIdentifier", Field: f.name}}
		return nil, &r
	}
	return plain, nil
}

func cardInfoError(f field) *reply {
	r := reply{err: &apiError{Status: 400, Code: "INVALID_CARD_INFO", Message: f.name + " does not hold the seed's JSON", Field: f.name}}
	return &r
}

// card finds the card of the request: from cipheredCardInfo (its fpan) or issuerCardRefId,
// which are exclusive. ci is the card info when it came encrypted.
func (s *Service) card(c *call, m map[string]json.RawMessage, cipheredRequired bool) (ledger.Card, *CardInfo, *reply) {
	_, hasCiphered := m[fCipheredCardInfo.name]
	ref := str(m, fIssuerCardRefID)
	switch {
	case hasCiphered && ref != "" && !cipheredRequired:
		r := invalidField(fIssuerCardRefID.name, "cipheredCardInfo and issuerCardRefId are exclusive")
		return ledger.Card{}, nil, &r
	case hasCiphered:
		plain, r := s.open(m, fCipheredCardInfo)
		if r != nil {
			return ledger.Card{}, nil, r
		}
		ci, err := ParseCardInfo(plain)
		clear(plain)
		if err != nil {
			return ledger.Card{}, nil, cardInfoError(fCipheredCardInfo)
		}
		id, found := s.d.Engine.State().CardIDByPANHash(s.d.PANHash(ci.FPAN.Reveal()))
		card, known := s.d.Engine.State().Card(id)
		if !found || !known {
			r := fail(404, "CARD_NOT_FOUND", "no card with this fpan")
			return ledger.Card{}, nil, &r
		}
		c.resType, c.resID = "card", card.ID
		return card, &ci, nil
	case ref != "":
		card, known := s.d.Engine.State().Card(ref)
		if !known {
			r := fail(404, "CARD_NOT_FOUND", "no card with this issuerCardRefId")
			return ledger.Card{}, nil, &r
		}
		c.resType, c.resID = "card", card.ID
		return card, nil, nil
	}
	r := invalidField(fCipheredCardInfo.name, "cipheredCardInfo or issuerCardRefId is required")
	return ledger.Card{}, nil, &r
}

// cardByRef is the card of a required issuerCardRefId.
func (s *Service) cardByRef(c *call, m map[string]json.RawMessage) (ledger.Card, *reply) {
	card, ok := s.d.Engine.State().Card(str(m, fIssuerCardRefID))
	if !ok {
		r := fail(404, "CARD_NOT_FOUND", "no card with this issuerCardRefId")
		return ledger.Card{}, &r
	}
	c.resType, c.resID = "card", card.ID
	return card, nil
}

func (s *Service) nowYYMM() string { return s.d.Clock().UTC().Format("0601") }

func view(card ledger.Card) CardView { return CardView{State: card.State, ExpiryYYMM: card.ExpiryYYMM} }

// methods are the ID&V methods of the card's customer.
func (s *Service) methods(card ledger.Card) []IDVMethod {
	cust, _ := s.d.Engine.State().Customer(card.CustomerID)
	return IDVMethods(card.ID, cust.Phone, cust.Email)
}

type eligibility struct {
	IssuerCardRefID string `json:"issuerCardRefId"`
	ProductID       string `json:"productId,omitempty"`
}

func productID(card ledger.Card) string {
	if len(card.Program) > 32 {
		return "" // the seed bounds productId to 32 characters; a longer program name is not sent
	}
	return card.Program
}

func (s *Service) checkCardEligibility(c *call, m map[string]json.RawMessage) reply {
	card, ci, r := s.card(c, m, false)
	if r != nil {
		return *r
	}
	exp := ""
	if ci != nil {
		exp = ci.Exp
	}
	if reason := Eligibility(view(card), exp, s.nowYYMM()); reason != "" {
		return reply{err: &apiError{Status: 409, Code: "CARD_NOT_ELIGIBLE", Message: "the card cannot be tokenized", Reason: reason}}
	}
	return ok(eligibility{IssuerCardRefID: card.ID, ProductID: productID(card)})
}

type digitization struct {
	IssuerCardRefID string       `json:"issuerCardRefId"`
	ProductID       string       `json:"productId,omitempty"`
	LevelOfTrust    string       `json:"levelOfTrust"`
	IDVMethodList   *[]IDVMethod `json:"idvMethodList,omitempty"` // with yellow, also when empty
}

func (s *Service) requestCardDigitization(c *call, m map[string]json.RawMessage) reply {
	card, ci, r := s.card(c, m, false)
	if r != nil {
		return *r
	}
	in := TrustInput{CVVValidated: flag(m, fCvvValidated)}
	if t := flag(m, fTncStatus); t != nil {
		in.TnCAccepted = *t
	}
	var given []tokenvault.CVC2
	if ci != nil && ci.CVV != "" {
		given = append(given, ci.CVV)
	}
	if _, has := m[fAuthenticationValue.name]; has {
		plain, r := s.open(m, fAuthenticationValue)
		if r != nil {
			return *r
		}
		cvv, err := ParseAuthenticationValue(plain)
		clear(plain)
		if err != nil {
			return *cardInfoError(fAuthenticationValue)
		}
		given = append(given, cvv)
	}
	for _, cvv := range given {
		if subtle.ConstantTimeCompare([]byte(cvv.Reveal()), []byte(card.CVC2)) == 1 {
			if in.CVV == CVVNotChecked {
				in.CVV = CVVRight
			}
		} else {
			in.CVV = CVVWrong
		}
	}
	exp := ""
	if ci != nil {
		exp = ci.Exp
	}
	in.NotEligible = Eligibility(view(card), exp, s.nowYYMM())
	if in.CVV != CVVNotChecked && in.NotEligible == "" {
		// Counted like a CVC2 on the ISO path, where the card's state and expiry are checked
		// first (a wrong one towards the card's lock); the call's audit entry goes in the same
		// batch.
		if _, err := exec(s, c, ledger.WalletCVVChecked{CardID: card.ID, Right: in.CVV == CVVRight},
			func(ledger.Card) any { return cvvAudit{CVVChecked: true, Right: in.CVV == CVVRight} }); err != nil {
			return reply{err: err}
		}
	}
	level := LevelOfTrust(in, RuleFor(s.d.Rules, card.Program, str(m, fWalletProviderID)))
	out := digitization{IssuerCardRefID: card.ID, ProductID: productID(card), LevelOfTrust: level}
	if level == Yellow {
		methods := s.methods(card)
		out.IDVMethodList = &methods
	}
	return ok(out)
}

// cvvAudit is the audit view of a digitization whose CVV was checked: the outcome, never the CVV.
type cvvAudit struct {
	CVVChecked bool `json:"cvvChecked"`
	Right      bool `json:"right"`
}

type methodList struct {
	IDVMethodList []IDVMethod `json:"idvMethodList"`
}

func (s *Service) getIDnVMethodList(c *call, m map[string]json.RawMessage) reply {
	var card ledger.Card
	switch {
	case str(m, fIssuerCardRefID) != "":
		var r *reply
		if card, r = s.cardByRef(c, m); r != nil {
			return *r
		}
	case str(m, fVirtualCardID) != "":
		t, found := s.d.Engine.State().Token(ledger.WalletTokenID(str(m, fVirtualCardID)))
		if !found {
			return fail(404, "TOKEN_NOT_FOUND", "no such virtualCardId")
		}
		card, _ = s.d.Engine.State().Card(t.CardID)
		c.resType, c.resID = "token", t.ID
	default:
		return invalidField(fIssuerCardRefID.name, "issuerCardRefId or virtualCardId is required")
	}
	return ok(methodList{IDVMethodList: s.methods(card)})
}

type bindingTrust struct {
	LevelOfTrust  string       `json:"levelOfTrust"`
	IDVMethodList *[]IDVMethod `json:"idvMethodList,omitempty"` // with yellow, also when empty
}

func (s *Service) requestDeviceBinding(c *call, m map[string]json.RawMessage) reply {
	card, r := s.cardByRef(c, m)
	if r != nil {
		return *r
	}
	t, found := s.d.Engine.State().Token(ledger.WalletTokenID(str(m, fVirtualCardID)))
	if found && t.CardID != card.ID {
		found = false // a virtual card of another card is unknown to this one
	}
	if found {
		c.resType, c.resID = "token", t.ID
	}
	level := DeviceBindingTrust(found, t.State, Eligibility(view(card), "", s.nowYYMM()))
	out := bindingTrust{LevelOfTrust: level}
	if level == Yellow {
		methods := s.methods(card)
		out.IDVMethodList = &methods
	}
	return ok(out)
}

// walletView is the audit view of a wallet token.
type walletView struct {
	TokenID       string           `json:"tokenId"`
	VirtualCardID string           `json:"virtualCardId"`
	CardID        string           `json:"cardId"`
	State         authz.TokenState `json:"state"`
	Action        string           `json:"action,omitempty"`
	Last4         string           `json:"last4,omitempty"`
}

func (s *Service) walletView(cardID, action string) func(ledger.WalletToken) any {
	return func(w ledger.WalletToken) any {
		v := walletView{TokenID: w.TokenID, VirtualCardID: w.VirtualCardID, CardID: cardID, Action: action}
		if len(w.History) > 0 {
			v.State = w.History[len(w.History)-1].State
		}
		return v
	}
}

// tokenInfo opens and reads tokenInfo, and checks its PAN as a token PAN (13 to 19 digits,
// Luhn).
func (s *Service) tokenInfo(m map[string]json.RawMessage) (*TokenInfo, string, *reply) {
	if _, has := m[fTokenInfo.name]; !has {
		return nil, "", nil
	}
	plain, r := s.open(m, fTokenInfo)
	if r != nil {
		return nil, "", r
	}
	ti, err := ParseTokenInfo(plain)
	clear(plain)
	if err != nil || !cardNumber(ti.PAN.Reveal()) {
		return nil, "", cardInfoError(fTokenInfo)
	}
	return &ti, s.d.PANHash(ti.PAN.Reveal()), nil
}

// cardNumber is the token vault's rule for a token PAN: 13 to 19 digits passing the Luhn check.
func cardNumber(p string) bool {
	if !digits(p, 13, 19) {
		return false
	}
	sum, double := 0, false
	for i := len(p) - 1; i >= 0; i-- {
		d := int(p[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func yymm(mmyy string) string {
	if mmyy == "" {
		return ""
	}
	return mmyy[2:] + mmyy[:2]
}

func (s *Service) notifyVirtualCardChange(c *call, m map[string]json.RawMessage) reply {
	card, r := s.cardByRef(c, m)
	if r != nil {
		return *r
	}
	vcid := str(m, fVirtualCardID)
	action := str(m, fAction)
	tokenID := ledger.WalletTokenID(vcid)
	c.resType, c.resID = "token", tokenID
	ti, panHash, r := s.tokenInfo(m)
	if r != nil {
		return *r
	}
	ref := str(m, fDeviceBindingReference) // the seed sends it with DEVICE_BOUND / DEVICE_UNBOUND
	change := ledger.WalletTokenChange{CorrelationID: c.corr, Operation: c.op, Action: action}
	if code, has := num(m, fErrorCode); has {
		change.ErrorCode = int(code) // recorded, not acted on (unlisted codes are generic errors)
	}
	isPrimary := flag(m, fIsPrimary)
	st := s.d.Engine.State()
	t, known := st.Token(tokenID)
	_, wallet := st.WalletToken(tokenID)
	if !known || !wallet {
		if ti == nil {
			return fail(404, "TOKEN_NOT_FOUND", "no such virtualCardId, and no tokenInfo to register it")
		}
		// A new token: registered INACTIVE, then the action applies (ACTIVATE → ACTIVE).
		to, effect, err := Transition(authz.TokenInactive, action)
		if err != nil {
			return fail(409, "INVALID_TOKEN_TRANSITION", "a new token cannot be "+action)
		}
		return s.register(c, card, vcid, ti, panHash, to, effect, m, change, *isPrimary, false)
	}
	if t.CardID != card.ID && action != "UPDATE" {
		return invalidField(fIssuerCardRefID.name, "the virtual card funds from another card")
	}
	to, effect, err := Transition(t.State, action)
	if err != nil {
		return fail(409, "INVALID_TOKEN_TRANSITION", "the token is "+string(t.State)+": "+orNone(action)+" is not allowed")
	}
	cmd := ledger.ChangeWalletToken{TokenID: tokenID, ExpectState: t.State, State: to, Change: change,
		WalletCardRefID: str(m, fWalletCardRefID), WalletVirtualCardID: str(m, fWalletVirtualCardID),
		TokenStorageID: str(m, fTokenStorageID), TokenAssuranceLevel: str(m, fTokenAssuranceLevel), IsPrimary: isPrimary}
	switch effect {
	case EffectFunding:
		cmd.CardID = card.ID
	case EffectRenew:
		if ti == nil {
			return invalidField(fTokenInfo.name, "tokenInfo is required with RENEW")
		}
		cmd.PANHash, cmd.PAN, cmd.Last4, cmd.ExpiryYYMM = panHash, ti.PAN.Reveal(), ti.PAN.Last4(), yymm(ti.Exp)
	case EffectErase:
		cmd.Erase = true
	case EffectBind, EffectUnbind:
		cmd.Binding = &ledger.DeviceBinding{Reference: ref, Bound: effect == EffectBind, CorrelationID: c.corr}
	case EffectStepUp:
		cmd.StepUp = action
	}
	if ti != nil && effect != EffectRenew && panHash != t.PANHash {
		return fail(409, "INVALID_TOKEN_TRANSITION", "tokenInfo names another token PAN: only RENEW changes it")
	}
	if _, err := exec(s, c, cmd, s.walletView(card.ID, action)); err != nil {
		return reply{err: err}
	}
	return reply{status: 200}
}

func orNone(action string) string {
	if action == "" {
		return "no action"
	}
	return action
}

// register records a new wallet token for card.
func (s *Service) register(c *call, card ledger.Card, vcid string, ti *TokenInfo, panHash string, state authz.TokenState,
	effect Effect, m map[string]json.RawMessage, change ledger.WalletTokenChange, isPrimary, standIn bool) reply {
	tokenType := str(m, fTokenType)
	if tokenType == "" {
		tokenType = ledger.TokenSE
	}
	exp := yymm(ti.Exp)
	if exp == "" {
		exp = card.ExpiryYYMM // UPI sends no token expiry: the token lives as long as its card
	}
	id := ledger.WalletTokenID(vcid)
	tok := ledger.Token{ID: id, CardID: card.ID, PANHash: panHash, PAN: ti.PAN.Reveal(), Last4: ti.PAN.Last4(),
		ExpiryYYMM: exp, PSN: "00", State: state, Type: tokenType, WalletProvider: str(m, fWalletProviderID)}
	w := ledger.WalletToken{TokenID: id, VirtualCardID: vcid, WalletProviderID: str(m, fWalletProviderID),
		WalletCardRefID: str(m, fWalletCardRefID), WalletVirtualCardID: str(m, fWalletVirtualCardID),
		TokenStorageID: str(m, fTokenStorageID), IsPrimary: isPrimary, TokenAssuranceLevel: str(m, fTokenAssuranceLevel),
		StandIn: standIn}
	switch effect {
	case EffectBind, EffectUnbind:
		w.Bindings = []ledger.DeviceBinding{{Reference: str(m, fDeviceBindingReference), Bound: effect == EffectBind,
			AtUnixNano: s.d.Clock().UnixNano(), CorrelationID: c.corr}}
	case EffectStepUp:
		w.StepUps = []string{change.Action}
	case EffectErase: // registered erased: nothing personal is kept, the PAN's hash answers 14
		tok.PAN = ""
		w.WalletCardRefID, w.WalletVirtualCardID, w.TokenStorageID, w.Erased = "", "", "", true
	}
	if _, err := exec(s, c, ledger.RegisterWalletToken{Token: tok, Wallet: w, Change: change},
		s.walletView(card.ID, change.Action)); err != nil {
		return reply{err: err}
	}
	return reply{status: 200}
}

// otpEvent is the data of a tsh.otp event (contract §5).
type otpEvent struct {
	CardID         string `json:"cardId"`
	OTPMethodID    string `json:"otpMethodId"`
	Type           string `json:"type"`
	OTPValue       string `json:"otpValue"`
	ExpirationDate string `json:"expirationDate"`
	CorrelationID  string `json:"correlationId"`
}

// otpAudit is what the audit trail keeps of a sendOTP: never the OTP.
type otpAudit struct {
	CardID         string `json:"cardId"`
	OTPMethodID    string `json:"otpMethodId"`
	Type           string `json:"type"`
	ExpirationDate string `json:"expirationDate"`
	Generated      bool   `json:"generated"`
}

// otpDigits is the length of an OTP cardswitch makes.
const otpDigits = 6

func (s *Service) sendOTP(c *call, m map[string]json.RawMessage) reply {
	card, r := s.cardByRef(c, m)
	if r != nil {
		return *r
	}
	methods := s.methods(card)
	var method IDVMethod
	if id := str(m, fOtpMethodID); id != "" {
		found := false
		if method, found = FindMethod(methods, id); !found {
			return reply{err: &apiError{Status: 400, Code: "UNKNOWN_IDV_METHOD", Message: "otpMethodId is not a method of this card", Field: fOtpMethodID.name}}
		}
	} else if len(methods) > 0 {
		method = methods[0] // no choice made (MDES in-app push): the first method, SMS when there is a phone
	} else {
		return reply{err: &apiError{Status: 400, Code: "UNKNOWN_IDV_METHOD", Message: "the cardholder has no contact to send an OTP to", Field: fOtpMethodID.name}}
	}
	if !s.d.Webhook {
		// Recorded like every event (and pruned unread): without a webhook nothing delivers it.
		s.log.Warn("tsh: an OTP was asked for but no webhook is configured to deliver it",
			"correlationId", c.corr, "cardId", card.ID, "otpMethodId", method.ID)
	}
	now := s.d.Clock().UTC()
	expires := now.Add(s.d.OTPTTL)
	expText := str(m, fExpirationDate)
	if expText != "" {
		if t, err := time.Parse(time.RFC3339Nano, expText); err == nil {
			expires = t
		}
	} else {
		expText = expires.Format("2006-01-02T15:04:05.000Z")
	}
	otp, generated := str(m, fOtpValue), false
	if otp == "" {
		otp, generated = newOTP(), true
	}
	data, err := json.Marshal(otpEvent{CardID: card.ID, OTPMethodID: method.ID, Type: method.Type, OTPValue: otp,
		ExpirationDate: expText, CorrelationID: c.corr})
	if err != nil {
		panic("tsh: encode otp event: " + err.Error())
	}
	audit := otpAudit{CardID: card.ID, OTPMethodID: method.ID, Type: method.Type, ExpirationDate: expText, Generated: generated}
	_, aerr := exec(s, c, ledger.SendOTP{CardID: card.ID, Data: data}, func(struct{}) any { return audit })
	clear(data)
	if aerr != nil {
		return reply{err: aerr}
	}
	s.otps.put(card.ID+"|"+method.ID, otp, expires, now)
	return reply{status: 200}
}

// newOTP draws a uniformly random otpDigits-digit OTP.
func newOTP() string {
	b := make([]byte, otpDigits)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic("tsh: no randomness: " + err.Error())
		}
		b[i] = byte('0' + n.Int64())
	}
	return string(b)
}

type standIn struct {
	IssuerCardRefID string `json:"issuerCardRefId"`
}

func (s *Service) notifyStandInProcess(c *call, m map[string]json.RawMessage) reply {
	card, _, r := s.card(c, m, true)
	if r != nil {
		return *r
	}
	ti, panHash, r := s.tokenInfo(m)
	if r != nil {
		return *r
	}
	vcid := str(m, fVirtualCardID)
	tokenID := ledger.WalletTokenID(vcid)
	state := StandInState(str(m, fStatus))
	change := ledger.WalletTokenChange{CorrelationID: c.corr, Operation: c.op, Action: "STAND_IN_" + orDefault(str(m, fStatus), "INACTIVE")}
	st := s.d.Engine.State()
	t, known := st.Token(tokenID)
	_, wallet := st.WalletToken(tokenID)
	switch {
	case !known || !wallet:
		if ti == nil {
			return ok(standIn{IssuerCardRefID: card.ID}) // nothing to register: the hub named no token PAN
		}
		c.resType, c.resID = "token", tokenID
		if rr := s.register(c, card, vcid, ti, panHash, state, EffectNone, m, change, *flag(m, fIsPrimary), true); rr.err != nil {
			return rr
		}
	default:
		c.resType, c.resID = "token", tokenID
		if t.CardID != card.ID {
			return invalidField(fCipheredCardInfo.name, "the virtual card funds from another card")
		}
		if str(m, fStatus) == "" {
			state = t.State // a known token without a status: recorded, its state kept
		}
		if t.State == authz.TokenDeleted && state != authz.TokenDeleted {
			return fail(409, "INVALID_TOKEN_TRANSITION", "the token was deleted")
		}
		if ti != nil && panHash != t.PANHash {
			return fail(409, "INVALID_TOKEN_TRANSITION", "tokenInfo names another token PAN")
		}
		cmd := ledger.ChangeWalletToken{TokenID: tokenID, ExpectState: t.State, State: state, Change: change,
			WalletCardRefID: str(m, fWalletCardRefID), TokenStorageID: str(m, fTokenStorageID),
			TokenAssuranceLevel: str(m, fTokenAssuranceLevel), IsPrimary: flag(m, fIsPrimary)}
		if _, err := exec(s, c, cmd, s.walletView(card.ID, change.Action)); err != nil {
			return reply{err: err}
		}
	}
	return ok(standIn{IssuerCardRefID: card.ID})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

type health struct {
	Status string `json:"status"`
}

func (s *Service) healthCheck(c *call, _ map[string]json.RawMessage) reply {
	if !s.d.Ready() {
		return fail(503, "UNAVAILABLE", "the switch is not ready")
	}
	return ok(health{Status: "ok"})
}
