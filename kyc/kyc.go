// Package kyc is cardswitch's side of electronic identity verification (eKYC): the provider
// that verifies a customer is an outside party behind the Provider interface, with an in-process
// default (ManualReview: the issuer's operators decide) and an HTTP adapter (HTTPProvider) for a
// provider that answers later through a signed callback, as simulators/kyc does.
//
// A verification is started by the management API after the ledger recorded it (the customer
// PENDING with the verification's reference), so a result can never arrive before the ledger
// knows what it is for. Results reach a Sink, whatever way they come back.
package kyc

import (
	"context"
	"errors"
)

// Outcome is a provider's verdict on a verification.
type Outcome string

// Outcomes. ManualReview is not final: the provider (or the issuer's operators) decides later.
const (
	Approved     Outcome = "APPROVED"
	Rejected     Outcome = "REJECTED"
	ManualReview Outcome = "MANUAL_REVIEW"
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return o == Approved || o == Rejected || o == ManualReview }

// Request is what a provider is asked to verify. It carries the customer's identity data, never
// card data.
type Request struct {
	Reference  string `json:"reference"` // the verification's id, chosen by cardswitch
	CustomerID string `json:"customerId"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
}

// Result is a provider's answer to a verification.
type Result struct {
	Reference  string  `json:"reference"`
	CustomerID string  `json:"customerId"`
	Outcome    Outcome `json:"outcome"`
}

// ErrUnavailable is returned when a provider cannot take a verification now (network, 5xx,
// refusal): the customer stays PENDING and the verification may be started again.
var ErrUnavailable = errors.New("kyc: provider unavailable")

// Provider starts verifications. Start returns once the provider has taken the request; the
// result comes later to the Sink the provider was built with (or through the callback route).
type Provider interface {
	Start(ctx context.Context, r Request) error
}

// Sink receives results and applies them (the management API: a guarded ledger transition).
// An error means the result was not applied and the provider should deliver it again.
type Sink interface {
	Deliver(ctx context.Context, r Result) error
}

// ManualReviewProvider is the in-process default when no provider is configured: every
// verification is put to the issuer's operators, who decide with /admin/customers/{id}/kyc (or
// the partner with /secure/customers/{id}/kyc). It delivers MANUAL_REVIEW at once, which leaves
// the customer PENDING and is recorded in the audit trail.
type ManualReviewProvider struct {
	Sink Sink
}

// Start hands the verification to manual review.
func (p ManualReviewProvider) Start(ctx context.Context, r Request) error {
	if p.Sink == nil {
		return errors.New("kyc: manual review without a sink")
	}
	return p.Sink.Deliver(ctx, Result{Reference: r.Reference, CustomerID: r.CustomerID, Outcome: ManualReview})
}
