// Package app wires cardswitch together: configuration, journal recovery, the engine, the ISO
// listener and the management API. cmd/cardswitch, the simulator, the bench and the end-to-end
// tests all start the switch through it, so they run exactly the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/internal/metrics"
	"github.com/cardswitch/cardswitch/internal/pan"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/dispatch"
	"github.com/cardswitch/cardswitch/switch/server"
)

// App is a running switch.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	journal  journal.Journal
	engine   *engine.Engine
	disp     *dispatch.Dispatcher
	iso      *server.Server
	http     *mgmt.Server
	hooks    *notify.Outbox
	events   ledger.EventLog // the journal's event and audit rows
	ready    atomic.Bool
	isoErr   chan error
	httpAddr string
	metrics  *metrics.Metrics
	// rotation stops the background re-encryption under a new data key; rotationDone says it did.
	rotation, rotationDone chan struct{}
}

// Start recovers the ledger and starts both listeners; it returns once they accept connections.
func Start(cfg *config.Config, log *slog.Logger) (*App, error) {
	return StartWith(cfg, log, Options{})
}

// Options adjust the wiring for tests.
type Options struct {
	// WrapJournal wraps the Badger journal (fault injection).
	WrapJournal func(journal.Journal) journal.Journal
}

// StartWith is Start with test options.
func StartWith(cfg *config.Config, log *slog.Logger, o Options) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	keyID, keys := cfg.DataKeys()
	lookupKey, err := pan.LookupKey(cfg.DataDir, keyID, keys)
	if err != nil {
		return nil, err
	}
	old := map[byte][]byte{}
	for id, k := range keys {
		if id != keyID {
			old[id] = k
		}
	}
	bj, err := journal.OpenBadger(journal.Options{Dir: filepath.Join(cfg.DataDir, "ledger"),
		DataKey: keys[keyID], DataKeyID: keyID, OldDataKeys: old, Logger: log})
	if err != nil {
		return nil, err
	}
	var j journal.Journal = bj
	if o.WrapJournal != nil {
		j = o.WrapJournal(bj)
	}
	began := time.Now()
	st := ledger.NewState()
	st.UseHistory(bj) // auth records and replies stay in the journal (ledger/history.go)
	if err := j.Load(st); err != nil {
		j.Close()
		return nil, err
	}
	setMemoryLimit(cfg, log)
	counts := st.Counts()
	log.Info("ledger recovered", "cards", counts["cards"], "balances", counts["balances"],
		"auths", counts["auths"], "took", time.Since(began).String())

	verifier, err := security.New(cfg)
	if err != nil {
		j.Close()
		return nil, err
	}
	env := ledger.Env{
		PANHasher: security.PANHasher(lookupKey), // = pan.HasherWithKey, pooled
		Program:   programPolicy(cfg),
		Verifier:  verifier,
		// Events only when a webhook receives them: an authorization event costs a row per message.
		AuthorizationEvents: cfg.HTTP.WebhookURL != "",
	}
	a := &App{cfg: cfg, log: log, journal: j, events: bj, isoErr: make(chan error, 1)}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "mgmt"), 0o700); err != nil {
		j.Close()
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if a.hooks, err = notify.Open(notify.Config{URL: cfg.HTTP.WebhookURL, Secret: []byte(cfg.HTTP.WebhookSecret),
		Path: filepath.Join(cfg.DataDir, "mgmt", "deliveries.log"), Log: log}, bj, st.LastEventSeq()); err != nil {
		j.Close()
		return nil, err
	}
	a.metrics = metrics.New(metrics.Gauges{
		QueueDepth:      func() float64 { return float64(a.engine.QueueDepth()) },
		ConnectionsOpen: func() float64 { return float64(a.iso.Stats().ConnectionsOpen) },
		Overloaded:      func() float64 { return float64(a.disp.Stats().Overloaded) },
		ValueLogBytes:   func() float64 { return float64(bj.ValueLogBytes()) },
	})
	a.engine = engine.New(engine.Config{QueueDepth: cfg.Engine.QueueDepth, MaxBatch: cfg.Engine.MaxBatch,
		HoldTTL: cfg.Engine.HoldTTL, ReplyRetention: cfg.Engine.ReplyRetention,
		Published: a.hooks.Published}, st, j, env, time.Now, log, a.metrics)
	a.engine.Start()
	a.hooks.Start()
	a.disp = dispatch.New(a.engine, log, a.metrics, dispatch.Options{})
	a.iso = server.New(server.Config{Addr: cfg.ISO.Addr, MaxFrameBytes: cfg.ISO.MaxFrameBytes,
		MaxInFlightPerConn: cfg.ISO.MaxInFlightPerConn, MaxSessions: cfg.ISO.MaxSessions,
		IdleTimeout: cfg.ISO.IdleTimeout, DrainTimeout: cfg.ISO.DrainTimeout}, a.disp, log)
	go func() { a.isoErr <- a.iso.ListenAndServe() }()
	select {
	case <-a.iso.Ready():
	case err := <-a.isoErr:
		a.engine.Stop(context.Background())
		a.hooks.Close()
		j.Close()
		return nil, fmt.Errorf("iso listener: %w", err)
	}
	h, err := startHTTP(a, env)
	if err != nil {
		a.iso.Shutdown(context.Background())
		a.engine.Stop(context.Background())
		a.hooks.Close()
		j.Close()
		return nil, err
	}
	a.http = h
	if len(old) > 0 {
		a.rotation = make(chan struct{})
		a.rotationDone = make(chan struct{})
		go a.reencrypt(bj)
	}
	a.ready.Store(true)
	log.Info("cardswitch ready", "iso", a.iso.Addr().String(), "http", cfg.HTTP.Addr, "dataDir", cfg.DataDir,
		"programs", programNames(cfg), "devProfile", cfg.DevProfile)
	return a, nil
}

