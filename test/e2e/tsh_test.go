package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/tokenvault"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

// hub plays the token service hub against a running switch: it encrypts to the issuer's
// development certificate and calls /tsh over HTTP.
type hub struct {
	t       *testing.T
	s       *sw
	base    string
	cert    *x509.Certificate
	events  chan map[string]any // tsh.otp events the webhook received
	lastOTP string
}

func startWithHub(t *testing.T, configure ...func(*config.Config)) *hub {
	t.Helper()
	dir := t.TempDir()
	events := make(chan map[string]any, 16)
	secret := "whsec-test"
	var mu sync.Mutex
	wh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		json.Unmarshal(body, &ev)
		sig := r.Header.Get("Cardswitch-Signature")
		var ts int64
		fmt.Sscanf(sig, "t=%d,", &ts)
		if sig != notify.Signature([]byte(secret), ts, body) {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Type == "tsh.otp" {
			events <- ev.Data
		}
	}))
	t.Cleanup(wh.Close)
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.WebhookURL, cfg.HTTP.WebhookSecret = wh.URL, secret
	for _, f := range configure {
		f(cfg)
	}
	cfg.HTTP.AdminTokens = []config.AdminToken{{Name: "ops", Token: adminToken, Role: "Employee"}, {Name: "root", Token: rootToken, Role: "Admin"}}
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, dir: dir, hash: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	s.stan.Store(time.Now().UnixNano() % 500000)
	s.connect()
	t.Cleanup(s.stop)
	certPEM, err := os.ReadFile(filepath.Join(dir, "tsh-dev-1.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tsh-dev-1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development tsh key: %v %v", fi, err)
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &hub{t: t, s: s, base: "http://" + a.HTTPAddr() + "/tsh/", cert: cert, events: events}
}

// seal encrypts v (JSON) to the issuer certificate.
func (h *hub) seal(v any, p cms.Padding) string {
	h.t.Helper()
	plain, _ := json.Marshal(v)
	text, err := cms.Seal(plain, h.cert, p)
	if err != nil {
		h.t.Fatal(err)
	}
	return text
}

// call POSTs (or GETs, body nil) an operation; it returns the status and the decoded body.
func (h *hub) call(op, corr string, body map[string]any) (int, map[string]any) {
	h.t.Helper()
	method, rd := "GET", io.Reader(nil)
	if body != nil {
		method = "POST"
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+op, rd)
	req.Header.Set("x-correlation-id", corr)
	req.Header.Set("x-issuer-id", config.DevTSHIssuerID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			h.t.Fatalf("%s: body %q", op, raw)
		}
	}
	return resp.StatusCode, out
}

func (h *hub) expect(op, corr string, body map[string]any, status int, code string) map[string]any {
	h.t.Helper()
	got, out := h.call(op, corr, body)
	if got != status || (code != "" && out["code"] != code) {
		h.t.Fatalf("%s: %d %v, want %d %s", op, got, out, status, code)
	}
	return out
}

// provisionWithContacts issues a card whose customer has a phone and an email.
func (h *hub) provisionWithContacts(loadMinor int64) card {
	s := h.s
	n := panSeq.Add(1)
	body := fmt.Sprintf("535110%09d", n+500000)
	d, _ := cardcrypto.LuhnCheckDigit(body)
	p := body + string(d)
	exp := time.Now().UTC().AddDate(3, 0, 0).Format("0601")
	c := card{id: fmt.Sprintf("card-tsh-%d", n), balanceID: fmt.Sprintf("bal-tsh-%d", n), pan: p, expiry: exp}
	cust := fmt.Sprintf("cust-tsh-%d", n)
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, r := tx.CreateCustomer(ledger.Customer{ID: cust, FirstName: "Ada", LastName: "Tester",
			Email: "ada@example.com", Phone: "+33612345678"}, env); r != nil {
			return r
		}
		if _, r := tx.SetKYC(cust, ledger.KYCVerified); r != nil {
			return r
		}
		if _, r := tx.CreateBalance(ledger.Balance{ID: c.balanceID, CustomerID: cust, Currency: "EUR"}, env); r != nil {
			return r
		}
		if _, r := tx.Reload(c.balanceID, loadMinor, "", env); r != nil {
			return r
		}
		cvc2, _ := cardcrypto.CVV(config.Key(s.app.Config().Programs[0].Keys.CVK), p, exp, "000")
		_, r := tx.IssueCard(ledger.Card{ID: c.id, BalanceID: c.balanceID, Program: "demo-mc", Type: ledger.CardVirtual,
			PANHash: s.hash(p), PAN: p, Last4: p[len(p)-4:], ExpiryYYMM: exp, PSN: "00", CVC2: cvc2}, env)
		return r
	})
	return c
}

func (h *hub) cvc2(c card) string {
	got, _ := h.s.app.Engine().State().Card(c.id)
	return got.CVC2
}

func mmyy(yymm string) string { return yymm[2:] + yymm[:2] }

// tokenPAN is a Luhn-valid token PAN of the Mastercard range, distinct per test.
func tokenPAN(n int64) string {
	body := fmt.Sprintf("535110%09d", 900000000+n)
	d, _ := cardcrypto.LuhnCheckDigit(body)
	return body + string(d)
}

