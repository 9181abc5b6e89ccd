// Package app wires cardswitch together: configuration, journal recovery, the engine, the ISO
// listener and the management API. cmd/cardswitch, the simulator, the bench and the end-to-end
// tests all start the switch through it, so they run exactly the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/internal/metrics"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/archive"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/loyalty"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/notify"
	"github.com/cardswitch/cardswitch/pba"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/dispatch"
	"github.com/cardswitch/cardswitch/switch/server"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// DefaultShutdownTimeout bounds the shutdown Run performs when its context ends or a component
// fails (Options.ShutdownTimeout): long enough for the ISO drain (iso.drainTimeout, 10 s by
// default) and a queued engine batch, short of a process supervisor's kill timeout.
const DefaultShutdownTimeout = 15 * time.Second

// App is the switch process: it owns every component and every goroutine that serves them.
//
// Run starts the components (journal recovery, engine, dispatcher, management API, ISO listener,
// background re-encryption), then supervises them: when its context ends, or a component fails
// (a listener that stops accepting), it stops them all in dependency order (Shutdown) and
// returns. Start and StartWith run it in the background and return once the switch serves.
type App struct {
	cfg  *config.Config
	log  *slog.Logger
	opts Options

	// mu is held by start and stop, so a Shutdown during start-up waits for a consistent set of
	// components (and start-up stops early when it sees stopping).
	mu       sync.Mutex
	journal  journal.Journal
	archive  *archive.Store // auth records moved out of the journal (app/archive.go)
	engine   *engine.Engine
	disp     *dispatch.Dispatcher
	iso      *server.Server
	isoLn    net.Listener
	http     *mgmt.Server
	httpLn   net.Listener
	hooks    *notify.Outbox
	events   ledger.EventLog // the journal's event and audit rows
	httpAddr string
	metrics  *metrics.Metrics
	pba      *pba.Service // Pay by Account (pba.go); nil without institutions
	// loyalty is the loyalty platform (loyalty.go); stopLoyalty ends its purge job.
	loyalty     *loyalty.Service
	stopLoyalty func()
	// stopPanel ends the operator panel's live streams and sampler (panel.go).
	stopPanel func()
	// stopHandOver stops the hand-over of an older store's records to the archive (nil: none).
	stopHandOver func()
	// rotation stops the background re-encryption under a new data key; rotationDone says it did.
	rotation, rotationDone chan struct{}
	serving                sync.WaitGroup // the ISO and HTTP Serve goroutines
	// cl is this node's part in a replicated group (serve --cluster, cluster.go); nil alone.
	cl *clusterNode

	ready    atomic.Bool
	running  atomic.Bool   // Run was called
	started  chan struct{} // closed once every component runs
	failed   chan error    // the first component failure (buffered 1)
	stopping chan struct{} // closed when Shutdown begins
	stopOnce sync.Once
	stopErr  error
}

// Options adjust the wiring for tests.
type Options struct {
	// WrapJournal wraps the Badger journal (fault injection).
	WrapJournal func(journal.Journal) journal.Journal
	// WrapISOListener wraps the ISO listener (fault injection: a listener failing underneath).
	WrapISOListener func(net.Listener) net.Listener
	// ShutdownTimeout bounds the shutdown Run performs; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// PBAAdapters replaces Pay by Account's in-process outside parties (nil ones stay in-process).
	PBAAdapters pba.Adapters
	// Clock is the engine's clock (nil: time.Now): tests age records (archiving).
	Clock func() time.Time
	// Cluster runs the switch as a member of the replicated group of the config's cluster
	// section (serve --cluster, cluster.go): it serves only while it leads. ClusterNew lets it
	// start with an empty Raft log: the first start of a member of a new group (--cluster-new).
	Cluster, ClusterNew bool
}

// New returns an App for cfg; nothing runs until Run.
func New(cfg *config.Config, log *slog.Logger, o Options) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	return &App{cfg: cfg, log: log, opts: o, started: make(chan struct{}),
		failed: make(chan error, 1), stopping: make(chan struct{})}
}

// Start runs the switch in the background and returns once both listeners accept connections;
// stop it with Shutdown.
func Start(cfg *config.Config, log *slog.Logger) (*App, error) {
	return StartWith(cfg, log, Options{})
}

// StartWith is Start with test options.
func StartWith(cfg *config.Config, log *slog.Logger, o Options) (*App, error) {
	a := New(cfg, log, o)
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	select {
	case <-a.started:
		return a, nil
	case err := <-errc:
		return nil, err
	}
}

