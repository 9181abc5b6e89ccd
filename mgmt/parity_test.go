package mgmt

import (
	"encoding/json"
	"github.com/cardswitch/cardswitch/config"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Tests of channel parity with the seed's Actions tables (parity.go): each route's success, its
// wrong channel or role, and the seed's encryption rule.

const testDelivery = `"delivery":{"method":"COURIER","address":{"name":"Ada Lovelace","line1":"12 rue de la Paix","postalCode":"75002","city":"Paris","country":"FR"}}`

// sendAs sends a request as a bearer, encrypted when plain is given with encrypt set.
func (h *harness) sendAs(method, path, tok, body string, encrypt bool) resp {
	h.t.Helper()
	hdr := map[string]string{}
	if encrypt {
		hdr, body = h.encrypted(body)
	}
	if tok != "" {
		hdr["Authorization"] = "Bearer " + tok
	}
	return h.send(req{method: method, path: path, body: body, headers: hdr})
}

func TestCardholderParity(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	tok := h.session(cust)
	other := h.customer(true)
	otherBal := h.balance(other, "EUR")
	otherCard := h.card(other, otherBal, "VIRTUAL")["cardId"].(string)

	// Create a balance: session only.
	r := h.do("POST", "/customers/me/balances", `{"currency":"EUR"}`, bearerH(tok)...)
	expect(t, r, 201)
	bal := r.str(t, "balanceId")
	expect(t, h.do("POST", "/customers/me/balances", `{"currency":"EUR"}`, bearerH(tokAdmin)...), 403, "WRONG_CHANNEL")
	unverified := h.customer(false)
	expect(t, h.do("POST", "/customers/me/balances", `{"currency":"EUR"}`, bearerH(h.session(unverified))...), 409, "KYC_REQUIRED")

	// Create a virtual card: encrypted only.
	cards := "/customers/me/balances/" + bal + "/cards"
	expect(t, h.do("POST", cards, `{"type":"VIRTUAL"}`, bearerH(tok)...), 400, "ENCRYPTION_REQUIRED")
	expect(t, h.sendAs("POST", cards, tokAdmin, `{"type":"VIRTUAL"}`, true), 403, "WRONG_CHANNEL")
	expect(t, h.sendAs("POST", "/customers/me/balances/"+otherBal+"/cards", tok, `{"type":"VIRTUAL"}`, true), 404, "BALANCE_NOT_FOUND")
	r = h.sendAs("POST", cards, tok, `{"type":"VIRTUAL"}`, true)
	expect(t, r, 201)
	virt := h.open(r)
	checkCard(t, virt, "VIRTUAL", "ACTIVE", 0)
	vid := virt["cardId"].(string)

	// Order a physical card: encrypted, with its delivery; not the cardholder's to see before
	// the bureau links it.
	expect(t, h.sendAs("POST", cards, tok, `{"type":"PHYSICAL"}`, true), 400, "MISSING_FIELD", "delivery")
	expect(t, h.sendAs("POST", cards, tok, `{"type":"PHYSICAL","delivery":{"method":"PIGEON","address":{}}}`, true), 400, "INVALID_DELIVERY_METHOD", "delivery.method")
	expect(t, h.sendAs("POST", cards, tok, `{"type":"PHYSICAL","delivery":{"method":"POST","address":{"name":"A","line1":"B","postalCode":"1","city":"C","country":"fr"}}}`, true), 400, "INVALID_FIELD", "delivery.address.country")
	expect(t, h.sendAs("POST", cards, tok, `{"type":"VIRTUAL",`+testDelivery+`}`, true), 400, "INVALID_FIELD", "delivery")
	r = h.sendAs("POST", cards, tok, `{"type":"PHYSICAL",`+testDelivery+`}`, true)
	expect(t, r, 201)
	phys := h.open(r)
	checkCard(t, phys, "PHYSICAL", "INACTIVE", 0)
	pid := phys["cardId"].(string)
	if phys["linked"] != false {
		t.Fatalf("an ordered card is not linked yet: %v", phys)
	}
	if d, _ := phys["delivery"].(map[string]any); d["method"] != "COURIER" || d["address"].(map[string]any)["city"] != "Paris" {
		t.Fatalf("delivery %v", phys["delivery"])
	}
	stored, _ := h.eng.State().Card(pid)
	if d, ok := stored.Delivery(); !ok || d.Line1 != "12 rue de la Paix" || d.Country != "FR" {
		t.Fatalf("stored delivery %+v", d)
	}
	expect(t, h.do("GET", "/customers/me/cards/"+pid, "", bearerH(tok)...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("POST", "/customers/me/cards/"+pid+"/activate", "", bearerH(tok)...), 404, "CARD_NOT_FOUND")
	if ids := myCardIDs(t, h, tok); strings.Contains(ids, pid) || !strings.Contains(ids, vid) {
		t.Fatalf("my cards before the link: %s", ids)
	}
	r = h.do("GET", "/customers/me/balances/"+bal, "", bearerH(tok)...)
	if strings.Contains(string(r.body), pid) {
		t.Fatalf("balance lists an unlinked card: %s", r.body)
	}
	// The bureau links it with its reference (kept and audited); then the cardholder sees it
	// and activates it.
	r = h.do("POST", "/secure/cards/"+pid+"/personalisation", `{"reference":"bureau-4711"}`)
	expect(t, r, 200)
	if m := r.json(t); m["linked"] != true || m["bureauReference"] != "bureau-4711" {
		t.Fatalf("linked card %s", r.body)
	}
	expect(t, h.do("POST", "/secure/cards/"+pid+"/personalisation", `{"reference":"bureau-4711"}`), 200)
	expect(t, h.do("POST", "/secure/cards/"+pid+"/personalisation", `{"reference":"other"}`), 409, "CARD_ALREADY_LINKED")
	audit := h.do("GET", "/admin/audit?action=card.personalise&resourceId="+pid, "", bearerH(tokAdmin)...)
	if !strings.Contains(string(audit.body), "bureau-4711") {
		t.Fatalf("the bureau reference is not audited: %s", audit.body)
	}
	expect(t, h.do("GET", "/customers/me/cards/"+pid, "", bearerH(tok)...), 200)
	if ids := myCardIDs(t, h, tok); !strings.Contains(ids, pid) {
		t.Fatalf("my cards after the link: %s", ids)
	}
	expect(t, h.do("POST", "/customers/me/cards/"+pid+"/activate", "", bearerH(tokAdmin)...), 403, "WRONG_CHANNEL")
	r = h.do("POST", "/customers/me/cards/"+pid+"/activate", "", bearerH(tok)...)
	expect(t, r, 200)
	checkCard(t, r.json(t), "PHYSICAL", "ACTIVE", 0)

	// Print a digital-first copy: encrypted, with its delivery.
	expect(t, h.do("POST", cards, `{"type":"DIGITAL_FIRST",`+testDelivery+`}`, bearerH(tok)...), 400, "ENCRYPTION_REQUIRED")
	r = h.sendAs("POST", cards, tok, `{"type":"DIGITAL_FIRST","virtualCardId":"`+vid+`",`+testDelivery+`}`, true)
	expect(t, r, 201)
	df := h.open(r)
	checkCard(t, df, "DIGITAL_FIRST", "ACTIVE", 0)
	if df["last4"] != virt["last4"] {
		t.Fatal("the copy is not of the virtual card")
	}

	// Reset CVC2: encrypted only (an empty POST is encrypted by its headers), virtual and
	// digital-first cards only.
	reset := "/customers/me/cards/" + vid + "/reset-cvc2"
	expect(t, h.do("POST", reset, "", bearerH(tok)...), 400, "ENCRYPTION_REQUIRED")
	expect(t, h.sendAs("POST", reset, tokAdmin, "", true), 403, "WRONG_CHANNEL")
	before, _ := h.eng.State().Card(vid)
	r = h.sendAs("POST", reset, tok, "", true)
	expect(t, r, 200)
	if m := h.open(r); m["cardId"] != vid || m["cvc2"] != nil {
		t.Fatalf("reset answer %v", m)
	}
	after, _ := h.eng.State().Card(vid)
	copyAfter, _ := h.eng.State().Card(df["cardId"].(string))
	if after.CVC2 == before.CVC2 || copyAfter.CVC2 != after.CVC2 {
		t.Fatal("CVC2 not replaced on the card and its copy")
	}
	expect(t, h.sendAs("POST", "/customers/me/cards/"+pid+"/reset-cvc2", tok, "", true), 409, "CVC2_RESET_NOT_ALLOWED")
	expect(t, h.sendAs("POST", "/customers/me/cards/"+otherCard+"/reset-cvc2", tok, "", true), 404, "CARD_NOT_FOUND")

	// Locks and unlocks as the seed allows, but suspected fraud stays with the issuer.
	lock := func(id string, reason int) resp {
		return h.do("POST", "/customers/me/cards/"+id+"/lock", `{"reasonCode":`+itoa(reason)+`}`, bearerH(tok)...)
	}
	unlock := func(id string) resp { return h.do("POST", "/customers/me/cards/"+id+"/unlock", "", bearerH(tok)...) }
	for _, reason := range []int{3, 4, 6} {
		expect(t, lock(pid, reason), 200)
		expect(t, unlock(pid), 200)
	}
	expect(t, lock(pid, 7), 200)
	expect(t, unlock(pid), 409, "UNLOCK_NOT_ALLOWED")
	expect(t, h.do("POST", "/secure/cards/"+pid+"/unlock", ""), 200)
	expect(t, lock(pid, 2), 200)
	expect(t, unlock(pid), 409, "CARD_LOCK_IRREVERSIBLE")

	// Remove: DELETE on the customer channel.
	expect(t, h.do("DELETE", "/customers/me/cards/"+vid, "", bearerH(tokAdmin)...), 403, "WRONG_CHANNEL")
	expect(t, h.do("DELETE", "/customers/me/cards/"+otherCard, "", bearerH(tok)...), 404, "CARD_NOT_FOUND")
	r = h.do("DELETE", "/customers/me/cards/"+vid, "", bearerH(tok)...)
	expect(t, r, 200)
	checkCard(t, r.json(t), "VIRTUAL", "REMOVED", 0)
	if c, _ := h.eng.State().Card(df["cardId"].(string)); c.State != "REMOVED" {
		t.Fatal("the digital-first copy outlived its card")
	}
}

func myCardIDs(t *testing.T, h *harness, tok string) string {
	t.Helper()
	r := h.do("GET", "/customers/me/cards", "", bearerH(tok)...)
	expect(t, r, 200)
	return string(r.body)
}

func TestOperatorParity(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	tok := h.session(cust)
	cards := "/admin/balances/" + bal + "/cards"

	// Create virtual: Admin and Manager, encrypted.
	expect(t, h.do("POST", cards, `{"type":"VIRTUAL"}`, bearerH(tokManager)...), 400, "ENCRYPTION_REQUIRED")
	expect(t, h.sendAs("POST", cards, tokEmployee, `{"type":"VIRTUAL"}`, true), 403, "INSUFFICIENT_ROLE")
	expect(t, h.sendAs("POST", cards, tok, `{"type":"VIRTUAL"}`, true), 403, "WRONG_CHANNEL")
	r := h.sendAs("POST", cards, tokManager, `{"type":"VIRTUAL"}`, true)
	expect(t, r, 201)
	virt := h.open(r)
	checkCard(t, virt, "VIRTUAL", "ACTIVE", 0)
	vid := virt["cardId"].(string)
	// Order physical and print digital-first: Employee and up, encrypted, with a delivery.
	expect(t, h.do("POST", cards, `{"type":"PHYSICAL",`+testDelivery+`}`, bearerH(tokEmployee)...), 400, "ENCRYPTION_REQUIRED")
	expect(t, h.sendAs("POST", cards, tokEmployee, `{"type":"PHYSICAL"}`, true), 400, "MISSING_FIELD", "delivery")
	r = h.sendAs("POST", cards, tokEmployee, `{"type":"PHYSICAL",`+testDelivery+`}`, true)
	expect(t, r, 201)
	pid := h.open(r)["cardId"].(string)
	r = h.sendAs("POST", cards, tokEmployee, `{"type":"DIGITAL_FIRST",`+testDelivery+`}`, true)
	expect(t, r, 201)
	if df := h.open(r); df["last4"] != virt["last4"] {
		t.Fatal("digital-first copy")
	}
	// Partner balances are not user balances.
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`, bearerH(tokAdmin)...), 201)
	expect(t, h.sendAs("POST", "/admin/balances/partner-mc/cards", tokAdmin, `{"type":"VIRTUAL"}`, true), 404, "BALANCE_NOT_FOUND")

	// Activate: Employee and up, plain.
	act := "/admin/cards/" + pid + "/activate"
	expect(t, h.do("POST", act, "", bearerH(tok)...), 403, "WRONG_CHANNEL")
	expect(t, h.do("POST", act, "", bearerH(tokEmployee)...), 409, "CARD_NOT_PERSONALISED")
	expect(t, h.do("POST", "/secure/cards/"+pid+"/personalisation", `{}`), 200)
	r = h.do("POST", act, "", bearerH(tokEmployee)...)
	expect(t, r, 200)
	checkCard(t, r.json(t), "PHYSICAL", "ACTIVE", 0)

	// Reset CVC2: Employee and up, encrypted; the operator never sees the value.
	reset := "/admin/cards/" + vid + "/reset-cvc2"
	expect(t, h.do("POST", reset, "", bearerH(tokEmployee)...), 400, "ENCRYPTION_REQUIRED")
	expect(t, h.sendAs("POST", reset, tok, "", true), 403, "WRONG_CHANNEL")
	before, _ := h.eng.State().Card(vid)
	r = h.sendAs("POST", reset, tokEmployee, "", true)
	expect(t, r, 200)
	if m := h.open(r); m["cvc2"] != nil || m["pan"] != nil {
		t.Fatalf("an operator got card data: %v", m)
	}
	if after, _ := h.eng.State().Card(vid); after.CVC2 == before.CVC2 {
		t.Fatal("CVC2 not replaced")
	}
	expect(t, h.sendAs("POST", "/admin/cards/"+pid+"/reset-cvc2", tokEmployee, "", true), 409, "CVC2_RESET_NOT_ALLOWED")

	// Full card data is never the operators'.
	expect(t, h.sendAs("GET", "/admin/cards/"+vid+"/full", tokAdmin, "", true), 404, "NOT_FOUND")
	expect(t, h.sendAs("GET", "/customers/me/cards/"+vid+"/full", tokAdmin, "", true), 403, "WRONG_CHANNEL")
	for _, path := range []string{"/admin/cards/" + vid, "/admin/cards?customerId=" + cust} {
		r = h.do("GET", path, "", bearerH(tokAdmin)...)
		expect(t, r, 200)
		if strings.Contains(string(r.body), before.PAN) || strings.Contains(string(r.body), `"cvc2"`) {
			t.Fatalf("%s carries card data", path)
		}
	}

	// Reload a user balance: Manager and up.
	reload := "/admin/balances/" + bal + "/reload"
	expect(t, h.do("POST", reload, `{"amount":"10.00"}`, bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("POST", reload, `{"amount":"10.00"}`, bearerH(tok)...), 403, "WRONG_CHANNEL")
	r = h.do("POST", reload, `{"amount":"10.00"}`, bearerH(tokManager)...)
	expect(t, r, 200)
	if r.str(t, "current") != "10.00" {
		t.Fatalf("reload %s", r.body)
	}
	expect(t, h.do("POST", "/admin/balances/partner-mc/reload", `{"amount":"10.00"}`, bearerH(tokAdmin)...), 404, "BALANCE_NOT_FOUND")
	audit := h.do("GET", "/admin/audit?action=balance.reload&resourceId="+bal, "", bearerH(tokAdmin)...)
	if !strings.Contains(string(audit.body), `"actor":"mona"`) {
		t.Fatalf("reload not audited with its operator: %s", audit.body)
	}
}

func TestOperatorsFindAndList(t *testing.T) {
	h := newHarness(t)
	var custs, bals []string
	for range 3 {
		c := h.customer(true)
		custs = append(custs, c)
		bals = append(bals, h.balance(c, "EUR"))
	}
	vc := h.card(custs[1], bals[1], "VIRTUAL")
	h.card(custs[1], bals[1], "PHYSICAL")
	h.card(custs[2], bals[2], "VIRTUAL")
	expect(t, h.do("POST", "/secure/cards/"+vc["cardId"].(string)+"/lock", `{"reasonCode":3}`), 200)
	unverified := h.customer(false)
	ext := func(id string) string { c, _ := h.eng.State().Customer(id); return c.ExternalID }
	adm := bearerH(tokEmployee)
	items := func(path string) ([]map[string]any, string) {
		t.Helper()
		r := h.do("GET", path, "", adm...)
		expect(t, r, 200)
		var out struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"nextCursor"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Items, out.NextCursor
	}

	// Customers: all, by external id, by e-mail (case-insensitive), by KYC state.
	if got, _ := items("/admin/customers"); len(got) != 4 {
		t.Fatalf("customers %v", got)
	}
	if got, _ := items("/admin/customers?externalId=" + ext(custs[2])); len(got) != 1 || got[0]["customerId"] != custs[2] {
		t.Fatalf("by external id %v", got)
	}
	if got, _ := items("/admin/customers?email=ADA@example.com"); len(got) != 4 {
		t.Fatalf("by e-mail %v", got)
	}
	if got, _ := items("/admin/customers?kycStatus=PENDING"); len(got) != 1 || got[0]["customerId"] != unverified {
		t.Fatalf("by KYC %v", got)
	}
	// Paging: one at a time through every customer, each once.
	seen := map[string]bool{}
	for cursor, n := "", 0; ; n++ {
		got, next := items("/admin/customers?limit=1&cursor=" + cursor)
		for _, c := range got {
			seen[c["customerId"].(string)] = true
		}
		if next == "" {
			break
		}
		if n > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(seen) != 4 {
		t.Fatalf("paged through %d customers", len(seen))
	}
	expect(t, h.do("GET", "/admin/customers?cursor=nope", "", adm...), 400, "INVALID_CURSOR", "cursor")
	expect(t, h.do("GET", "/admin/customers?limit=0", "", adm...), 400, "INVALID_FIELD", "limit")
	expect(t, h.do("GET", "/admin/customers", "", bearerH(h.session(custs[0]))...), 403, "WRONG_CHANNEL")

	// Cards: by owner, last 4, state, type.
	if got, _ := items("/admin/cards?externalId=" + ext(custs[1])); len(got) != 2 {
		t.Fatalf("cards by external id %v", got)
	}
	if got, _ := items("/admin/cards?last4=" + vc["last4"].(string) + "&state=LOCKED"); len(got) != 1 || got[0]["cardId"] != vc["cardId"] {
		t.Fatalf("cards by last4 and state %v", got)
	}
	if got, _ := items("/admin/cards?type=PHYSICAL&customerId=" + custs[1]); len(got) != 1 || got[0]["linked"] != false {
		t.Fatalf("cards by type %v", got)
	}
	if got, _ := items("/admin/cards?email=nobody@example.com"); len(got) != 0 {
		t.Fatalf("cards of nobody %v", got)
	}
	expect(t, h.do("GET", "/admin/cards?last4=12", "", adm...), 400, "INVALID_FIELD", "last4")
	expect(t, h.do("GET", "/admin/cards?state=BROKEN", "", adm...), 400, "INVALID_FIELD", "state")

	// Balances: user balances only, by owner, currency and state.
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`, bearerH(tokAdmin)...), 201)
	if got, _ := items("/admin/balances"); len(got) != 3 {
		t.Fatalf("balances %v", got)
	}
	if got, _ := items("/admin/balances?customerId=" + custs[1] + "&currency=EUR&state=ACTIVE"); len(got) != 1 ||
		got[0]["balanceId"] != bals[1] || len(got[0]["cardIds"].([]any)) != 2 {
		t.Fatalf("balances by owner %v", got)
	}
	if got, _ := items("/admin/balances?currency=USD"); len(got) != 0 {
		t.Fatalf("balances in USD %v", got)
	}
}

