// Package tsh is the issuer side of the token service hub (contract §5, seed
// tsh-issuer-callbacks.txt): the hub asks whether a card may be put in a wallet, how much to
// trust the request, how to step the cardholder up, and tells the issuer about the token's life.
// Its tokens are tokens of the token vault (ledger.Token), authorized over ISO 8583 on their
// funding card like any other.
//
// The rules are pure functions (decide.go, fields.go, cardinfo.go); this file and ops.go are the
// HTTP edge: read the headers and the body, open the envelopes (tsh/cms), read the ledger, decide,
// apply through the engine with the call's audit entry in the same batch, answer.
package tsh

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

// Prefix is where the operations are served on the management listener.
const Prefix = "/tsh/"

// Limits of the hub's calls (ARCHITECTURE rule 5).
const (
	// MaxBodyBytes bounds a request body: three envelopes of 8196 characters and the other
	// fields fit; a larger body is answered 413 BODY_TOO_LARGE.
	MaxBodyBytes = 64 << 10
	// EngineTimeout bounds how long a call waits for the engine; past it the answer is 503
	// UNAVAILABLE (the change may still be applied: the engine never drops a queued op).
	EngineTimeout = 10 * time.Second
	// DefaultOTPTTL is an OTP's lifetime when sendOTP gives no expirationDate.
	DefaultOTPTTL = 10 * time.Minute
	// otpHashesMax bounds the outstanding OTP hashes kept; when full (after dropping expired
	// ones) the one expiring first is dropped.
	otpHashesMax = 100_000
)

// Transport applies the /secure transport rule to a call (mgmt.Server).
type Transport interface {
	SecureCaller(ctx *fasthttp.RequestCtx) (mgmt.Caller, bool)
}

