package reliability

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardswitch/cardswitch/mgmt/jwe"
)

// TestBadHTTPInputCatalog: every bad management request gets its documented status and code
// (contract §4, docs/api.md), never a 5xx, and changes nothing in the ledger.
func TestBadHTTPInputCatalog(t *testing.T) {
	s := startSwitch(t, func(c *configT) { c.HTTP.SessionTTL = 1500 * time.Millisecond })
	c := s.issue("100.00")
	expired := s.session(c.customerID)
	expiredAt := time.Now().Add(1600 * time.Millisecond)

	cust, bal, card := "/secure/customers/"+c.customerID, "/secure/customers/"+c.customerID+"/balances/"+c.balanceID, "/secure/cards/"+c.cardID
	reload := bal + "/reload"
	adm := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// Encrypted-request material.
	encHdr, _ := s.encrypted("")
	serverPub := s.serverKey()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallHdr, _ := jwe.EncodePublicKeyHeader(&small.PublicKey)
	seal := func(alg jose.KeyAlgorithm, enc jose.ContentEncryption, pub *rsa.PublicKey, plain string) []byte {
		e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: pub}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := e.Encrypt([]byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		compact, _ := obj.CompactSerialize()
		b, _ := json.Marshal(jwe.Envelope{Payload: compact})
		return b
	}
	good := seal(jose.RSA_OAEP_256, jose.A256GCM, serverPub, `{"pin":"1234"}`)
	var env jwe.Envelope
	json.Unmarshal(good, &env)
	parts := strings.Split(env.Payload, ".")
	tampered := append([]string(nil), parts...)
	ct, _ := base64.RawURLEncoding.DecodeString(tampered[3])
	ct[0] ^= 1
	tampered[3] = base64.RawURLEncoding.EncodeToString(ct)
	tamperedBody, _ := json.Marshal(jwe.Envelope{Payload: strings.Join(tampered, ".")})
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range h {
			out[a] = b
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}

	type tc struct {
		name         string
		method, path string
		body         []byte
		hdr          map[string]string
		status       int
		code, field  string
		sessionAuth  bool // Authorization: Bearer <live session>
	}
	big := []byte(`{"firstName":"` + strings.Repeat("A", 70<<10) + `","lastName":"B"}`)
	huge := []byte(`{"firstName":"` + strings.Repeat("A", 300<<10) + `","lastName":"B"}`)
	cases := []tc{
		// JSON shape.
		{"bad JSON", "POST", "/secure/customers", []byte(`{"firstName":`), nil, 400, "INVALID_JSON", "", false},
		{"not JSON", "POST", "/secure/customers", []byte(`firstName=Ada`), nil, 400, "INVALID_JSON", "", false},
		{"JSON array", "POST", "/secure/customers", []byte(`[{"firstName":"Ada"}]`), nil, 400, "INVALID_JSON", "", false},
		{"JSON string", "POST", "/secure/customers", []byte(`"Ada"`), nil, 400, "INVALID_JSON", "", false},
		{"JSON null", "POST", "/secure/customers", []byte(`null`), nil, 400, "INVALID_JSON", "", false},
		{"two objects", "POST", "/secure/customers", []byte(`{"firstName":"Ada","lastName":"L"}{}`), nil, 400, "INVALID_JSON", "", false},
		{"empty body", "POST", "/secure/customers", []byte(``), nil, 400, "INVALID_JSON", "", false},
		{"invalid UTF-8 in a name", "POST", "/secure/customers", []byte("{\"firstName\":\"A\xff\",\"lastName\":\"L\"}"), nil, 400, "", "", false},
		{"deep nesting", "POST", "/secure/customers", []byte(`{"firstName":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`), nil, 400, "INVALID_FIELD", "firstName", false},
		// Types and fields.
		{"wrong type: number for a name", "POST", "/secure/customers", []byte(`{"firstName":1,"lastName":"L"}`), nil, 400, "INVALID_FIELD", "firstName", false},
		{"wrong type: object for a name", "POST", "/secure/customers", []byte(`{"firstName":{},"lastName":"L"}`), nil, 400, "INVALID_FIELD", "firstName", false},
		{"wrong type: string reason code", "POST", card + "/lock", []byte(`{"reasonCode":"3"}`), nil, 400, "INVALID_FIELD", "reasonCode", false},
		{"wrong type: bool KYC", "POST", cust + "/kyc", []byte(`{"status":true}`), nil, 400, "INVALID_FIELD", "status", false},
		{"unknown field", "POST", "/secure/customers", []byte(`{"firstName":"Ada","lastName":"L","isAdmin":true}`), nil, 400, "UNKNOWN_FIELD", "isAdmin", false},
		{"unknown field on reload", "POST", reload, []byte(`{"amount":"1.00","currency":"EUR"}`), nil, 400, "UNKNOWN_FIELD", "currency", false},
		{"missing field", "POST", "/secure/customers", []byte(`{"firstName":"Ada"}`), nil, 400, "MISSING_FIELD", "lastName", false},
		{"bad KYC status", "POST", cust + "/kyc", []byte(`{"status":"MAYBE"}`), nil, 400, "", "status", false},
		{"reason code 0", "POST", card + "/lock", []byte(`{"reasonCode":0}`), nil, 400, "INVALID_REASON_CODE", "reasonCode", false},
		{"reason code 9", "POST", card + "/lock", []byte(`{"reasonCode":9}`), nil, 400, "INVALID_REASON_CODE", "reasonCode", false},
		{"reason code 1e9", "POST", card + "/lock", []byte(`{"reasonCode":1e9}`), nil, 400, "", "reasonCode", false},
		{"bad card type", "POST", bal + "/cards", []byte(`{"type":"GOLD"}`), nil, 400, "INVALID_CARD_TYPE", "type", false},
		{"unknown program", "POST", bal + "/cards", []byte(`{"type":"VIRTUAL","program":"nope"}`), nil, 400, "UNKNOWN_PROGRAM", "program", false},
		// Bodies too large.
		{"body over maxBodyBytes (70 KiB)", "POST", "/secure/customers", big, nil, 413, "BODY_TOO_LARGE", "", false},
		{"body over 4x maxBodyBytes (300 KiB)", "POST", "/secure/customers", huge, nil, 413, "BODY_TOO_LARGE", "", false},
		// Amounts.
		{"negative amount", "POST", reload, []byte(`{"amount":"-1.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"over-precise amount", "POST", reload, []byte(`{"amount":"1.001"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"under-precise amount", "POST", reload, []byte(`{"amount":"1.0"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"no decimals for EUR", "POST", reload, []byte(`{"amount":"1"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount as a number", "POST", reload, []byte(`{"amount":12.34}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount with exponent", "POST", reload, []byte(`{"amount":"1e3"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount with plus", "POST", reload, []byte(`{"amount":"+1.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount with spaces", "POST", reload, []byte(`{"amount":" 1.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount with leading zeros", "POST", reload, []byte(`{"amount":"01.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"zero amount", "POST", reload, []byte(`{"amount":"0.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount over field 4", "POST", reload, []byte(`{"amount":"10000000000.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount of 40 digits", "POST", reload, []byte(`{"amount":"` + strings.Repeat("9", 40) + `.00"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount NaN", "POST", reload, []byte(`{"amount":"NaN"}`), nil, 400, "INVALID_AMOUNT", "amount", false},
		{"amount null", "POST", reload, []byte(`{"amount":null}`), nil, 400, "MISSING_FIELD", "amount", false},
		{"bad idempotency key", "POST", reload, []byte(`{"amount":"1.00"}`), map[string]string{"Idempotency-Key": strings.Repeat("k", 200)}, 400, "INVALID_IDEMPOTENCY_KEY", "", false},
		// Currencies.
		{"unknown currency", "POST", cust + "/balances", []byte(`{"currency":"ABC"}`), nil, 400, "UNKNOWN_CURRENCY", "currency", false},
		{"lower-case currency", "POST", cust + "/balances", []byte(`{"currency":"eur"}`), nil, 400, "UNKNOWN_CURRENCY", "currency", false},
		{"numeric currency", "POST", cust + "/balances", []byte(`{"currency":"978"}`), nil, 400, "UNKNOWN_CURRENCY", "currency", false},
		{"currency as a number", "POST", cust + "/balances", []byte(`{"currency":978}`), nil, 400, "INVALID_FIELD", "currency", false},
		// Credentials, channels, roles.
		{"no token on the customer channel", "GET", "/customers/me", nil, nil, 401, "UNAUTHENTICATED", "", false},
		{"no token on the admin channel", "GET", "/admin/cards/" + c.cardID, nil, nil, 401, "UNAUTHENTICATED", "", false},
		{"unknown session token", "GET", "/customers/me", nil, adm("no-such-session-token"), 401, "INVALID_TOKEN", "", false},
		{"unknown admin token", "GET", "/admin/cards/" + c.cardID, nil, adm("no-such-admin-token"), 401, "INVALID_TOKEN", "", false},
		{"basic auth instead of bearer", "GET", "/admin/cards/" + c.cardID, nil, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}, 401, "UNAUTHENTICATED", "", false},
		{"empty bearer", "GET", "/admin/cards/" + c.cardID, nil, map[string]string{"Authorization": "Bearer "}, 401, "UNAUTHENTICATED", "", false},
		{"expired session", "GET", "/customers/me", nil, adm(expired), 401, "SESSION_EXPIRED", "", false},
		{"admin token on the customer channel", "GET", "/customers/me", nil, adm(tokAdmin), 403, "WRONG_CHANNEL", "", false},
		{"session token on the admin channel", "GET", "/admin/cards/" + c.cardID, nil, nil, 403, "WRONG_CHANNEL", "", true},
		{"employee creates a partner balance", "POST", "/admin/partner-balances", []byte(`{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`), adm(tokEmployee), 403, "INSUFFICIENT_ROLE", "", false},
		{"employee unlocks", "POST", "/admin/cards/" + c.cardID + "/unlock", nil, adm(tokEmployee), 403, "INSUFFICIENT_ROLE", "", false},
		{"employee reads the audit", "GET", "/admin/audit", nil, adm(tokEmployee), 403, "INSUFFICIENT_ROLE", "", false},
		{"another customer's card", "GET", "/customers/me/cards/crd_nope", nil, nil, 404, "CARD_NOT_FOUND", "", true},
		// The four encryption errors.
		{"plain request to /full", "GET", card + "/full", nil, nil, 400, "ENCRYPTION_REQUIRED", "", false},
		{"plain PIN set", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`{"pin":"1234"}`), nil, 400, "ENCRYPTION_REQUIRED", "", true},
		{"Encrypted-Request false", "GET", card + "/full", nil, with(encHdr, "Encrypted-Request", "false"), 400, "ENCRYPTION_REQUIRED", "", false},
		{"missing Public-Key", "GET", card + "/full", nil, with(encHdr, "Public-Key", ""), 400, "INVALID_PUBLIC_KEY", "", false},
		{"Public-Key not base64", "GET", card + "/full", nil, with(encHdr, "Public-Key", "%%%not base64%%%"), 400, "INVALID_PUBLIC_KEY", "", false},
		{"Public-Key not PEM", "GET", card + "/full", nil, with(encHdr, "Public-Key", base64.StdEncoding.EncodeToString([]byte("hello"))), 400, "INVALID_PUBLIC_KEY", "", false},
		{"Public-Key a certificate PEM with junk", "GET", card + "/full", nil, with(encHdr, "Public-Key", base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))), 400, "INVALID_PUBLIC_KEY", "", false},
		{"Public-Key RSA-1024", "GET", card + "/full", nil, with(encHdr, "Public-Key", smallHdr), 400, "INVALID_PUBLIC_KEY", "", false},
		{"payload missing", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`{}`), encHdr, 400, "INVALID_PAYLOAD", "", true},
		{"payload not a string", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`{"payload":123}`), encHdr, 400, "INVALID_PAYLOAD", "", true},
		{"payload not compact", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`{"payload":"abc"}`), encHdr, 400, "INVALID_PAYLOAD", "", true},
		{"payload with an extra field", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`{"payload":"a.b.c.d.e","pin":"1234"}`), encHdr, 400, "INVALID_PAYLOAD", "", true},
		{"body not JSON", "POST", "/customers/me/cards/" + c.cardID + "/pin", []byte(`pin=1234`), encHdr, 400, "INVALID_PAYLOAD", "", true},
		{"JWE for another key", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA_OAEP_256, jose.A256GCM, &other.PublicKey, `{"pin":"1234"}`), encHdr, 400, "CANT_DECRYPT_PAYLOAD", "", true},
		{"JWE with RSA1_5", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA1_5, jose.A256GCM, serverPub, `{"pin":"1234"}`), encHdr, 400, "CANT_DECRYPT_PAYLOAD", "", true},
		{"JWE with A128CBC-HS256", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA_OAEP_256, jose.A128CBC_HS256, serverPub, `{"pin":"1234"}`), encHdr, 400, "CANT_DECRYPT_PAYLOAD", "", true},
		{"JWE tampered", "POST", "/customers/me/cards/" + c.cardID + "/pin", tamperedBody, encHdr, 400, "CANT_DECRYPT_PAYLOAD", "", true},
		{"decrypted body not JSON", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA_OAEP_256, jose.A256GCM, serverPub, `pin=1234`), encHdr, 400, "INVALID_JSON", "", true},
		{"decrypted PIN not digits", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA_OAEP_256, jose.A256GCM, serverPub, `{"pin":"12ab"}`), encHdr, 400, "INVALID_PIN", "pin", true},
		{"decrypted PIN too short", "POST", "/customers/me/cards/" + c.cardID + "/pin", seal(jose.RSA_OAEP_256, jose.A256GCM, serverPub, `{"pin":"123"}`), encHdr, 400, "INVALID_PIN", "pin", true},
		// Routing.
		{"unknown route", "GET", "/secure/nothing", nil, nil, 404, "NOT_FOUND", "", false},
		{"wrong method", "DELETE", card, nil, nil, 405, "METHOD_NOT_ALLOWED", "", false},
		{"unknown card", "GET", "/secure/cards/crd_doesnotexist", nil, nil, 404, "CARD_NOT_FOUND", "", false},
		{"path traversal", "GET", "/secure/cards/..%2f..%2fetc%2fpasswd", nil, nil, 404, "", "", false},
	}

	time.Sleep(time.Until(expiredAt))
	before := s.ledgerState()
	for _, k := range cases {
		hdr := k.hdr
		if k.sessionAuth {
			// A fresh session per case: sessions live only http.sessionTTL (1.5 s here).
			hdr = with(hdr, "Authorization", "Bearer "+s.session(c.customerID))
		}
		r, err := s.tryDo(k.method, k.path, k.body, hdr)
		if err != nil {
			// Far past the body limit the server stops reading and closes the connection while
			// the client is still writing: the client may see the reset before the 413.
			if len(k.body) > 4*64<<10 && k.status == 413 {
				if after := s.ledgerState(); after != before {
					t.Errorf("%s: the ledger changed", k.name)
				}
				continue
			}
			t.Fatalf("%s: %v", k.name, err)
		}
		if r.status >= 500 {
			t.Errorf("%s: %d (5xx on bad input): %s", k.name, r.status, r.body)
			continue
		}
		if r.status != k.status {
			t.Errorf("%s: status %d, want %d: %s", k.name, r.status, k.status, r.body)
			continue
		}
		var e struct{ Code, Message, Field string }
		if err := json.Unmarshal(r.body, &e); err != nil || e.Code == "" || e.Message == "" {
			t.Errorf("%s: not an error body: %q", k.name, r.body)
			continue
		}
		if k.code != "" && e.Code != k.code {
			t.Errorf("%s: code %s, want %s (%s)", k.name, e.Code, k.code, e.Message)
		}
		if k.field != "" && e.Field != k.field {
			t.Errorf("%s: field %q, want %q", k.name, e.Field, k.field)
		}
		if after := s.ledgerState(); after != before {
			t.Fatalf("%s changed the ledger", k.name)
		}
	}
	badInputsTried.http += len(cases)
	// After all that, the API still works and a good request changes the ledger.
	s.must(200, s.do("POST", reload, []byte(`{"amount":"1.00"}`), nil))
	if s.ledgerState() == before {
		t.Fatal("a good reload did not change the ledger")
	}
	t.Logf("HTTP bad inputs tried: %d", len(cases))
}