// A token provisioned through /tsh is approved over ISO 8583 with its token PAN (echoed in
// field 2) and declined as its state says: 62 after SUSPEND, approved after RESUME, 14 after
// DELETE; RENEW moves it to a new PAN and the old one stops working. The enrolment goes
// through eligibility, a yellow digitization with an OTP delivered by webhook, and a green one.
func TestTSHTokenLifecycleOverISO(t *testing.T) {
	h := startWithHub(t)
	c := h.provisionWithContacts(100_00)
	const corr = "enrol-0001"

	// Eligibility from the encrypted card data (PKCS#1 v1.5) and by reference.
	ci := map[string]any{"fpan": c.pan, "exp": mmyy(c.expiry)}
	out := h.expect("checkCardEligibility", corr, map[string]any{"cipheredCardInfo": h.seal(ci, cms.PKCS1v15),
		"publicKeyIdentifier": config.DevTSHKeyID, "walletProviderId": "APPLE_PAY", "captureMethod": "CAMERA"}, 200, "")
	ref, _ := out["issuerCardRefId"].(string)
	if ref != c.id || out["productId"] != "demo-mc" || strings.Contains(ref, c.pan) {
		t.Fatalf("eligibility: %v", out)
	}

	// Yellow: no CVV; the method list masks the contacts.
	out = h.expect("requestCardDigitization", corr, map[string]any{"cipheredCardInfo": h.seal(ci, cms.OAEPSHA256),
		"publicKeyIdentifier": config.DevTSHKeyID, "walletProviderId": "APPLE_PAY", "tncStatus": true}, 200, "")
	methods, _ := out["idvMethodList"].([]any)
	if out["levelOfTrust"] != "yellow" || len(methods) != 2 {
		t.Fatalf("yellow: %v", out)
	}
	sms := methods[0].(map[string]any)
	if sms["type"] != "SMS" || sms["value"] != "*********678" || methods[1].(map[string]any)["value"] != "a***@example.com" {
		t.Fatalf("methods: %v", methods)
	}
	// The OTP goes to the webhook, never back to the hub.
	h.expect("sendOTP", corr, map[string]any{"walletProviderId": "APPLE_PAY", "issuerCardRefId": ref,
		"otpMethodId": sms["id"]}, 200, "")
	select {
	case ev := <-h.events:
		otp, _ := ev["otpValue"].(string)
		h.lastOTP = otp
		if ev["cardId"] != c.id || ev["otpMethodId"] != sms["id"] || ev["type"] != "SMS" || len(otp) != 6 ||
			ev["correlationId"] != corr || ev["expirationDate"] == "" {
			t.Fatalf("otp event: %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no tsh.otp event delivered")
	}
	h.expect("sendOTP", corr, map[string]any{"walletProviderId": "APPLE_PAY", "issuerCardRefId": ref,
		"otpMethodId": "sms-0000"}, 400, "UNKNOWN_IDV_METHOD")

	// Green: the CVV checked right by cardswitch, terms accepted. Red: a wrong CVV.
	out = h.expect("requestCardDigitization", corr, map[string]any{"issuerCardRefId": ref, "walletProviderId": "APPLE_PAY",
		"authenticationValue": h.seal(map[string]string{"cvv": h.cvc2(c)}, cms.OAEPSHA256),
		"publicKeyIdentifier": config.DevTSHKeyID, "tncStatus": true}, 200, "")
	if out["levelOfTrust"] != "green" || out["idvMethodList"] != nil {
		t.Fatalf("green: %v", out)
	}
	wrong := "000"
	if h.cvc2(c) == wrong {
		wrong = "001"
	}
	out = h.expect("requestCardDigitization", corr, map[string]any{"issuerCardRefId": ref, "walletProviderId": "APPLE_PAY",
		"authenticationValue": h.seal(map[string]string{"cvv": wrong}, cms.PKCS1v15),
		"publicKeyIdentifier": config.DevTSHKeyID, "tncStatus": true}, 200, "")
	if out["levelOfTrust"] != "red" {
		t.Fatalf("red: %v", out)
	}

	// Registration: INACTIVE until ACTIVATE; an INACTIVE token declines 62.
	tpan := tokenPAN(panSeq.Add(1))
	texp := mmyy(c.expiry)
	vcid := "vc-" + tpan[len(tpan)-6:]
	notify := func(corr, action string, extra map[string]any, status int, code string) {
		t.Helper()
		b := map[string]any{"issuerCardRefId": ref, "virtualCardId": vcid, "walletProviderId": "APPLE_PAY", "isPrimary": true}
		if action != "" {
			b["action"] = action
		}
		for k, v := range extra {
			b[k] = v
		}
		h.expect("notifyVirtualCardChange", corr, b, status, code)
	}
	tokenInfo := func(pan, exp string) map[string]any {
		return map[string]any{"tokenInfo": h.seal(map[string]string{"pan": pan, "exp": exp}, cms.OAEPSHA256),
			"publicKeyIdentifier": config.DevTSHKeyID, "tokenType": "SE"}
	}
	authorize := func(pan, want string) {
		t.Helper()
		r := h.s.send(h.s.req("0100", "000000", card{pan: pan, expiry: c.expiry}, 10_00))
		if r.ResponseCode != want || r.PAN != pan {
			t.Fatalf("authorization with %s: %s (field 2 %s), want %s", tokenvault.Mask(pan), r.ResponseCode, tokenvault.Mask(r.PAN), want)
		}
	}
	notify(corr, "", tokenInfo(tpan, texp), 200, "")
	authorize(tpan, "62")
	notify(corr, "ACTIVATE", nil, 200, "")
	authorize(tpan, "00")
	notify("lcm-0002", "SUSPEND", nil, 200, "")
	authorize(tpan, "62")
	notify("lcm-0003", "RESUME", nil, 200, "")
	authorize(tpan, "00")
	notify("lcm-0004", "RESUME", nil, 409, "INVALID_TOKEN_TRANSITION")

	// RENEW: the new PAN authorizes, the old one no longer does.
	renewed := tokenPAN(panSeq.Add(1))
	notify("lcm-0005", "RENEW", tokenInfo(renewed, texp), 200, "")
	authorize(renewed, "00")
	authorize(tpan, "14")

	// Device binding: yellow with methods, recorded on DEVICE_BOUND with the binding's id.
	out = h.expect("requestDeviceBinding", "bind-0006", map[string]any{"deviceBindingReference": "dev-idx-1",
		"virtualCardId": vcid, "walletProviderId": "APPLE_PAY", "issuerCardRefId": ref}, 200, "")
	if out["levelOfTrust"] != "yellow" || out["idvMethodList"] == nil {
		t.Fatalf("binding: %v", out)
	}
	notify("bind-0006", "DEVICE_BOUND", map[string]any{"deviceBindingReference": "dev-idx-1"}, 200, "")

	// DELETE: 14, final.
	notify("lcm-0007", "DELETE", nil, 200, "")
	authorize(renewed, "14")
	notify("lcm-0008", "ACTIVATE", nil, 409, "INVALID_TOKEN_TRANSITION")
	out = h.expect("requestDeviceBinding", "bind-0009", map[string]any{"deviceBindingReference": "dev-idx-2",
		"virtualCardId": vcid, "walletProviderId": "APPLE_PAY", "issuerCardRefId": ref}, 200, "")
	if out["levelOfTrust"] != "red" {
		t.Fatalf("binding of a deleted token: %v", out)
	}

	// The wallet token remembers who created and changed it.
	w, ok := h.s.app.Engine().State().WalletToken(ledger.WalletTokenID(vcid))
	if !ok || len(w.History) != 7 || w.History[0].CorrelationID != corr || w.History[6].CorrelationID != "lcm-0007" ||
		len(w.Bindings) != 1 || w.Bindings[0].CorrelationID != "bind-0006" {
		t.Fatalf("wallet token: %+v", w)
	}

	// Stand-in: the scheme made a token while the issuer was away; it is registered ACTIVE
	// (status RESUMED) and authorizes.
	stip := tokenPAN(panSeq.Add(1))
	out = h.expect("notifyStandInProcess", "stip-0010", map[string]any{
		"cipheredCardInfo": h.seal(ci, cms.PKCS1v15), "publicKeyIdentifier": config.DevTSHKeyID,
		"virtualCardId": "vc-stip-" + stip[len(stip)-6:], "isPrimary": false, "enrollmentStep": "CARD_DIGITIZATION_DONE",
		"status": "RESUMED", "tokenInfo": h.seal(map[string]string{"pan": stip, "exp": texp}, cms.PKCS1v15),
		"walletProviderId": "WALLET", "source": "TSP"}, 200, "")
	if out["issuerCardRefId"] != ref {
		t.Fatalf("stand-in: %v", out)
	}
	authorize(stip, "00")
	// A later stand-in report on the same token moves it to the state it gives.
	h.expect("notifyStandInProcess", "stip-0011", map[string]any{
		"cipheredCardInfo": h.seal(ci, cms.OAEPSHA256), "publicKeyIdentifier": config.DevTSHKeyID,
		"virtualCardId": "vc-stip-" + stip[len(stip)-6:], "isPrimary": false, "enrollmentStep": "NOTIFY_CARD_STATUS_DONE",
		"status": "SUSPENDED", "walletProviderId": "WALLET", "source": "TSP"}, 200, "")
	authorize(stip, "62")
	h.expect("notifyStandInProcess", "stip-0012", map[string]any{
		"cipheredCardInfo": h.seal(ci, cms.OAEPSHA256), "publicKeyIdentifier": config.DevTSHKeyID,
		"virtualCardId": "vc-stip-" + stip[len(stip)-6:], "isPrimary": false, "enrollmentStep": "NOTIFY_CARD_STATUS_DONE",
		"status": "RESUMED", "walletProviderId": "WALLET", "source": "TSP"}, 200, "")
	authorize(stip, "00")

	h.expect("healthCheck", "hc-1", nil, 200, "")

	// Operators list the card's tokens with their hub history, and find the enrolment's calls
	// in the audit trail by its correlation id; no OTP anywhere.
	var list struct {
		Tokens []struct {
			TokenID, State, Type, Last4, WalletProvider, VirtualCardID, CreatedByCorrelationID string
			History                                                                            []struct{ CorrelationID, Action, State string }
		}
	}
	h.admin(adminToken, "/admin/tokens?cardId="+c.id, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].State != "DELETED" || list.Tokens[0].Last4 != renewed[len(renewed)-4:] ||
		list.Tokens[0].WalletProvider != "APPLE_PAY" || list.Tokens[0].Type != "SE" || list.Tokens[0].CreatedByCorrelationID != corr ||
		len(list.Tokens[0].History) != 7 || list.Tokens[1].State != "ACTIVE" || list.Tokens[1].CreatedByCorrelationID != "stip-0010" || len(list.Tokens[1].History) != 3 {
		t.Fatalf("admin tokens: %+v", list)
	}
	var audit struct {
		Items []struct{ Action, CorrelationID, ResourceID string }
	}
	raw := h.admin(rootToken, "/admin/audit?correlationId="+corr, &audit)
	actions := map[string]int{}
	for _, e := range audit.Items {
		if e.CorrelationID != corr {
			t.Fatalf("audit filter: %+v", e)
		}
		actions[e.Action]++
	}
	if actions["tsh.checkCardEligibility"] != 1 || actions["tsh.requestCardDigitization"] != 3 || actions["tsh.sendOTP"] != 2 ||
		actions["tsh.notifyVirtualCardChange"] != 2 {
		t.Fatalf("audit of %s: %v", corr, actions)
	}
	var hc struct{ Items []struct{ Action string } }
	h.admin(rootToken, "/admin/audit?correlationId=hc-1", &hc)
	if len(hc.Items) != 1 || hc.Items[0].Action != "tsh.healthCheck" {
		t.Fatalf("healthCheck audit: %+v", hc)
	}
	var hooks json.RawMessage
	raw += h.admin(rootToken, "/admin/webhooks/events", &hooks)
	if strings.Contains(raw, c.pan) || strings.Contains(raw, tpan) || strings.Contains(raw, h.lastOTP) ||
		!strings.Contains(raw, "[redacted]") {
		t.Fatalf("card data, token PAN or OTP in the admin views: %s", raw)
	}
}

const (
	adminToken = "tsh-test-employee-token"
	rootToken  = "tsh-test-admin-token"
)

// admin GETs an admin path and decodes the answer into v; it returns the raw body.
func (h *hub) admin(token, path string, v any) string {
	h.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.s.app.HTTPAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		h.t.Fatal(err)
	}
	return string(raw)
}

