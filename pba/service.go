// Package pba is Pay by Account (issue 18, seed pay-by-account.txt, contract §6): cardswitch as
// the wallet server between a bank (the account holding institution), its app's SDK, the token
// service, the account processing platform and the 3-D Secure server, and as the issuer host
// that authorizes the IBANs' payment tokens. docs/pba.md says how the seed's operations, states
// and jobs are implemented.
//
// The money side is the ledger's: a bank user is a ledger customer, each of its IBANs a balance,
// and each payment token a ledger token funding from an internal account card of that balance
// (of a tokens-only program), so authorizations with a token PAN take the switch's one
// authorization path and the token state rules of contract §3.
package pba

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Caller is who makes a change, for the audit trail.
type Caller = mgmt.Caller

// Gate authenticates the bank server and admin channels (mgmt.Server implements it: /secure's
// transport rule and /admin's operator tokens, contract §4). On refusal it has written the answer.
type Gate interface {
	SecureCaller(ctx *fasthttp.RequestCtx) (mgmt.Caller, bool)
	AdminCaller(ctx *fasthttp.RequestCtx, minRole string) (mgmt.Caller, bool)
}

// Deps are what the service runs on.
type Deps struct {
	Config       config.PBA
	Programs     []config.Program
	KeySpecs     []KeySpec // the institutions' verification keys, paths resolved
	Engine       *engine.Engine
	PANHash      func(pan string) string
	Gate         Gate
	Clock        func() time.Time
	Logger       *slog.Logger
	Adapters     Adapters
	MaxBodyBytes int
}

// institution is a configured institution.
type institution struct {
	id, currency, program string
}

// Service is the Pay by Account wallet server. Start its job runner with Start; Close stops it.
type Service struct {
	cfg      config.PBA
	insts    map[string]institution
	order    []string // institution ids in configuration order
	eng      *engine.Engine
	vault    *tokenvault.Vault
	ids      *IdentityVerifier
	gate     Gate
	clock    func() time.Time
	log      *slog.Logger
	adapters Adapters
	sessions *sessions
	streams  *streams
	maxBody  int
	programs []config.Program

	kick     chan struct{}
	started  bool // Start was called: Close waits for the runner
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// DefaultMaxBodyBytes bounds a request body on /pba; larger is answered 413 BODY_TOO_LARGE.
const DefaultMaxBodyBytes = 64 << 10

// New builds the service: the institutions' keys are read, the in-process adapters stand in for
// those not given.
func New(d Deps) (*Service, error) {
	if d.Engine == nil || d.PANHash == nil || d.Gate == nil {
		return nil, errors.New("pba: New needs an engine, a PAN hash and a gate")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	vault, err := tokenvault.New(tokenvault.Config{Programs: config.VaultPrograms(d.Programs), Hash: d.PANHash})
	if err != nil {
		return nil, fmt.Errorf("pba: %w", err)
	}
	ids, err := LoadIdentityVerifier(d.KeySpecs)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: d.Config, insts: map[string]institution{}, eng: d.Engine, vault: vault, ids: ids, gate: d.Gate,
		clock: d.Clock, log: d.Logger, adapters: d.Adapters, maxBody: d.MaxBodyBytes, programs: d.Programs,
		sessions: newSessions(d.Config.SessionTTL), streams: newStreams(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.cfg.JobInterval <= 0 {
		s.cfg.JobInterval = config.DefaultPBAJobInterval
	}
	if s.cfg.SessionTTL <= 0 {
		s.cfg.SessionTTL = config.DefaultPBASessionTTL
		s.sessions.ttl = s.cfg.SessionTTL
	}
	for _, in := range d.Config.Institutions {
		s.insts[in.ID] = institution{id: in.ID, currency: in.Currency, program: in.Program}
		s.order = append(s.order, in.ID)
	}
	if s.adapters.TokenService == nil {
		s.adapters.TokenService = NewLocalTokenService()
	}
	if s.adapters.AccountPlatform == nil {
		cvks := map[string][]byte{}
		for _, p := range d.Programs {
			cvks[p.Name] = config.Key(p.Keys.CVK)
		}
		s.adapters.AccountPlatform = &LocalAccountPlatform{CVK: cvks, Clock: d.Clock}
	}
	if s.adapters.ThreeDS == nil {
		s.adapters.ThreeDS = NewLocalThreeDS()
	}
	if s.adapters.Push == nil {
		s.adapters.Push = NewLocalPush()
	}
	return s, nil
}

// Start starts the job runner; Close stops it.
func (s *Service) Start() {
	s.started = true
	go s.runJobsLoop(s.stop, s.done)
}

// Close stops the job runner and ends the SSE streams; it waits for the runner to finish the
// step it is in (bounded by callTimeout).
func (s *Service) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.streams.closeAll()
	})
	if !s.started {
		return
	}
	select {
	case <-s.done:
	case <-time.After(callTimeout + time.Second):
	}
}

