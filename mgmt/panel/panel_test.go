package panel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/internal/metrics"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// The panel's handlers against a real management API (in memory): login and roles, the CSRF
// refusal, the security headers, an Employee refused a reload, actions landing in the audit
// trail with their reason, and no full PAN on any page.

const (
	cardPAN  = "5351100000000012"
	tokenPAN = "5351109999999993"
	password = "a long operator password"
)

type env struct {
	t     *testing.T
	srv   *mgmt.Server
	eng   *engine.Engine
	panel *Panel
	feed  *authfeed.Feed
	met   *metrics.Metrics
	ln    *fasthttputil.InmemoryListener
	cl    *fasthttp.Client
	// sessions are the operators logged in so far (a login is a bcrypt check: slow on purpose).
	sessions map[string]string
}

// operatorHash is the operators' password hash, made once: bcrypt is slow on purpose.
var operatorHash = sync.OnceValues(func() (string, error) {
	return mgmt.HashOperatorPassword([]byte(password), mgmt.BcryptCostMin)
})

func newEnv(t *testing.T) *env { return newEnvHooks(t, nil) }

// newEnvHooks is newEnv with a webhook URL whose deliveries client sends (nil: no webhook).
func newEnvHooks(t *testing.T, client notify.HTTPDoer) *env {
	t.Helper()
	hash, err := operatorHash()
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 32)
	cvk := "0123456789ABCDEFFEDCBA9876543210"
	programs := []config.Program{{Name: "demo-mc", BIN: "535110", Scheme: "mastercard", Currency: "EUR", PANLength: 16,
		ExpiryMonths: 36, PartnerBalanceID: "partner-mc", Keys: config.Keys{IMKAC: cvk, CVK: cvk, PVK: "FEDCBA98765432100123456789ABCDEF", PVKI: 1}}}
	httpCfg := config.HTTP{SessionTTL: 10 * time.Minute, RateLimitPerSec: -1, Operators: []config.Operator{
		{Name: "ann", Role: "Admin", PasswordHash: hash}, {Name: "max", Role: "Manager", PasswordHash: hash},
		{Name: "emma", Role: "Employee", PasswordHash: hash}}}
	hasher := tokenvault.Hasher(config.Key(key))
	mem := journaltest.NewMemory()
	st := ledger.NewState(mem)
	policy := ledger.ProgramPolicy{Name: "demo-mc", PartnerBalanceID: "partner-mc"}
	dataDir := t.TempDir()
	var ecfg engine.Config
	var hooks *notify.Outbox
	if client != nil {
		httpCfg.WebhookURL, httpCfg.WebhookSecret = "http://partner.example/hooks", "webhook secret"
		os.MkdirAll(filepath.Join(dataDir, "mgmt"), 0o700)
		// Retries a tenth of a millisecond apart: a failing endpoint makes events FAILED at once.
		if hooks, err = notify.Open(notify.Config{URL: httpCfg.WebhookURL, Secret: []byte(httpCfg.WebhookSecret), Client: client,
			Path: filepath.Join(dataDir, "mgmt", "deliveries.log"), BackoffBase: 100 * time.Microsecond}, mem, 0); err != nil {
			t.Fatal(err)
		}
		hooks.Start()
		t.Cleanup(func() { hooks.Close() })
		ecfg.Published = hooks.Published
	}
	eng := engine.New(ecfg, st, mem, ledger.Env{PANHasher: hasher,
		Program: func(n string) (ledger.ProgramPolicy, bool) { return policy, n == "demo-mc" }}, time.Now, nil, nil)
	eng.Start()
	srv, err := mgmt.New(mgmt.Deps{Config: mgmt.Config{DataDir: dataDir, HTTP: httpCfg, Programs: programs},
		Engine: eng, PANHash: hasher, Events: mem, Webhooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	feed := authfeed.New(0)
	met := metrics.New(metrics.Gauges{QueueDepth: func() float64 { return float64(eng.QueueDepth()) }})
	p := New(Deps{API: srv.Handler(), Auth: srv.AdminCaller, Metrics: met.Registry, Feed: feed})
	srv.Mount(Prefix, p.Handler)
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln)
	e := &env{t: t, srv: srv, eng: eng, panel: p, feed: feed, met: met, ln: ln, sessions: map[string]string{},
		cl: &fasthttp.Client{Dial: func(string) (net.Conn, error) {
			return ln.DialWithLocalAddr(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000})
		}, ReadTimeout: 20 * time.Second}}
	t.Cleanup(func() {
		p.Close()
		srv.Shutdown()
		ln.Close()
		eng.Stop(context.Background())
	})
	return e
}

