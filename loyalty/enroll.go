package loyalty

import (
	"context"
	"errors"
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/loyalty/pancrypt"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Result is the outcome of an enrollment, replacement or opt-out: the seed's confirmation
// fields (§3.1), posted to confirmationUrl and carried by the enrollmentEnded event.
type Result struct {
	Status     string `json:"status"`
	StatusCode string `json:"statusCode,omitempty"` // the host's code, only when it answered
	ParentID   string `json:"parentId,omitempty"`
	RANAC      string `json:"ranac,omitempty"`
	DesignCode string `json:"designCode,omitempty"`
	BIN        string `json:"bin,omitempty"`
	Last4      string `json:"last4,omitempty"`
	// IncidentID names a failure for support ("Incident identifier: " on the error page; ours).
	IncidentID string `json:"incidentId,omitempty"`
}

// Main statuses (the seed's list is lost; SUCCESS_ENROLLMENT is its one example).
const (
	StatusSuccessEnrollment  = "SUCCESS_ENROLLMENT"
	StatusFailedEnrollment   = "FAILED_ENROLLMENT"
	StatusSuccessReplacement = "SUCCESS_REPLACEMENT"
	StatusFailedReplacement  = "FAILED_REPLACEMENT"
	StatusSuccessOptOut      = "SUCCESS_OPT_OUT"
	StatusFailedOptOut       = "FAILED_OPT_OUT"
)

// designCode is what the result says of the card's visual design (the seed's example: Gold).
const designCode = "Standard"

// luhn reports whether a 12-19 digit number passes the Luhn check.
func luhn(pan string) bool {
	if len(pan) < 12 || len(pan) > 19 {
		return false
	}
	sum := 0
	for i := range len(pan) {
		c := pan[len(pan)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// openPAN opens the page's envelope; false for anything that is not a Luhn-valid card number.
func (s *Service) openPAN(e pancrypt.Envelope) (tokenvault.PAN, bool) {
	p, err := pancrypt.Open(s.pageKey, e)
	if err != nil || !luhn(string(p)) {
		return "", false
	}
	return tokenvault.PAN(p), true
}

// failed is a failure outcome with an incident id (and the host's code when it answered).
func (s *Service) failed(status, parent, code, why string) Result {
	id := randomID()[:12]
	s.log.Warn("loyalty flow failed", "status", status, "statusCode", code, "reason", why, "incident", id)
	return Result{Status: status, StatusCode: code, ParentID: parent, IncidentID: id}
}

// hostCode is the status code to report for a host call that got no answer (the seed's -1001:
// connection to MRS error).
func hostCode(err error) string {
	if errors.Is(err, ErrHostUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		return mrswire.StatusServerError
	}
	return ""
}

// enrollCard enrolls pan (a card of the session's customer) at the host and in the ledger.
// status is the success status to report (enrollment or replacement). The host's -50 (this card
// of this customer is enrolled already) counts as success with its account, as in the seed's
// example confirmation.
//
// confirm: the success is confirmed to the partner in the enrollment's batch (a replacement
// confirms only once the old card is cancelled).
func (s *Service) enrollCard(ctx context.Context, ses *session, pan tokenvault.PAN, first, last, email string,
	success, failure string, confirm bool) (Result, ledger.LoyaltyMember) {
	w := &ses.website
	st := s.eng.State()
	cardID, ok := st.CardIDByPANHash(s.panHash(pan.Reveal()))
	card, found := st.Card(cardID)
	if !ok || !found || card.CustomerID != ses.customerID || card.State == ledger.CardRemoved {
		return s.failed(failure, w.Subject, "", "no card of the customer with this number"), ledger.LoyaltyMember{}
	}
	p, ok := s.rules.Program(w.ProgramID)
	if !ok {
		return s.failed(failure, w.Subject, "", "programme not configured"), ledger.LoyaltyMember{}
	}
	if eligible, _ := p.Eligible(card.Program); !eligible {
		return s.failed(failure, w.Subject, mrswire.StatusAccountNotQualified, "card outside the programme"), ledger.LoyaltyMember{}
	}
	bin := pan.Reveal()[:6]
	confirmTo := ""
	if confirm {
		confirmTo = w.ConfirmationURL
	}
	if m, ok := st.LoyaltyMember(card.ID); ok && m.Status == ledger.LoyaltyEnrolled {
		r := Result{Status: success, StatusCode: mrswire.StatusCustomerAlreadyEnrolled, ParentID: w.Subject, RANAC: m.RANAC,
			DesignCode: designCode, BIN: bin, Last4: card.Last4}
		s.queueAlone(confirmTo, r)
		return r, m
	}
	if m, ok := st.LoyaltyMember(card.ID); ok && m.Status == ledger.LoyaltyOptedOut {
		return s.optBackIn(ctx, m, w.Subject, bin, success, failure, confirmTo)
	}
	sealed, err := s.host.SealPAN(ctx, pan)
	if err != nil {
		return s.failed(failure, w.Subject, hostCode(err), "sealing for the host: "+err.Error()), ledger.LoyaltyMember{}
	}
	resp, err := s.host.Call(ctx, mrswire.OpEnroll, []mrswire.Field{{Name: "programId", Value: w.ProgramID},
		{Name: "bankCustomerNumber", Value: w.Subject}, {Name: "bankProductCode", Value: bankProductCode},
		{Name: "bankAccountNumber", Value: sealed.JSON(), Encrypted: true},
		{Name: "firstName", Value: first}, {Name: "lastName", Value: last}, {Name: "emailAddress", Value: email}})
	if err != nil {
		return s.failed(failure, w.Subject, hostCode(err), "enroll: "+err.Error()), ledger.LoyaltyMember{}
	}
	if resp.StatusCode != mrswire.StatusSuccess && resp.StatusCode != mrswire.StatusCustomerAlreadyEnrolled {
		return s.failed(failure, w.Subject, resp.StatusCode, "enroll refused by the host"), ledger.LoyaltyMember{}
	}
	household, role := resp.HouseholdID, s.redeemerRole(ctx, w.Subject, resp)
	r := Result{Status: success, StatusCode: resp.StatusCode, ParentID: w.Subject, RANAC: resp.RANAC,
		DesignCode: designCode, BIN: bin, Last4: card.Last4}
	m, refusal, err := do(s, withConfirmation[ledger.LoyaltyMember](ledger.EnrollLoyalty{CardID: card.ID, ProgramID: w.ProgramID,
		RANAC: resp.RANAC, CardHash: s.CardHash(pan), HouseholdID: household, Role: role, AccountID: resp.AccountID,
		PartnerID: w.Partner, ConfirmationURL: w.ConfirmationURL, CustomerExternalID: w.Subject}, confirmTo, r))
	if err != nil || refusal != nil {
		why := "ledger"
		if refusal != nil {
			why = refusal.Code
		}
		// The host has the account; a new attempt finds it (-50) and completes the ledger.
		return s.failed(failure, w.Subject, "", why), ledger.LoyaltyMember{}
	}
	return r, m
}

// bankProductCode is the product code cardswitch sends (the seed: "Verestro is hard coded").
const bankProductCode = "RPM"

// redeemerRole makes the customer a redeemer of its household when the host made it a
// non-redeemer (seed §6.6: "by default, Verestro must update every Non-Redeemer to Redeemer"),
// and returns the role the customer holds.
func (s *Service) redeemerRole(ctx context.Context, parent string, enrolled mrswire.Response) string {
	accs, err := s.host.Call(ctx, mrswire.OpGetCustomerAccounts, []mrswire.Field{{Name: "bankCustomerNumber", Value: parent}})
	if err != nil || accs.StatusCode != mrswire.StatusSuccess {
		return ledger.RoleRedeemer // the ledger's default; the host is asked again on the next change
	}
	for _, a := range accs.Accounts {
		if a.RANAC != enrolled.RANAC {
			continue
		}
		if a.RoleID != ledger.RoleNonRedeemer {
			return a.RoleID
		}
		up, err := s.host.Call(ctx, mrswire.OpUpdateHouseholdRole, []mrswire.Field{{Name: "householdId", Value: a.HouseholdID},
			{Name: "roleId", Value: ledger.RoleRedeemer}, {Name: "childCustomerId", Value: a.CustomerID}})
		if err == nil && up.Success == "true" {
			return ledger.RoleRedeemer
		}
		return ledger.RoleNonRedeemer
	}
	return ledger.RoleRedeemer
}

// enrollInput is the page's submission of a new enrollment or a replacement.
type enrollInput struct {
	PAN         pancrypt.Envelope `json:"pan"`
	FirstName   string            `json:"firstName"`
	LastName    string            `json:"lastName"`
	Email       string            `json:"email"`
	AcceptTerms bool              `json:"acceptTerms"`
	CardID      string            `json:"cardId"` // R and C: the card replaced or opted out
}

// validate checks the fields the page sends; the message names the field (never its value).
func (in *enrollInput) validate(action string) (field string, ok bool) {
	in.FirstName, in.LastName, in.Email = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName), strings.TrimSpace(in.Email)
	if action == ActionOptOut {
		return "cardId", in.CardID != ""
	}
	switch {
	case in.PAN.Key == "" || in.PAN.Data == "":
		return "pan", false
	case action == ActionReplacement && in.CardID == "":
		return "cardId", false
	case action == ActionNew && !in.AcceptTerms:
		return "acceptTerms", false
	case len(in.FirstName) > 100 || len(in.LastName) > 100:
		return "firstName", false
	case in.Email != "" && (len(in.Email) > 254 || !strings.Contains(in.Email, "@")):
		return "email", false
	}
	return "", true
}

// optBackIn reactivates an opted-out card within its grace period: the host account again, then
// the ledger member with its points.
func (s *Service) optBackIn(ctx context.Context, m ledger.LoyaltyMember, parent, bin, success, failure, confirmTo string) (Result, ledger.LoyaltyMember) {
	resp, err := s.host.Call(ctx, mrswire.OpUpdateCustomerAccount, []mrswire.Field{{Name: "ranac", Value: m.RANAC},
		{Name: "accountStatusCode", Value: mrswire.AccountActive}})
	if err != nil {
		return s.failed(failure, parent, hostCode(err), "reactivation: "+err.Error()), ledger.LoyaltyMember{}
	}
	if resp.StatusCode != mrswire.StatusSuccess && resp.StatusCode != mrswire.StatusInvalidAccountStatus {
		return s.failed(failure, parent, resp.StatusCode, "reactivation refused by the host"), ledger.LoyaltyMember{}
	}
	r := Result{Status: success, StatusCode: mrswire.StatusSuccess, ParentID: parent, RANAC: m.RANAC,
		DesignCode: designCode, BIN: bin, Last4: m.Last4}
	back, refusal, err := do(s, withConfirmation[ledger.LoyaltyMember](ledger.OptInLoyalty{CardID: m.CardID, CustomerID: m.CustomerID}, confirmTo, r))
	if err != nil || refusal != nil {
		return s.failed(failure, parent, "", "ledger opt-in"), ledger.LoyaltyMember{}
	}
	return r, back
}