// Refusals of the transport rules and the envelope (contract §5): headers, issuer, key, envelope,
// plaintext; each gets its code and changes nothing.
func TestTSHRefusals(t *testing.T) {
	h := startWithHub(t)
	c := h.provisionWithContacts(10_00)
	ci := map[string]any{"fpan": c.pan, "exp": mmyy(c.expiry)}
	base := func() map[string]any {
		return map[string]any{"cipheredCardInfo": h.seal(ci, cms.OAEPSHA256), "publicKeyIdentifier": config.DevTSHKeyID,
			"walletProviderId": "ANDROID_PAY"}
	}
	send := func(corr, issuer string, body map[string]any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", h.base+"checkCardEligibility", bytes.NewReader(b))
		if corr != "-" {
			req.Header.Set("x-correlation-id", corr)
		}
		if issuer != "-" {
			req.Header.Set("x-issuer-id", issuer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for _, cse := range []struct {
		name, corr, issuer string
		status             int
		code               string
	}{
		{"no correlation id", "-", config.DevTSHIssuerID, 400, "INVALID_HEADER"},
		{"long correlation id", strings.Repeat("c", 65), config.DevTSHIssuerID, 400, "INVALID_HEADER"},
		{"no issuer id", "c1", "-", 400, "INVALID_HEADER"},
		{"short issuer id", "c1", "CARDSWITC", 400, "INVALID_HEADER"},
		{"long issuer id", "c1", "CARDSWITCHX", 400, "INVALID_HEADER"},
		{"another issuer", "c1", "OTHERBANK1", 403, "UNKNOWN_ISSUER"},
		{"ok", strings.Repeat("c", 64), config.DevTSHIssuerID, 200, ""},
	} {
		st, out := send(cse.corr, cse.issuer, base())
		if st != cse.status || (cse.code != "" && out["code"] != cse.code) {
			t.Errorf("%s: %d %v", cse.name, st, out)
		}
	}

	der, _ := base64Decode(h.seal(ci, cms.PKCS1v15))
	mod := func(f func(m map[string]any)) map[string]any { m := base(); f(m); return m }
	for _, cse := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"unknown key", mod(func(m map[string]any) { m["publicKeyIdentifier"] = "dev-9" }), 400, "UNKNOWN_PUBLIC_KEY_IDENTIFIER"},
		{"truncated envelope", mod(func(m map[string]any) { m["cipheredCardInfo"] = base64Encode(der[:len(der)-7]) }), 400, "CANT_DECRYPT"},
		{"not base64", mod(func(m map[string]any) { m["cipheredCardInfo"] = "@@@@" }), 400, "CANT_DECRYPT"},
		{"non-JSON plaintext", mod(func(m map[string]any) { m["cipheredCardInfo"] = h.sealRaw("fpan=123", cms.OAEPSHA256) }), 400, "INVALID_CARD_INFO"},
		{"no fpan", mod(func(m map[string]any) {
			m["cipheredCardInfo"] = h.seal(map[string]string{"exp": "1230"}, cms.OAEPSHA256)
		}), 400, "INVALID_CARD_INFO"},
		{"no key id", mod(func(m map[string]any) { delete(m, "publicKeyIdentifier") }), 400, "INVALID_FIELD"},
		{"exclusive fields", mod(func(m map[string]any) { m["issuerCardRefId"] = c.id }), 400, "INVALID_FIELD"},
		{"neither card field", map[string]any{"walletProviderId": "ECOM"}, 400, "INVALID_FIELD"},
		{"unknown wallet", mod(func(m map[string]any) { m["walletProviderId"] = "BOGUS_PAY" }), 400, "INVALID_FIELD"},
		{"bad capture method", mod(func(m map[string]any) { m["captureMethod"] = "ON_FILE" }), 400, "INVALID_FIELD"},
		{"unknown card", mod(func(m map[string]any) {
			m["cipheredCardInfo"] = h.seal(map[string]string{"fpan": "5351109999999990"}, cms.PKCS1v15)
		}), 404, "CARD_NOT_FOUND"},
		{"unknown ref", map[string]any{"issuerCardRefId": "card-none", "walletProviderId": "ECOM"}, 404, "CARD_NOT_FOUND"},
		{"expiry mismatch", mod(func(m map[string]any) {
			m["cipheredCardInfo"] = h.seal(map[string]string{"fpan": c.pan, "exp": "0130"}, cms.PKCS1v15)
		}), 409, "CARD_NOT_ELIGIBLE"},
	} {
		st, out := send("ref-1", config.DevTSHIssuerID, cse.body)
		if st != cse.status || out["code"] != cse.code {
			t.Errorf("%s: %d %v, want %d %s", cse.name, st, out, cse.status, cse.code)
		}
		if cse.code == "CARD_NOT_ELIGIBLE" && out["reason"] != "EXPIRY_MISMATCH" {
			t.Errorf("%s: reason %v", cse.name, out["reason"])
		}
	}
	// A locked card is not eligible, with its reason.
	h.s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.LockCard{CardID: c.id, Reason: 7}.Apply(tx, env).Refusal
	})
	out := h.expect("checkCardEligibility", "ref-2", map[string]any{"issuerCardRefId": c.id, "walletProviderId": "ECOM"}, 409, "CARD_NOT_ELIGIBLE")
	if out["reason"] != "CARD_LOCKED" {
		t.Fatalf("locked: %v", out)
	}
	// A wrong method and path.
	if st, _ := h.call("healthCheck", "x", map[string]any{}); st != 405 {
		t.Fatalf("POST healthCheck: %d", st)
	}
	if st, _ := h.call("nope", "x", map[string]any{}); st != 404 {
		t.Fatalf("unknown operation: %d", st)
	}
	// Nothing was registered by the refusals; every call is in the audit trail with its id.
	if n := len(h.s.app.Engine().State().TokenIDsOfCard(c.id)); n != 0 {
		t.Fatalf("%d tokens registered", n)
	}
}