// Run starts every component and serves until ctx ends or a component fails, then stops them all
// (Shutdown, bounded by Options.ShutdownTimeout). It returns nil after a clean shutdown on ctx,
// the component's error when one failed (with any shutdown error joined), and the start-up error
// when the switch could not start (what had started is stopped again). Run may be called once.
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("app: Run called twice")
	}
	if a.opts.Cluster {
		// A follower until the node leads (cluster.go); then it starts as a single switch does.
		promoted, err := a.follow(ctx)
		if err != nil || !promoted {
			sctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
			defer cancel()
			return errors.Join(err, a.Shutdown(sctx))
		}
	}
	if err := a.start(); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
		defer cancel()
		if serr := a.Shutdown(sctx); serr != nil {
			a.log.Warn("stopping after a failed start", "err", serr)
		}
		return err
	}
	close(a.started)
	if a.cl != nil {
		go a.watchLeadership()
	}
	var failure error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case failure = <-a.failed:
		a.log.Error("a component failed; stopping the switch", "err", failure)
	case <-a.stopping: // Shutdown was called directly
	}
	timeout := a.opts.ShutdownTimeout
	if failure != nil && a.cl != nil {
		timeout = clusterFailStop // crash-only: the group goes on without this node
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := a.Shutdown(sctx)
	if failure == nil {
		select {
		case failure = <-a.failed: // a failure raced with the shutdown request: still reported
		default:
		}
	}
	if failure != nil {
		return errors.Join(failure, err)
	}
	return err
}

// Started is closed once every component runs and both listeners accept connections.
func (a *App) Started() <-chan struct{} { return a.started }

// fail reports a component that stopped on its own: /healthz answers 503 at once, and Run stops
// the switch.
func (a *App) fail(err error) {
	a.ready.Store(false)
	select {
	case a.failed <- err:
	default: // the first failure is the one reported; the others follow from the shutdown
	}
}

