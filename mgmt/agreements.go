package mgmt

import (
	"encoding/json"
	"regexp"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// Stored-credential agreements (issue 17): listed on the three channels, cancelled by the
// cardholder, the partner or an operator, created by the partner for a merchant that enrolled the
// card outside the authorization flow. Every change goes through the engine, so a cancellation
// stops merchant-initiated payments from the next authorization on.

type agreementTermsView struct {
	MinAmount     string `json:"minAmount"`
	MaxAmount     string `json:"maxAmount"`
	FrequencyDays int64  `json:"frequencyDays"`
	EndDate       string `json:"endDate"` // YYYY-MM-DD, the last day allowed
	Currency      string `json:"currency"`
}

// agreementView is an agreement as the API shows it: the credential by BIN (first six digits)
// and last four, never the number.
type agreementView struct {
	AgreementID  string              `json:"agreementId"`
	Reference    string              `json:"reference"`
	MerchantID   string              `json:"merchantId"`
	CardID       string              `json:"cardId"`
	TokenID      string              `json:"tokenId,omitempty"`
	Brand        string              `json:"brand"`
	BIN          string              `json:"bin"`
	Last4        string              `json:"last4"`
	Expiry       string              `json:"expiry"` // MM.YYYY, as the seed's token list writes it
	CreatedAt    string              `json:"createdAt"`
	LastUsedAt   string              `json:"lastUsedAt,omitempty"`
	Terms        *agreementTermsView `json:"terms,omitempty"`
	State        string              `json:"state"`
	CancelledAt  string              `json:"cancelledAt,omitempty"`
	CancelledBy  string              `json:"cancelledBy,omitempty"`
	CVC2Required bool                `json:"cvc2Required"`
}

// binDigits is how much of the credential's number a view shows at its start (the seed's "bin":
// the first six digits).
const binDigits = 6

// agreementCredential is what a view shows of an agreement's card or token, read before a
// change so that the audit entry, written on the engine goroutine, reads no State.
type agreementCredential struct {
	card  ledger.Card
	token *ledger.Token
}

func (s *Server) credentialOf(a ledger.Agreement) agreementCredential {
	st := s.eng.State()
	var cr agreementCredential
	cr.card, _ = st.Card(a.CardID)
	if a.TokenID != "" {
		if t, ok := st.Token(a.TokenID); ok {
			cr.token = &t
		}
	}
	return cr
}

func (s *Server) viewAgreement(a ledger.Agreement) agreementView {
	return s.viewAgreementOf(a, s.credentialOf(a))
}

func (s *Server) viewAgreementOf(a ledger.Agreement, cr agreementCredential) agreementView {
	v := agreementView{AgreementID: a.ID, Reference: a.Reference, MerchantID: a.MerchantID, CardID: a.CardID,
		TokenID: a.TokenID, CreatedAt: nanosRFC3339(a.CreatedAtUnixNano), LastUsedAt: nanosRFC3339(a.LastUsedAtUnixNano),
		State: string(a.State), CancelledAt: nanosRFC3339(a.CancelledAtUnixNano), CancelledBy: a.CancelledBy,
		CVC2Required: !a.InitialVerified}
	if v.AgreementID == "" {
		v.AgreementID = ledger.AgreementID(a.Key)
	}
	currency := s.balanceCurrency(cr.card.BalanceID)
	if p, ok := s.cfg.Program(cr.card.Program); ok {
		v.Brand = p.Scheme
	}
	number, last4, yymm := cr.card.PAN, cr.card.Last4, cr.card.ExpiryYYMM
	if cr.token != nil {
		number, last4, yymm = cr.token.PAN, cr.token.Last4, cr.token.ExpiryYYMM
	}
	if len(number) >= binDigits {
		v.BIN = number[:binDigits]
	}
	v.Last4 = last4
	if m, y := splitExpiry(yymm); m != 0 {
		v.Expiry = twoDigits(m) + "." + itoa(y)
	}
	if a.HasTerms {
		v.Terms = &agreementTermsView{MinAmount: formatAmount(a.MinMinor, currency),
			MaxAmount: formatAmount(a.MaxMinor, currency), FrequencyDays: a.IntervalDays,
			EndDate: time.Unix(a.EndUnixDay*86400, 0).UTC().Format(time.DateOnly), Currency: currency}
	}
	return v
}

func (s *Server) viewAgreements(as []ledger.Agreement) map[string]any {
	out := make([]agreementView, 0, len(as))
	for _, a := range as {
		out = append(out, s.viewAgreement(a))
	}
	return map[string]any{"agreements": out}
}

// loadAgreement finds an agreement of the path's card, which the caller may see (loadCard):
// another card's agreement, or another customer's, is not found.
func (c *call) loadAgreement() (ledger.Agreement, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return ledger.Agreement{}, err
	}
	a, ok := c.s.eng.State().AgreementByID(c.param("agreementId"))
	if !ok || a.CardID != card.ID {
		return ledger.Agreement{}, errNotFound("AGREEMENT_NOT_FOUND", "no such agreement")
	}
	return a, nil
}

func (s *Server) hListCardAgreements(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewAgreements(s.eng.State().AgreementsOfCard(card.ID)), nil
}

