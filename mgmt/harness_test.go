package mgmt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/mgmt/jwe"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/tokenvault"
)

const (
	tokAdmin    = "adm-token-0123456789"
	tokManager  = "mgr-token-0123456789"
	tokEmployee = "emp-token-0123456789"
	testCVK     = "0123456789ABCDEFFEDCBA9876543210"
	testPVK     = "FEDCBA98765432100123456789ABCDEF"
)

var (
	clientKeyOnce sync.Once
	clientKey     *rsa.PrivateKey
)

func testClientKey(t *testing.T) *rsa.PrivateKey {
	clientKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		clientKey = k
	})
	return clientKey
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t       *testing.T
	cfg     *config.Config
	srv     *Server
	eng     *engine.Engine
	j       *journaltest.Faulty
	hist    *unreadableHistory
	ln      *fasthttputil.InmemoryListener
	clock   *testClock
	hasher  func(string) string
	local   *fasthttp.Client // from 127.0.0.1
	remote  *fasthttp.Client // from 10.1.2.3
	ready   bool
	scheme  string
	readyMu sync.Mutex
}

type option func(*config.Config, *Deps)

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	return newHarnessOver(t, nil, opts...)
}

// newHarnessOver is newHarness with the engine's journal wrapped by wrap (nil: as is), e.g. in a
// pipelined journal whose flushes the test controls (journaltest.Gated).
func newHarnessOver(t *testing.T, wrap func(journal.Journal) journal.Journal, opts ...option) *harness {
	t.Helper()
	cfg := &config.Config{DataDir: t.TempDir(),
		Security: config.Security{DataKey: strings.Repeat("ab", 32), ZPK: testCVK},
		HTTP: config.HTTP{SessionTTL: 10 * time.Minute, RateLimitPerSec: -1, MaxBodyBytes: 8 << 10,
			AdminTokens: []config.AdminToken{{Name: "alice", Token: tokAdmin, Role: "Admin"},
				{Name: "mona", Token: tokManager, Role: "Manager"}, {Name: "eve", Token: tokEmployee, Role: "Employee"}}},
		Programs: []config.Program{
			{Name: "demo-mc", BIN: "535110", Scheme: "mastercard", Currency: "EUR", PANLength: 16, ExpiryMonths: 36,
				PartnerBalanceID: "partner-mc", Keys: config.Keys{IMKAC: testCVK, CVK: testCVK, PVK: testPVK, PVKI: 1}},
			{Name: "demo-visa", BIN: "423456", Scheme: "visa", Currency: "EUR", PANLength: 16, ExpiryMonths: 24,
				Keys: config.Keys{IMKAC: testCVK, CVK: testCVK, PVK: testPVK, PVKI: 1}},
			{Name: "demo-jpy", BIN: "42345678", Scheme: "visa", Currency: "JPY", PANLength: 16, ExpiryMonths: 24,
				Keys: config.Keys{IMKAC: testCVK, CVK: testCVK, PVK: testPVK, PVKI: 1}},
		}}
	h := &harness{t: t, cfg: cfg, clock: &testClock{now: time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)}, ready: true}
	h.hasher = tokenvault.Hasher(config.Key(cfg.Security.DataKey))
	d := Deps{PANHash: h.hasher, Clock: h.clock.Now,
		Ready: func() bool { h.readyMu.Lock(); defer h.readyMu.Unlock(); return h.ready }}
	for _, o := range opts {
		o(cfg, &d)
	}
	d.Config = Config{DataDir: cfg.DataDir, HTTP: cfg.HTTP, Programs: cfg.Programs}
	policies := map[string]ledger.ProgramPolicy{}
	for _, p := range cfg.Programs {
		policies[p.Name] = ledger.ProgramPolicy{Name: p.Name, PartnerBalanceID: p.PartnerBalanceID}
	}
	// The ledger in History mode, as the switch runs it: auth records and replies are read back
	// from the journal (h.hist can make those reads fail).
	h.hist = &unreadableHistory{Memory: journaltest.NewMemory()}
	h.j = &journaltest.Faulty{Inner: h.hist.Memory}
	st := ledger.NewState(h.hist)
	var ecfg engine.Config
	if cfg.HTTP.WebhookURL != "" {
		os.MkdirAll(filepath.Join(cfg.DataDir, "mgmt"), 0o700)
		hooks, err := notify.Open(notify.Config{URL: cfg.HTTP.WebhookURL, Secret: []byte(cfg.HTTP.WebhookSecret),
			Path: filepath.Join(cfg.DataDir, "mgmt", "deliveries.log"), BackoffBase: 20 * time.Millisecond}, h.hist.Memory, 0)
		if err != nil {
			t.Fatal(err)
		}
		hooks.Start()
		t.Cleanup(func() { hooks.Close() })
		ecfg.Published, d.Webhooks = hooks.Published, hooks
	}
	var j journal.Journal = h.j
	if wrap != nil {
		j = wrap(j)
	}
	h.eng = engine.New(ecfg, st, j, ledger.Env{PANHasher: h.hasher, AuthorizationEvents: cfg.HTTP.WebhookURL != "",
		Program: func(n string) (ledger.ProgramPolicy, bool) { p, ok := policies[n]; return p, ok }},
		h.clock.Now, nil, nil)
	h.eng.Start()
	d.Engine, d.Events = h.eng, h.hist.Memory
	srv, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.ln = fasthttputil.NewInmemoryListener()
	go srv.Serve(h.ln)
	dial := func(ip string) *fasthttp.Client {
		return &fasthttp.Client{Dial: func(string) (net.Conn, error) {
			return h.ln.DialWithLocalAddr(&net.TCPAddr{IP: net.ParseIP(ip), Port: 40000})
		}, ReadTimeout: 20 * time.Second}
	}
	h.local, h.remote = dial("127.0.0.1"), dial("10.1.2.3")
	t.Cleanup(func() {
		srv.Shutdown()
		h.ln.Close()
		h.eng.Stop(context.Background())
	})
	return h
}