// Adapters returns the outside parties in use (tests and the demo inspect the in-process ones).
func (s *Service) Adapters() Adapters { return s.adapters }

// wakeJobs asks the runner for a run now (a change that made job steps).
func (s *Service) wakeJobs() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) programOf(inst string) string { return s.insts[inst].program }

// apiError is an answer of contract §4's shape.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func errBad(code, field, msg string) *apiError { return &apiError{400, code, msg, field} }

var (
	errUnavailable = &apiError{503, "UNAVAILABLE", "the switch cannot take the change now; retry", ""}
	errIdentity    = &apiError{401, "INVALID_TRUSTED_IDENTITY", "the signed data is not valid", ""}
	errSession     = &apiError{401, "USER_UNATHORIZED", "no valid userSessionToken: log in again", ""}
)

func fromRefusal(r *ledger.Refusal) *apiError {
	e := &apiError{Code: r.Code, Message: r.Message, Field: r.Field}
	switch r.Kind {
	case ledger.Invalid:
		e.Status = 400
	case ledger.NotFound:
		e.Status = 404
	default:
		e.Status = 409
	}
	return e
}

// exec runs a command in the engine and waits for it.
func (s *Service) exec(cmd ledger.Command[ledger.Result[bool]]) (bool, *apiError) {
	return execT(s, cmd)
}

func execT[T any](s *Service, cmd ledger.Command[ledger.Result[T]]) (T, *apiError) {
	ctx, cancel := context.WithTimeout(context.Background(), mgmt.EngineTimeout)
	defer cancel()
	res, err := engine.Do(ctx, s.eng, cmd)
	var zero T
	if err != nil {
		s.log.Warn("pba command not applied", "err", err)
		return zero, errUnavailable
	}
	if res.Refusal != nil {
		return zero, fromRefusal(res.Refusal)
	}
	s.afterChange()
	return res.Value, nil
}

// execLogged runs a job's command; a failure is logged (the job runs again).
func (s *Service) execLogged(cmd command[bool]) {
	if _, err := s.exec(cmd); err != nil {
		s.log.Warn("pba job command not applied", "code", err.Code)
	}
}

// afterChange wakes what delivers the consequences of a durable change: the job runner and the
// SSE streams.
func (s *Service) afterChange() {
	s.wakeJobs()
	s.streams.wake()
}

// durable waits until everything the engine had merged into the State when it was called is
// durable, so that what was just read of the State may be shown to a device or acted on outside
// (a pipelined engine merges a batch before its flush; engine.AwaitDurable). False if the engine
// halted with a batch in doubt or the wait passed its bound.
func (s *Service) durable() bool {
	if s.eng.Durable() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), durableWait)
	defer cancel()
	return s.eng.AwaitDurable(ctx) == nil
}

// durableWait bounds durable's wait: about one flush in normal operation.
const durableWait = 10 * time.Second

// newID draws an opaque id.
func newID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pba: no randomness: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}
