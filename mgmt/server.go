// Package mgmt is the management API of cardswitch (contract §4, docs/api.md): a fasthttp
// adapter over the same engine as the switch. It decodes and validates, checks the channel and
// the caller, calls the engine (every change goes through engine.Do, so it is ordered with the
// authorizations and durable before the answer), and encodes. Business rules live in ledger.
//
// Three channels share one listener: /secure/... (server-to-server; mutual TLS when TLS is
// configured, otherwise loopback only), /customers/me/... (customer session tokens) and
// /admin/... (operator tokens with the roles Admin, Manager and Employee).
package mgmt

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/kyc"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt/jwe"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Limits and defaults of the management API (ARCHITECTURE rule 5).
const (
	// DefaultMaxBodyBytes bounds a request body when http.maxBodyBytes is not set; a larger body
	// is answered 413 BODY_TOO_LARGE.
	DefaultMaxBodyBytes = 64 << 10
	// EngineTimeout bounds how long a request waits for the engine; past it the answer is 503
	// UNAVAILABLE (the change may still be applied: the engine never drops a queued op).
	EngineTimeout = 10 * time.Second
	// ReadTimeout, WriteTimeout and IdleTimeout are the listener's connection timeouts.
	ReadTimeout  = 15 * time.Second
	WriteTimeout = 15 * time.Second
	IdleTimeout  = 60 * time.Second
	// MaxConns bounds the connections the listener serves at once (fasthttp Concurrency); past
	// it fasthttp answers 503 at once. (Not MaxConnsPerIP: its connection wrapper races with
	// Shutdown in fasthttp v1.74.0 under -race.)
	MaxConns = 4096
	// MaxSessions bounds the live customer sessions; when full (after dropping expired ones) a
	// new session is refused with 503 UNAVAILABLE.
	MaxSessions = 100_000
	// RegistrationTokenTTL is the lifetime of a registration token (POST
	// /secure/registration-tokens); past it the registration is refused with 401
	// REGISTRATION_TOKEN_INVALID.
	RegistrationTokenTTL = 10 * time.Minute
	// MaxRegistrationTokens bounds the outstanding (issued, not used, not expired) registration
	// tokens; when full, a new one is refused with 429 TOO_MANY_REGISTRATION_TOKENS (outstanding
	// tokens are never evicted early).
	MaxRegistrationTokens = 10_000
)

// Metrics receives one observation per request (optional).
type Metrics interface {
	Request(method, route string, status int, took time.Duration)
}

// Config is the part of the switch configuration the management API reads: its listener
// section, the card programs, and the data directory it keeps its own files in (the JWE key, the
// audit log and the webhook outbox, under DataDir/mgmt).
type Config struct {
	DataDir  string
	HTTP     config.HTTP
	Programs []config.Program
}

// Program finds a program by name.
func (c *Config) Program(name string) (*config.Program, bool) {
	for i := range c.Programs {
		if c.Programs[i].Name == name {
			return &c.Programs[i], true
		}
	}
	return nil, false
}

// Deps are what the management API runs on.
type Deps struct {
	Config  Config
	Engine  *engine.Engine
	PANHash func(pan string) string
	Logger  *slog.Logger
	// Ready reports whether the process accepts traffic (GET /healthz).
	Ready func() bool
	// Clock is the wall clock (default time.Now): card expiry, sessions, audit times.
	Clock   func() time.Time
	Metrics Metrics
	// Events reads the audit trail back from the journal (required).
	Events ledger.EventLog
	// Webhooks is the webhook outbox the admin channel lists and replays; nil: none configured.
	// Its owner (app) starts and closes it.
	Webhooks *notify.Outbox
	// MetricsHandler, when set, serves GET /metrics (Prometheus) on the same listener.
	MetricsHandler fasthttp.RequestHandler
	// KYC is the eKYC provider (mgmt/kyc.go); nil: kyc.ManualReviewProvider, the issuer's
	// operators decide. KYCCallbackSecret verifies POST /kyc/callback (empty: no callbacks).
	KYC               kyc.Provider
	KYCCallbackSecret []byte
	// Loyalty answers the loyalty read-out (loyalty.go); nil: no loyalty programme served.
	Loyalty LoyaltyReader
	// Health, when set, answers GET /healthz once Ready (a cluster node's role and indexes,
	// app/cluster.go); nil: 200 {"status":"ok"} (contract §4).
	Health func() (status int, body any)
}

// Server is the management API.
type Server struct {
	cfg      *Config
	eng      *engine.Engine
	panHash  func(string) string
	vault    *tokenvault.Vault // issues card numbers and secrets
	log      *slog.Logger
	ready    func() bool
	clock    func() time.Time
	metrics  Metrics
	key      *jwe.ServerKey
	routes   []*route
	sessions *sessions
	admins   []adminToken
	audit    *auditLog
	hooks    hooks
	rates    *rateLimiter
	tlsConf  *tls.Config
	maxBody  int
	srv      *fasthttp.Server

	// The eKYC provider and the callback secret (mgmt/kyc.go).
	kyc       kyc.Provider
	kycSecret []byte

	// mounts are the partner channels other packages serve on this listener (mount.go).
	mounts []mount

	// registrations are the outstanding registration tokens of POST /customers.
	registrations *registrationTokens

	// operators are the operators who log in (http.operators) and their sessions
	// (admin_sessions.go).
	operators *operators
	loyalty   LoyaltyReader // loyalty.go
	health    func() (int, any)
}

