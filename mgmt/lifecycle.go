package mgmt

import (
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
)

// A customer's lifecycle through the API (docs/users-balances.md):
//
//	PATCH  contact data: /secure/customers/{id}, /customers/me (the cardholder's own), and
//	       /admin/customers/{id} (Manager: customer service reads, the issuer's staff changes).
//	POST   .../deactivate and .../reactivate: /secure and /admin (Manager). A cardholder cannot
//	       deactivate itself (it would lock itself out of the app that reactivates).
//	DELETE /secure/customers/{id}, /customers/me (the cardholder's right to erasure), and
//	       /admin/customers/{id} (Admin: the one irreversible customer action).
//
// Each change is audited and records its customer.* event in the batch of the change; a
// deactivation or a delete ends the customer's sessions.

// contactIn is a contact-data change: absent fields stay; names cannot be emptied; an empty
// e-mail or phone removes it (both are optional when a customer is created).
type contactIn struct {
	FirstName *string `json:"firstName"`
	LastName  *string `json:"lastName"`
	Email     *string `json:"email"`
	Phone     *string `json:"phone"`
}

func (in *contactIn) validate() *apiError {
	if in.FirstName == nil && in.LastName == nil && in.Email == nil && in.Phone == nil {
		return errBad("NOTHING_TO_UPDATE", "give at least one of firstName, lastName, email, phone", "")
	}
	for _, f := range [...]struct {
		name string
		v    *string
	}{{"firstName", in.FirstName}, {"lastName", in.LastName}} {
		if f.v == nil {
			continue
		}
		*f.v = strings.TrimSpace(*f.v)
		if *f.v == "" {
			return errMissing(f.name)
		}
		if !reName.MatchString(*f.v) {
			return errInvalid(f.name, f.name+": 1-100 letters, spaces, apostrophes, dots or hyphens")
		}
	}
	if e := in.Email; e != nil && *e != "" && (!reEmail.MatchString(*e) || len(*e) > 254) {
		return errInvalid("email", "email is not an e-mail address")
	}
	if p := in.Phone; p != nil && *p != "" && (!rePhone.MatchString(*p) || !phoneDigitsOK(*p)) {
		return errInvalid("phone", "phone: E.164 digits with an optional leading +")
	}
	return nil
}

func (s *Server) hUpdateCustomer(c *call) (int, any, *apiError) {
	var in contactIn
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.validate(); err != nil {
		return 0, nil, err
	}
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	upd := ledger.ContactUpdate{FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Phone: in.Phone}
	return s.changeCustomer(c, cu.ID, "customer.update",
		ledger.UpdateContact{CustomerID: cu.ID, Update: upd, By: c.origin(c.who.Channel)})
}

func (s *Server) hDeactivateCustomer(c *call) (int, any, *apiError) {
	return s.setCustomerState(c, ledger.CustomerDeactivate)
}

func (s *Server) hReactivateCustomer(c *call) (int, any, *apiError) {
	return s.setCustomerState(c, ledger.CustomerReactivate)
}

func (s *Server) hDeleteCustomer(c *call) (int, any, *apiError) {
	return s.setCustomerState(c, ledger.CustomerDelete)
}

func (s *Server) setCustomerState(c *call, action ledger.CustomerAction) (int, any, *apiError) {
	if !c.route.noBody {
		if err := c.decode(&struct{}{}); err != nil {
			return 0, nil, err
		}
	}
	cu, err := c.loadCustomer()
	if err != nil {
		return 0, nil, err
	}
	var bals []string
	if action == ledger.CustomerDelete {
		for _, b := range s.balancesOfCustomer(cu.ID) {
			bals = append(bals, b.ID)
		}
	}
	status, view, aerr := s.changeCustomer(c, cu.ID, "customer."+action.String(),
		ledger.SetCustomerState{CustomerID: cu.ID, Action: action, BalanceIDs: bals, By: c.origin(c.who.Channel)})
	if aerr == nil && action != ledger.CustomerReactivate {
		s.sessions.endCustomer(cu.ID)
	}
	return status, view, aerr
}

// changeCustomer applies a customer command with its audit entry (the customer before and
// after, as API views) in the same batch; nothing is audited when nothing changed.
func (s *Server) changeCustomer(c *call, id, action string, cmd ledger.Command[ledger.Result[ledger.Customer]]) (int, any, *apiError) {
	var prev ledger.Customer
	rb := readBefore[ledger.Customer]{cmd: cmd, prev: &prev,
		get: func(tx *ledger.Tx) ledger.Customer { p, _ := tx.Customer(id); return p }}
	after, aerr := exec(s, inBatch[ledger.Customer]{cmd: rb, then: func(tx *ledger.Tx, after ledger.Customer) {
		if after != prev {
			c.auditIn(tx, action, "customer", id, viewCustomer(prev), viewCustomer(after))
		}
	}})
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, viewCustomer(after), nil
}

// endCustomer ends every session of a customer (deactivated or deleted).
func (s *sessions) endCustomer(customerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if v.customerID == customerID {
			delete(s.m, k)
		}
	}
}
