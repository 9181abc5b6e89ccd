package mgmt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
)

func TestHealthAndPublicKey(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/healthz", "")
	expect(t, r, 200)
	if string(r.body) != `{"status":"ok"}` {
		t.Fatalf("healthz %s", r.body)
	}
	h.readyMu.Lock()
	h.ready = false
	h.readyMu.Unlock()
	expect(t, h.do("GET", "/healthz", ""), 503)

	r = h.do("GET", "/public-key", "")
	expect(t, r, 200)
	m := r.json(t)
	if m["kid"] == "" || !strings.HasPrefix(m["pem"].(string), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("public key %s", r.body)
	}
}

// Contract §4 table, in order.
func TestContractFlow(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/secure/customers", `{"externalId":"p-1","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+441234567"}`)
	expect(t, r, 201)
	cust := r.str(t, "customerId")
	if len(r.json(t)) != 1 {
		t.Fatalf("create customer answer %s", r.body)
	}
	// Balances only after KYC.
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances", `{"currency":"EUR"}`), 409, "KYC_REQUIRED")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"REJECTED"}`), 200)
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances", `{"currency":"EUR"}`), 409, "KYC_REQUIRED")
	r = h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"VERIFIED"}`)
	expect(t, r, 200)
	if r.json(t)["kycStatus"] != "VERIFIED" {
		t.Fatalf("kyc %s", r.body)
	}
	r = h.do("POST", "/secure/customers/"+cust+"/balances", `{"currency":"EUR"}`)
	expect(t, r, 201)
	bal := r.json(t)
	want := map[string]any{"customerId": cust, "currency": "EUR", "available": "0.00", "held": "0.00", "current": "0.00", "state": "ACTIVE"}
	for k, v := range want {
		if bal[k] != v {
			t.Fatalf("balance %s = %v, want %v: %s", k, bal[k], v, r.body)
		}
	}
	if ids, ok := bal["cardIds"].([]any); !ok || len(ids) != 0 {
		t.Fatalf("cardIds %s", r.body)
	}
	bid := bal["balanceId"].(string)
	base := "/secure/customers/" + cust + "/balances/" + bid

	// Reload with idempotency.
	r = h.do("POST", base+"/reload", `{"amount":"100.00"}`, "Idempotency-Key", "k1")
	expect(t, r, 200)
	if r.str(t, "current") != "100.00" || r.str(t, "available") != "100.00" {
		t.Fatalf("reload %s", r.body)
	}
	again := h.do("POST", base+"/reload", `{"amount":"100.00"}`, "Idempotency-Key", "k1")
	expect(t, again, 200)
	if string(again.body) != string(r.body) {
		t.Fatalf("repeat answered %s, first %s", again.body, r.body)
	}
	expect(t, h.do("POST", base+"/reload", `{"amount":"5.00"}`, "Idempotency-Key", "k1"), 409, "IDEMPOTENCY_KEY_REUSED")
	r = h.do("POST", base+"/reload", `{"amount":"0.50"}`)
	expect(t, r, 200)
	if r.str(t, "current") != "100.50" {
		t.Fatalf("second reload %s", r.body)
	}

	// Cards.
	r = h.do("POST", base+"/cards", `{"type":"VIRTUAL"}`)
	expect(t, r, 201)
	card := r.json(t)
	cid := card["cardId"].(string)
	checkCard(t, card, "VIRTUAL", "ACTIVE", 0)
	if card["program"] != "demo-mc" || card["expiryYear"] != float64(2029) || card["expiryMonth"] != float64(3) {
		t.Fatalf("card %s", r.body)
	}
	r = h.do("GET", "/secure/cards/"+cid, "")
	expect(t, r, 200)
	checkCard(t, r.json(t), "VIRTUAL", "ACTIVE", 0)
	r = h.do("GET", base, "")
	expect(t, r, 200)
	if ids := r.json(t)["cardIds"].([]any); len(ids) != 1 || ids[0] != cid {
		t.Fatalf("balance cards %s", r.body)
	}

	// Full data, encrypted.
	expect(t, h.do("GET", "/secure/cards/"+cid+"/full", ""), 400, "ENCRYPTION_REQUIRED")
	hdr, _ := h.encrypted("")
	r = h.send(req{method: "GET", path: "/secure/cards/" + cid + "/full", headers: hdr})
	expect(t, r, 200)
	full := h.open(r)
	p := full["pan"].(string)
	if len(p) != 16 || !strings.HasPrefix(p, "535110") || !cardcrypto.LuhnValid(p) || p[12:] != card["last4"] {
		t.Fatalf("pan %s", pmask(p))
	}
	if full["expiryMonth"] != float64(3) || full["expiryYear"] != float64(2029) || len(full) != 4 {
		t.Fatalf("full data fields %v", keys(full))
	}
	cvc2, _ := cardcrypto.CVV(config.Key(testCVK), p, "2903", "000")
	if full["cvc2"] != cvc2 {
		t.Fatal("cvc2 is not the CVV algorithm's value for service code 000")
	}

	// Lock, unlock, irreversible.
	r = h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":3}`)
	expect(t, r, 200)
	checkCard(t, r.json(t), "VIRTUAL", "LOCKED", 3)
	if a := h.authorize(p, "000001", 100); a.Action != authz.DoNotHonour {
		t.Fatalf("locked card answered %v", a.Action)
	}
	r = h.do("POST", "/secure/cards/"+cid+"/unlock", "")
	expect(t, r, 200)
	checkCard(t, r.json(t), "VIRTUAL", "ACTIVE", 0)
	if a := h.authorize(p, "000002", 100); a.Action != authz.Approved {
		t.Fatalf("unlocked card answered %v", a.Action)
	}
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":1}`), 200)
	expect(t, h.do("POST", "/secure/cards/"+cid+"/unlock", ""), 409, "CARD_LOCK_IRREVERSIBLE")
	if a := h.authorize(p, "000003", 100); a.Action != authz.LostCardPickUp {
		t.Fatalf("lost card answered %v", a.Action)
	}

	// Physical: INACTIVE, personalise, activate.
	r = h.doEnc("POST", base+"/cards", `{"type":"PHYSICAL","program":"demo-visa"}`)
	expect(t, r, 201)
	phys := r.json(t)
	checkCard(t, phys, "PHYSICAL", "INACTIVE", 0)
	pid := phys["cardId"].(string)
	if phys["program"] != "demo-visa" || phys["expiryYear"] != float64(2028) {
		t.Fatalf("physical %s", r.body)
	}
	expect(t, h.do("POST", "/secure/cards/"+pid+"/activate", ""), 409, "CARD_NOT_PERSONALISED")
	expect(t, h.do("POST", "/secure/cards/"+pid+"/personalisation", `{"reference":"bureau-77"}`), 200)
	r = h.do("POST", "/secure/cards/"+pid+"/activate", "")
	expect(t, r, 200)
	checkCard(t, r.json(t), "PHYSICAL", "ACTIVE", 0)

	// Session.
	r = h.do("POST", "/secure/customers/"+cust+"/sessions", "")
	expect(t, r, 201)
	if r.json(t)["expiresIn"] != float64(600) || !strings.HasPrefix(r.str(t, "sessionToken"), "st_") {
		t.Fatalf("session %s", r.body)
	}
	tok := r.str(t, "sessionToken")

	// PIN through the customer channel.
	expect(t, h.do("POST", "/customers/me/cards/"+pid+"/pin", `{"pin":"1234"}`, bearerH(tok)...), 400, "ENCRYPTION_REQUIRED")
	hdr, body := h.encrypted(`{"pin":"1234"}`)
	hdr["Authorization"] = "Bearer " + tok
	r = h.send(req{method: "POST", path: "/customers/me/cards/" + pid + "/pin", body: body, headers: hdr})
	expect(t, r, 204)
	if len(r.body) != 0 {
		t.Fatalf("204 with a body: %s", r.body)
	}
	stored, _ := h.eng.State().Card(pid)
	wantPVV, _ := cardcrypto.PVV(config.Key(testPVK), stored.PAN, 1, "1234")
	if stored.PVV != wantPVV || stored.PINTries != 0 {
		t.Fatal("PVV not stored under the program PVK")
	}
}

