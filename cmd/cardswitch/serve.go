package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (default: development profile)")
	dataDir := fs.String("data-dir", "", "data directory (default ./var)")
	isoAddr := fs.String("iso-addr", "", "ISO 8583 listener HOST:PORT (default 127.0.0.1:8583)")
	httpAddr := fs.String("http-addr", "", "management API listener HOST:PORT (default 127.0.0.1:8080)")
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
	// CARDSWITCH_TRACE=FILE records a Go execution trace of the running switch, from
	// CARDSWITCH_TRACE_AFTER (a duration after ready, default 0) for CARDSWITCH_TRACE_FOR (default
	// 5s), for `go tool trace` and scripts/trace-states.py (docs/benchmarks.md, "Round 8").
	// Checked before the switch starts, so a typo does not stop a running switch.
	tracePath := os.Getenv("CARDSWITCH_TRACE")
	traceAfter, err1 := time.ParseDuration(envOr("CARDSWITCH_TRACE_AFTER", "0s"))
	traceFor, err2 := time.ParseDuration(envOr("CARDSWITCH_TRACE_FOR", "5s"))
	if err := errors.Join(err1, err2); tracePath != "" && err != nil {
		return fmt.Errorf("CARDSWITCH_TRACE_AFTER, CARDSWITCH_TRACE_FOR: %w", err)
	}
	a, err := app.Start(cfg, log)
	if err != nil {
		return err
	}
	// CARDSWITCH_MEMPROFILE=FILE writes a heap profile at shutdown (allocations since start).
	if path := os.Getenv("CARDSWITCH_MEMPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if tracePath != "" {
		go recordTrace(ctx, log, tracePath, traceAfter, traceFor)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return a.Shutdown()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// recordTrace writes an execution trace of span to path, starting after a pause.
func recordTrace(ctx context.Context, log *slog.Logger, path string, after, span time.Duration) {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return
	}
	f, err := os.Create(path)
	if err != nil {
		log.Error("execution trace not recorded", "err", err)
		return
	}
	defer f.Close()
	if err := trace.Start(f); err != nil {
		log.Error("execution trace not recorded", "err", err)
		return
	}
	select {
	case <-time.After(span):
	case <-ctx.Done():
	}
	trace.Stop()
	log.Info("execution trace recorded", "file", path, "seconds", span.Seconds())
}
