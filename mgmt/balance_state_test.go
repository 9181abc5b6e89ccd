package mgmt

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// eventsOf lists the recorded events of a type.
func (h *harness) eventsOf(typ ledger.EventType) []ledger.Event {
	h.t.Helper()
	all, err := h.hist.Memory.Events(0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []ledger.Event
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// auditActions lists the actions of the audit trail, oldest first.
func (h *harness) auditActions() []string {
	h.t.Helper()
	recs, err := h.hist.Memory.Audits(0, 10000, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]string, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].Action)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Balance states on /secure and /admin: block declines authorizations with 1019 and takes
// reloads; unblock; close only at zero; refusals are 409 with their codes; roles; events and
// audit entries.
func TestBalanceStatesAPI(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	card := h.card(cust, bal, "VIRTUAL")
	stored, _ := h.eng.State().Card(card["cardId"].(string))
	pan := stored.PAN
	base := "/secure/customers/" + cust + "/balances/" + bal
	expect(t, h.do("POST", base+"/reload", `{"amount":"10.00"}`), 200)

	r := h.do("POST", base+"/block", "")
	expect(t, r, 200)
	if r.str(t, "state") != "BLOCKED" {
		t.Fatalf("block: %s", r.body)
	}
	expect(t, h.do("POST", base+"/block", ""), 200) // a repeat changes nothing
	if got := h.authorize(pan, "000001", 100); got.Action != authz.NotPermitted || got.Action.Field39() != "57" {
		t.Fatalf("authorization on a blocked balance: %s", got.Action)
	}
	r = h.do("POST", base+"/reload", `{"amount":"1.00"}`)
	expect(t, r, 200)
	if r.str(t, "current") != "11.00" {
		t.Fatalf("reload of a blocked balance: %s", r.body)
	}
	expect(t, h.do("POST", base+"/close", ""), 409, "BALANCE_NOT_EMPTY")
	expect(t, h.do("POST", base+"/unblock", ""), 200)
	if got := h.authorize(pan, "000002", 1100); got.Action != authz.Approved {
		t.Fatalf("authorization after unblock: %s", got.Action)
	}
	expect(t, h.do("POST", base+"/close", ""), 409, "BALANCE_HAS_HOLDS")

	// Operators: Employee may not, Manager may; the cardholder has no such route.
	admin := "/admin/balances/" + bal
	expect(t, h.do("POST", admin+"/block", "", bearerH(tokEmployee)...), 403)
	expect(t, h.do("POST", admin+"/block", "", bearerH(tokManager)...), 200)
	expect(t, h.do("POST", admin+"/unblock", "", bearerH(tokManager)...), 200)
	expect(t, h.do("POST", admin+"/close", "", bearerH(tokEmployee)...), 403)
	sess := h.session(cust)
	if r := h.do("POST", "/customers/me/balances/"+bal+"/block", "", bearerH(sess)...); r.status != 404 && r.status != 403 {
		t.Fatalf("cardholder block: %d %s", r.status, r.body)
	}

	// A balance at zero closes, for good.
	bal2 := h.balance(cust, "EUR")
	r = h.do("POST", "/admin/balances/"+bal2+"/close", "", bearerH(tokManager)...)
	expect(t, r, 200)
	if r.str(t, "state") != "CLOSED" {
		t.Fatalf("close: %s", r.body)
	}
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+bal2+"/unblock", ""), 409, "BALANCE_CLOSED")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+bal2+"/reload", `{"amount":"1.00"}`), 409, "BALANCE_CLOSED")
	// Another customer's balance is not found on /secure under this customer.
	other := h.customer(true)
	expect(t, h.do("POST", "/secure/customers/"+other+"/balances/"+bal+"/block", ""), 404, "BALANCE_NOT_FOUND")
	// A partner balance is not a user balance.
	r = h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`, bearerH(tokAdmin)...)
	expect(t, r, 201)
	expect(t, h.do("POST", "/admin/balances/"+r.str(t, "balanceId")+"/block", "", bearerH(tokManager)...), 409, "NOT_A_USER_BALANCE")

	ev := h.eventsOf(ledger.EventBalanceStateChanged)
	var got []string
	for _, e := range ev {
		got = append(got, e.BalanceID+":"+e.PreviousStatus+">"+e.Status+"@"+e.Source)
	}
	want := []string{bal + ":ACTIVE>BLOCKED@secure", bal + ":BLOCKED>ACTIVE@secure", bal + ":ACTIVE>BLOCKED@admin",
		bal + ":BLOCKED>ACTIVE@admin", bal2 + ":ACTIVE>CLOSED@admin"}
	if len(got) != len(want) {
		t.Fatalf("balance.state_changed events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("balance.state_changed events %v, want %v", got, want)
		}
	}
	acts := h.auditActions()
	for _, a := range []string{"balance.block", "balance.unblock", "balance.close"} {
		if !contains(acts, a) {
			t.Fatalf("no audit entry %s in %v", a, acts)
		}
	}
}
