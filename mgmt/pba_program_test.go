package mgmt

import (
	"testing"

	"github.com/cardswitch/cardswitch/config"
)

// Contract §6: the Pay by Account program issues token PANs only: it is never the default
// program of a card, even when it comes first in its currency, and cannot be asked for.
func TestTokensOnlyProgramNeverIssuesCards(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Deps) {
		pba := config.Program{Name: "demo-pba-mc", BIN: "522223", Scheme: "mastercard", Currency: "EUR", PANLength: 16,
			ExpiryMonths: 36, TokensOnly: true, Keys: config.Keys{IMKAC: testCVK, CVK: testCVK, PVK: testPVK, PVKI: 1}}
		c.Programs = append([]config.Program{pba}, c.Programs...)
	})
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	if p := h.card(cust, bal, "VIRTUAL")["program"]; p != "demo-mc" {
		t.Fatalf("default program %v", p)
	}
	r := h.do("POST", "/secure/customers/"+cust+"/balances/"+bal+"/cards", `{"type":"VIRTUAL","program":"demo-pba-mc"}`)
	expect(t, r, 400)
	if r.str(t, "code") != "UNKNOWN_PROGRAM" {
		t.Fatalf("code %s", r.str(t, "code"))
	}
}