func checkCard(t *testing.T, c map[string]any, typ, state string, reason int) {
	t.Helper()
	for _, k := range []string{"cardId", "balanceId", "program", "type", "state", "lockReason", "last4", "expiryMonth", "expiryYear", "panSequenceNumber"} {
		if _, ok := c[k]; !ok {
			t.Fatalf("card without %s: %v", k, c)
		}
	}
	// The contract's ten fields, and only the optional ones of a plastic (docs/cards-channels.md).
	extra := 0
	for _, k := range []string{"linked", "bureauReference", "delivery"} {
		if _, ok := c[k]; ok {
			extra++
		}
	}
	if _, ok := c["linked"]; ok != (typ == "PHYSICAL") {
		t.Fatalf("card %v: linked is for PHYSICAL cards only", c)
	}
	if len(c) != 10+extra {
		t.Fatalf("card has extra fields: %v", keys(c))
	}
	if c["type"] != typ || c["state"] != state || c["lockReason"] != float64(reason) || c["panSequenceNumber"] != "00" {
		t.Fatalf("card %v, want %s %s %d", c, typ, state, reason)
	}
	if l4, _ := c["last4"].(string); len(l4) != 4 {
		t.Fatalf("last4 %v", c["last4"])
	}
	if _, hasPAN := c["pan"]; hasPAN {
		t.Fatal("card view carries the PAN")
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func pmask(p string) string {
	if len(p) < 10 {
		return "?"
	}
	return p[:6] + "..." + p[len(p)-4:]
}

func TestValidation(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	base := "/secure/customers/" + cust + "/balances/" + bid
	cases := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"bad json", "POST", "/secure/customers", `{"firstName":`, 400, "INVALID_JSON", ""},
		{"not an object", "POST", "/secure/customers", `[1]`, 400, "INVALID_JSON", ""},
		{"trailing data", "POST", "/secure/customers", `{"firstName":"A","lastName":"B"} {}`, 400, "INVALID_JSON", ""},
		{"unknown field", "POST", "/secure/customers", `{"firstName":"A","lastName":"B","pan":"1"}`, 400, "UNKNOWN_FIELD", "pan"},
		{"wrong type", "POST", "/secure/customers", `{"firstName":1,"lastName":"B"}`, 400, "INVALID_FIELD", "firstName"},
		{"missing", "POST", "/secure/customers", `{"lastName":"B"}`, 400, "MISSING_FIELD", "firstName"},
		{"email", "POST", "/secure/customers", `{"firstName":"A","lastName":"B","email":"x"}`, 400, "INVALID_FIELD", "email"},
		{"empty body", "POST", "/secure/customers", ``, 400, "INVALID_JSON", ""},
		{"kyc status", "POST", "/secure/customers/" + cust + "/kyc", `{"status":"MAYBE"}`, 400, "INVALID_STATUS", "status"},
		{"currency", "POST", "/secure/customers/" + cust + "/balances", `{"currency":"XXX"}`, 400, "UNKNOWN_CURRENCY", "currency"},
		{"currency case", "POST", "/secure/customers/" + cust + "/balances", `{"currency":"eur"}`, 400, "UNKNOWN_CURRENCY", "currency"},
		{"amount 1 decimal", "POST", base + "/reload", `{"amount":"12.3"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount 3 decimals", "POST", base + "/reload", `{"amount":"12.345"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount integer", "POST", base + "/reload", `{"amount":"12"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount number", "POST", base + "/reload", `{"amount":12.34}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount negative", "POST", base + "/reload", `{"amount":"-1.00"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount zero", "POST", base + "/reload", `{"amount":"0.00"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount huge", "POST", base + "/reload", `{"amount":"99999999999999.00"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount exp", "POST", base + "/reload", `{"amount":"1e2"}`, 400, "INVALID_AMOUNT", "amount"},
		{"amount missing", "POST", base + "/reload", `{}`, 400, "MISSING_FIELD", "amount"},
		{"card type", "POST", base + "/cards", `{"type":"PLASTIC"}`, 400, "INVALID_CARD_TYPE", "type"},
		{"card program", "POST", base + "/cards", `{"type":"VIRTUAL","program":"nope"}`, 400, "UNKNOWN_PROGRAM", "program"},
		{"card program currency", "POST", base + "/cards", `{"type":"VIRTUAL","program":"demo-jpy"}`, 400, "PROGRAM_CURRENCY_MISMATCH", "program"},
		{"route", "GET", "/secure/nothing", ``, 404, "NOT_FOUND", ""},
		{"method", "DELETE", "/secure/customers", ``, 405, "METHOD_NOT_ALLOWED", ""},
		{"unknown customer", "GET", "/secure/customers/cus_nope", ``, 404, "CUSTOMER_NOT_FOUND", ""},
		{"unknown balance", "GET", "/secure/customers/" + cust + "/balances/bal_nope", ``, 404, "BALANCE_NOT_FOUND", ""},
		{"unknown card", "GET", "/secure/cards/crd_nope", ``, 404, "CARD_NOT_FOUND", ""},
		{"unknown card lock", "POST", "/secure/cards/crd_nope/lock", `{"reasonCode":3}`, 404, "CARD_NOT_FOUND", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, c.body)
			if c.field != "" {
				expect(t, r, c.status, c.code, c.field)
			} else {
				expect(t, r, c.status, c.code)
			}
		})
	}
	// Nothing changed by the rejected requests.
	r := h.do("GET", base, "")
	if r.str(t, "current") != "0.00" {
		t.Fatalf("rejected reloads changed the balance: %s", r.body)
	}
	// JPY has no decimals, BHD three.
	jb := h.balance(cust, "JPY")
	jbase := "/secure/customers/" + cust + "/balances/" + jb
	expect(t, h.do("POST", jbase+"/reload", `{"amount":"100.00"}`), 400, "INVALID_AMOUNT", "amount")
	r = h.do("POST", jbase+"/reload", `{"amount":"100"}`)
	expect(t, r, 200)
	if r.str(t, "current") != "100" {
		t.Fatalf("jpy %s", r.body)
	}
	// Card errors.
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":9}`), 400, "INVALID_REASON_CODE", "reasonCode")
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{}`), 400, "MISSING_FIELD", "reasonCode")
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":"1"}`), 400, "INVALID_FIELD", "reasonCode")
	expect(t, h.do("POST", "/secure/cards/"+cid+"/unlock", `{"x":1}`), 400, "UNKNOWN_FIELD", "x")
	expect(t, h.do("POST", "/secure/cards/"+cid+"/unlock", ``), 409, "CARD_NOT_LOCKED")
	expect(t, h.do("POST", "/secure/cards/"+cid+"/remove", ``), 200)
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":3}`), 409, "CARD_REMOVED")
	// Body size limit.
	big := `{"firstName":"` + strings.Repeat("a", 10<<10) + `","lastName":"B"}`
	expect(t, h.do("POST", "/secure/customers", big), 413, "BODY_TOO_LARGE")
	// Idempotency-Key format.
	expect(t, h.do("POST", base+"/reload", `{"amount":"1.00"}`, "Idempotency-Key", strings.Repeat("k", 200)), 400, "INVALID_IDEMPOTENCY_KEY")
}

