// Package panel is the operator panel (issue 22): server-rendered HTML pages for the issuer's
// staff on the management listener under /panel/, with a little vanilla JavaScript for the live
// traffic page. Operators log in with their operator sessions (mgmt/admin_sessions.go); every
// page and action is an /admin API request made in process with the operator's session token
// (api.go), so roles, validation and the audit trail are the API's. docs/operations.md shows it.
//
// Security: the session token is kept in an HttpOnly, SameSite=Strict cookie scoped to /panel/
// (Secure when the listener has TLS); every state-changing request carries a CSRF token bound
// to the session (an HMAC of the session token under a key of the process), compared in
// constant time, and is refused when the browser says it comes from another site; every answer
// has a strict Content-Security-Policy (self only, no inline script or style) and no-store
// caching; all assets are embedded (go:embed), nothing is loaded from elsewhere. Full card data
// never reaches the panel: the API gives operators last 4 digits and masked PANs only.
package panel

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/mgmt"
)

// Prefix is where the panel is mounted on the management listener.
const Prefix = "/panel/"

// CookieName holds the operator's session token.
const CookieName = "cardswitch_panel"

// ContentSecurityPolicy is sent with every panel answer: scripts, styles, images and
// connections (the live stream) from the panel's own origin only, no inline code, no framing,
// forms posting only to the panel.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templatesFS embed.FS

//go:embed assets/*
var assetsFS embed.FS

// Deps are what the panel runs on.
type Deps struct {
	// API is the management API's handler (mgmt.Server.Handler): the panel's every read and change.
	API fasthttp.RequestHandler
	// Auth resolves the operator of a request that carries its token as a bearer
	// (mgmt.Server.AdminCaller).
	Auth func(ctx *fasthttp.RequestCtx, minRole string) (mgmt.Caller, bool)
	// SecureCookies sets Secure on the session cookie (the listener serves TLS).
	SecureCookies bool
	// Metrics is the registry /metrics serves; the live page reads it (nil: no traffic charts).
	Metrics prometheus.Gatherer
	// Feed is the latest decided authorizations (nil: none shown).
	Feed *authfeed.Feed
	Log  *slog.Logger
}

// Panel serves /panel/.
type Panel struct {
	d       Deps
	tmpl    *template.Template
	csrfKey [32]byte
	sampler *sampler

	streams atomic.Int32  // open live streams (MaxStreams)
	stop    chan struct{} // closed by Close: live streams end
	once    sync.Once
}

// New builds the panel. Run samples the metrics; Close ends the live streams.
func New(d Deps) *Panel {
	if d.API == nil || d.Auth == nil {
		panic("panel: Deps.API and Deps.Auth are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	p := &Panel{d: d, stop: make(chan struct{})}
	if _, err := rand.Read(p.csrfKey[:]); err != nil {
		panic("panel: no randomness: " + err.Error())
	}
	if d.Metrics != nil {
		p.sampler = newSampler(d.Metrics)
	}
	p.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templatesFS, "templates/*.html"))
	return p
}

// Run samples the metrics every SampleInterval until ctx ends (its owner cancels it at stop).
func (p *Panel) Run(ctx context.Context) {
	if p.sampler == nil {
		return
	}
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	last := time.Now()
	if _, _, err := p.sampler.sample(last, 0); err != nil {
		p.d.Log.Warn("panel: metrics not read", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, _, err := p.sampler.sample(now, now.Sub(last)); err != nil {
				p.d.Log.Warn("panel: metrics not read", "err", err)
			}
			last = now
		}
	}
}

// Close ends the open live streams (at shutdown, before the listener waits for its requests).
func (p *Panel) Close() { p.once.Do(func() { close(p.stop) }) }

// securityHeaders are set on every answer.
func securityHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Handler serves every path under Prefix.
func (p *Panel) Handler(ctx *fasthttp.RequestCtx) {
	securityHeaders(ctx)
	path := strings.TrimPrefix(string(ctx.Path()), strings.TrimSuffix(Prefix, "/"))
	method := string(ctx.Method())
	switch {
	case path == "" || path == "/":
		redirect(ctx, Prefix+"live")
	case strings.HasPrefix(path, "/assets/") && method == "GET":
		p.asset(ctx, strings.TrimPrefix(path, "/assets/"))
	case path == "/login" && method == "GET":
		p.render(ctx, 200, "login", &page{Title: "Log in"})
	case path == "/login" && method == "POST":
		p.login(ctx)
	default:
		s, ok := p.session(ctx)
		if !ok {
			return
		}
		if method == "POST" && !p.csrfOK(ctx, s) {
			p.fail(ctx, s, 403, "CSRF_REFUSED", "the form was not sent from this panel's page (missing or wrong CSRF token); reload the page and try again")
			return
		}
		p.route(ctx, s, method, path)
	}
}

