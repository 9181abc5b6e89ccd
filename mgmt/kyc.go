package mgmt

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/cardswitch/cardswitch/kyc"
	"github.com/cardswitch/cardswitch/ledger"
)

// eKYC through the API (docs/users-balances.md, "eKYC"):
//
//	POST /customers/me/register, POST /secure/customers/{id}/register  start a verification:
//	     the ledger records the customer PENDING under a new verification reference, then the
//	     provider is asked (so its result can never arrive first) -> 202.
//	POST /kyc/callback  the provider's result, signed (kyc.SignatureHeader) with the shared
//	     secret: a guarded transition PENDING -> VERIFIED or REJECTED (ledger.KYCTransition).
//
// The partner's own decision, POST /secure/customers/{id}/kyc, stays as it was.

// kycStartTimeout bounds the provider's start request when the provider sets none.
const kycStartTimeout = kyc.DefaultStartTimeout

// kycActor is the actor of a provider's result in the audit trail and events.
var kycActor = ledger.Origin{Source: "kyc", Actor: "kyc-provider"}

func (s *Server) hRegisterKYC(c *call) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	ref := "kyc_" + randID(12)
	started, aerr := s.changeCustomerResult(c, cu.ID, "customer.kyc_start",
		ledger.StartKYC{CustomerID: cu.ID, Reference: ref, By: c.origin(c.who.Channel)})
	if aerr != nil {
		return 0, nil, aerr
	}
	ctx, cancel := context.WithTimeout(context.Background(), kycStartTimeout)
	defer cancel()
	if err := s.kyc.Start(ctx, kyc.Request{Reference: ref, CustomerID: started.ID, FirstName: started.FirstName,
		LastName: started.LastName, Email: started.Email, Phone: started.Phone}); err != nil {
		// The customer stays PENDING under ref; a new register starts over with a new reference.
		s.log.Warn("kyc verification not started", "customer", started.ID, "reference", ref, "err", err)
		return 0, nil, &apiError{Status: 503, Code: "KYC_PROVIDER_UNAVAILABLE", Message: "the verification provider is unavailable; try again"}
	}
	// The status as the start left it (PENDING): the result may already have arrived, and is
	// read with GET .../customers/{id} or the customer.kyc_changed event.
	return 202, map[string]string{"customerId": started.ID, "verificationId": ref, "kycStatus": started.KYC}, nil
}

// changeCustomerResult is changeCustomer returning the customer row rather than its view.
func (s *Server) changeCustomerResult(c *call, id, action string, cmd ledger.Command[ledger.Result[ledger.Customer]]) (ledger.Customer, *apiError) {
	var prev ledger.Customer
	rb := readBefore[ledger.Customer]{cmd: cmd, prev: &prev,
		get: func(tx *ledger.Tx) ledger.Customer { p, _ := tx.Customer(id); return p }}
	return exec(s, inBatch[ledger.Customer]{cmd: rb, then: func(tx *ledger.Tx, after ledger.Customer) {
		c.auditIn(tx, action, "customer", id, viewCustomer(prev), viewCustomer(after))
	}})
}

// Deliver applies a provider's result (kyc.Sink): the in-process provider calls it directly,
// an HTTP provider through POST /kyc/callback. Its audit entry (actor kyc-provider) and
// customer.kyc_changed are written in the batch of the change.
func (s *Server) Deliver(_ context.Context, r kyc.Result) error {
	if aerr := s.deliverKYC(r); aerr != nil {
		return aerr
	}
	return nil
}

func (s *Server) deliverKYC(r kyc.Result) *apiError {
	var in ledger.KYCInput
	switch r.Outcome {
	case kyc.Approved:
		in = ledger.KYCApprove
	case kyc.Rejected:
		in = ledger.KYCReject
	case kyc.ManualReview:
		in = ledger.KYCManualReview
	default:
		return errBad("INVALID_OUTCOME", "outcome must be APPROVED, REJECTED or MANUAL_REVIEW", "outcome")
	}
	var prev ledger.Customer
	rb := readBefore[ledger.Customer]{cmd: ledger.ApplyKYCResult{CustomerID: r.CustomerID, Reference: r.Reference, Input: in, By: kycActor},
		prev: &prev, get: func(tx *ledger.Tx) ledger.Customer { p, _ := tx.Customer(r.CustomerID); return p }}
	_, aerr := exec(s, inBatch[ledger.Customer]{cmd: rb, then: func(tx *ledger.Tx, after ledger.Customer) {
		a := ledger.AuditRecord{AtUnixNano: s.clock().UnixNano(), Actor: kycActor.Actor, Channel: kycActor.Source,
			Action: "customer.kyc_result", ResourceType: "customer", ResourceID: r.CustomerID}
		a.Before, _ = json.Marshal(map[string]string{"kycStatus": prev.KYC})
		a.After, _ = json.Marshal(map[string]string{"kycStatus": after.KYC, "outcome": string(r.Outcome), "reference": r.Reference})
		tx.Audit(a)
	}})
	return aerr
}

// hKYCCallback takes a provider's signed result. Without a configured secret there is no
// callback (404); a bad or stale signature is 401; a result for another verification than the
// customer's latest, or contradicting a decided status, is 409 (the provider stops retrying).
func (s *Server) hKYCCallback(c *call) (int, any, *apiError) {
	if len(s.kycSecret) == 0 {
		return 0, nil, errNotFound("NOT_FOUND", "no KYC provider is configured")
	}
	sig := string(c.ctx.Request.Header.Peek(kyc.SignatureHeader))
	if err := kyc.Verify(s.kycSecret, sig, c.body, s.clock()); err != nil {
		code := "INVALID_SIGNATURE"
		if errors.Is(err, kyc.ErrStale) {
			code = "STALE_SIGNATURE"
		}
		return 0, nil, &apiError{Status: 401, Code: code, Message: "the callback signature does not verify"}
	}
	var r kyc.Result
	if err := c.decode(&r); err != nil {
		return 0, nil, err
	}
	switch {
	case r.Reference == "":
		return 0, nil, errMissing("reference")
	case r.CustomerID == "":
		return 0, nil, errMissing("customerId")
	case !r.Outcome.Valid():
		return 0, nil, errBad("INVALID_OUTCOME", "outcome must be APPROVED, REJECTED or MANUAL_REVIEW", "outcome")
	}
	if aerr := s.deliverKYC(r); aerr != nil {
		return 0, nil, aerr
	}
	cu, _ := s.eng.State().Customer(r.CustomerID)
	return 200, map[string]string{"customerId": cu.ID, "kycStatus": cu.KYC}, nil
}

// partnerKYC is a KYC decision through the API (ledger.SetKYC). An operator's decision
// (/admin) records customer.kyc_changed when the status changed, as a provider's result does,
// so the partner hears of it; the partner's own (/secure) does not: the partner knows it.
type partnerKYC struct {
	ledger.SetKYC
	By ledger.Origin
}

func (p partnerKYC) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[ledger.Customer] {
	prev, _ := tx.Customer(p.CustomerID)
	r := p.SetKYC.Apply(tx, env)
	if r.Refusal == nil && prev.KYC != r.Value.KYC && p.By.Source != "secure" {
		tx.EmitCustomer(ledger.EventCustomerKYCChanged, prev.KYC, r.Value.KYC, p.CustomerID, p.By)
	}
	return r
}
