package mgmt

import (
	"context"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
)

// complete captures an authorization of h.authorize (its STAN) for amountMinor (0220).
func (h *harness) complete(pan, stan string, amountMinor int64) {
	h.t.Helper()
	rq := &authz.Request{MTI: "0220", BaseMTI: "0220", Kind: authz.KindCompletion, PAN: pan, ProcessingCode: "000000",
		AmountMinor: amountMinor, HasAmount: true, F7: "0315120500", STAN: "9" + stan[1:], AcquirerID: "123456",
		RRN: "RRC" + stan, CurrencyNum: "978",
		Original: &authz.OriginalData{MTI: "0100", STAN: stan, F7: "0315120000", AcquirerID: "00000123456"}}
	r, err := engine.Do(context.Background(), h.eng, ledger.Authorize{Req: rq})
	if err != nil || r.Action != authz.Approved {
		h.t.Fatalf("completion: %v %v", r.Action, err)
	}
}

// Contact data: validated updates on /secure, /customers/me and /admin (Manager), audited and
// evented; a no-op update records nothing.
func TestUpdateCustomerAPI(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	r := h.do("PATCH", "/secure/customers/"+cust, `{"email":"grace@example.org","lastName":"Hopper"}`)
	expect(t, r, 200)
	if m := r.json(t); m["email"] != "grace@example.org" || m["lastName"] != "Hopper" || m["firstName"] != "Ada" || m["state"] != "ACTIVE" {
		t.Fatalf("update: %s", r.body)
	}
	expect(t, h.do("PATCH", "/secure/customers/"+cust, `{}`), 400, "NOTHING_TO_UPDATE")
	expect(t, h.do("PATCH", "/secure/customers/"+cust, `{"email":"not-an-address"}`), 400, "INVALID_FIELD", "email")
	expect(t, h.do("PATCH", "/secure/customers/"+cust, `{"phone":"12"}`), 400, "INVALID_FIELD", "phone")
	expect(t, h.do("PATCH", "/secure/customers/"+cust, `{"firstName":"  "}`), 400, "MISSING_FIELD", "firstName")
	expect(t, h.do("PATCH", "/secure/customers/"+cust, `{"nickname":"x"}`), 400)
	sess := h.session(cust)
	r = h.do("PATCH", "/customers/me", `{"phone":"+48600100200"}`, bearerH(sess)...)
	expect(t, r, 200)
	if r.str(t, "phone") != "+48600100200" {
		t.Fatalf("cardholder update: %s", r.body)
	}
	expect(t, h.do("PATCH", "/admin/customers/"+cust, `{"email":""}`, bearerH(tokEmployee)...), 403)
	r = h.do("PATCH", "/admin/customers/"+cust, `{"email":""}`, bearerH(tokManager)...)
	expect(t, r, 200)
	if _, has := r.json(t)["email"]; has {
		t.Fatalf("email not removed: %s", r.body)
	}
	before := len(h.eventsOf(ledger.EventCustomerUpdated))
	expect(t, h.do("PATCH", "/admin/customers/"+cust, `{"email":""}`, bearerH(tokManager)...), 200)
	if n := len(h.eventsOf(ledger.EventCustomerUpdated)); n != 3 || before != 3 {
		t.Fatalf("customer.updated events %d then %d, want 3 (the no-op records none)", before, n)
	}
	acts := h.auditActions()
	n := 0
	for _, a := range acts {
		if a == "customer.update" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("customer.update audit entries %d in %v", n, acts)
	}
}