// doEnc sends an encrypted request (plain is the body's plaintext) and answers with a 2xx body
// decrypted, so a test reads it as a plain answer.
func (h *harness) doEnc(method, path, plain string, hdr ...string) resp {
	h.t.Helper()
	m, body := h.encrypted(plain)
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	r := h.send(req{method: method, path: path, body: body, headers: m})
	if r.status/100 == 2 && len(r.body) > 0 {
		out, _ := json.Marshal(h.open(r))
		r.body = out
	}
	return r
}

// On /secure (API row), ordering a plastic needs an encrypted request; a virtual card is issued
// plain or encrypted (contract §4), and the delivery is optional.
func TestSecureIssuanceEncryption(t *testing.T) {
	// By default /secure takes plain issuance of every type, as contract §4 fixes it.
	d := newHarness(t)
	dc := d.customer(true)
	dcards := "/secure/customers/" + dc + "/balances/" + d.balance(dc, "EUR") + "/cards"
	for _, typ := range []string{"VIRTUAL", "PHYSICAL", "DIGITAL_FIRST"} {
		expect(t, d.do("POST", dcards, `{"type":"`+typ+`"}`), 201)
	}

	// http.requireEncryptedIssuance applies the seed's JWE rule to the plastics.
	h := newHarness(t, func(cfg *config.Config, _ *Deps) { cfg.HTTP.RequireEncryptedIssuance = true })
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	cards := "/secure/customers/" + cust + "/balances/" + bal + "/cards"
	expect(t, h.do("POST", cards, `{"type":"VIRTUAL"}`), 201)
	expect(t, h.doEnc("POST", cards, `{"type":"VIRTUAL"}`), 201)
	for _, typ := range []string{"PHYSICAL", "DIGITAL_FIRST"} {
		expect(t, h.do("POST", cards, `{"type":"`+typ+`"}`), 400, "ENCRYPTION_REQUIRED")
		expect(t, h.doEnc("POST", cards, `{"type":"`+typ+`"}`), 201)
		r := h.doEnc("POST", cards, `{"type":"`+typ+`",`+testDelivery+`}`)
		expect(t, r, 201)
		if d, _ := r.json(t)["delivery"].(map[string]any); d["method"] != "COURIER" {
			t.Fatalf("%s delivery %s", typ, r.body)
		}
	}
	expect(t, h.send(req{method: "POST", path: cards, body: `{"type":"VIRTUAL"}`, client: h.remote}), 403, "CHANNEL_NOT_ALLOWED")
}

