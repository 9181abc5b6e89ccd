package mgmt

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/mgmt/jwe"
)

// Channels of contract §4.
type channel uint8

const (
	chanPublic channel = iota
	chanSecure
	chanCustomer
	chanAdmin
)

func (c channel) String() string {
	return [...]string{"public", "secure", "customer", "admin"}[c]
}

// Operator roles, in increasing power: a route names the least role it needs.
type role uint8

const (
	roleNone role = iota
	roleEmployee
	roleManager
	roleAdmin
)

func (r role) String() string {
	return [...]string{"", "Employee", "Manager", "Admin"}[r]
}

func parseRole(s string) (role, bool) {
	switch strings.ToLower(s) {
	case "admin":
		return roleAdmin, true
	case "manager":
		return roleManager, true
	case "employee":
		return roleEmployee, true
	}
	return roleNone, false
}

type adminToken struct {
	name  string
	token []byte
	role  role
}

// encMode says whether a route needs an encrypted request.
type encMode uint8

const (
	encOptional encMode = iota // plain or encrypted
	encRequired                // plain requests are refused with ENCRYPTION_REQUIRED
)

type route struct {
	method  string
	pattern string
	segs    []string
	channel channel
	minRole role
	enc     encMode
	bodyOpt bool // an empty body is an empty object
	noBody  bool // GET/DELETE: no body expected
	// issue is a card-issuing route's policy per card type (parity.go); nil: every type.
	issue  *issuePolicy
	handle func(c *call) (int, any, *apiError)
}

// actor is who makes a request, for the audit trail.
type actor struct {
	Name       string `json:"name"`
	Channel    string `json:"channel"`
	Role       string `json:"role,omitempty"`
	CustomerID string `json:"customerId,omitempty"`
}

// call is one request being served. Nothing of it outlives the handler (fasthttp forbids
// keeping RequestCtx references).
type call struct {
	s         *Server
	ctx       *fasthttp.RequestCtx
	route     *route
	params    [4]param
	nparams   int
	who       actor
	body      []byte         // the plaintext body (decrypted when encrypted)
	clientKey *rsa.PublicKey // set for an encrypted request: the response is encrypted to it
	session   string         // customer channel, and operator sessions on the admin channel: the session token hash
}

type param struct{ name, value string }

func (c *call) param(name string) string {
	for i := 0; i < c.nparams; i++ {
		if c.params[i].name == name {
			return c.params[i].value
		}
	}
	panic("mgmt: route has no parameter " + name)
}

func (c *call) query(name string) string { return string(c.ctx.QueryArgs().Peek(name)) }

func (c *call) decode(dst any) *apiError { return decodeStrict(c.body, dst, c.route.bodyOpt) }

// decodeNone checks that a handler that takes no input got none: an empty object (or, on a
// route with an optional body, nothing); a GET or DELETE has no body to check.
func (c *call) decodeNone() *apiError {
	if c.route.noBody {
		return nil
	}
	return c.decode(&struct{}{})
}

func compileRoute(r *route) *route {
	r.segs = strings.Split(strings.Trim(r.pattern, "/"), "/")
	return r
}

// match finds the route for a method and path: 404 when no pattern matches, 405 when one
// matches with another method.
func (s *Server) match(method, path string, c *call) (*route, *apiError) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	pathMatched := false
	for _, r := range s.routes {
		if len(r.segs) != len(segs) {
			continue
		}
		n, ok := 0, true
		for i, p := range r.segs {
			if len(p) > 2 && p[0] == '{' {
				if segs[i] == "" || n == len(c.params) {
					ok = false
					break
				}
				c.params[n] = param{p[1 : len(p)-1], segs[i]}
				n++
				continue
			}
			if p != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathMatched = true
		if r.method == method {
			c.nparams = n
			return r, nil
		}
	}
	if pathMatched {
		return nil, errMethod
	}
	return nil, errRouteNotFound
}

// Handler is the API's request handler.
func (s *Server) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		c := &call{s: s, ctx: ctx}
		routeName := "unmatched"
		defer func() {
			if p := recover(); p != nil {
				// A programmer error in one request: answer it and keep serving (house rule 4).
				s.log.Error("management request panicked", "method", string(ctx.Method()), "route", routeName, "panic", p)
				writeError(ctx, errInternal)
			}
			if s.metrics != nil {
				s.metrics.Request(string(ctx.Method()), routeName, ctx.Response.StatusCode(), time.Since(start))
			}
		}()
		if m, ok := s.mounted(string(ctx.Path())); ok {
			routeName = m.prefix + "*"
			m.handle(ctx)
			s.awaitDurable(ctx)
			return
		}
		r, aerr := s.match(string(ctx.Method()), string(ctx.Path()), c)
		if aerr != nil {
			writeError(ctx, aerr)
			return
		}
		c.route = r
		routeName = r.pattern
		if aerr := s.serve(c); aerr != nil {
			writeError(ctx, aerr)
		}
		s.awaitDurable(ctx)
	}
}

// awaitDurable holds an answer until everything the handler may have read of the ledger is
// durable: with a pipelined journal the engine merges a batch into the State before its record
// is flushed (engine.AwaitDurable), and an answer must not show what a crash could take back.
// It waits about one flush at most; if the engine stopped with a batch in doubt, the answer is
// replaced with 503 UNAVAILABLE.
func (s *Server) awaitDurable(ctx *fasthttp.RequestCtx) {
	if s.eng.Durable() {
		return
	}
	wctx, cancel := s.engineCtx()
	defer cancel()
	if err := s.eng.AwaitDurable(wctx); err != nil {
		ctx.Response.Reset()
		writeError(ctx, errUnavailable)
	}
}

