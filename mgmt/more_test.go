package mgmt

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt/pki"
	"github.com/cardswitch/cardswitch/notify"
)

func TestPartnerBalancesAndSummary(t *testing.T) {
	h := newHarness(t)
	adm := bearerH(tokAdmin)
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`, bearerH(tokManager)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"nope","kind":"PARTNER_DEPOSIT"}`, adm...), 400, "UNKNOWN_PROGRAM", "program")
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT","creditLimit":"5.00"}`, adm...), 400, "INVALID_FIELD", "creditLimit")
	r := h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT","lowBalanceThreshold":"20.00"}`, adm...)
	expect(t, r, 201)
	pb := r.json(t)
	if pb["balanceId"] != "partner-mc" || pb["boundsProgram"] != true || pb["currency"] != "EUR" {
		t.Fatalf("partner %s", r.body)
	}
	expect(t, h.do("POST", "/admin/partner-balances", `{"program":"demo-mc","kind":"PARTNER_DEPOSIT"}`, adm...), 409, "BALANCE_EXISTS")
	r = h.do("POST", "/admin/partner-balances/partner-mc/reload", `{"amount":"30.00"}`, append(adm, "Idempotency-Key", "p1")...)
	expect(t, r, 200)
	if r.str(t, "available") != "30.00" {
		t.Fatalf("partner reload %s", r.body)
	}
	r = h.do("POST", "/admin/partner-balances", `{"program":"demo-visa","kind":"PARTNER_CREDIT","creditLimit":"1000.00"}`, adm...)
	expect(t, r, 201)
	credit := r.json(t)
	if credit["available"] != "1000.00" || credit["boundsProgram"] != false {
		t.Fatalf("credit %s", r.body)
	}
	r = h.do("PUT", "/admin/partner-balances/"+credit["balanceId"].(string)+"/credit-limit", `{"creditLimit":"500.00"}`, adm...)
	expect(t, r, 200)
	if r.str(t, "available") != "500.00" {
		t.Fatalf("credit limit %s", r.body)
	}
	expect(t, h.do("PUT", "/admin/partner-balances/partner-mc/credit-limit", `{"creditLimit":"5.00"}`, adm...), 409, "NOT_A_CREDIT_BALANCE")
	r = h.do("GET", "/admin/partner-balances", "", bearerH(tokEmployee)...)
	expect(t, r, 200)
	if n := len(r.json(t)["balances"].([]any)); n != 2 {
		t.Fatalf("partners %s", r.body)
	}
	expect(t, h.do("GET", "/admin/partner-balances/partner-mc", "", bearerH(tokEmployee)...), 200)

	// The partner balance bounds what the program's users can spend.
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+bid+"/reload", `{"amount":"100.00"}`), 200)
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	card, _ := h.eng.State().Card(cid)
	if a := h.authorize(card.PAN, "000100", 4000); a.Action != authz.InsufficientFunds {
		t.Fatalf("over the partner balance answered %v", a.Action)
	}
	if a := h.authorize(card.PAN, "000101", 1500); a.Action != authz.Approved {
		t.Fatalf("answered %v", a.Action)
	}
	// Summary.
	r = h.do("GET", "/admin/balance-summary", "", bearerH(tokManager)...)
	expect(t, r, 200)
	var sum struct {
		Currencies []struct {
			Currency string
			Users    struct {
				Count                    int
				Current, Held, Available string
			}
			Partners struct {
				Count                    int
				Current, Held, Available string
			}
			Total struct {
				Count                    int
				Current, Held, Available string
			}
		}
	}
	json.Unmarshal(r.body, &sum)
	if len(sum.Currencies) != 1 || sum.Currencies[0].Users.Current != "100.00" || sum.Currencies[0].Users.Held != "15.00" ||
		sum.Currencies[0].Users.Available != "85.00" || sum.Currencies[0].Partners.Count != 2 ||
		sum.Currencies[0].Total.Current != "130.00" {
		t.Fatalf("summary %s", r.body)
	}
	r = h.do("GET", "/admin/balances/"+bid, "", bearerH(tokEmployee)...)
	expect(t, r, 200)
	r = h.do("GET", "/admin/balances/partner-mc", "", bearerH(tokEmployee)...)
	if r.str(t, "kind") != "PARTNER_DEPOSIT" {
		t.Fatalf("admin partner %s", r.body)
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	adm := bearerH(tokAdmin)
	tpan := "5351109999999991"
	body := `{"tokenPan":"` + tpan + `","expiryMonth":12,"expiryYear":2030,"type":"HCE","walletProvider":"demo-pay"}`
	expect(t, h.do("POST", "/admin/cards/"+cid+"/tokens", body, bearerH(tokManager)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("POST", "/admin/cards/"+cid+"/tokens", strings.Replace(body, `"HCE"`, `"XX"`, 1), adm...), 400, "INVALID_TOKEN_TYPE", "type")
	expect(t, h.do("POST", "/admin/cards/"+cid+"/tokens", strings.Replace(body, tpan, "5351109999999992", 1), adm...), 400, "INVALID_PAN", "tokenPan")
	expect(t, h.do("POST", "/admin/cards/"+cid+"/tokens", strings.Replace(body, `"expiryMonth":12`, `"expiryMonth":13`, 1), adm...), 400, "INVALID_FIELD", "expiryMonth")
	expect(t, h.do("POST", "/admin/cards/crd_none/tokens", body, adm...), 404, "CARD_NOT_FOUND")
	r := h.do("POST", "/admin/cards/"+cid+"/tokens", body, adm...)
	expect(t, r, 201)
	tok := r.json(t)
	if tok["state"] != "ACTIVE" || tok["last4"] != "9991" || tok["expiryYear"] != float64(2030) || tok["tokenPan"] != nil {
		t.Fatalf("token %s", r.body)
	}
	tid := tok["tokenId"].(string)
	expect(t, h.do("POST", "/admin/cards/"+cid+"/tokens", body, adm...), 409, "TOKEN_EXISTS")
	r = h.do("GET", "/admin/cards/"+cid+"/tokens", "", bearerH(tokEmployee)...)
	expect(t, r, 200)
	if n := len(r.json(t)["tokens"].([]any)); n != 1 {
		t.Fatalf("tokens %s", r.body)
	}
	if a := h.authorize(tpan, "000200", 100); a.Action == authz.InvalidCard {
		t.Fatalf("token answered %v", a.Action)
	}
	expect(t, h.do("POST", "/admin/tokens/"+tid+"/suspend", "", bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	r = h.do("POST", "/admin/tokens/"+tid+"/suspend", "", bearerH(tokManager)...)
	expect(t, r, 200)
	if r.str(t, "state") != "SUSPENDED" {
		t.Fatalf("suspend %s", r.body)
	}
	if a := h.authorize(tpan, "000201", 100); a.Action != authz.RestrictedCard {
		t.Fatalf("suspended token answered %v", a.Action)
	}
	expect(t, h.do("POST", "/admin/tokens/"+tid+"/resume", "", bearerH(tokManager)...), 200)
	r = h.do("DELETE", "/admin/tokens/"+tid, "", bearerH(tokManager)...)
	expect(t, r, 200)
	if r.str(t, "state") != "DELETED" {
		t.Fatalf("delete %s", r.body)
	}
	expect(t, h.do("POST", "/admin/tokens/"+tid+"/resume", "", bearerH(tokManager)...), 409, "TOKEN_DELETED")
	expect(t, h.do("GET", "/admin/tokens/tok_none", "", bearerH(tokEmployee)...), 404, "TOKEN_NOT_FOUND")
	// External lock by token PAN locks the funding card.
	hdr, eb := h.encrypted(`{"pan":"` + tpan + `","reasonCode":3,"source":"ACQUIRER"}`)
	r = h.send(req{method: "POST", path: "/secure/external-locks", body: eb, headers: hdr})
	expect(t, r, 200)
	if h.open(r)["cardId"] != cid {
		t.Fatal("external lock by token PAN")
	}
}

func TestHistoryAndAudit(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+bid+"/reload", `{"amount":"100.00"}`), 200)
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	card, _ := h.eng.State().Card(cid)
	for i, amt := range []int64{100, 200, 300, 50000} {
		h.clock.Add(time.Second)
		h.authorize(card.PAN, "00030"+string(rune('0'+i)), amt)
	}
	r := h.do("GET", "/secure/cards/"+cid+"/transactions?limit=3", "")
	expect(t, r, 200)
	var page struct {
		Items []map[string]any
		Next  string `json:"nextCursor"`
	}
	json.Unmarshal(r.body, &page)
	if len(page.Items) != 3 || page.Next == "" {
		t.Fatalf("page 1 %s", r.body)
	}
	first := page.Items[0]
	if first["actionCode"] != "1016" || first["amount"] != "500.00" || first["mti"] != "0100" ||
		first["maskedPan"] != card.PAN[:6]+"******"+card.PAN[12:] || first["currency"] != "EUR" {
		t.Fatalf("newest item %v", first)
	}
	if strings.Contains(string(r.body), card.PAN) {
		t.Fatal("history carries a clear PAN")
	}
	r = h.do("GET", "/secure/cards/"+cid+"/transactions?limit=3&cursor="+page.Next, "")
	expect(t, r, 200)
	var page2 struct {
		Items []map[string]any
		Next  string `json:"nextCursor"`
	}
	json.Unmarshal(r.body, &page2)
	if len(page2.Items) != 1 || page2.Next != "" || page2.Items[0]["amount"] != "1.00" {
		t.Fatalf("page 2 %s", r.body)
	}
	// The history is read from the journal: a read that fails is a 503, never a partial page.
	h.hist.broken.Store(true)
	expect(t, h.do("GET", "/secure/cards/"+cid+"/transactions", ""), 503, "UNAVAILABLE")
	h.hist.broken.Store(false)
	expect(t, h.do("GET", "/secure/cards/"+cid+"/transactions?cursor=%%%", ""), 400, "INVALID_CURSOR", "cursor")
	expect(t, h.do("GET", "/secure/cards/"+cid+"/transactions?limit=0", ""), 400, "INVALID_FIELD", "limit")
	r = h.do("GET", "/secure/customers/"+cust+"/balances/"+bid+"/transactions", "")
	expect(t, r, 200)
	if n := len(r.json(t)["items"].([]any)); n != 4 {
		t.Fatalf("balance history %s", r.body)
	}
	tok := h.session(cust)
	expect(t, h.do("GET", "/customers/me/cards/"+cid+"/transactions", "", bearerH(tok)...), 200)
	expect(t, h.do("GET", "/customers/me/balances/"+bid+"/transactions", "", bearerH(tok)...), 200)
	expect(t, h.do("GET", "/admin/cards/"+cid+"/transactions", "", bearerH(tokEmployee)...), 200)
	expect(t, h.do("GET", "/admin/balances/"+bid+"/transactions", "", bearerH(tokEmployee)...), 200)

	// Audit: every change, who, channel, before/after, never a PAN.
	expect(t, h.do("POST", "/admin/cards/"+cid+"/lock", `{"reasonCode":3}`, bearerH(tokEmployee)...), 200)
	r = h.do("GET", "/admin/audit?resourceId="+cid, "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	var audit struct{ Items []AuditEntry }
	json.Unmarshal(r.body, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "card.lock" || audit.Items[0].Actor != "eve" ||
		audit.Items[0].Channel != "admin" || audit.Items[0].Role != "Employee" || audit.Items[1].Action != "card.issue" {
		t.Fatalf("audit %s", r.body)
	}
	var before, after map[string]any
	json.Unmarshal(audit.Items[0].Before, &before)
	json.Unmarshal(audit.Items[0].After, &after)
	if before["state"] != "ACTIVE" || after["state"] != "LOCKED" {
		t.Fatalf("before/after %s", r.body)
	}
	r = h.do("GET", "/admin/audit?limit=2", "", bearerH(tokAdmin)...)
	next := r.str(t, "nextCursor")
	if next == "" {
		t.Fatalf("audit paging %s", r.body)
	}
	expect(t, h.do("GET", "/admin/audit?cursor="+next, "", bearerH(tokAdmin)...), 200)
	// The trail is rows of the journal, written with the changes: never a PAN.
	rows, err := h.hist.Memory.Audits(0, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(rows)
	if strings.Contains(string(raw), card.PAN) {
		t.Fatal("audit trail carries a PAN")
	}
	if len(rows) < 6 || rows[0].Action != "card.lock" {
		t.Fatalf("audit rows %d, newest %+v", len(rows), rows[0])
	}
}

// An audit file of an earlier version is moved into the journal on start, once.
func TestLegacyAuditImported(t *testing.T) {
	var dataDir string
	h := newHarness(t, func(c *config.Config, d *Deps) {
		dataDir = c.DataDir
		os.MkdirAll(filepath.Join(dataDir, "mgmt"), 0o700)
		os.WriteFile(filepath.Join(dataDir, "mgmt", "audit.log"), []byte(
			`{"seq":1,"at":"2026-01-02T03:04:05Z","actor":"old","channel":"admin","action":"card.lock","resourceType":"card","resourceId":"crd_1"}`+"\n"+
				`{"seq":2,"at":"2026-01-02T03:04:06Z","actor":"old","channel":"admin","action":"card.unlock","resourceType":"card","resourceId":"crd_1"}`+"\n"+
				`{"seq":3,"at":"2026-01-0`), 0o600) // a torn last line
	})
	r := h.do("GET", "/admin/audit?actor=old", "", bearerH(tokAdmin)...)
	var audit struct{ Items []AuditEntry }
	json.Unmarshal(r.body, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "card.unlock" || audit.Items[1].At.Second() != 5 {
		t.Fatalf("imported audit %s", r.body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "mgmt", "audit.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("legacy audit file still in place: %v", err)
	}
}

func TestWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	fail := true
	const secret = "whsec-test"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			w.WriteHeader(500)
			return
		}
		sig := r.Header.Get("Cardswitch-Signature")
		parts := strings.Split(sig, ",")
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(strings.TrimPrefix(parts[0], "t=") + "."))
		m.Write(body)
		if len(parts) != 2 || parts[1] != "v1="+hex.EncodeToString(m.Sum(nil)) {
			w.WriteHeader(400)
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		got = append(got, ev)
	}))
	defer hook.Close()
	h := newHarness(t, func(c *config.Config, d *Deps) {
		c.HTTP.WebhookURL, c.HTTP.WebhookSecret = hook.URL, secret
	})
	cust := h.customer(true)
	bid := h.balance(cust, "EUR")
	cid := h.card(cust, bid, "VIRTUAL")["cardId"].(string)
	expect(t, h.do("PUT", "/secure/customers/"+cust+"/balances/"+bid+"/low-balance-alert", `{"threshold":"10.00"}`), 200)
	expect(t, h.do("POST", "/secure/cards/"+cid+"/lock", `{"reasonCode":3}`), 200)
	card, _ := h.eng.State().Card(cid)
	if r := h.authorize(card.PAN, "000001", 100); r.Action.IsApproved() {
		t.Fatal("a locked card approved")
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
	mu.Lock()
	types := map[string]bool{}
	for _, e := range got {
		types[e["type"].(string)] = true
		if e["type"] == "card.state_changed" {
			d := e["data"].(map[string]any)
			if d["previousState"] != "ACTIVE" || d["state"] != "LOCKED" || d["lockReason"] != 3.0 || d["actor"] == "" {
				t.Errorf("card.state_changed %v", d)
			}
		}
		if e["type"] == "authorization.decided" {
			d := e["data"].(map[string]any)
			if d["cardId"] != cid || d["balanceId"] != bid || d["amount"] != "1.00" || d["currency"] != "EUR" || d["approved"] != false {
				t.Errorf("authorization.decided %v", d)
			}
		}
	}
	mu.Unlock()
	for _, typ := range []string{"balance.low", "card.state_changed", "authorization.decided"} {
		if !types[typ] {
			t.Fatalf("no %s event: %v", typ, types)
		}
	}
	waitFor(t, func() bool { return len(h.srv.hooks.list(0, 100, deliveryDelivered)) == 3 })
	r := h.do("GET", "/admin/webhooks/events?status=DELIVERED", "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	var evs struct{ Items []delivery }
	json.Unmarshal(r.body, &evs)
	if len(evs.Items) != 3 || evs.Items[len(evs.Items)-1].Attempts != 2 {
		t.Fatalf("events %s", r.body)
	}
	r = h.do("POST", "/admin/webhooks/replay", `{"eventIds":["`+evs.Items[0].Event.ID+`"]}`, bearerH(tokAdmin)...)
	expect(t, r, 202)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 4 })
	expect(t, h.do("POST", "/admin/webhooks/replay", `{}`, bearerH(tokAdmin)...), 400, "INVALID_FIELD")
	// The delivery state is durable: reopened, the outbox holds the events as delivered.
	h.srv.hooks.o.Close()
	o, err := notify.Open(notify.Config{URL: hook.URL, Secret: []byte(secret),
		Path: filepath.Join(h.cfg.DataDir, "mgmt", "deliveries.log")}, h.hist.Memory, h.eng.State().LastEventSeq())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if n := len(o.List(0, 100, deliveryDelivered)); n != 3 {
		t.Fatalf("reopened outbox has %d delivered events", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPKIAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if err := pki.Init(dir); err != nil {
		t.Fatal(err)
	}
	if err := pki.Init(dir); err == nil {
		t.Fatal("Init overwrote a PKI")
	}
	for _, f := range []string{pki.CAKey, pki.ServerKey, pki.PartnerKey} {
		st, _ := os.Stat(filepath.Join(dir, f))
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", f, st.Mode())
		}
	}
	h := newHarness(t, func(c *config.Config, d *Deps) {
		c.HTTP.TLSCert, c.HTTP.TLSKey, c.HTTP.ClientCA = filepath.Join(dir, pki.ServerCert), filepath.Join(dir, pki.ServerKey), filepath.Join(dir, pki.CACert)
	})
	caPEM, _ := os.ReadFile(filepath.Join(dir, pki.CACert))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	partner, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.PartnerCert), filepath.Join(dir, pki.PartnerKey))
	if err != nil {
		t.Fatal(err)
	}
	h.scheme = "https"
	h.local.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{partner}}
	h.remote.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	r := h.send(req{method: "POST", path: "/secure/customers", body: `{"firstName":"A","lastName":"B"}`, client: h.remote})
	expect(t, r, 401, "CLIENT_CERTIFICATE_REQUIRED")
	expect(t, h.send(req{method: "GET", path: "/healthz", client: h.remote}), 200)
	r = h.send(req{method: "POST", path: "/secure/customers", body: `{"firstName":"A","lastName":"B"}`, client: h.remote})
	expect(t, r, 401)
	h.local.Dial = h.remote.Dial // a partner certificate from any address
	r = h.send(req{method: "POST", path: "/secure/customers", body: `{"firstName":"A","lastName":"B"}`})
	expect(t, r, 201)
	r = h.do("GET", "/admin/audit?limit=1", "", bearerH(tokAdmin)...)
	if !strings.Contains(string(r.body), "partner:"+pki.PartnerCN) {
		t.Fatalf("audit actor %s", r.body)
	}
}