func (h *hub) sealRaw(plain string, p cms.Padding) string {
	text, err := cms.Seal([]byte(plain), h.cert, p)
	if err != nil {
		h.t.Fatal(err)
	}
	return text
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
func base64Encode(b []byte) string          { return base64.StdEncoding.EncodeToString(b) }

// Each operation's refusals beyond the envelope (contract §5), and the cases the lifecycle test
// does not walk: UPDATE to another card, ERASE after DELETE, an errorCode, a token PAN that is a
// card PAN, a hub OTP delivered as given, stand-in without a token.
func TestTSHOperationCases(t *testing.T) {
	h := startWithHub(t)
	c := h.provisionWithContacts(50_00)
	other := h.provisionWithContacts(50_00)
	key := config.DevTSHKeyID
	tpan := tokenPAN(panSeq.Add(1))
	vcid := "vc-cases-" + tpan[len(tpan)-6:]
	ti := func(pan string) string {
		return h.seal(map[string]string{"pan": pan, "exp": mmyy(c.expiry)}, cms.OAEPSHA256)
	}
	vcc := func(ref string, extra map[string]any) map[string]any {
		b := map[string]any{"issuerCardRefId": ref, "virtualCardId": vcid, "walletProviderId": "ANDROID_PAY", "isPrimary": true}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	type step struct {
		name   string
		op     string
		body   map[string]any
		status int
		code   string
	}
	steps := []step{
		// getIDnVMethodList
		{"methods by ref", "getIDnVMethodList", map[string]any{"walletProviderId": "WALLET", "issuerCardRefId": c.id, "purpose": "ENROLMENT"}, 200, ""},
		{"methods of an unknown token", "getIDnVMethodList", map[string]any{"walletProviderId": "WALLET", "virtualCardId": "nope"}, 404, "TOKEN_NOT_FOUND"},
		{"methods without card or token", "getIDnVMethodList", map[string]any{"walletProviderId": "WALLET"}, 400, "INVALID_FIELD"},
		{"methods with a bad purpose", "getIDnVMethodList", map[string]any{"walletProviderId": "WALLET", "issuerCardRefId": c.id, "purpose": "ENROLLMENT"}, 400, "INVALID_FIELD"},
		// requestDeviceBinding
		{"binding of an unknown card", "requestDeviceBinding", map[string]any{"deviceBindingReference": "d1", "virtualCardId": vcid,
			"walletProviderId": "WALLET", "issuerCardRefId": "card-none"}, 404, "CARD_NOT_FOUND"},
		{"binding without its reference", "requestDeviceBinding", map[string]any{"virtualCardId": vcid,
			"walletProviderId": "WALLET", "issuerCardRefId": c.id}, 400, "INVALID_FIELD"},
		// notifyVirtualCardChange
		{"change of an unknown token", "notifyVirtualCardChange", vcc(c.id, map[string]any{"action": "ACTIVATE"}), 404, "TOKEN_NOT_FOUND"},
		{"tokenInfo without key id", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tpan)}), 400, "INVALID_FIELD"},
		{"tokenInfo under an unknown key", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tpan), "publicKeyIdentifier": "old"}), 400, "UNKNOWN_PUBLIC_KEY_IDENTIFIER"},
		{"tokenInfo not an envelope", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": "AAAA", "publicKeyIdentifier": key}), 400, "CANT_DECRYPT"},
		{"token PAN failing Luhn", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tpan[:15] + string('0'+(tpan[15]-'0'+1)%10)), "publicKeyIdentifier": key}), 400, "INVALID_CARD_INFO"},
		{"token PAN that is a card PAN", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(other.pan), "publicKeyIdentifier": key}), 409, "TOKEN_EXISTS"},
		{"isPrimary a string", "notifyVirtualCardChange", vcc(c.id, map[string]any{"isPrimary": "true"}), 400, "INVALID_FIELD"},
		{"errorCode a string", "notifyVirtualCardChange", vcc(c.id, map[string]any{"errorCode": "911"}), 400, "INVALID_FIELD"},
		{"register and activate", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tpan), "publicKeyIdentifier": key,
			"action": "ACTIVATE", "tokenType": "HCE", "walletCardRefId": "wcr-1", "tokenAssuranceLevel": "12"}), 200, ""},
		{"register twice: same PAN is a repeat", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tpan), "publicKeyIdentifier": key, "action": "ACTIVATE"}), 200, ""},
		{"another PAN without RENEW", "notifyVirtualCardChange", vcc(c.id, map[string]any{"tokenInfo": ti(tokenPAN(panSeq.Add(1))), "publicKeyIdentifier": key}), 409, "INVALID_TOKEN_TRANSITION"},
		{"RENEW without tokenInfo", "notifyVirtualCardChange", vcc(c.id, map[string]any{"action": "RENEW"}), 400, "INVALID_FIELD"},
		{"another card without UPDATE", "notifyVirtualCardChange", vcc(other.id, map[string]any{"action": "SUSPEND"}), 400, "INVALID_FIELD"},
		{"an error code is recorded", "notifyVirtualCardChange", vcc(c.id, map[string]any{"action": "CARDHOLDER_STEPUP_OTP", "errorCode": 999, "source": "TSP"}), 200, ""},
		{"UPDATE to another card", "notifyVirtualCardChange", vcc(other.id, map[string]any{"action": "UPDATE"}), 200, ""},
		// sendOTP
		{"OTP of an unknown card", "sendOTP", map[string]any{"walletProviderId": "WALLET", "issuerCardRefId": "card-none"}, 404, "CARD_NOT_FOUND"},
		{"OTP too short", "sendOTP", map[string]any{"walletProviderId": "WALLET", "issuerCardRefId": c.id, "otpValue": "123"}, 400, "INVALID_FIELD"},
		{"hub's OTP, first method", "sendOTP", map[string]any{"walletProviderId": "WALLET", "issuerCardRefId": c.id, "otpValue": "4711",
			"expirationDate": "2030-05-18T14:40:32.000Z"}, 200, ""},
		// notifyStandInProcess
		{"stand-in without card info", "notifyStandInProcess", map[string]any{"virtualCardId": "v", "isPrimary": true,
			"enrollmentStep": "NEW_SESSION", "walletProviderId": "WALLET", "source": "TSP"}, 400, "INVALID_FIELD"},
		{"stand-in misspelled step", "notifyStandInProcess", map[string]any{"cipheredCardInfo": h.seal(map[string]string{"fpan": c.pan}, cms.PKCS1v15),
			"publicKeyIdentifier": key, "virtualCardId": "v", "isPrimary": true, "enrollmentStep": "CARD_ELIGIBILITY_DONE",
			"walletProviderId": "WALLET", "source": "TSP"}, 400, "INVALID_FIELD"},
		{"stand-in without token", "notifyStandInProcess", map[string]any{"cipheredCardInfo": h.seal(map[string]string{"fpan": c.pan}, cms.PKCS1v15),
			"publicKeyIdentifier": key, "virtualCardId": "v-none", "isPrimary": true, "enrollmentStep": "CARD_ELEGIBILITY_DONE",
			"walletProviderId": "WALLET", "source": "ISSUER"}, 200, ""},
	}
	for i, st := range steps {
		got, out := h.call(st.op, fmt.Sprintf("case-%02d", i), st.body)
		if got != st.status || (st.code != "" && out["code"] != st.code) {
			t.Errorf("%s: %d %v, want %d %s", st.name, got, out, st.status, st.code)
		}
	}
	select {
	case ev := <-h.events:
		if ev["otpValue"] != "4711" || ev["type"] != "SMS" || ev["expirationDate"] != "2030-05-18T14:40:32.000Z" {
			t.Fatalf("hub OTP: %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OTP event")
	}
	// The token now funds from the other card: its authorization takes that card's money.
	before := h.s.balance(other.balanceID).CurrentMinor
	r := h.s.send(h.s.req("0200", "000000", card{pan: tpan, expiry: c.expiry}, 7_00))
	if r.ResponseCode != "00" || h.s.balance(other.balanceID).CurrentMinor != before-7_00 {
		t.Fatalf("after UPDATE: %s, balance %d -> %d", r.ResponseCode, before, h.s.balance(other.balanceID).CurrentMinor)
	}
	w, _ := h.s.app.Engine().State().WalletToken(ledger.WalletTokenID(vcid))
	last := w.History[len(w.History)-2]
	if last.ErrorCode != 999 || last.Action != "CARDHOLDER_STEPUP_OTP" || len(w.StepUps) != 1 || w.WalletCardRefID != "wcr-1" ||
		w.TokenAssuranceLevel != "12" {
		t.Fatalf("wallet token: %+v", w)
	}
	// DELETE then ERASE: the personal data goes, the PAN still declines 14.
	for _, a := range []string{"DELETE", "ERASE", "ERASE"} {
		if got, out := h.call("notifyVirtualCardChange", "gdpr-1", vcc(other.id, map[string]any{"action": a})); got != 200 {
			t.Fatalf("%s: %d %v", a, got, out)
		}
	}
	w, _ = h.s.app.Engine().State().WalletToken(ledger.WalletTokenID(vcid))
	tok, _ := h.s.app.Engine().State().Token(ledger.WalletTokenID(vcid))
	if !w.Erased || w.WalletCardRefID != "" || tok.PAN != "" || tok.State != "DELETED" {
		t.Fatalf("erased: %+v %+v", w, tok.State)
	}
	if r := h.s.send(h.s.req("0100", "000000", card{pan: tpan, expiry: c.expiry}, 1_00)); r.ResponseCode != "14" {
		t.Fatalf("erased token: %s", r.ResponseCode)
	}
}