// resp is an answer.
type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", r.status, r.body)
	}
	return m
}

func (r resp) str(t *testing.T, k string) string {
	t.Helper()
	v, _ := r.json(t)[k].(string)
	return v
}

type req struct {
	method, path, body string
	headers            map[string]string
	client             *fasthttp.Client
}

func (h *harness) send(q req) resp {
	h.t.Helper()
	rq := fasthttp.AcquireRequest()
	rs := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(rq)
	defer fasthttp.ReleaseResponse(rs)
	scheme := h.scheme
	if scheme == "" {
		scheme = "http"
	}
	rq.SetRequestURI(scheme + "://cardswitch" + q.path)
	rq.Header.SetMethod(q.method)
	if q.body != "" {
		rq.SetBodyString(q.body)
		rq.Header.SetContentType("application/json")
	}
	for k, v := range q.headers {
		rq.Header.Set(k, v)
	}
	c := q.client
	if c == nil {
		c = h.local
	}
	if err := c.Do(rq, rs); err != nil {
		h.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	out := resp{status: rs.StatusCode(), body: append([]byte(nil), rs.Body()...), header: http.Header{}}
	rs.Header.VisitAll(func(k, v []byte) { out.header.Add(string(k), string(v)) })
	return out
}

func (h *harness) do(method, path, body string, hdr ...string) resp {
	h.t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	return h.send(req{method: method, path: path, body: body, headers: m})
}

func bearerH(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// expect checks the status and, for errors, the code (and field when given).
func expect(t *testing.T, r resp, status int, codeField ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if len(codeField) > 0 {
		m := r.json(t)
		if m["code"] != codeField[0] {
			t.Fatalf("code %v, want %s: %s", m["code"], codeField[0], r.body)
		}
		if len(codeField) > 1 && m["field"] != codeField[1] {
			t.Fatalf("field %v, want %s: %s", m["field"], codeField[1], r.body)
		}
		if _, ok := m["message"].(string); !ok {
			t.Fatalf("error without message: %s", r.body)
		}
	}
}

// encrypted builds the headers and body of an encrypted request.
func (h *harness) encrypted(plain string) (map[string]string, string) {
	h.t.Helper()
	k := testClientKey(h.t)
	pk, err := jwe.EncodePublicKeyHeader(&k.PublicKey)
	if err != nil {
		h.t.Fatal(err)
	}
	hdr := map[string]string{"Encrypted-Request": "true", "Public-Key": pk}
	if plain == "" {
		return hdr, ""
	}
	payload, err := jwe.Seal(h.srv.PublicKey(), []byte(plain), "")
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := json.Marshal(jwe.Envelope{Payload: payload})
	return hdr, string(b)
}

// open decrypts an encrypted answer.
func (h *harness) open(r resp) map[string]any {
	h.t.Helper()
	var env jwe.Envelope
	if err := json.Unmarshal(r.body, &env); err != nil || env.Payload == "" {
		h.t.Fatalf("not an encrypted answer: %s", r.body)
	}
	plain, err := jwe.Open(testClientKey(h.t), env.Payload)
	if err != nil {
		h.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(plain, &m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// Fixtures.

func (h *harness) customer(kyc bool) string {
	h.t.Helper()
	r := h.do("POST", "/secure/customers", `{"externalId":"ext-`+randID(4)+`","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+3312345678"}`)
	expect(h.t, r, 201)
	id := r.str(h.t, "customerId")
	if kyc {
		expect(h.t, h.do("POST", "/secure/customers/"+id+"/kyc", `{"status":"VERIFIED"}`), 200)
	}
	return id
}

func (h *harness) balance(cust, currency string) string {
	h.t.Helper()
	r := h.do("POST", "/secure/customers/"+cust+"/balances", `{"currency":"`+currency+`"}`)
	expect(h.t, r, 201)
	return r.str(h.t, "balanceId")
}

func (h *harness) card(cust, bal, typ string) map[string]any {
	h.t.Helper()
	path := "/secure/customers/" + cust + "/balances/" + bal + "/cards"
	if typ != "VIRTUAL" { // a plastic's order needs an encrypted request (parity.go)
		hdr, body := h.encrypted(`{"type":"` + typ + `"}`)
		r := h.send(req{method: "POST", path: path, body: body, headers: hdr})
		expect(h.t, r, 201)
		return h.open(r)
	}
	r := h.do("POST", path, `{"type":"`+typ+`"}`)
	expect(h.t, r, 201)
	return r.json(h.t)
}

func (h *harness) session(cust string) string {
	h.t.Helper()
	r := h.do("POST", "/secure/customers/"+cust+"/sessions", "")
	expect(h.t, r, 201)
	return r.str(h.t, "sessionToken")
}

// authorize runs an 0100 through the engine as the switch would.
func (h *harness) authorize(p string, stan string, amountMinor int64) authz.Response {
	h.t.Helper()
	rq := &authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: p, ProcessingCode: "000000",
		AmountMinor: amountMinor, HasAmount: true, F7: "0315120000", STAN: stan, AcquirerID: "123456",
		RRN: "RRN" + stan, CurrencyNum: "978", MerchantName: "SHOP"}
	r, err := engine.Do(context.Background(), h.eng, ledger.Authorize{Req: rq})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// unreadableHistory is the in-memory journal as the ledger's History, whose scans fail while
// broken is set (a disk that cannot be read).
type unreadableHistory struct {
	*journaltest.Memory
	broken atomic.Bool
}

func (u *unreadableHistory) EachAuth(f func(*ledger.Auth) bool) error {
	if u.broken.Load() {
		return errors.New("disk read failed")
	}
	return u.Memory.EachAuth(f)
}