// Every change of the management API and its audit entry are one durable batch: one journal
// commit per request, so no crash or write failure can leave a change without its entry.
func TestChangesAndTheirAuditEntryAreOneCommit(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	bal := h.balance(cust, "EUR")
	cid := h.card(cust, bal, "VIRTUAL")["cardId"].(string)
	one := func(what string, f func()) {
		t.Helper()
		before := h.j.Commits()
		f()
		if n := h.j.Commits() - before; n != 1 {
			t.Fatalf("%s: %d journal commits, want 1 (the change with its audit entry)", what, n)
		}
	}
	var other string
	one("customer.create", func() { other = h.customer(false) })
	one("customer.kyc", func() {
		expect(t, h.do("POST", "/secure/customers/"+other+"/kyc", `{"status":"VERIFIED"}`), 200)
	})
	one("balance.create", func() { h.balance(cust, "EUR") })
	one("card.issue", func() { h.card(cust, bal, "VIRTUAL") })
	one("card.limits", func() {
		expect(t, h.do("PUT", "/secure/cards/"+cid+"/limits", `{"maxCountPerDay":3}`), 200)
	})
	one("card.lock", func() {
		expect(t, h.do("POST", "/admin/cards/"+cid+"/lock", `{"reasonCode":3}`, bearerH(tokEmployee)...), 200)
	})
	rows, err := h.hist.Memory.Audits(0, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Action] = true
	}
	for _, a := range []string{"customer.create", "customer.kyc", "balance.create", "card.issue", "card.limits", "card.lock"} {
		if !seen[a] {
			t.Errorf("no audit entry %s", a)
		}
	}
}