// route dispatches an authenticated request.
func (p *Panel) route(ctx *fasthttp.RequestCtx, s *sess, method, path string) {
	switch {
	case method == "POST" && path == "/logout":
		p.logout(ctx, s)
	case method == "GET" && path == "/live":
		p.live(ctx, s)
	case method == "GET" && path == "/live/stream":
		p.stream(ctx, s)
	case method == "GET" && path == "/balances":
		p.balances(ctx, s)
	case method == "GET" && path == "/search":
		p.search(ctx, s)
	case method == "GET" && strings.HasPrefix(path, "/customers/"):
		p.customer(ctx, s, strings.TrimPrefix(path, "/customers/"))
	case method == "GET" && path == "/audit":
		p.audit(ctx, s)
	case method == "GET" && path == "/webhooks":
		p.webhooks(ctx, s)
	case method == "POST" && path == "/act":
		p.act(ctx, s)
	default:
		p.fail(ctx, s, 404, "NOT_FOUND", "no such page")
	}
}

// sess is the operator of one request.
type sess struct {
	caller mgmt.Caller
	token  string
	csrf   string
	api    *client
}

// session resolves the cookie's operator through the API's own check; without a valid one the
// browser is sent to the login page (a GET) or refused (anything else).
func (p *Panel) session(ctx *fasthttp.RequestCtx) (*sess, bool) {
	tok := string(ctx.Request.Header.Cookie(CookieName))
	if tok != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+tok)
		c, ok := p.d.Auth(ctx, mgmt.RoleEmployee)
		ctx.Request.Header.Del("Authorization")
		if ok {
			return &sess{caller: c, token: tok, csrf: p.csrfFor(tok),
				api: &client{api: p.d.API, token: tok, remote: ctx.RemoteAddr()}}, true
		}
		ctx.Response.Reset()
		securityHeaders(ctx)
		clearCookie(ctx)
	}
	if ctx.IsGet() {
		redirect(ctx, Prefix+"login")
	} else {
		p.render(ctx, 401, "error", &page{Title: "Logged out", Error: &apiError{Status: 401, Code: "UNAUTHENTICATED",
			Message: "your session ended; log in again"}})
	}
	return nil, false
}

// csrfFor is the session's CSRF token: an HMAC of the session token, so it lives and dies with
// the session and a page of one session is no use in another.
func (p *Panel) csrfFor(tok string) string {
	m := hmac.New(sha256.New, p.csrfKey[:])
	m.Write([]byte("cardswitch panel csrf\x00"))
	m.Write([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfOK checks a state-changing request: the form's csrf field matches the session's token,
// and the browser does not say it was sent from another site.
func (p *Panel) csrfOK(ctx *fasthttp.RequestCtx, s *sess) bool {
	if !sameSite(ctx) {
		return false
	}
	got := ctx.PostArgs().Peek("csrf")
	return len(got) > 0 && subtle.ConstantTimeCompare(got, []byte(s.csrf)) == 1
}

// sameSite is false when the browser marks the request as coming from another origin
// (Sec-Fetch-Site; Origin when given must be this host).
func sameSite(ctx *fasthttp.RequestCtx) bool {
	if sfs := string(ctx.Request.Header.Peek("Sec-Fetch-Site")); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	if o := string(ctx.Request.Header.Peek("Origin")); o != "" && o != "null" {
		host := string(ctx.Host())
		if !strings.HasSuffix(o, "://"+host) {
			return false
		}
	}
	return true
}

func setCookie(ctx *fasthttp.RequestCtx, tok string, maxAge int, secure bool) {
	var c fasthttp.Cookie
	c.SetKey(CookieName)
	c.SetValue(tok)
	c.SetPath(Prefix)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetSecure(secure)
	c.SetMaxAge(maxAge)
	ctx.Response.Header.SetCookie(&c)
}

func clearCookie(ctx *fasthttp.RequestCtx) {
	var c fasthttp.Cookie
	c.SetKey(CookieName)
	c.SetValue("")
	c.SetPath(Prefix)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetMaxAge(-1)
	ctx.Response.Header.SetCookie(&c)
}

func (p *Panel) asset(ctx *fasthttp.RequestCtx, name string) {
	b, err := assetsFS.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		ctx.SetStatusCode(404)
		return
	}
	switch {
	case strings.HasSuffix(name, ".js"):
		ctx.SetContentType("text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".css"):
		ctx.SetContentType("text/css; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		ctx.SetContentType("image/svg+xml")
	default:
		ctx.SetContentType("application/octet-stream")
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(b)
}

// redirect answers 303 See Other to a path of the panel (relative: the browser stays on the
// origin it used).
func redirect(ctx *fasthttp.RequestCtx, path string) {
	ctx.Response.Header.Set("Location", path)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}
