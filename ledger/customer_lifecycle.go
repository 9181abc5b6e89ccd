package ledger

// A customer's lifecycle (docs/users-balances.md):
//
//	ACTIVE       the customer's cards are decided as usual.
//	DEACTIVATED  every authorization on the customer's cards is declined 1004 (field 39 62,
//	             authz.Input.HolderInactive); cards, balances and money are kept; no new
//	             balance or card; reactivation restores everything as it was.
//	DELETED      final: every card is removed (authorizations then answer 1011), every balance
//	             closed, the personal data (names, e-mail, phone) erased. The books are kept:
//	             balances, auth records and history stay, under the customer id and the
//	             partner's external id. Only a customer whose balances have no funds and no
//	             open holds is deleted: money is never dropped with a customer.
//
// A customer whose KYC is no longer VERIFIED (the partner or the provider revoked it) is
// treated as DEACTIVATED by authorizations until verified again: see holderInactive.

// CustomerAction is a requested change of a customer's lifecycle state.
type CustomerAction uint8

// Customer actions.
const (
	CustomerDeactivate CustomerAction = iota + 1
	CustomerReactivate
	CustomerDelete
)

// String is the action as the audit trail names it.
func (a CustomerAction) String() string {
	switch a {
	case CustomerDeactivate:
		return "deactivate"
	case CustomerReactivate:
		return "reactivate"
	case CustomerDelete:
		return "delete"
	}
	return "unknown"
}

// CustomerTransition is the pure rule of the customer states: the state after action, or the
// refusal. A request for the state the customer is in changes nothing.
func CustomerTransition(from CustomerState, action CustomerAction) (CustomerState, *Refusal) {
	if from == "" {
		from = CustomerActive
	}
	var to CustomerState
	switch action {
	case CustomerDeactivate:
		to = CustomerDeactivated
	case CustomerReactivate:
		to = CustomerActive
	case CustomerDelete:
		to = CustomerDeleted
	default:
		return from, refuse(Invalid, "INVALID_ACTION", "unknown customer action")
	}
	if from == to {
		return from, nil
	}
	switch from {
	case CustomerDeleted:
		return from, refuse(Conflict, "CUSTOMER_DELETED", "the customer was deleted")
	case CustomerActive, CustomerDeactivated:
		return to, nil
	}
	return from, refuse(Conflict, "CUSTOMER_STATE_UNKNOWN", "the customer is in an unknown state")
}

// holderInactive reports whether a card of customer c must not authorize: deactivated or
// deleted, or a KYC that is no longer VERIFIED (every card was issued to a verified customer, so
// a card whose customer is not verified now had its verification revoked). A card whose
// customer the ledger does not hold (rows from before customers were kept with cards) is
// decided on its own state.
func holderInactive(c *Customer, found bool) bool {
	if !found {
		return false
	}
	return c.State == CustomerDeactivated || c.State == CustomerDeleted || c.KYC != KYCVerified
}

// ContactUpdate is a change of a customer's contact data; nil fields are left as they are.
// The management API validates the values; the ledger stores them.
type ContactUpdate struct {
	FirstName, LastName, Email, Phone *string
}