// New builds the management API: it loads (or on first start generates) the JWE server key in
// the data directory, imports an audit file of an earlier version into the journal, and checks the TLS and
// admin-token configuration.
func New(d Deps) (*Server, error) {
	if d.Config.DataDir == "" || d.Engine == nil || d.PANHash == nil || d.Events == nil {
		return nil, errors.New("mgmt: Config.DataDir, Engine, PANHash and Events are required")
	}
	cfg := d.Config
	s := &Server{cfg: &cfg, eng: d.Engine, panHash: d.PANHash, log: d.Logger, ready: d.Ready,
		clock: d.Clock, metrics: d.Metrics, health: d.Health}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	vault, err := tokenvault.New(tokenvault.Config{Programs: config.VaultPrograms(d.Config.Programs), Hash: d.PANHash})
	if err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	s.vault = vault
	s.kyc, s.kycSecret = d.KYC, d.KYCCallbackSecret
	if s.kyc == nil {
		s.kyc = kyc.ManualReviewProvider{Sink: s}
	}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	h := &cfg.HTTP
	s.maxBody = h.MaxBodyBytes
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	dir := filepath.Join(cfg.DataDir, "mgmt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	key, created, err := jwe.LoadOrCreate(dir)
	if err != nil {
		return nil, err
	}
	if created {
		s.log.Warn("generated the management API encryption key", "file", filepath.Join(dir, jwe.KeyFile), "kid", key.KID())
	}
	s.key = key
	ttl := h.SessionTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	s.sessions = newSessions(ttl, MaxSessions)
	s.registrations = newRegistrationTokens(RegistrationTokenTTL, MaxRegistrationTokens)
	for i, t := range h.AdminTokens {
		r, ok := parseRole(t.Role)
		if !ok || t.Token == "" || t.Name == "" {
			return nil, fmt.Errorf("mgmt: http.adminTokens[%d]: want name, token and role Admin, Manager or Employee", i)
		}
		s.admins = append(s.admins, adminToken{name: t.Name, token: []byte(t.Token), role: r})
	}
	if s.operators, err = newOperators(h.Operators, s.admins, h.OperatorSessionTTL); err != nil {
		return nil, err
	}
	if h.WebhookURL != "" && h.WebhookSecret == "" {
		return nil, errors.New("mgmt: http.webhookSecret is required with http.webhookUrl")
	}
	s.audit = &auditLog{src: d.Events, log: s.log}
	if err := s.importLegacyAudit(filepath.Join(dir, "audit.log")); err != nil {
		return nil, err
	}
	s.hooks = hooks{o: d.Webhooks}
	s.loyalty = d.Loyalty
	s.rates = newRateLimiter(h.RateLimitPerSec, s.clock)
	if h.TLSCert != "" || h.TLSKey != "" {
		if s.tlsConf, err = tlsConfig(h); err != nil {
			return nil, err
		}
	} else if host, _, _ := net.SplitHostPort(h.Addr); !isLoopbackHost(host) {
		s.log.Warn("management API without TLS on a non-loopback address: /secure answers only loopback clients", "addr", h.Addr)
	}
	s.routes = s.buildRoutes()
	handler := s.Handler()
	if mh := d.MetricsHandler; mh != nil {
		api := handler
		handler = func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/metrics" && ctx.IsGet() {
				mh(ctx)
				return
			}
			api(ctx)
		}
	}
	s.srv = &fasthttp.Server{
		Handler:      handler,
		ErrorHandler: s.transportError,
		Name:         "cardswitch",
		// The handler answers 413 BODY_TOO_LARGE up to 4x the limit after reading the body;
		// beyond that fasthttp stops reading and transportError answers 413 as it closes.
		MaxRequestBodySize:    4 * s.maxBody,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		IdleTimeout:           IdleTimeout,
		Concurrency:           MaxConns,
		DisableKeepalive:      false,
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		TLSConfig:             s.tlsConf,
		Logger:                fasthttpLogger{s.log},
	}
	return s, nil
}

// tlsConfig is the listener's TLS: the server certificate, and partner client certificates
// verified against http.clientCA. A client certificate is asked for but not required at the
// handshake (VerifyClientCertIfGiven), because the customer and admin channels share the
// listener; /secure then refuses a request without a verified certificate (401). A presented
// certificate that does not verify fails the handshake.
func tlsConfig(h *config.HTTP) (*tls.Config, error) {
	if h.TLSCert == "" || h.TLSKey == "" || h.ClientCA == "" {
		return nil, errors.New("mgmt: TLS needs http.tlsCert, http.tlsKey and http.clientCA (mutual TLS for /secure)")
	}
	cert, err := tls.LoadX509KeyPair(h.TLSCert, h.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("mgmt: TLS key pair: %w", err)
	}
	caPEM, err := os.ReadFile(h.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("mgmt: http.clientCA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("mgmt: http.clientCA: no certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// TLS reports whether the listener serves TLS.
func (s *Server) TLS() bool { return s.tlsConf != nil }

// Serve serves the API on ln (wrapped in TLS when TLS is configured) until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.tlsConf != nil {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	return s.srv.Serve(ln)
}

// Stop stops accepting and waits, bounded by ctx, for the requests in flight. Events and audit
// entries are rows of the engine's batches, so nothing of them is left to flush here.
func (s *Server) Stop(ctx context.Context) error {
	return s.srv.ShutdownWithContext(ctx)
}

// Shutdown is Stop without a bound.
func (s *Server) Shutdown() error {
	return s.Stop(context.Background())
}

// PublicKey is the server's RSA public key for encrypted requests (clients, tests).
func (s *Server) PublicKey() *rsa.PublicKey { return s.key.Public() }

// Routes lists the routes as "METHOD /path/{param}" (the OpenAPI test, docs).
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r.method+" "+r.pattern)
	}
	return out
}

func (s *Server) engineCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), EngineTimeout)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	// fasthttp's messages name connections and errors, never bodies.
	f.l.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
