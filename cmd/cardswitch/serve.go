package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (default: development profile)")
	dataDir := fs.String("data-dir", "", "data directory (default ./var)")
	isoAddr := fs.String("iso-addr", "", "ISO 8583 listener HOST:PORT (default 127.0.0.1:8583)")
	httpAddr := fs.String("http-addr", "", "management API listener HOST:PORT (default 127.0.0.1:8080)")
	clusterMode := fs.Bool("cluster", false, "run as a member of the replicated group of the config's cluster section (docs/operations.md)")
	clusterNew := fs.Bool("cluster-new", false, "with --cluster: this member forms a new group (its first start only: an empty Raft log is refused otherwise)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.Load(*cfgPath, config.Overrides{DataDir: *dataDir, ISOAddr: *isoAddr, HTTPAddr: *httpAddr},
		func(msg string) { log.Warn(msg) })
	if err != nil {
		return err
	}
	if lvl := cfg.Log.Level; lvl != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(lvl)); err != nil {
			return fmt.Errorf("log.level: %w", err)
		}
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	if *clusterMode && !cfg.Cluster.Configured() {
		return fmt.Errorf("serve --cluster: the configuration has no cluster section (cluster.nodeId, cluster.peers; docs/operations.md)")
	}
	if !*clusterMode && cfg.Cluster.Configured() {
		log.Warn("the configuration has a cluster section but --cluster was not given: serving as a single node")
	}
	if err := devOperator(cfg, log); err != nil { // the panel's operator of `make run` (devoperator.go)
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// CARDSWITCH_CPUPROFILE=FILE records a CPU profile of the running switch (recovery included)
	// until shutdown, for `go tool pprof` (docs/benchmarks.md).
	if path := os.Getenv("CARDSWITCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// Checked before the switch starts, so a typo does not stop a running switch.
	tr, err := traceFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	win, err := windowFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	a := app.New(cfg, log, app.Options{Cluster: *clusterMode, ClusterNew: *clusterNew})
	// CARDSWITCH_MEMPROFILE=FILE writes a heap profile at shutdown (allocations since start).
	if path := os.Getenv("CARDSWITCH_MEMPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if tr.path != "" {
		// The trace starts its delay once the switch serves, and ends with it.
		tctx, cancel := context.WithCancel(ctx)
		traced := make(chan struct{})
		defer func() { cancel(); <-traced }()
		go func() {
			defer close(traced)
			select {
			case <-a.Started():
				tr.record(tctx, log)
			case <-tctx.Done():
			}
		}()
	}
	if win.path != "" {
		// CARDSWITCH_CPUPROFILE_WINDOW: a CPU and a heap profile of one window (window.go).
		wctx, cancel := context.WithCancel(ctx)
		recorded := make(chan struct{})
		defer func() { cancel(); <-recorded }()
		go func() {
			defer close(recorded)
			select {
			case <-a.Started():
				win.record(wctx, log)
			case <-wctx.Done():
			}
		}()
	}
	// Run returns nil after a signal and a clean drain (exit 0), or the error of a component
	// that failed, once the others are stopped (exit 1).
	if err := a.Run(ctx); err != nil {
		log.Error("cardswitch stopped with an error", "err", err)
		return err
	}
	return nil
}