func (s *Server) serve(c *call) *apiError {
	if err := s.authenticate(c); err != nil {
		return err
	}
	if err := checkAuditReason(c); err != nil { // audit_reason.go
		return err
	}
	if !s.rates.allow(c.who.Channel + "|" + c.who.Name + "|" + c.who.CustomerID + "|" + c.ctx.RemoteIP().String()) {
		return errRateLimited
	}
	if len(c.ctx.PostBody()) > s.maxBody {
		return errBodyTooLarge
	}
	if err := s.openBody(c); err != nil {
		return err
	}
	status, v, aerr := c.route.handle(c)
	if aerr != nil {
		return aerr
	}
	return s.writeOK(c, status, v)
}

// authenticate checks the channel's credentials and the route's role.
func (s *Server) authenticate(c *call) *apiError {
	switch c.route.channel {
	case chanPublic:
		c.who = actor{Name: "anonymous", Channel: "public"}
		return nil
	case chanSecure:
		if s.tlsConf == nil {
			if !c.ctx.RemoteIP().IsLoopback() {
				return errChannelNotAllow
			}
			c.who = actor{Name: "loopback", Channel: "secure"}
			return nil
		}
		st := c.ctx.TLSConnectionState()
		if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
			return errClientCert
		}
		c.who = actor{Name: "partner:" + st.PeerCertificates[0].Subject.CommonName, Channel: "secure"}
		return nil
	}
	tok, ok := bearer(c.ctx)
	if !ok {
		return errUnauthenticated
	}
	adm, opSession, isAdmin, admErr := s.adminFor(tok)
	switch c.route.channel {
	case chanCustomer:
		if isAdmin || admErr != nil { // an admin token, or an operator session's even expired
			return errWrongChannel
		}
		cust, hash, err := s.sessions.lookup(tok, s.clock())
		if err != nil {
			return err
		}
		c.who = actor{Name: "customer:" + cust, Channel: "customer", CustomerID: cust}
		c.session = hash
		return nil
	case chanAdmin:
		if admErr != nil {
			return admErr
		}
		if !isAdmin {
			if _, _, err := s.sessions.lookup(tok, s.clock()); err == nil {
				return errWrongChannel
			}
			return errInvalidToken
		}
		c.who = actor{Name: adm.name, Channel: "admin", Role: adm.role.String()}
		c.session = opSession
		if adm.role < c.route.minRole {
			return errRole
		}
		return nil
	}
	panic("mgmt: route without channel")
}

func bearer(ctx *fasthttp.RequestCtx) (string, bool) {
	h := string(ctx.Request.Header.Peek("Authorization"))
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	t := strings.TrimSpace(h[len(p):])
	return t, t != ""
}

func (s *Server) adminByToken(tok string) (adminToken, bool) {
	// Compare fixed-size digests in constant time, so neither content nor length leaks.
	want := sha256.Sum256([]byte(tok))
	var found adminToken
	ok := false
	for _, a := range s.admins {
		have := sha256.Sum256(a.token)
		if subtle.ConstantTimeCompare(want[:], have[:]) == 1 {
			found, ok = a, true
		}
	}
	return found, ok
}

// openBody applies the encryption scheme: an encrypted request (Encrypted-Request: true) must
// carry a valid Public-Key and, when it has a body, {"payload": JWE} for the server key.
func (s *Server) openBody(c *call) *apiError {
	h := &c.ctx.Request.Header
	encrypted := strings.EqualFold(strings.TrimSpace(string(h.Peek("Encrypted-Request"))), "true")
	if !encrypted {
		if c.route.enc == encRequired {
			return errEncryptionRequired
		}
		c.body = c.ctx.PostBody()
		return nil
	}
	pub, err := jwe.ParseClientKey(string(h.Peek("Public-Key")))
	if err != nil {
		return errInvalidPublicKey
	}
	c.clientKey = pub
	body := bytes.TrimSpace(c.ctx.PostBody())
	if c.route.noBody {
		return nil
	}
	// An empty POST is encrypted by its headers alone, as a GET is (seed, JWE "Request": "for
	// empty POST methods (without body) use same rules as for GET message").
	if len(body) == 0 && c.route.bodyOpt {
		return nil
	}
	plain, err := s.key.OpenRequest(body)
	switch {
	case errors.Is(err, jwe.ErrInvalidPayload):
		return errInvalidPayload
	case err != nil:
		return errCantDecrypt
	}
	c.body = plain
	return nil
}

// writeOK writes a success; a 2xx answer with a body to an encrypted request is encrypted.
func (s *Server) writeOK(c *call, status int, v any) *apiError {
	ctx := c.ctx
	if status == fasthttp.StatusNoContent || v == nil {
		ctx.SetStatusCode(status)
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic("mgmt: encode answer: " + err.Error())
	}
	if c.clientKey != nil {
		payload, err := jwe.Seal(c.clientKey, out, "")
		clear(out)
		if err != nil {
			// The client key parsed but cannot be used (e.g. too small for OAEP-256): its fault.
			return errInvalidPublicKey
		}
		out, _ = json.Marshal(jwe.Envelope{Payload: payload})
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
	return nil
}

func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	out, _ := json.Marshal(e)
	ctx.SetBody(out)
}

// transportError answers what fasthttp itself refuses (body too large, malformed request line).
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, errBodyTooLarge)
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		writeError(ctx, &apiError{Status: 408, Code: "REQUEST_TIMEOUT", Message: "the request was not received in time"})
		return
	}
	writeError(ctx, errBad("MALFORMED_REQUEST", "the HTTP request could not be parsed", ""))
}
