package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/trace"
	"time"
)

// traceRequest is the execution trace asked for by CARDSWITCH_TRACE=FILE: from
// CARDSWITCH_TRACE_AFTER (a duration after ready, default 0) for CARDSWITCH_TRACE_FOR (default
// 5s), for `go tool trace` and scripts/trace-states.py (docs/benchmarks-log.md, "Round 8").
type traceRequest struct {
	path        string // "": no trace
	after, span time.Duration
}

func traceFromEnv(getenv func(string) string) (traceRequest, error) {
	r := traceRequest{path: getenv("CARDSWITCH_TRACE"), span: 5 * time.Second}
	if r.path == "" {
		return r, nil
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"CARDSWITCH_TRACE_AFTER", &r.after}, {"CARDSWITCH_TRACE_FOR", &r.span}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 {
			return traceRequest{}, fmt.Errorf("%s: want a duration such as 30s, got %q", d.name, v)
		}
		*d.dst = parsed
	}
	return r, nil
}

// record writes the trace, unless ctx ends first; a trace cut short by ctx is still complete.
func (r traceRequest) record(ctx context.Context, log *slog.Logger) {
	select {
	case <-time.After(r.after):
	case <-ctx.Done():
		return
	}
	f, err := os.Create(r.path)
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
	case <-time.After(r.span):
	case <-ctx.Done():
	}
	trace.Stop()
	log.Info("execution trace recorded", "file", r.path)
}