// Deps are what the hub's operations run on.
type Deps struct {
	IssuerID  string
	Keys      *cms.Keyring
	Engine    *engine.Engine
	PANHash   func(pan string) string
	Transport Transport
	Rules     []TrustRule
	// WalletProviderIDs are walletProviderId values agreed with the hub at onboarding (per
	// TRID), accepted besides the seed's five.
	WalletProviderIDs []string
	// Webhook reports whether events are delivered (a webhook is configured): without one an
	// OTP cannot reach the cardholder, and sendOTP says so in the log.
	Webhook bool
	OTPTTL  time.Duration // default DefaultOTPTTL
	Ready   func() bool   // healthCheck; default always ready
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Service serves the eight operations.
type Service struct {
	d    Deps
	log  *slog.Logger
	ops  map[string]operation
	otps *otpHashes
	also map[string][]string // extra enumeration values (validate)
}

// operation is one of the seed's operations.
type operation struct {
	method string
	fields []use
	handle func(s *Service, c *call, m map[string]json.RawMessage) reply
}

// Operations lists the operations as "METHOD /tsh/name" (the OpenAPI test, docs).
func (s *Service) Operations() []string {
	out := make([]string, 0, len(s.ops))
	for name, op := range s.ops {
		out = append(out, op.method+" "+Prefix+name)
	}
	return out
}

// New checks the dependencies and builds the service.
func New(d Deps) (*Service, error) {
	if utf8.RuneCountInString(d.IssuerID) != 10 || d.Keys == nil || d.Engine == nil || d.PANHash == nil || d.Transport == nil {
		return nil, errors.New("tsh: IssuerID (10 characters), Keys, Engine, PANHash and Transport are required")
	}
	if d.OTPTTL <= 0 {
		d.OTPTTL = DefaultOTPTTL
	}
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	s := &Service{d: d, log: d.Logger, otps: newOTPHashes(otpHashesMax)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ops = operations()
	if len(d.WalletProviderIDs) > 0 {
		s.also = map[string][]string{fWalletProviderID.name: append([]string(nil), d.WalletProviderIDs...)}
	}
	return s, nil
}

// operations is the operation table: the seed's paths (under Prefix), methods and fields.
func operations() map[string]operation {
	return map[string]operation{
		"checkCardEligibility":    {"POST", checkCardEligibilityFields, (*Service).checkCardEligibility},
		"requestCardDigitization": {"POST", requestCardDigitizationFields, (*Service).requestCardDigitization},
		"getIDnVMethodList":       {"POST", getIDnVMethodListFields, (*Service).getIDnVMethodList},
		"requestDeviceBinding":    {"POST", requestDeviceBindingFields, (*Service).requestDeviceBinding},
		"notifyVirtualCardChange": {"POST", notifyVirtualCardChangeFields, (*Service).notifyVirtualCardChange},
		"sendOTP":                 {"POST", sendOTPFields, (*Service).sendOTP},
		"notifyStandInProcess":    {"POST", notifyStandInProcessFields, (*Service).notifyStandInProcess},
		"healthCheck":             {"GET", nil, (*Service).healthCheck},
	}
}

// call is one request being served.
type call struct {
	op    string
	corr  string
	who   mgmt.Caller
	start time.Time
	// resType and resID name what the call is about, for its audit entry and log line.
	resType, resID string
	// audited: the change's batch carried the audit entry.
	audited bool
}

// reply is an operation's answer: a success body (nil: no body) or an error.
type reply struct {
	status int
	body   any
	err    *apiError
}

// apiError is the §4 error shape, with the eligibility reason of CARD_NOT_ELIGIBLE.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func fail(status int, code, msg string) reply {
	return reply{err: &apiError{Status: status, Code: code, Message: msg}}
}

func invalidField(field, msg string) reply {
	return reply{err: &apiError{Status: 400, Code: "INVALID_FIELD", Message: msg, Field: field}}
}

func ok(body any) reply { return reply{status: 200, body: body} }

// Handler serves a request under Prefix (mounted on the management listener, which contains
// panics and counts requests).
func (s *Service) Handler(ctx *fasthttp.RequestCtx) {
	name := strings.TrimPrefix(string(ctx.Path()), Prefix)
	op, found := s.ops[name]
	if !found {
		mgmt.WriteError(ctx, 404, "NOT_FOUND", "no such operation", "")
		return
	}
	if string(ctx.Method()) != op.method {
		mgmt.WriteError(ctx, 405, "METHOD_NOT_ALLOWED", "use "+op.method, "")
		return
	}
	who, allowed := s.d.Transport.SecureCaller(ctx)
	if !allowed {
		return
	}
	c := &call{op: name, who: who, start: s.d.Clock()}
	r := s.serve(ctx, c, op)
	s.answer(ctx, c, r)
}

// serve checks the headers and the body, then runs the operation.
func (s *Service) serve(ctx *fasthttp.RequestCtx, c *call, op operation) reply {
	corr := string(ctx.Request.Header.Peek("x-correlation-id"))
	if n := utf8.RuneCountInString(corr); n < 1 || n > 64 || !utf8.ValidString(corr) {
		return reply{err: &apiError{Status: 400, Code: "INVALID_HEADER", Message: "x-correlation-id must be 1 to 64 characters", Field: "x-correlation-id"}}
	}
	c.corr = corr
	issuer := ctx.Request.Header.Peek("x-issuer-id")
	if utf8.RuneCount(issuer) != 10 || !utf8.Valid(issuer) {
		return reply{err: &apiError{Status: 400, Code: "INVALID_HEADER", Message: "x-issuer-id must be exactly 10 characters", Field: "x-issuer-id"}}
	}
	if string(issuer) != s.d.IssuerID {
		return fail(403, "UNKNOWN_ISSUER", "x-issuer-id is not this issuer's")
	}
	if op.fields == nil { // GET: no body
		return op.handle(s, c, nil)
	}
	body := ctx.PostBody()
	if len(body) > MaxBodyBytes {
		return fail(413, "BODY_TOO_LARGE", "the request body is too large")
	}
	m, err := validate(body, op.fields, s.also)
	if err != nil {
		var fe *FieldError
		errors.As(err, &fe)
		if fe.Field == "body" {
			return fail(400, "INVALID_JSON", "the body must be a JSON object")
		}
		return invalidField(fe.Field, fe.Field+": "+fe.Reason)
	}
	return op.handle(s, c, m)
}

// answer writes the reply, and the call's audit entry (unless its change carried it) and log
// line, both with the correlation id and never card data.
func (s *Service) answer(ctx *fasthttp.RequestCtx, c *call, r reply) {
	status, code := r.status, ""
	if r.err != nil {
		status, code = r.err.Status, r.err.Code
		ctx.Response.ResetBody()
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		out, _ := json.Marshal(r.err)
		ctx.SetBody(out)
	} else {
		ctx.SetStatusCode(status)
		if r.body != nil {
			out, err := json.Marshal(r.body)
			if err != nil {
				panic("tsh: encode answer: " + err.Error())
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(out)
		}
	}
	// Every call with a correlation id is audited; a healthCheck answered 503 is not: the engine
	// that would write the entry is what is not ready.
	if c.corr != "" && !c.audited && !(c.op == "healthCheck" && status != 200) {
		s.auditOnly(c, outcome{Status: status, Code: code})
	}
	s.log.Info("tsh call", "operation", c.op, "correlationId", c.corr, "status", status, "code", code,
		"resourceType", c.resType, "resourceId", c.resID, "took", s.d.Clock().Sub(c.start))
}

// outcome is the audit view of a call that changed nothing.
type outcome struct {
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
}

// record is the call's audit entry.
func (s *Service) record(c *call, after any) ledger.AuditRecord {
	r := ledger.AuditRecord{AtUnixNano: s.d.Clock().UnixNano(), Actor: c.who.Name, Channel: "tsh",
		Action: "tsh." + c.op, ResourceType: c.resType, ResourceID: c.resID, CorrelationID: c.corr}
	if after != nil {
		r.After, _ = json.Marshal(after)
	}
	return r
}

// auditRecords writes audit entries in a batch of their own (a call that changes nothing).
type auditRecords []ledger.AuditRecord

func (auditRecords) Kind() ledger.OpKind { return ledger.OpAudit }
func (auditRecords) Keys(*ledger.Keys)   {}

func (a auditRecords) Apply(tx *ledger.Tx, _ *ledger.Env) int {
	for _, r := range a {
		tx.Audit(r)
	}
	return len(a)
}

func (s *Service) auditOnly(c *call, after any) {
	ctx, cancel := context.WithTimeout(context.Background(), EngineTimeout)
	defer cancel()
	if _, err := engine.Do(ctx, s.d.Engine, auditRecords{s.record(c, after)}); err != nil {
		s.log.Error("tsh audit entry not written", "operation", c.op, "correlationId", c.corr, "err", err)
	}
}

// audited runs a command with the call's audit entry in its batch, written once it succeeded.
type audited[T any] struct {
	cmd  ledger.Command[ledger.Result[T]]
	rec  ledger.AuditRecord
	view func(T) any
}

func (a audited[T]) Kind() ledger.OpKind { return a.cmd.Kind() }
func (a audited[T]) Keys(k *ledger.Keys) { a.cmd.Keys(k) }

func (a audited[T]) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[T] {
	r := a.cmd.Apply(tx, env)
	if r.Refusal == nil {
		rec := a.rec
		rec.After, _ = json.Marshal(a.view(r.Value))
		tx.Audit(rec)
	}
	return r
}

// exec applies cmd with the call's audit entry; a refusal or an engine failure is the reply's
// error (a refusal is audited by answer, as a call that changed nothing).
func exec[T any](s *Service, c *call, cmd ledger.Command[ledger.Result[T]], view func(T) any) (T, *apiError) {
	ctx, cancel := context.WithTimeout(context.Background(), EngineTimeout)
	defer cancel()
	res, err := engine.Do(ctx, s.d.Engine, audited[T]{cmd: cmd, rec: s.record(c, nil), view: view})
	var zero T
	if err != nil {
		s.log.Warn("tsh command not applied", "operation", c.op, "correlationId", c.corr, "err", err)
		return zero, &apiError{Status: 503, Code: "UNAVAILABLE", Message: "the switch could not apply the change; retry"}
	}
	if r := res.Refusal; r != nil {
		status := 400
		switch r.Kind {
		case ledger.NotFound:
			status = 404
		case ledger.Conflict:
			status = 409
		}
		return zero, &apiError{Status: status, Code: r.Code, Message: r.Message, Field: r.Field}
	}
	c.audited = true
	return res.Value, nil
}

// otpHashes keeps the outstanding OTPs as salted hashes until they expire (contract §5: never
// in clear). Nothing reads an OTP back: the hash says that one was sent to the method, and is
// what a verification would compare against.
type otpHashes struct {
	mu   sync.Mutex
	max  int
	byID map[string]otpHash
	salt [32]byte
}

type otpHash struct {
	sum     [32]byte
	expires time.Time
}

func newOTPHashes(max int) *otpHashes {
	h := &otpHashes{max: max, byID: map[string]otpHash{}}
	if _, err := randRead(h.salt[:]); err != nil {
		panic("tsh: no randomness: " + err.Error())
	}
	return h
}

func (h *otpHashes) sum(key, otp string) [32]byte {
	return sha256.Sum256([]byte(string(h.salt[:]) + key + "|" + otp))
}

// put keeps otp's hash for key until expires, dropping expired ones (and when still full, the
// one expiring first).
func (h *otpHashes) put(key, otp string, expires, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.byID) >= h.max {
		var first string
		for k, v := range h.byID {
			if !v.expires.After(now) {
				delete(h.byID, k)
			} else if first == "" || v.expires.Before(h.byID[first].expires) {
				first = k
			}
		}
		if len(h.byID) >= h.max {
			delete(h.byID, first)
		}
	}
	h.byID[key] = otpHash{sum: h.sum(key, otp), expires: expires}
}

// matches reports whether otp is the outstanding one of key (constant-time comparison).
func (h *otpHashes) matches(key, otp string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.byID[key]
	if !ok || !v.expires.After(now) {
		return false
	}
	want := h.sum(key, otp)
	return subtle.ConstantTimeCompare(v.sum[:], want[:]) == 1
}