// Deactivate and reactivate (/secure, /admin Manager): cards declined 1004 meanwhile, sessions
// ended and refused; delete (/admin Admin only, /secure, /customers/me): refused with funds,
// then cards removed (1011), personal data erased.
func TestCustomerLifecycleAPI(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	card := h.card(cust, bal, "VIRTUAL")
	stored, _ := h.eng.State().Card(card["cardId"].(string))
	base := "/secure/customers/" + cust
	expect(t, h.do("POST", base+"/balances/"+bal+"/reload", `{"amount":"5.00"}`), 200)
	sess := h.session(cust)

	r := h.do("POST", base+"/deactivate", "")
	expect(t, r, 200)
	if r.str(t, "state") != "DEACTIVATED" {
		t.Fatalf("deactivate: %s", r.body)
	}
	if a := h.authorize(stored.PAN, "000001", 100); a.Action != authz.RestrictedCard {
		t.Fatalf("deactivated customer's card: %s", a.Action)
	}
	expect(t, h.do("GET", "/customers/me", "", bearerH(sess)...), 401)
	expect(t, h.do("POST", base+"/sessions", ""), 409, "CUSTOMER_DEACTIVATED")
	expect(t, h.do("POST", base+"/balances", `{"currency":"EUR"}`), 409, "CUSTOMER_DEACTIVATED")
	expect(t, h.do("POST", "/admin/customers/"+cust+"/reactivate", "", bearerH(tokEmployee)...), 403)
	expect(t, h.do("POST", "/admin/customers/"+cust+"/reactivate", "", bearerH(tokManager)...), 200)
	if a := h.authorize(stored.PAN, "000002", 100); a.Action != authz.Approved {
		t.Fatalf("reactivated customer's card: %s", a.Action)
	}

	// Delete: funds first (the approval above spent 1.00; 4.00 are left).
	expect(t, h.do("DELETE", "/admin/customers/"+cust, "", bearerH(tokManager)...), 403)
	expect(t, h.do("DELETE", "/admin/customers/"+cust, "", bearerH(tokAdmin)...), 409, "CUSTOMER_HAS_FUNDS")
	if a := h.authorize(stored.PAN, "000003", 400); a.Action != authz.Approved {
		t.Fatalf("spend: %s", a.Action)
	}
	expect(t, h.do("DELETE", "/admin/customers/"+cust, "", bearerH(tokAdmin)...), 409, "CUSTOMER_HAS_FUNDS") // holds
	sess = h.session(cust)
	h.complete(stored.PAN, "000002", 100)
	h.complete(stored.PAN, "000003", 400)
	r = h.do("DELETE", "/customers/me", "", bearerH(sess)...)
	expect(t, r, 200)
	m := r.json(t)
	if m["state"] != "DELETED" || m["firstName"] != "" || m["email"] != nil || m["phone"] != nil {
		t.Fatalf("deleted customer view: %s", r.body)
	}
	expect(t, h.do("GET", "/customers/me", "", bearerH(sess)...), 401)
	c2, _ := h.eng.State().Card(stored.ID)
	if c2.State != ledger.CardRemoved {
		t.Fatalf("card after delete: %s", c2.State)
	}
	if a := h.authorize(stored.PAN, "000004", 1); a.Action != authz.InvalidCard {
		t.Fatalf("deleted customer's card: %s", a.Action)
	}
	r = h.do("GET", base+"/balances/"+bal, "")
	expect(t, r, 200)
	if r.str(t, "state") != "CLOSED" {
		t.Fatalf("balance after delete: %s", r.body)
	}
	expect(t, h.do("POST", base+"/reactivate", ""), 409, "CUSTOMER_DELETED")
	expect(t, h.do("PATCH", base, `{"firstName":"Eve"}`), 409, "CUSTOMER_DELETED")
	expect(t, h.do("DELETE", base, ""), 200) // a repeat changes nothing
	for _, typ := range []ledger.EventType{ledger.EventCustomerDeactivated, ledger.EventCustomerReactivated, ledger.EventCustomerDeleted} {
		if ev := h.eventsOf(typ); len(ev) != 1 || ev[0].CustomerID != cust {
			t.Fatalf("%s events: %+v", typ, ev)
		}
	}
	acts := h.auditActions()
	for _, a := range []string{"customer.deactivate", "customer.reactivate", "customer.delete"} {
		if !contains(acts, a) {
			t.Fatalf("no audit entry %s in %v", a, acts)
		}
	}
	// The cardholder channel has no deactivate route.
	other := h.customer(true)
	if r := h.do("POST", "/customers/me/deactivate", "", bearerH(h.session(other))...); r.status != 404 && r.status != 405 {
		t.Fatalf("cardholder deactivate: %d", r.status)
	}
}