// setup is a test set-up command run in the engine.
type setup func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal

func (setup) Kind() ledger.OpKind { return ledger.OpOther }
func (setup) Keys(*ledger.Keys)   {}
func (f setup) Apply(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
	return f(tx, env)
}

// provision makes customer cust-1 (ext-1, ada@example.org) with balance bal-1 (EUR 100.00),
// card card-1 and token tok-1.
func (e *env) provision() {
	e.t.Helper()
	r, err := engine.Do(context.Background(), e.eng, setup(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, r := tx.CreateCustomer(ledger.Customer{ID: "cust-1", ExternalID: "ext-1", FirstName: "Ada", LastName: "Tester", Email: "ada@example.org"}, env); r != nil {
			return r
		}
		if _, r := tx.SetKYC("cust-1", ledger.KYCVerified); r != nil {
			return r
		}
		if _, r := tx.CreateBalance(ledger.Balance{ID: "bal-1", CustomerID: "cust-1", Currency: "EUR"}, env); r != nil {
			return r
		}
		if _, r := tx.Reload("bal-1", 100_00, "", env); r != nil {
			return r
		}
		if _, r := tx.IssueCard(ledger.Card{ID: "card-1", BalanceID: "bal-1", Program: "demo-mc", Type: ledger.CardVirtual,
			PANHash: env.PANHasher(cardPAN), PAN: cardPAN, Last4: cardPAN[12:], ExpiryYYMM: "3012", PSN: "00", CVC2: "123"}, env); r != nil {
			return r
		}
		_, r := tx.AddToken(ledger.Token{ID: "tok-1", CardID: "card-1", PANHash: env.PANHasher(tokenPAN), PAN: tokenPAN,
			Last4: tokenPAN[12:], ExpiryYYMM: "3012", PSN: "00", Type: ledger.TokenHCE, State: authz.TokenActive}, env)
		return r
	}))
	if err != nil || r != nil {
		e.t.Fatalf("provision: %v %v", err, r)
	}
}

type answer struct {
	status int
	body   string
	hdr    map[string]string
	cookie *fasthttp.Cookie
}

// do sends a request; form (for POST) is sent url-encoded; hdr are extra headers.
func (e *env) do(method, path, cookie string, form url.Values, hdr ...string) answer {
	e.t.Helper()
	rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(rq)
	defer fasthttp.ReleaseResponse(rs)
	rq.SetRequestURI("http://cardswitch" + path)
	rq.Header.SetMethod(method)
	if cookie != "" {
		rq.Header.SetCookie(CookieName, cookie)
	}
	if form != nil {
		rq.Header.SetContentType("application/x-www-form-urlencoded")
		rq.SetBodyString(form.Encode())
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		rq.Header.Set(hdr[i], hdr[i+1])
	}
	if err := e.cl.Do(rq, rs); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	a := answer{status: rs.StatusCode(), body: string(rs.Body()), hdr: map[string]string{}}
	rs.Header.VisitAll(func(k, v []byte) { a.hdr[string(k)] = string(v) })
	var c fasthttp.Cookie
	c.SetKey(CookieName)
	if rs.Header.Cookie(&c) {
		a.cookie = &c
	}
	return a
}