// UpdateContact changes a customer's names, e-mail or phone and records customer.updated when
// something changed. A deleted customer has no contact data to change.
func (tx *Tx) UpdateContact(customerID string, u ContactUpdate, by Origin) (Customer, *Refusal) {
	c, ok := tx.Customer(customerID)
	if !ok {
		return Customer{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	if c.State == CustomerDeleted {
		return Customer{}, refuse(Conflict, "CUSTOMER_DELETED", "the customer was deleted")
	}
	next := c
	for _, f := range [...]struct {
		in  *string
		out *string
	}{{u.FirstName, &next.FirstName}, {u.LastName, &next.LastName}, {u.Email, &next.Email}, {u.Phone, &next.Phone}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
	if next == c {
		return c, nil
	}
	tx.PutCustomer(next)
	tx.EmitCustomer(EventCustomerUpdated, string(c.Lifecycle()), string(next.Lifecycle()), next.ID, by)
	return next, nil
}

// SetCustomerState deactivates, reactivates or deletes a customer. balanceIDs are the
// customer's user balances as the caller found them (there is no customer -> balances index);
// each is checked to be the customer's. A balance opened after the caller looked is not closed
// by a delete, but its cards cannot authorize either: a deleted customer's cards are declined
// whatever their state (holderInactive), and no balance or card is opened for a customer who is
// not ACTIVE.
func (tx *Tx) SetCustomerState(customerID string, action CustomerAction, balanceIDs []string, by Origin) (Customer, *Refusal) {
	c, ok := tx.Customer(customerID)
	if !ok {
		return Customer{}, refuse(NotFound, "CUSTOMER_NOT_FOUND", "no such customer")
	}
	to, ref := CustomerTransition(c.State, action)
	if ref != nil {
		return Customer{}, ref
	}
	prev := c.Lifecycle()
	if to == prev {
		return c, nil
	}
	var bals []Balance
	if to == CustomerDeleted {
		for _, id := range balanceIDs {
			b, ok := tx.Balance(id)
			if !ok || b.Kind != BalanceUser || b.CustomerID != c.ID {
				continue
			}
			if b.HeldMinor != 0 || b.CurrentMinor != 0 {
				return Customer{}, refuse(Conflict, "CUSTOMER_HAS_FUNDS",
					"a balance of the customer holds funds or open holds: it must be at zero before the customer is deleted")
			}
			bals = append(bals, b)
		}
	}
	c.State = to
	typ := EventCustomerDeactivated
	switch to {
	case CustomerActive:
		typ = EventCustomerReactivated
	case CustomerDeleted:
		typ = EventCustomerDeleted
		c.FirstName, c.LastName, c.Email, c.Phone = "", "", "", ""
		for _, b := range bals {
			tx.deleteBalanceCards(b, by)
		}
	}
	tx.PutCustomer(c)
	tx.EmitCustomer(typ, string(prev), string(to), c.ID, by)
	return c, nil
}

// deleteBalanceCards removes every card of a balance (with card.state_changed) and closes it.
func (tx *Tx) deleteBalanceCards(b Balance, by Origin) {
	for _, id := range tx.CardIDsOfBalance(b.ID) {
		card, ok := tx.Card(id)
		if !ok || card.State == CardRemoved {
			continue // a digital-first twin removed with its virtual card a moment ago
		}
		after, ref := tx.ChangeCardBy(id, ChangeRemove, 0, by)
		if ref == nil {
			tx.EmitCardState(card, after, by.Source, by.Actor)
		}
	}
	if _, ref := tx.SetBalanceState(b.ID, BalanceClose, by); ref != nil {
		// Checked above: at zero, no holds, a user balance of the customer; CLOSED already
		// is no change. Anything else is a ledger bug.
		panic("ledger: closing a deleted customer's balance: " + ref.Error())
	}
}

// EmitCustomer records a customer.* event (prev and next are the customer's states, or its KYC
// statuses for customer.kyc_changed).
func (tx *Tx) EmitCustomer(typ EventType, prev, next, customerID string, by Origin) {
	tx.emit(Event{Type: typ, CustomerID: customerID, PreviousStatus: prev, Status: next, Source: by.Source, Actor: by.Actor})
}

// UpdateContact is the command of Tx.UpdateContact.
type UpdateContact struct {
	CustomerID string
	Update     ContactUpdate
	By         Origin
}

func (UpdateContact) Kind() OpKind { return OpCustomerLifecycle }
func (UpdateContact) Keys(*Keys)   {}

func (c UpdateContact) Apply(tx *Tx, _ *Env) Result[Customer] {
	return result(tx.UpdateContact(c.CustomerID, c.Update, c.By))
}

// SetCustomerState is the command of Tx.SetCustomerState.
type SetCustomerState struct {
	CustomerID string
	Action     CustomerAction
	BalanceIDs []string // the customer's user balances (delete)
	By         Origin
}

func (SetCustomerState) Kind() OpKind { return OpCustomerLifecycle }
func (SetCustomerState) Keys(*Keys)   {}

func (c SetCustomerState) Apply(tx *Tx, _ *Env) Result[Customer] {
	return result(tx.SetCustomerState(c.CustomerID, c.Action, c.BalanceIDs, c.By))
}

// customerUsable refuses a new balance or card for a customer who is not ACTIVE.
func customerUsable(c *Customer) *Refusal {
	switch c.State {
	case CustomerDeactivated:
		return refuse(Conflict, "CUSTOMER_DEACTIVATED", "the customer is deactivated")
	case CustomerDeleted:
		return refuse(Conflict, "CUSTOMER_DELETED", "the customer was deleted")
	}
	return nil
}