// Without a webhook sendOTP still answers 200 and records the event (like every event, pruned
// unread); a customer without contacts has no method (UNKNOWN_IDV_METHOD) and a yellow
// digitization with an empty method list.
func TestTSHWithoutWebhookOrContacts(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10_00)
	h := &hub{t: t, s: s, base: "http://" + s.app.HTTPAddr() + "/tsh/"}
	h.expect("sendOTP", "otp-1", map[string]any{"walletProviderId": "ECOM", "issuerCardRefId": c.id}, 400, "UNKNOWN_IDV_METHOD")
	raw, _ := json.Marshal(map[string]any{"issuerCardRefId": c.id, "walletProviderId": "ECOM", "tncStatus": true})
	req, _ := http.NewRequest("POST", h.base+"requestCardDigitization", bytes.NewReader(raw))
	req.Header.Set("x-correlation-id", "dig-1")
	req.Header.Set("x-issuer-id", config.DevTSHIssuerID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"levelOfTrust":"yellow","idvMethodList":[]`) {
		t.Fatalf("no contacts: %d %s", resp.StatusCode, body)
	}
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		card, _ := tx.Card(c.id)
		cust, _ := tx.Customer(card.CustomerID)
		cust.Phone = "+4915112345678"
		tx.PutCustomer(cust)
		return nil
	})
	h.expect("sendOTP", "otp-2", map[string]any{"walletProviderId": "ECOM", "issuerCardRefId": c.id}, 200, "")
	if seq := s.app.Engine().State().LastEventSeq(); seq != 1 {
		t.Fatalf("%d events recorded, want the tsh.otp one", seq)
	}
}

// A hub token, its wallet record and the calls' correlation ids survive a restart: they are rows
// of the journal, not memory.
func TestTSHTokenSurvivesRestart(t *testing.T) {
	h := startWithHub(t)
	c := h.provisionWithContacts(20_00)
	tpan := tokenPAN(panSeq.Add(1))
	vcid := "vc-restart-" + tpan[len(tpan)-6:]
	h.expect("notifyVirtualCardChange", "restart-1", map[string]any{"issuerCardRefId": c.id, "virtualCardId": vcid,
		"walletProviderId": "SPAYHCE", "isPrimary": true, "action": "ACTIVATE", "publicKeyIdentifier": config.DevTSHKeyID,
		"tokenInfo": h.seal(map[string]string{"pan": tpan, "exp": mmyy(c.expiry)}, cms.PKCS1v15)}, 200, "")
	h.expect("notifyVirtualCardChange", "restart-2", map[string]any{"issuerCardRefId": c.id, "virtualCardId": vcid,
		"walletProviderId": "SPAYHCE", "isPrimary": true, "action": "SUSPEND"}, 200, "")
	dir := h.s.dir
	h.s.stop()

	s := startSwitchIn(t, dir)
	id := ledger.WalletTokenID(vcid)
	w, ok := s.app.Engine().State().WalletToken(id)
	tok, _ := s.app.Engine().State().Token(id)
	if !ok || len(w.History) != 2 || w.History[0].CorrelationID != "restart-1" || w.History[1].CorrelationID != "restart-2" ||
		tok.State != "SUSPENDED" || w.WalletProviderID != "SPAYHCE" {
		t.Fatalf("after restart: %+v %s", w, tok.State)
	}
	if r := s.send(s.req("0100", "000000", card{pan: tpan, expiry: c.expiry}, 1_00)); r.ResponseCode != "62" {
		t.Fatalf("suspended token after restart: %s", r.ResponseCode)
	}
}

// Wrong CVVs sent through requestCardDigitization count like wrong CVC2s on the ISO path: a
// right one resets the count, and the fifth wrong one in a row locks the card (7), after which
// the card is not eligible.
func TestTSHWrongCVVsLockTheCard(t *testing.T) {
	h := startWithHub(t)
	c := h.provisionWithContacts(10_00)
	wrong := "000"
	if h.cvc2(c) == wrong {
		wrong = "001"
	}
	digitize := func(cvv, want string) {
		t.Helper()
		out := h.expect("requestCardDigitization", "cvv-1", map[string]any{"issuerCardRefId": c.id, "walletProviderId": "ECOM",
			"tncStatus": true, "publicKeyIdentifier": config.DevTSHKeyID,
			"authenticationValue": h.seal(map[string]string{"cvv": cvv}, cms.PKCS1v15)}, 200, "")
		if out["levelOfTrust"] != want {
			t.Fatalf("cvv: %v, want %s", out, want)
		}
	}
	for i := 0; i < 4; i++ {
		digitize(wrong, "red")
	}
	digitize(h.cvc2(c), "green") // resets the count
	for i := 0; i < 4; i++ {
		digitize(wrong, "red")
	}
	if card, _ := h.s.app.Engine().State().Card(c.id); card.State != ledger.CardActive || card.CardDataFails != 4 {
		t.Fatalf("after 4 wrong: %s %d", card.State, card.CardDataFails)
	}
	digitize(wrong, "red")
	card, _ := h.s.app.Engine().State().Card(c.id)
	if card.State != ledger.CardLocked || card.LockReason != 7 {
		t.Fatalf("after 5 wrong: %s %d", card.State, card.LockReason)
	}
	out := h.expect("checkCardEligibility", "cvv-2", map[string]any{"issuerCardRefId": c.id, "walletProviderId": "ECOM"}, 409, "CARD_NOT_ELIGIBLE")
	if out["reason"] != "CARD_LOCKED" {
		t.Fatalf("%v", out)
	}
	// The right CVV of a locked card is still red (the card is not eligible) and, as on the ISO
	// path where the card's state is checked first, does not reset the count.
	digitize(h.cvc2(c), "red")
	if card, _ := h.s.app.Engine().State().Card(c.id); card.CardDataFails != 5 {
		t.Fatalf("count after a CVV on a locked card: %d", card.CardDataFails)
	}
}

// Key rotation: with two keys configured, envelopes to either open, each under its own
// publicKeyIdentifier (RSA 2048 and 4096, both paddings); one under the other's id does not.
func TestTSHKeyRotation(t *testing.T) {
	td, err := filepath.Abs("../../tsh/cms/testdata")
	if err != nil {
		t.Fatal(err)
	}
	h := startWithHub(t, func(c *config.Config) {
		c.TSH.Keys = append(c.TSH.Keys, config.TSHKey{PublicKeyIdentifier: "next-4096",
			PrivateKeyFile: filepath.Join(td, "rsa4096.key"), CertificateFile: filepath.Join(td, "rsa4096.crt")})
	})
	pemBytes, err := os.ReadFile(filepath.Join(td, "rsa4096.crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(pemBytes)
	next, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c := h.provisionWithContacts(1_00)
	ci, _ := json.Marshal(map[string]string{"fpan": c.pan})
	for _, k := range []struct {
		id   string
		cert *x509.Certificate
	}{{config.DevTSHKeyID, h.cert}, {"next-4096", next}} {
		for _, p := range []cms.Padding{cms.PKCS1v15, cms.OAEPSHA256} {
			env, err := cms.Seal(ci, k.cert, p)
			if err != nil {
				t.Fatal(err)
			}
			h.expect("checkCardEligibility", "rot-1", map[string]any{"cipheredCardInfo": env, "publicKeyIdentifier": k.id,
				"walletProviderId": "ECOM"}, 200, "")
			other := "next-4096"
			if k.id == other {
				other = config.DevTSHKeyID
			}
			h.expect("checkCardEligibility", "rot-2", map[string]any{"cipheredCardInfo": env, "publicKeyIdentifier": other,
				"walletProviderId": "ECOM"}, 400, "CANT_DECRYPT")
		}
	}
}