// login logs name in (once per test) and returns the session cookie's value.
func (e *env) login(name string) string {
	e.t.Helper()
	if tok, ok := e.sessions[name]; ok {
		return tok
	}
	a := e.do("POST", "/panel/login", "", url.Values{"name": {name}, "password": {password}})
	if a.status != 303 || a.cookie == nil || len(a.cookie.Value()) == 0 {
		e.t.Fatalf("login %s: %d %s", name, a.status, a.body)
	}
	e.sessions[name] = string(a.cookie.Value())
	return e.sessions[name]
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page of the session.
func (e *env) csrf(cookie string) string {
	e.t.Helper()
	m := reCSRF.FindStringSubmatch(e.do("GET", "/panel/live", cookie, nil).body)
	if m == nil {
		e.t.Fatal("no CSRF token on the page")
	}
	return m[1]
}

func (e *env) card() ledger.Card {
	c, _ := e.eng.State().Card("card-1")
	return c
}

func (e *env) balance() ledger.Balance {
	b, _ := e.eng.State().Balance("bal-1")
	return b
}

// TestPanelLoginCookieAndHeaders: the login page and every page carry the strict CSP and
// no-store; a wrong password shows the API's refusal; a login sets an HttpOnly, SameSite=Strict
// cookie scoped to /panel/; without it a page redirects to the login; logout ends the session.
func TestPanelLoginCookieAndHeaders(t *testing.T) {
	e := newEnv(t)
	a := e.do("GET", "/panel/login", "", nil)
	if a.status != 200 || a.hdr["Content-Security-Policy"] != ContentSecurityPolicy || a.hdr["Cache-Control"] != "no-store" ||
		a.hdr["X-Frame-Options"] != "DENY" || a.hdr["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("login page: %d %v", a.status, a.hdr)
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self'") || strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Fatal("the CSP allows more than the panel's own scripts")
	}
	if a := e.do("GET", "/panel/live", "", nil); a.status != 303 || a.hdr["Location"] != "/panel/login" {
		t.Fatalf("without a session: %d %v", a.status, a.hdr["Location"])
	}
	if a := e.do("POST", "/panel/login", "", url.Values{"name": {"emma"}, "password": {"wrong password!"}}); a.status != 401 ||
		!strings.Contains(a.body, "wrong password") || a.cookie != nil {
		t.Fatalf("wrong password: %d %s", a.status, a.body)
	}
	a = e.do("POST", "/panel/login", "", url.Values{"name": {"emma"}, "password": {password}})
	c := a.cookie
	if a.status != 303 || c == nil || !c.HTTPOnly() || c.SameSite() != fasthttp.CookieSameSiteStrictMode || string(c.Path()) != "/panel/" ||
		!strings.HasPrefix(string(c.Value()), "os_") {
		t.Fatalf("login: %d cookie %v", a.status, c)
	}
	tok := string(c.Value())
	live := e.do("GET", "/panel/live", tok, nil)
	if live.status != 200 || live.hdr["Content-Security-Policy"] != ContentSecurityPolicy || !strings.Contains(live.body, "emma · Employee") {
		t.Fatalf("live page: %d %s", live.status, live.body)
	}
	if strings.Contains(live.body, "<script>") || strings.Contains(live.body, " style=") || strings.Contains(live.body, "onclick") {
		t.Fatal("a page has inline script or style, which the CSP would block")
	}
	js := e.do("GET", "/panel/assets/panel.js", "", nil)
	if js.status != 200 || !strings.HasPrefix(js.hdr["Content-Type"], "text/javascript") || js.hdr["Content-Security-Policy"] == "" {
		t.Fatalf("panel.js: %d %v", js.status, js.hdr)
	}
	if e.do("POST", "/panel/logout", tok, url.Values{"csrf": {e.csrf(tok)}}).status != 303 {
		t.Fatal("logout")
	}
	if a := e.do("GET", "/panel/live", tok, nil); a.status != 303 {
		t.Fatalf("after logout the session still works: %d", a.status)
	}
}

// TestPanelCSRF: a change without the session's CSRF token, with another session's, or marked
// by the browser as cross-site is refused and changes nothing; with it, the card is locked and
// the audit entry carries the operator's reason.
func TestPanelCSRF(t *testing.T) {
	e := newEnv(t)
	e.provision()
	tok := e.login("emma")
	other := e.csrf(e.login("max"))
	good := e.csrf(tok)
	lock := func(csrf string, hdr ...string) answer {
		f := url.Values{"action": {"lock"}, "id": {"card-1"}, "reasonCode": {"3"}, "reason": {"customer asked"},
			"back": {"/panel/customers/cust-1"}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		return e.do("POST", "/panel/act", tok, f, hdr...)
	}
	for name, a := range map[string]answer{"none": lock(""), "other session's": lock(other),
		"cross-site": lock(good, "Sec-Fetch-Site", "cross-site"), "other origin": lock(good, "Origin", "https://evil.example")} {
		if a.status != 403 || !strings.Contains(a.body, "CSRF_REFUSED") {
			t.Fatalf("%s CSRF token: %d %s", name, a.status, a.body)
		}
	}
	if st := e.card().State; st != ledger.CardActive {
		t.Fatalf("a refused form changed the card: %s", st)
	}
	a := lock(good, "Sec-Fetch-Site", "same-origin")
	if a.status != 303 || a.hdr["Location"] != "/panel/customers/cust-1?done=lock" {
		t.Fatalf("lock: %d %v %s", a.status, a.hdr["Location"], a.body)
	}
	if c := e.card(); c.State != ledger.CardLocked || c.LockReason != authz.LockPendingQuery {
		t.Fatalf("card after lock: %s %d", c.State, c.LockReason)
	}
	// A reason is required.
	if a := e.do("POST", "/panel/act", tok, url.Values{"csrf": {good}, "action": {"lock"}, "id": {"card-1"}, "reasonCode": {"3"}}); a.status != 400 ||
		!strings.Contains(a.body, "REASON_REQUIRED") {
		t.Fatalf("without a reason: %d %s", a.status, a.body)
	}
	admin := e.login("ann")
	audit := e.do("GET", "/panel/audit?action=card.lock", admin, nil)
	if audit.status != 200 || !strings.Contains(audit.body, `<td class="reason">customer asked</td>`) || !strings.Contains(audit.body, "<td>emma</td>") {
		t.Fatalf("audit page: %d %s", audit.status, audit.body)
	}
}

// TestPanelRoles: an Employee sees the reload and unlock controls disabled and no audit or
// webhooks pages; the server refuses the reload (the panel's check, and the API's behind it)
// and the balance is unchanged; a Manager reloads; only an Admin reads the audit trail.
func TestPanelRoles(t *testing.T) {
	e := newEnv(t)
	e.provision()
	emma := e.login("emma")
	page := e.do("GET", "/panel/customers/cust-1", emma, nil)
	if page.status != 200 || !regexp.MustCompile(`class="reload" disabled`).MatchString(page.body) ||
		!regexp.MustCompile(`id="kyc-submit" disabled`).MatchString(page.body) || strings.Contains(page.body, `href="/panel/audit"`) {
		t.Fatalf("Employee's customer page: %d %s", page.status, page.body)
	}
	reload := func(tok string) answer {
		return e.do("POST", "/panel/act", tok, url.Values{"csrf": {e.csrf(tok)}, "action": {"reload"}, "id": {"bal-1"},
			"amount": {"25.00"}, "reason": {"goodwill"}, "back": {"/panel/customers/cust-1"}})
	}
	if a := reload(emma); a.status != 403 {
		t.Fatalf("Employee reload: %d %s", a.status, a.body)
	}
	if b := e.balance(); b.CurrentMinor != 100_00 {
		t.Fatalf("an Employee's reload changed the balance: %d", b.CurrentMinor)
	}
	// The API behind the panel refuses too (the same request with the Employee's session).
	c := &client{api: e.srv.Handler(), token: emma, reason: "by hand"}
	if err := c.call("POST", "/admin/balances/bal-1/reload", map[string]string{"amount": "25.00"}, nil); err == nil ||
		err.(*apiError).Status != 403 {
		t.Fatalf("the API let an Employee reload: %v", err)
	}
	if a := e.do("GET", "/panel/audit", emma, nil); a.status != 403 {
		t.Fatalf("Employee audit page: %d", a.status)
	}
	max := e.login("max")
	if p := e.do("GET", "/panel/customers/cust-1", max, nil); regexp.MustCompile(`class="reload" disabled`).MatchString(p.body) {
		t.Fatal("a Manager's reload control is disabled")
	}
	if a := reload(max); a.status != 303 {
		t.Fatalf("Manager reload: %d %s", a.status, a.body)
	}
	if b := e.balance(); b.CurrentMinor != 125_00 {
		t.Fatalf("balance after reload: %d", b.CurrentMinor)
	}
	if a := e.do("GET", "/panel/balances", max, nil); a.status != 200 || !strings.Contains(a.body, `id="summary"`) || !strings.Contains(a.body, "125.00") {
		t.Fatalf("Manager's balances page: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/panel/balances", emma, nil); a.status != 200 || !strings.Contains(a.body, `id="summary-hidden"`) {
		t.Fatalf("Employee's balances page: %d %s", a.status, a.body)
	}
	ann := e.login("ann")
	if a := e.do("GET", "/panel/audit?resourceId=bal-1", ann, nil); a.status != 200 || !strings.Contains(a.body, "goodwill") {
		t.Fatalf("Admin audit page: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/panel/webhooks", ann, nil); a.status != 200 || !strings.Contains(a.body, `id="webhooks-off"`) {
		t.Fatalf("Admin webhooks page: %d %s", a.status, a.body)
	}
}

// TestPanelNoFullPAN: with a card and a token used in traffic, no page, asset or live stream
// event holds a full card or token PAN; the card shows as its last 4 and the stream masked.
func TestPanelNoFullPAN(t *testing.T) {
	e := newEnv(t)
	e.provision()
	for _, p := range []string{cardPAN, tokenPAN} {
		e.feed.Decided(&authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: p, AmountMinor: 12_34,
			HasAmount: true, CurrencyNum: "978", MerchantName: "CORNER SHOP", MCC: "5411"}, authz.Approved, time.Now(), time.Millisecond)
	}
	ann := e.login("ann")
	csrf := e.csrf(ann)
	e.do("POST", "/panel/act", ann, url.Values{"csrf": {csrf}, "action": {"token-suspend"}, "id": {"tok-1"}, "reason": {"device lost"},
		"back": {"/panel/customers/cust-1"}})
	var pages []string
	for _, path := range []string{"/panel/live", "/panel/balances", "/panel/search?q=0012", "/panel/search?q=ada@example.org",
		"/panel/search?q=ext-1", "/panel/search?q=tok-1", "/panel/customers/cust-1", "/panel/audit", "/panel/webhooks",
		"/panel/assets/panel.js", "/panel/assets/panel.css"} {
		a := e.do("GET", path, ann, nil)
		if a.status != 200 {
			t.Fatalf("%s: %d %s", path, a.status, a.body)
		}
		pages = append(pages, a.body)
	}
	var stream bytes.Buffer
	w := bufio.NewWriter(&stream)
	e.panel.Close() // the stream writes once, then ends
	e.panel.writeStream(w, 0)
	w.Flush()
	pages = append(pages, stream.String())
	for i, body := range pages {
		for _, p := range []string{cardPAN, tokenPAN, cardPAN[:12], tokenPAN[:12]} {
			if strings.Contains(body, p) {
				t.Fatalf("page %d shows %q", i, p)
			}
		}
	}
	all := strings.Join(pages, "\n")
	for _, want := range []string{"535110******0012", "•••• 0012", "•••• 9993", "CORNER SHOP", `data-token="tok-1"`, "SUSPENDED", "event: auth"} {
		if !strings.Contains(all, want) {
			t.Errorf("no page shows %q", want)
		}
	}
	if strings.Contains(pages[0], "http://") || strings.Contains(pages[0], "https://") {
		t.Error("the live page refers to another origin")
	}
}

// TestPanelCustomerPage: the customer page lists balances, cards with their tokens, and the
// actions; an unknown customer is the API's 404.
func TestPanelCustomerPage(t *testing.T) {
	e := newEnv(t)
	e.provision()
	max := e.login("max")
	a := e.do("GET", "/panel/customers/cust-1", max, nil)
	for _, want := range []string{"Ada Tester", "ext-1", "bal-1", "100.00", "card-1", "tok-1", `class="lock"`, `class="suspend"`, "VERIFIED"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if a := e.do("GET", "/panel/search?q=0012", max, nil); !strings.Contains(a.body, `<a href="/panel/customers/cust-1">`) ||
		!strings.Contains(a.body, "<td>tok-1</td>") {
		t.Fatalf("search by last 4: %s", a.body)
	}
	if a := e.do("GET", "/panel/search?q=nobody@example.org", max, nil); !strings.Contains(a.body, `id="nothing"`) {
		t.Fatalf("search without a match: %s", a.body)
	}
	if a := e.do("GET", "/panel/customers/nobody", max, nil); a.status != 404 {
		t.Fatalf("unknown customer: %d", a.status)
	}
	if a := e.do("GET", "/panel/customers/..%2fadmin", max, nil); a.status != 404 {
		t.Fatalf("a path in the id: %d", a.status)
	}
}

// TestSamplerPoint: a sample is the difference of the registry's counters: authorizations per
// second (0100 and 0200 only), approval rate, declines by action code, latency percentiles.
func TestSamplerPoint(t *testing.T) {
	m := metrics.New(metrics.Gauges{QueueDepth: func() float64 { return 7 }})
	s := newSampler(m.Registry)
	now := time.Unix(1_700_000_000, 0)
	if _, ok, err := s.sample(now, 0); ok || err != nil {
		t.Fatalf("first sample: %v %v", ok, err)
	}
	for i := 0; i < 6; i++ {
		m.Answered("0100", authz.Approved, 800*time.Microsecond)
	}
	m.Answered("0200", authz.InsufficientFunds, 4*time.Millisecond)
	m.Answered("0200", authz.InsufficientFunds, 4*time.Millisecond)
	m.Answered("0400", authz.Approved, time.Millisecond) // a reversal: not an authorization
	p, ok, err := s.sample(now.Add(2*time.Second), 2*time.Second)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	code := authz.InsufficientFunds.String()
	if p.AuthsPerSec != 4 || p.ApprovalRate != 0.75 || p.DeclinesByAct[code] != 2 || len(p.DeclinesByAct) != 1 || p.QueueDepth != 7 {
		t.Fatalf("point %+v", p)
	}
	if p.P50Millis <= 0.5 || p.P50Millis > 1 || p.P99Millis <= 3 || p.P99Millis > 5 {
		t.Fatalf("latency p50 %v p99 %v", p.P50Millis, p.P99Millis)
	}
	p, _, _ = s.sample(now.Add(3*time.Second), time.Second)
	if p.AuthsPerSec != 0 || p.ApprovalRate != -1 || p.P50Millis != -1 {
		t.Fatalf("quiet second: %+v", p)
	}
	pts, decl := s.history()
	if len(pts) != 2 || decl[code] != 2 {
		t.Fatalf("history %d points, declines %v", len(pts), decl)
	}
}

// TestBackTo: after an action the browser goes back to a panel page, never elsewhere.
func TestBackTo(t *testing.T) {
	for in, want := range map[string]string{
		"/panel/customers/c1":         "/panel/customers/c1?done=lock",
		"/panel/audit?actor=x&done=a": "/panel/audit?actor=x&done=lock",
		"https://evil.example/panel/": "/panel/live?done=lock",
		"//evil.example/panel/":       "/panel/live?done=lock",
		"/admin/cards":                "/panel/live?done=lock",
		"/panel/../admin":             "/panel/live?done=lock",
	} {
		if got := backTo(in, "lock"); got != want {
			t.Errorf("backTo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPanelKYCDecision: a Manager's KYC decision, with its reason, changes the customer and is in
// the audit trail; an Employee's is refused and changes nothing.
func TestPanelKYCDecision(t *testing.T) {
	e := newEnv(t)
	e.provision()
	decide := func(tok, status string) answer {
		return e.do("POST", "/panel/act", tok, url.Values{"csrf": {e.csrf(tok)}, "action": {"kyc"}, "id": {"cust-1"},
			"status": {status}, "reason": {"document forged"}, "back": {"/panel/customers/cust-1"}}, "Sec-Fetch-Site", "same-origin")
	}
	kyc := func() string { c, _ := e.eng.State().Customer("cust-1"); return c.KYC }
	if a := decide(e.login("emma"), "REJECTED"); a.status != 403 || kyc() != ledger.KYCVerified {
		t.Fatalf("Employee's KYC decision: %d, KYC %s", a.status, kyc())
	}
	if a := decide(e.login("max"), "REJECTED"); a.status != 303 || kyc() != ledger.KYCRejected {
		t.Fatalf("Manager's KYC decision: %d %s, KYC %s", a.status, a.body, kyc())
	}
	page := e.do("GET", "/panel/customers/cust-1?done=kyc", e.login("max"), nil)
	if !strings.Contains(page.body, `<dd id="kyc-status">REJECTED</dd>`) || !strings.Contains(page.body, "KYC decision recorded.") {
		t.Fatalf("customer page after the decision: %s", page.body)
	}
	audit := e.do("GET", "/panel/audit?action=customer.kyc", e.login("ann"), nil)
	if !strings.Contains(audit.body, `<td class="reason">document forged</td>`) {
		t.Fatalf("audit: %s", audit.body)
	}
}

// refusingPartner is a webhook endpoint that is down.
type refusingPartner struct{}

func (refusingPartner) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

// TestPanelWebhookReplay: an Admin filters the webhook events by FAILED and replays one with a
// reason: the event is pending again and the replay, with its reason, is in the audit trail.
func TestPanelWebhookReplay(t *testing.T) {
	e := newEnvHooks(t, refusingPartner{})
	e.provision()
	ann := e.login("ann")
	// A card lock records a card.state_changed event for the partner.
	if a := e.do("POST", "/panel/act", ann, url.Values{"csrf": {e.csrf(ann)}, "action": {"lock"}, "id": {"card-1"},
		"reasonCode": {"7"}, "reason": {"fraud suspected"}}); a.status != 303 {
		t.Fatalf("lock: %d %s", a.status, a.body)
	}
	reEvent := regexp.MustCompile(`name="id" value="(evt_[^"]+)"`)
	var page answer
	deadline := time.Now().Add(20 * time.Second)
	for { // the outbox gives up on an event after its last retry
		page = e.do("GET", "/panel/webhooks?status=FAILED", ann, nil)
		if reEvent.MatchString(page.body) || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	m := reEvent.FindStringSubmatch(page.body)
	if page.status != 200 || m == nil || strings.Contains(page.body, `data-status="DELIVERED"`) {
		t.Fatalf("failed events page: %d %s", page.status, page.body)
	}
	a := e.do("POST", "/panel/act", ann, url.Values{"csrf": {e.csrf(ann)}, "action": {"replay"}, "id": {m[1]},
		"reason": {"partner endpoint back up"}, "back": {"/panel/webhooks?status=FAILED"}})
	if a.status != 303 || a.hdr["Location"] != "/panel/webhooks?done=replay&status=FAILED" {
		t.Fatalf("replay: %d %v %s", a.status, a.hdr["Location"], a.body)
	}
	audit := e.do("GET", "/panel/audit?action=webhooks.replay", ann, nil)
	if !strings.Contains(audit.body, `<td class="reason">partner endpoint back up</td>`) {
		t.Fatalf("audit: %s", audit.body)
	}
	if a := e.do("GET", "/panel/webhooks", e.login("max"), nil); a.status != 403 {
		t.Fatalf("a Manager's webhooks page: %d", a.status)
	}
}

// TestStreamResumes: a live stream opened after an authorization the browser has (the
// Last-Event-ID or ?after= of a reconnect) sends only the newer ones, each with its sequence as
// the event id; a stream beyond MaxStreams is answered 503.
func TestStreamResumes(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.feed.Decided(&authz.Request{BaseMTI: "0200", Kind: authz.KindFinancial, PAN: cardPAN, AmountMinor: int64(i)},
			authz.Approved, time.Now(), time.Millisecond)
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	e.panel.Close()
	e.panel.writeStream(w, 2)
	w.Flush()
	s := out.String()
	if strings.Count(s, "event: auth") != 1 || !strings.Contains(s, "id: 3\n") || !strings.HasPrefix(s, "retry: 500\n\n") ||
		!strings.Contains(s, "event: history") {
		t.Fatalf("stream: %s", s)
	}
	e.panel.streams.Store(MaxStreams)
	if a := e.do("GET", "/panel/live/stream", e.login("emma"), nil); a.status != 503 || a.hdr["Retry-After"] != "2" {
		t.Fatalf("a stream over the limit: %d %v", a.status, a.hdr)
	}
}