// The per-type issuance rules are documented in docs/openapi.yaml as the route table has them:
// x-type-roles (admin) and x-encryption-required-for-types (/secure).
func TestOpenAPIIssuePolicies(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	checked := 0
	for _, r := range h.srv.routes {
		if r.issue == nil {
			continue
		}
		checked++
		var op struct {
			TypeRoles map[string]string `yaml:"x-type-roles"`
			EncTypes  []string          `yaml:"x-encryption-required-for-types"`
		}
		node := doc.Paths[r.pattern][strings.ToLower(r.method)]
		if err := node.Decode(&op); err != nil {
			t.Fatalf("%s %s: %v", r.method, r.pattern, err)
		}
		if r.channel == chanAdmin {
			want := map[string]string{}
			for typ, least := range r.issue.roles {
				want[typ] = least.String()
			}
			if !maps.Equal(op.TypeRoles, want) {
				t.Errorf("%s %s: documented x-type-roles %v, routed %v", r.method, r.pattern, op.TypeRoles, want)
			}
		}
		var enc []string
		for typ, on := range r.issue.encrypted {
			if on {
				enc = append(enc, typ)
			}
		}
		slices.Sort(enc)
		documented := slices.Sorted(slices.Values(op.EncTypes))
		if !slices.Equal(enc, documented) {
			t.Errorf("%s %s: documented x-encryption-required-for-types %v, routed %v", r.method, r.pattern, documented, enc)
		}
	}
	if checked != 3 {
		t.Fatalf("%d issuing routes", checked)
	}
}
