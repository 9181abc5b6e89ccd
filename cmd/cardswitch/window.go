package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// windowProfile is a CPU profile of one window of the running switch, asked for by
// CARDSWITCH_CPUPROFILE_WINDOW=FILE: from CARDSWITCH_CPUPROFILE_AFTER (a duration after ready,
// default 0) for CARDSWITCH_CPUPROFILE_FOR (default 10s). At the window's end a heap profile
// (live objects after a collection) is written to FILE.heap. CARDSWITCH_CPUPROFILE covers the
// whole life of the process, recovery included, which hides what an aged store costs; this one
// shows a chosen minute, e.g. the second minute of a closed loop (docs/benchmarks.md).
type windowProfile struct {
	path        string // "": none
	after, span time.Duration
}

func windowFromEnv(getenv func(string) string) (windowProfile, error) {
	w := windowProfile{path: getenv("CARDSWITCH_CPUPROFILE_WINDOW"), span: 10 * time.Second}
	if w.path == "" {
		return w, nil
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"CARDSWITCH_CPUPROFILE_AFTER", &w.after}, {"CARDSWITCH_CPUPROFILE_FOR", &w.span}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 {
			return windowProfile{}, fmt.Errorf("%s: want a duration such as 30s, got %q", d.name, v)
		}
		*d.dst = parsed
	}
	return w, nil
}

// record writes the profiles, unless ctx ends before the window starts; a window cut short by
// ctx is still written. Only one CPU profile can run in a process: with CARDSWITCH_CPUPROFILE
// also set, this one is refused and says so in the log.
func (w windowProfile) record(ctx context.Context, log *slog.Logger) {
	select {
	case <-time.After(w.after):
	case <-ctx.Done():
		return
	}
	f, err := os.Create(w.path)
	if err != nil {
		log.Error("CPU profile window not recorded", "err", err)
		return
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Error("CPU profile window not recorded", "err", err)
		return
	}
	select {
	case <-time.After(w.span):
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	runtime.GC() // the heap profile then shows what is live, not what awaits collection
	if hf, err := os.Create(w.path + ".heap"); err == nil {
		_ = pprof.Lookup("heap").WriteTo(hf, 0)
		hf.Close()
	}
	log.Info("CPU profile window recorded", "file", w.path, "heap", w.path+".heap")
}