// start recovers the ledger and starts the components in dependency order: the journal, the
// engine, the management API (built, not yet serving), the dispatcher and both listeners bound,
// then serving. Every field is written before the first goroutine that reads it starts.
func (a *App) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.isStopping() {
		return errors.New("app: shut down before start")
	}
	cfg, log := a.cfg, a.log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	keyID, keys := cfg.DataKeys()
	lookupKey, err := tokenvault.LookupKey(cfg.DataDir, keyID, keys)
	if err != nil {
		return err
	}
	old := map[byte][]byte{}
	for id, k := range keys {
		if id != keyID {
			old[id] = k
		}
	}
	var bj *journal.Badger
	if a.cl != nil {
		bj = a.cl.journal // a cluster node's, opened as a follower (cluster.go)
	} else if bj, err = journal.OpenBadger(journal.Options{Dir: filepath.Join(cfg.DataDir, "ledger"),
		DataKey: keys[keyID], DataKeyID: keyID, OldDataKeys: old, Logger: log,
		// engine.journal: wal (ledger/journal/wal.go)
		WAL: cfg.Engine.WAL(), WALOptions: journal.WALOptions{CheckpointInterval: cfg.Engine.CheckpointInterval}}); err != nil {
		return err
	}
	a.journal = bj
	if a.opts.WrapJournal != nil {
		a.journal = a.opts.WrapJournal(bj)
	}
	began := time.Now()
	st := ledger.NewState(bj) // auth records and replies stay in the journal (ledger/history.go)
	if err := a.journal.Load(st); err != nil {
		return err
	}
	if a.archive, err = openArchive(cfg, keyID, keys, old, st, log); err != nil { // app/archive.go
		return err
	}
	setMemoryLimit(cfg, log)
	counts := st.Counts()
	log.Info("ledger recovered", "cards", counts["cards"], "balances", counts["balances"],
		"auths", counts["auths"], "took", time.Since(began).String())

	verifier, err := security.New(security.ConfigOf(cfg))
	if err != nil {
		return err
	}
	env := ledger.Env{
		PANHasher: tokenvault.HasherWithKey(lookupKey),
		Program:   programPolicy(cfg),
		Verifier:  verifier,
		// Events only when a webhook receives them: an authorization event costs a row per message.
		AuthorizationEvents: cfg.HTTP.WebhookURL != "",
		FX:                  fxTable(cfg),               // kyc_fx.go
		Loyalty:             cfg.Loyalty.LoyaltyRules(), // contract §7: points earned at capture
	}
	a.events = bj
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "mgmt"), 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if a.hooks, err = notify.Open(notify.Config{URL: cfg.HTTP.WebhookURL, Secret: []byte(cfg.HTTP.WebhookSecret),
		Path: filepath.Join(cfg.DataDir, "mgmt", "deliveries.log"), Log: log}, bj, st.LastEventSeq()); err != nil {
		return err
	}
	a.metrics = metrics.New(metrics.Gauges{
		QueueDepth:      func() float64 { return float64(a.engine.QueueDepth()) },
		ConnectionsOpen: func() float64 { return float64(a.iso.Stats().ConnectionsOpen) },
		Overloaded:      func() float64 { return float64(a.disp.Stats().Overloaded) },
		ValueLogBytes:   func() float64 { return float64(bj.ValueLogBytes()) },
		WALBacklogWaits: func() float64 { return float64(bj.WALStats().BacklogWaits) },
		WALBacklogBytes: func() float64 { return float64(bj.WALStats().BacklogBytes) },
		ArchiveRecords:  func() float64 { return float64(a.archive.Stats().Records) },
		ArchiveBytes:    func() float64 { return float64(a.archive.Stats().Bytes) },
		OpsByKind: func(yield func(string, uint64)) {
			st := a.engine.Stats()
			for k, n := range st.OpsByKind {
				if n != 0 {
					yield(ledger.OpKind(k).String(), n)
				}
			}
		},
	})
	if a.cl != nil {
		a.cl.metrics.Register(a.metrics) // the group's gauges on the leader's /metrics
	}
	ecfg := engineConfig(cfg)
	ecfg.Published = a.hooks.Published // wakes the webhook outbox once a batch with events is durable
	// A batch in doubt (the write-ahead log failed): not ready at once, and Run stops the switch
	// for its supervisor to restart it; recovery decides what was durable.
	ecfg.Fatal = func(err error) { a.fail(fmt.Errorf("journal: %w", err)) }
	ecfg.Archive = archiveStep(cfg, a.archive, log) // nil with engine.archiveAfter < 0
	clock := a.opts.Clock
	if clock == nil {
		clock = time.Now
	}
	a.engine = engine.New(ecfg, st, a.journal, env, clock, log, a.metrics)
	a.engine.Start()
	a.stopHandOver = startHandOver(cfg, a.archive, a.engine, clock, log) // app/archive.go
	a.hooks.Start()
	if err := importLegacyOutbox(a.engine, filepath.Join(cfg.DataDir, "mgmt"), log); err != nil {
		return err
	}
	if err := openCompanyBalances(a.engine, cfg, log); err != nil {
		return err
	}

	if a.loyalty, err = newLoyalty(cfg, a.engine, env.PANHasher, log); err != nil {
		return err
	}
	var health func() (int, any)
	if a.cl != nil {
		health = a.clusterHealth // the node's role and indexes (cluster.go)
	}
	h, err := mgmt.New(mgmt.Deps{Config: mgmtConfig(cfg), Engine: a.engine, PANHash: env.PANHasher,
		Logger: log, Ready: a.ready.Load, Clock: time.Now, Events: a.events, Webhooks: a.hooks,
		Metrics: a.metrics, MetricsHandler: a.metrics.Handler(),
		KYC: kycProvider(cfg), KYCCallbackSecret: []byte(cfg.KYC.CallbackSecret), Loyalty: a.loyalty,
		Health: health})
	if err != nil {
		return err
	}
	if err := a.mountTSH(h, env.PANHasher); err != nil { // /tsh (app/tsh.go)
		return err
	}
	a.http = h
	if err := a.startPBA(h, env); err != nil {
		return err
	}
	a.stopLoyalty = mountLoyalty(h, a.loyalty)
	feed := authfeed.New(0) // the panel's live authorizations (panel.go)
	a.disp = dispatch.New(a.engine, log, a.metrics, dispatch.Config{Tap: feed})
	a.iso = server.New(isoConfig(cfg), a.disp, log)
	a.stopPanel = mountPanel(h, a.metrics, feed, log) // after a.iso: the sampler reads its gauges

	// Both listeners are bound before either serves, so a taken port fails the start as a whole.
	if a.isoLn, err = a.iso.Listen(); err != nil {
		return fmt.Errorf("iso listener: %w", err)
	}
	if a.opts.WrapISOListener != nil {
		a.isoLn = a.opts.WrapISOListener(a.isoLn)
	}
	if a.httpLn, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	a.httpAddr = a.httpLn.Addr().String()
	a.serving.Add(2)
	go a.serveISO()
	go a.serveHTTP()
	if len(old) > 0 && a.rotation == nil { // a cluster node started it as a follower (cluster.go)
		a.rotation = make(chan struct{})
		a.rotationDone = make(chan struct{})
		go a.reencrypt(bj)
	}
	a.ready.Store(true)
	log.Info("cardswitch ready", "iso", a.isoLn.Addr().String(), "http", a.httpAddr, "dataDir", cfg.DataDir,
		"programs", programNames(cfg), "devProfile", cfg.DevProfile)
	return nil
}