// Shutdown stops accepting, drains in-flight messages (bounded), flushes and closes the store.
func (a *App) Shutdown() error {
	a.ready.Store(false)
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.iso.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		errs = append(errs, err)
	}
	if a.http != nil {
		if err := a.http.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.engine.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.hooks.Close(); err != nil {
		errs = append(errs, err)
	}
	if a.rotation != nil {
		close(a.rotation)
		<-a.rotationDone
	}
	a.disp.Close()
	if err := a.journal.Close(); err != nil {
		errs = append(errs, err)
	}
	a.log.Info("stopped")
	return errors.Join(errs...)
}

func programPolicy(cfg *config.Config) func(string) (ledger.ProgramPolicy, bool) {
	m := map[string]ledger.ProgramPolicy{}
	for _, p := range cfg.Programs {
		m[p.Name] = ledger.ProgramPolicy{Name: p.Name, PartnerBalanceID: p.PartnerBalanceID}
	}
	return func(name string) (ledger.ProgramPolicy, bool) { p, ok := m[name]; return p, ok }
}

func programNames(cfg *config.Config) string {
	var n []string
	for _, p := range cfg.Programs {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

// ISOAddr is the address the ISO listener accepts on.
func (a *App) ISOAddr() string { return a.iso.Addr().String() }

// HTTPAddr is the address the management API accepts on.
func (a *App) HTTPAddr() string { return a.httpAddr }

// Engine is the single writer (provisioning in tests).
func (a *App) Engine() *engine.Engine { return a.engine }

// Config is the configuration in force.
func (a *App) Config() *config.Config { return a.cfg }

// Ready reports whether both listeners accept connections.
func (a *App) Ready() bool { return a.ready.Load() }

// The soft memory limit of serve when engine.memoryLimitMiB is 0: the live heap after recovery
// times memoryLimitPerLive, at least minMemoryLimitMiB. Under load the live heap grows by the
// engine's batches and Badger's memtables and table builders (with a million cards ~430 MB after
// recovery, ~500 MB under a closed loop); the room above it only sets how often the collector
// runs, and a cycle costs milliseconds (pointer-free tables). With a million cards the limit is
// 800 MiB: anonymous memory 0.75 GB under a closed loop instead of 1.1 GB at 1400 MiB, with no
// CPU per approval lost beyond the noise (docs/benchmarks.md, "Round 6"). A limit tied to the
// live heap keeps a larger card base from running the collector without pause.
const (
	minMemoryLimitMiB  = 800
	memoryLimitPerLive = 1.75
)

// defaultMemoryLimit is the soft memory limit for a live heap of live bytes after recovery.
func defaultMemoryLimit(live uint64) int64 {
	return max(int64(minMemoryLimitMiB)<<20, int64(float64(live)*memoryLimitPerLive))
}

// setMemoryLimit returns the garbage of recovery to the OS and then sets the soft memory limit.
// Setting it before recovery would make the collector run without pause while the ledger grows.
// GOGC stays at the Go default: the ledger's tables are pointer-free (ledger/store.go), so a
// cycle marks almost nothing of them and costs a few milliseconds even with a million cards;
// more frequent cycles keep the heap (and the RSS) close to the live data (docs/benchmarks.md,
// "Round 3").
func setMemoryLimit(cfg *config.Config, log *slog.Logger) {
	debug.FreeOSMemory() // a full collection, then the freed pages go back to the OS
	if os.Getenv("GOMEMLIMIT") != "" || cfg.Engine.MemoryLimitMiB < 0 {
		return
	}
	limit := int64(cfg.Engine.MemoryLimitMiB) << 20
	if limit == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms) // just after a full collection: HeapAlloc is the live heap
		limit = defaultMemoryLimit(ms.HeapAlloc)
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "MiB", limit>>20)
}

// reencrypt rewrites the store under the current data key after a rotation, a step of at most
// reencryptStep rows at a time (each step holds the journal's lock, so the engine waits at most one
// step), until every value is sealed under the current key.
func (a *App) reencrypt(j *journal.Badger) {
	defer close(a.rotationDone)
	const reencryptStep = 500
	total := 0
	for {
		n, done, err := j.Reencrypt(reencryptStep)
		total += n
		if err != nil {
			a.log.Error("data-key rotation: re-encryption step failed; retrying", "err", err)
		}
		if done && err == nil {
			a.log.Info("data-key rotation complete: every value is sealed under the current data key; previousDataKeys may be removed",
				"rows", total, "dataKeyId", a.cfg.Security.DataKeyID)
			return
		}
		select {
		case <-a.rotation:
			a.log.Info("data-key rotation interrupted by shutdown; it resumes at the next start", "rows", total)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RotationDone is closed once the background re-encryption under a new data key has finished
// (or stopped at shutdown); nil when no rotation was configured.
func (a *App) RotationDone() <-chan struct{} { return a.rotationDone }
