package ledger

// eKYC in the ledger (docs/users-balances.md, "eKYC"): a verification started at a provider
// moves the customer to PENDING under the verification's reference; the provider's result,
// arriving later, moves it to VERIFIED or REJECTED when it names that reference and the
// transition table allows it. The partner's own decision (Tx.SetKYC) is not guarded: it is the
// partner's KYC process, which the seed lets override.

// KYCInput is what happens to a customer's KYC.
type KYCInput uint8

// KYC inputs.
const (
	KYCStart        KYCInput = iota + 1 // a verification is started at the provider
	KYCApprove                          // the provider approved
	KYCReject                           // the provider rejected
	KYCManualReview                     // the provider needs a human: no decision yet
)

// String is the input as the audit trail names it.
func (i KYCInput) String() string {
	switch i {
	case KYCStart:
		return "start"
	case KYCApprove:
		return "approve"
	case KYCReject:
		return "reject"
	case KYCManualReview:
		return "manual_review"
	}
	return "unknown"
}

// KYCTransition is the pure rule of a customer's KYC status under eKYC:
//
//	from \ input  start              approve    reject     manual review
//	PENDING       PENDING            VERIFIED   REJECTED   PENDING
//	REJECTED      PENDING (retry)    409        REJECTED   409
//	VERIFIED      409 (verified)     VERIFIED   409        409
//
// A result repeating the status it led to changes nothing (a provider delivering twice); a
// result contradicting a final status is refused (KYC_NOT_PENDING), as is a new verification
// of a verified customer (KYC_ALREADY_VERIFIED: revocation is the partner's decision).
func KYCTransition(from string, in KYCInput) (string, *Refusal) {
	switch in {
	case KYCStart:
		switch from {
		case KYCPending, KYCRejected:
			return KYCPending, nil
		case KYCVerified:
			return from, refuse(Conflict, "KYC_ALREADY_VERIFIED", "the customer is verified")
		}
	case KYCApprove, KYCReject, KYCManualReview:
		to := map[KYCInput]string{KYCApprove: KYCVerified, KYCReject: KYCRejected, KYCManualReview: KYCPending}[in]
		if from == KYCPending || from == to {
			return to, nil
		}
		if from == KYCVerified || from == KYCRejected {
			return from, refuse(Conflict, "KYC_NOT_PENDING", "the customer's verification is decided")
		}
	default:
		return from, refuse(Invalid, "INVALID_ACTION", "unknown KYC input")
	}
	return from, refuse(Conflict, "KYC_STATE_UNKNOWN", "the customer's KYC status is unknown")
}

// StartKYC records that a verification with reference ref is started for the customer: PENDING
// under ref (customer.kyc_changed when the status changed, i.e. a retry after a rejection).
// A customer who is not ACTIVE is not verified.
func (tx *Tx) StartKYC(customerID, ref string, by Origin) (Customer, *Refusal) {
	c, ok := tx.Customer(customerID)
	if !ok {
		return Customer{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	if r := customerUsable(&c); r != nil {
		return Customer{}, r
	}
	if ref == "" {
		return Customer{}, refuse(Invalid, "INVALID_REFERENCE", "a verification needs a reference")
	}
	to, r := KYCTransition(c.KYC, KYCStart)
	if r != nil {
		return Customer{}, r
	}
	prev := c.KYC
	c.KYC, c.KYCReference = to, ref
	tx.PutCustomer(c)
	if prev != to {
		tx.EmitCustomer(EventCustomerKYCChanged, prev, to, c.ID, by)
	}
	return c, nil
}

// ApplyKYCResult applies a provider's result for verification ref: refused when ref is not the
// customer's latest verification (KYC_REFERENCE_MISMATCH: a result of an earlier attempt) or
// the transition table refuses it; customer.kyc_changed when the status changed.
func (tx *Tx) ApplyKYCResult(customerID, ref string, in KYCInput, by Origin) (Customer, *Refusal) {
	c, ok := tx.Customer(customerID)
	if !ok {
		return Customer{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	if in == KYCStart {
		return Customer{}, refuse(Invalid, "INVALID_ACTION", "a result is not a start")
	}
	if ref == "" || c.KYCReference != ref {
		return Customer{}, refuse(Conflict, "KYC_REFERENCE_MISMATCH", "the result is not for the customer's latest verification")
	}
	if c.State == CustomerDeleted {
		return Customer{}, refuse(Conflict, "CUSTOMER_DELETED", "the customer was deleted")
	}
	to, r := KYCTransition(c.KYC, in)
	if r != nil {
		return Customer{}, r
	}
	if to == c.KYC {
		return c, nil
	}
	prev := c.KYC
	c.KYC = to
	tx.PutCustomer(c)
	tx.EmitCustomer(EventCustomerKYCChanged, prev, to, c.ID, by)
	return c, nil
}

// StartKYC is the command of Tx.StartKYC.
type StartKYC struct {
	CustomerID, Reference string
	By                    Origin
}

func (StartKYC) Kind() OpKind { return OpKYCResult }
func (StartKYC) Keys(*Keys)   {}

func (c StartKYC) Apply(tx *Tx, _ *Env) Result[Customer] {
	return result(tx.StartKYC(c.CustomerID, c.Reference, c.By))
}

// ApplyKYCResult is the command of Tx.ApplyKYCResult.
type ApplyKYCResult struct {
	CustomerID, Reference string
	Input                 KYCInput
	By                    Origin
}

func (ApplyKYCResult) Kind() OpKind { return OpKYCResult }
func (ApplyKYCResult) Keys(*Keys)   {}

func (c ApplyKYCResult) Apply(tx *Tx, _ *Env) Result[Customer] {
	return result(tx.ApplyKYCResult(c.CustomerID, c.Reference, c.Input, c.By))
}