// serveISO serves the ISO listener until Shutdown; an accept error that ends it earlier is a
// component failure.
func (a *App) serveISO() {
	defer a.serving.Done()
	err := a.iso.Serve(a.isoLn)
	if errors.Is(err, server.ErrServerClosed) || a.isStopping() {
		return
	}
	a.fail(fmt.Errorf("iso listener: %w", err))
}

// serveHTTP serves the management API until Shutdown; a return before it is a component failure.
func (a *App) serveHTTP() {
	defer a.serving.Done()
	err := a.http.Serve(a.httpLn)
	if a.isStopping() {
		return
	}
	if err == nil {
		err = errors.New("stopped serving")
	}
	a.fail(fmt.Errorf("management API: %w", err))
}

func (a *App) isStopping() bool {
	select {
	case <-a.stopping:
		return true
	default:
		return false
	}
}

// Shutdown stops the switch in dependency order, bounded by ctx: stop accepting and drain the
// in-flight ISO replies and API requests (both still need the engine); stop the engine, which
// applies and answers what is queued; close the dispatcher's encoders (after the engine, which
// hands them its answers); close the management API's audit log and webhook outbox (after the
// encoders, which publish events); stop the re-encryption; close the journal. A step that times
// out is reported and the next ones still run: an engine that outlives its Stop answers on its own
// goroutine and finds the journal closed (96). Shutdown may be called more than once, and
// concurrently with Run, which then returns.
func (a *App) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		close(a.stopping)
		a.stopErr = a.stop(ctx)
	})
	return a.stopErr
}

func (a *App) stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ready.Store(false)
	var errs []error
	a.stopFollowerServer() // a cluster node that never led (cluster.go)
	if a.iso != nil {
		if err := a.iso.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("iso listener: %w", err))
		}
	} else if a.isoLn != nil {
		a.isoLn.Close()
	}
	if a.pba != nil {
		a.pba.Close() // its event streams end before the listener drains
	}
	if a.stopPanel != nil {
		a.stopPanel() // the panel's live streams too
	}
	if a.http != nil {
		if err := a.http.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("management API: %w", err))
		}
	}
	if a.httpLn != nil {
		a.httpLn.Close() // also when Serve had not registered it yet
	}
	if a.stopLoyalty != nil {
		a.stopLoyalty() // before the engine: the purge job's batches go through it
	}
	if a.stopHandOver != nil {
		a.stopHandOver() // before the engine: its batches go through it
	}
	if a.engine != nil {
		if err := a.engine.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("engine did not drain its queue: %w", err))
		}
	}
	if a.disp != nil {
		a.disp.Close()
	}
	if a.hooks != nil {
		// After the engine: a batch committed during the drain still wakes the outbox.
		if err := a.hooks.Close(); err != nil {
			errs = append(errs, fmt.Errorf("webhook outbox: %w", err))
		}
	}
	if a.rotation != nil {
		close(a.rotation)
		<-a.rotationDone
	}
	if a.cl != nil && a.cl.node != nil {
		// A leader stopped on purpose hands its leadership over first (cluster.go), so the group
		// does not wait an election timeout. After the engine, whose queued batches still need
		// the group; before the journal, which the node applies into.
		a.handOver(ctx)
		if err := a.cl.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster node: %w", err))
		}
	}
	if a.journal != nil {
		if err := a.journal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("journal: %w", err))
		}
	}
	if a.archive != nil { // after the engine, its only writer
		if err := a.archive.Close(); err != nil {
			errs = append(errs, fmt.Errorf("archive: %w", err))
		}
	}
	a.serving.Wait()
	err := errors.Join(errs...)
	if err != nil {
		a.log.Error("stopped with errors", "err", err)
	} else {
		a.log.Info("stopped")
	}
	return err
}

func programPolicy(cfg *config.Config) func(string) (ledger.ProgramPolicy, bool) {
	m := map[string]ledger.ProgramPolicy{}
	for _, p := range cfg.Programs {
		m[p.Name] = ledger.ProgramPolicy{Name: p.Name, PartnerBalanceID: p.PartnerBalanceID, TokensOnly: p.TokensOnly}
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

// ISOAddr is the address the ISO listener accepts on (once Started).
func (a *App) ISOAddr() string { return a.isoLn.Addr().String() }

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
// CPU per approval lost beyond the noise (docs/benchmarks-log.md, "Round 6"). A limit tied to the
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
// GOGC stays at the Go default: the ledger's tables are pointer-free (ledger/internal/rowstore), so a
// cycle marks almost nothing of them and costs a few milliseconds even with a million cards;
// more frequent cycles keep the heap (and the RSS) close to the live data (docs/benchmarks-log.md,
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