func (s *Server) hListCustomerAgreements(c *call) (int, any, *apiError) {
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewAgreements(s.eng.State().AgreementsOfCustomer(cu.ID)), nil
}

func (s *Server) hGetAgreement(c *call) (int, any, *apiError) {
	a, err := c.loadAgreement()
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewAgreement(a), nil
}

// cancelledBy names who cancels through each channel (Agreement.CancelledBy, the event source).
func cancelledBy(ch channel) string {
	switch ch {
	case chanCustomer:
		return "cardholder"
	case chanAdmin:
		return "operator"
	}
	return "partner"
}

// hCancelAgreement ends an agreement. A cancelled one is answered as it is: nothing leaves
// CANCELLED, so the snapshot cannot be stale, and nothing is written (no audit entry, no event).
func (s *Server) hCancelAgreement(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	before, err := c.loadAgreement()
	if err != nil {
		return 0, nil, err
	}
	if before.State == ledger.AgreementCancelled {
		return 200, s.viewAgreement(before), nil
	}
	cr := s.credentialOf(before)
	after, err := execAudited(c, ledger.CancelAgreement{Key: before.Key, By: cancelledBy(c.route.channel)},
		"agreement.cancel", "agreement", func(after ledger.Agreement) (string, any, any) {
			return after.ID, s.viewAgreementOf(before, cr), s.viewAgreementOf(after, cr)
		})
	if err != nil {
		return 0, nil, err
	}
	return 200, s.viewAgreementOf(after, cr), nil
}

// Bounds of the create request, the wire's (contract §2): the reference is subelement 21, the
// merchant id field 42 (ans 15: printable ASCII), DAYS at most four digits.
var (
	reAgreementRef = regexp.MustCompile(`^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$`)
	reMerchantID   = regexp.MustCompile(`^[\x21-\x7e]([\x20-\x7e]{0,13}[\x21-\x7e])?$`)
)

const termsDaysMax = 9999

type agreementTermsIn struct {
	MinAmount     json.RawMessage `json:"minAmount"`
	MaxAmount     json.RawMessage `json:"maxAmount"`
	FrequencyDays *int64          `json:"frequencyDays"`
	EndDate       string          `json:"endDate"`
	Currency      string          `json:"currency"`
}

// terms checks the form of the terms; whether they make sense (MIN <= MAX, at least a day, an
// end date not past) is the ledger's (ledger.CreateAgreement), as for subelement 22.
func (in *agreementTermsIn) terms(currency string) (authz.Terms, *apiError) {
	var t authz.Terms
	var err *apiError
	if in.Currency != "" && in.Currency != currency {
		return t, errBad("CURRENCY_MISMATCH", "terms are in the card's balance currency, "+currency, "terms.currency")
	}
	if t.MinMinor, err = parseAmount("terms.minAmount", in.MinAmount, currency, true); err != nil {
		return t, err
	}
	if t.MaxMinor, err = parseAmount("terms.maxAmount", in.MaxAmount, currency, true); err != nil {
		return t, err
	}
	switch {
	case in.FrequencyDays == nil:
		return t, errMissing("terms.frequencyDays")
	case *in.FrequencyDays > termsDaysMax:
		return t, errBad("INVALID_TERMS", "frequencyDays must be 1..9999", "terms.frequencyDays")
	case in.EndDate == "":
		return t, errMissing("terms.endDate")
	}
	t.IntervalDays = *in.FrequencyDays
	end, perr := time.Parse(time.DateOnly, in.EndDate)
	if perr != nil {
		return t, errBad("INVALID_TERMS", "endDate must be a date YYYY-MM-DD", "terms.endDate")
	}
	t.EndUnixDay = end.Unix() / 86400
	return t, nil
}

func (s *Server) hCreateAgreement(c *call) (int, any, *apiError) {
	var in struct {
		Reference  string            `json:"reference"`
		MerchantID string            `json:"merchantId"`
		Terms      *agreementTermsIn `json:"terms"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	switch {
	case in.Reference == "":
		return 0, nil, errMissing("reference")
	case !reAgreementRef.MatchString(in.Reference):
		return 0, nil, errInvalid("reference", "reference: 1 to 32 printable ASCII characters, no leading or trailing space")
	case in.MerchantID == "":
		return 0, nil, errMissing("merchantId")
	case !reMerchantID.MatchString(in.MerchantID):
		return 0, nil, errInvalid("merchantId", "merchantId: 1 to 15 printable ASCII characters (field 42), no leading or trailing space")
	}
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	cmd := ledger.CreateAgreement{CardID: card.ID, Reference: in.Reference, MerchantID: in.MerchantID}
	if in.Terms != nil {
		if cmd.Terms, err = in.Terms.terms(s.balanceCurrency(card.BalanceID)); err != nil {
			return 0, nil, err
		}
		cmd.HasTerms = true
	}
	cr := agreementCredential{card: card}
	created, err := execAudited(c, cmd, "agreement.create", "agreement",
		func(after ledger.Agreement) (string, any, any) { return after.ID, nil, s.viewAgreementOf(after, cr) })
	if err != nil {
		return 0, nil, err
	}
	return 201, s.viewAgreementOf(created, cr), nil
}