func TestEngineUnavailable(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	h.j.SetFailAll(true)
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances", `{"currency":"EUR"}`), 503, "UNAVAILABLE")
	h.j.SetFailAll(false)
	r := h.do("GET", "/secure/customers/"+cust+"/balances", "")
	expect(t, r, 200)
	if n := len(r.json(t)["balances"].([]any)); n != 0 {
		t.Fatalf("failed write left %d balances", n)
	}
}

func TestJWEErrors(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	pid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	tok := h.session(cust)
	path := "/customers/me/cards/" + pid + "/pin"
	good, body := h.encrypted(`{"pin":"1234"}`)
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{"Authorization": "Bearer " + tok}
		for a, b := range m {
			out[a] = b
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	// Plain.
	r := h.send(req{method: "POST", path: path, body: `{"pin":"1234"}`, headers: with(nil, "", "")})
	expect(t, r, 400, "ENCRYPTION_REQUIRED")
	// Public key missing or bad.
	expect(t, h.send(req{method: "POST", path: path, body: body, headers: with(good, "Public-Key", "")}), 400, "INVALID_PUBLIC_KEY")
	expect(t, h.send(req{method: "POST", path: path, body: body, headers: with(good, "Public-Key", "bm90IGEga2V5")}), 400, "INVALID_PUBLIC_KEY")
	expect(t, h.send(req{method: "POST", path: path, body: body, headers: with(good, "Public-Key", "%%%")}), 400, "INVALID_PUBLIC_KEY")
	// Payload not {"payload": JWE}.
	for _, b := range []string{`{"pin":"1234"}`, `{"payload":1}`, `{"payload":"abc"}`, `not json`, ``, `{"payload":"a.b.c.d.e"}`} {
		expect(t, h.send(req{method: "POST", path: path, body: b, headers: with(good, "", "")}), 400, "INVALID_PAYLOAD")
	}
	// A JWE for another key, or with an algorithm not accepted.
	other := testOtherKey(t)
	payload, _ := sealFor(&other.PublicKey, `{"pin":"1234"}`)
	b, _ := json.Marshal(map[string]string{"payload": payload})
	expect(t, h.send(req{method: "POST", path: path, body: string(b), headers: with(good, "", "")}), 400, "CANT_DECRYPT_PAYLOAD")
	rsa15, _ := sealRSA15(h.srv.PublicKey(), `{"pin":"1234"}`)
	b, _ = json.Marshal(map[string]string{"payload": rsa15})
	expect(t, h.send(req{method: "POST", path: path, body: string(b), headers: with(good, "", "")}), 400, "CANT_DECRYPT_PAYLOAD")
	// RSA-OAEP (SHA-1) is accepted.
	oaep, _ := sealOAEP1(h.srv.PublicKey(), `{"pin":"4321"}`)
	b, _ = json.Marshal(map[string]string{"payload": oaep})
	expect(t, h.send(req{method: "POST", path: path, body: string(b), headers: with(good, "", "")}), 204)
	// The decrypted body is validated like a plain one.
	_, badPIN := h.encrypted(`{"pin":"12a4"}`)
	expect(t, h.send(req{method: "POST", path: path, body: badPIN, headers: with(good, "", "")}), 400, "INVALID_PIN", "pin")
	_, unk := h.encrypted(`{"pin":"1234","x":1}`)
	expect(t, h.send(req{method: "POST", path: path, body: unk, headers: with(good, "", "")}), 400, "UNKNOWN_FIELD", "x")
	// An encrypted request on an endpoint that does not require it gets an encrypted answer;
	// its errors stay plain.
	r = h.send(req{method: "GET", path: "/secure/cards/" + pid, headers: good})
	expect(t, r, 200)
	if h.open(r)["cardId"] != pid {
		t.Fatal("encrypted answer")
	}
	expect(t, h.send(req{method: "GET", path: "/secure/cards/crd_none", headers: good}), 404, "CARD_NOT_FOUND")
	hdr, enc := h.encrypted(`{"amount":"10.00"}`)
	r = h.send(req{method: "POST", path: "/secure/customers/" + cust + "/balances/" + bid + "/reload", body: enc, headers: hdr})
	expect(t, r, 200)
	if h.open(r)["current"] != "10.00" {
		t.Fatal("encrypted reload")
	}
}

func TestChannels(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	other := h.customer(true)
	obid := h.balance(other, "EUR")
	ocid := h.card(other, obid, "VIRTUAL")["cardId"].(string)
	tok := h.session(cust)

	// /secure from a non-loopback address without TLS.
	expect(t, h.send(req{method: "GET", path: "/secure/cards/" + cid, client: h.remote}), 403, "CHANNEL_NOT_ALLOWED")
	// Customer channel.
	expect(t, h.do("GET", "/customers/me", ""), 401, "UNAUTHENTICATED")
	expect(t, h.do("GET", "/customers/me", "", bearerH("st_nope")...), 401, "INVALID_TOKEN")
	expect(t, h.do("GET", "/customers/me", "", bearerH(tokAdmin)...), 403, "WRONG_CHANNEL")
	r := h.do("GET", "/customers/me", "", bearerH(tok)...)
	expect(t, r, 200)
	if r.str(t, "customerId") != cust {
		t.Fatalf("me %s", r.body)
	}
	r = h.do("GET", "/customers/me/cards", "", bearerH(tok)...)
	expect(t, r, 200)
	if cards := r.json(t)["cards"].([]any); len(cards) != 1 {
		t.Fatalf("my cards %s", r.body)
	}
	r = h.do("GET", "/customers/me/balances", "", bearerH(tok)...)
	expect(t, r, 200)
	expect(t, h.do("GET", "/customers/me/balances/"+bid, "", bearerH(tok)...), 200)
	expect(t, h.do("GET", "/customers/me/cards/"+ocid, "", bearerH(tok)...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("GET", "/customers/me/balances/"+obid, "", bearerH(tok)...), 404, "BALANCE_NOT_FOUND")
	// A cardholder locks with any reason of the seed and lifts a reversible lock other than 7.
	expect(t, h.do("POST", "/customers/me/cards/"+cid+"/lock", `{"reasonCode":9}`, bearerH(tok)...), 400, "INVALID_REASON_CODE")
	expect(t, h.do("POST", "/customers/me/cards/"+cid+"/lock", `{"reasonCode":3}`, bearerH(tok)...), 200)
	expect(t, h.do("POST", "/customers/me/cards/"+cid+"/unlock", ``, bearerH(tok)...), 200)
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":7}`), 200)
	expect(t, h.do("POST", "/customers/me/cards/"+cid+"/unlock", ``, bearerH(tok)...), 409, "UNLOCK_NOT_ALLOWED")
	// Session expiry.
	h.clock.Add(11 * time.Minute)
	expect(t, h.do("GET", "/customers/me", "", bearerH(tok)...), 401, "SESSION_EXPIRED")
	tok2 := h.session(cust)
	expect(t, h.do("DELETE", "/customers/me/session", "", bearerH(tok2)...), 204)
	expect(t, h.do("GET", "/customers/me", "", bearerH(tok2)...), 401, "INVALID_TOKEN")

	// Admin channel and roles.
	tok3 := h.session(cust)
	expect(t, h.do("GET", "/admin/cards/"+cid, ""), 401, "UNAUTHENTICATED")
	expect(t, h.do("GET", "/admin/cards/"+cid, "", bearerH("nope")...), 401, "INVALID_TOKEN")
	expect(t, h.do("GET", "/admin/cards/"+cid, "", bearerH(tok3)...), 403, "WRONG_CHANNEL")
	expect(t, h.do("GET", "/admin/cards/"+cid, "", bearerH(tokEmployee)...), 200)
	expect(t, h.do("POST", "/admin/cards/"+cid+"/unlock", "", bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("POST", "/admin/cards/"+cid+"/unlock", "", bearerH(tokManager)...), 200)
	expect(t, h.do("GET", "/admin/balance-summary", "", bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("GET", "/admin/audit", "", bearerH(tokManager)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("GET", "/admin/audit", "", bearerH(tokAdmin)...), 200)
	expect(t, h.do("POST", "/admin/customers/"+other+"/kyc", `{"status":"REJECTED"}`, bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("POST", "/admin/customers/"+other+"/kyc", `{"status":"REJECTED"}`, bearerH(tokManager)...), 200)
	r = h.do("GET", "/admin/customers/"+other, "", bearerH(tokEmployee)...)
	expect(t, r, 200)
	if r.str(t, "kycStatus") != "REJECTED" {
		t.Fatalf("admin customer %s", r.body)
	}

	// Registration from the app, vouched for by the partner's registration token.
	expect(t, h.do("POST", "/customers", `{"firstName":"Grace","lastName":"Hopper","email":"grace@example.com"}`), 401, "REGISTRATION_TOKEN_REQUIRED")
	reg := h.regToken("")["registrationToken"].(string)
	r = h.do("POST", "/customers", `{"firstName":"Grace","lastName":"Hopper","email":"grace@example.com"}`, "Registration-Token", reg)
	expect(t, r, 201)
	self := r.json(t)
	r = h.do("GET", "/customers/me", "", bearerH(self["sessionToken"].(string))...)
	expect(t, r, 200)
	if r.str(t, "kycStatus") != "PENDING" {
		t.Fatalf("self %s", r.body)
	}
}

func TestCardVariants(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	base := "/secure/customers/" + cust + "/balances/" + bid
	// DIGITAL_FIRST needs a virtual card.
	expect(t, h.doEnc("POST", base+"/cards", `{"type":"DIGITAL_FIRST"}`), 409, "VIRTUAL_CARD_REQUIRED")
	v1 := h.card(cust, bid, "VIRTUAL")
	v2 := h.card(cust, bid, "VIRTUAL")
	r := h.doEnc("POST", base+"/cards", `{"type":"DIGITAL_FIRST"}`)
	expect(t, r, 201)
	df := r.json(t)
	checkCard(t, df, "DIGITAL_FIRST", "ACTIVE", 0)
	if df["last4"] != v2["last4"] || df["expiryYear"] != v2["expiryYear"] {
		t.Fatalf("digital-first copies the latest virtual card: %v vs %v", df, v2)
	}
	c1, _ := h.eng.State().Card(v1["cardId"].(string))
	dfc, _ := h.eng.State().Card(df["cardId"].(string))
	c2, _ := h.eng.State().Card(v2["cardId"].(string))
	if dfc.PAN != c2.PAN || dfc.PAN == c1.PAN {
		t.Fatal("digital-first PAN")
	}
	r = h.doEnc("POST", base+"/cards", `{"type":"DIGITAL_FIRST","virtualCardId":"`+v1["cardId"].(string)+`"}`)
	expect(t, r, 201)
	if r.json(t)["last4"] != v1["last4"] {
		t.Fatal("digital-first with virtualCardId")
	}
	expect(t, h.doEnc("POST", base+"/cards", `{"type":"DIGITAL_FIRST","virtualCardId":"`+df["cardId"].(string)+`"}`), 400, "NOT_A_VIRTUAL_CARD", "virtualCardId")
	expect(t, h.do("POST", base+"/cards", `{"type":"VIRTUAL","virtualCardId":"x"}`), 400, "INVALID_FIELD", "virtualCardId")
	// A balance in a currency no program issues in.
	ub := h.balance(cust, "USD")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+ub+"/cards", `{"type":"VIRTUAL"}`), 409, "NO_PROGRAM_FOR_CURRENCY")
	// Personalisation is for physical cards only.
	expect(t, h.do("POST", "/secure/cards/"+v1["cardId"].(string)+"/personalisation", ``), 409, "NOT_A_PHYSICAL_CARD")

	// Reset CVC2: the old value is declined from the next authorization on.
	cid := v1["cardId"].(string)
	before, _ := h.eng.State().Card(cid)
	r = h.do("POST", "/secure/cards/"+cid+"/reset-cvc2", "")
	expect(t, r, 200)
	checkCard(t, r.json(t), "VIRTUAL", "ACTIVE", 0)
	hdr, _ := h.encrypted("")
	full := h.open(h.send(req{method: "GET", path: "/secure/cards/" + cid + "/full", headers: hdr}))
	if full["cvc2"] == before.CVC2 || len(full["cvc2"].(string)) != 3 {
		t.Fatal("CVC2 not replaced")
	}
	after, _ := h.eng.State().Card(cid)
	if after.CVC2 != full["cvc2"] {
		t.Fatal("full data does not give the stored CVC2")
	}
	// Remove: then 1011 and full data refused.
	expect(t, h.do("POST", "/secure/cards/"+cid+"/remove", ""), 200)
	if a := h.authorize(before.PAN, "000010", 100); a.Action != authz.InvalidCard && a.Action != authz.RestrictedCard {
		t.Fatalf("removed card answered %v", a.Action)
	}
	expect(t, h.send(req{method: "GET", path: "/secure/cards/" + cid + "/full", headers: hdr}), 409, "CARD_REMOVED")

	// Limits.
	r = h.do("PUT", "/secure/cards/"+v2["cardId"].(string)+"/limits", `{"maxAmount":"50.00","maxCountPerDay":3}`)
	expect(t, r, 200)
	if r.str(t, "maxAmount") != "50.00" {
		t.Fatalf("limits %s", r.body)
	}
	expect(t, h.do("PUT", "/secure/cards/"+v2["cardId"].(string)+"/limits", `{"maxAmount":"50.0"}`), 400, "INVALID_AMOUNT", "maxAmount")
	expect(t, h.do("GET", "/secure/cards/"+v2["cardId"].(string)+"/limits", ""), 200)
}

func TestExternalLock(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	card, _ := h.eng.State().Card(cid)
	expect(t, h.do("POST", "/secure/external-locks", `{"pan":"`+card.PAN+`","reasonCode":7,"source":"NETWORK"}`), 400, "ENCRYPTION_REQUIRED")
	hdr, body := h.encrypted(`{"pan":"` + card.PAN + `","reasonCode":7,"source":"NETWORK","reference":"case-1"}`)
	r := h.send(req{method: "POST", path: "/secure/external-locks", body: body, headers: hdr})
	expect(t, r, 200)
	got := h.open(r)
	if got["state"] != "LOCKED" || got["lockReason"] != float64(7) {
		t.Fatalf("external lock %v", got)
	}
	if a := h.authorize(card.PAN, "000020", 100); a.Action != authz.SuspectedFraud {
		t.Fatalf("answered %v", a.Action)
	}
	_, body = h.encrypted(`{"pan":"5351100000000000","reasonCode":7,"source":"ACQUIRER"}`)
	// 5351100000000000 fails Luhn.
	expect(t, h.send(req{method: "POST", path: "/secure/external-locks", body: body, headers: hdr}), 400, "INVALID_PAN", "pan")
	_, body = h.encrypted(`{"pan":"5351109999999991","reasonCode":7,"source":"ACQUIRER"}`)
	expect(t, h.send(req{method: "POST", path: "/secure/external-locks", body: body, headers: hdr}), 404, "CARD_NOT_FOUND")
}
