package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTraceSettingsComeFromTheEnvironment(t *testing.T) {
	r, err := traceFromEnv(envMap(nil))
	if err != nil || r.path != "" {
		t.Fatalf("no CARDSWITCH_TRACE: %+v, %v; want no trace", r, err)
	}
	r, err = traceFromEnv(envMap(map[string]string{"CARDSWITCH_TRACE": "t.out"}))
	if err != nil || r != (traceRequest{path: "t.out", span: 5 * time.Second}) {
		t.Fatalf("defaults: %+v, %v; want from ready for 5s", r, err)
	}
	r, err = traceFromEnv(envMap(map[string]string{"CARDSWITCH_TRACE": "t.out",
		"CARDSWITCH_TRACE_AFTER": "30s", "CARDSWITCH_TRACE_FOR": "2s"}))
	if err != nil || r != (traceRequest{path: "t.out", after: 30 * time.Second, span: 2 * time.Second}) {
		t.Fatalf("chosen: %+v, %v", r, err)
	}
	for _, bad := range []map[string]string{
		{"CARDSWITCH_TRACE": "t.out", "CARDSWITCH_TRACE_AFTER": "soon"},
		{"CARDSWITCH_TRACE": "t.out", "CARDSWITCH_TRACE_FOR": "-1s"},
	} {
		if _, err := traceFromEnv(envMap(bad)); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

func TestTraceRecordsAnExecutionTraceAndStopsWithTheSwitch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.out")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		traceRequest{path: path, span: time.Hour}.record(ctx, slog.New(slog.DiscardHandler))
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel() // the switch shuts down long before the hour is over
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the trace did not stop when the switch shut down")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("go 1.")) {
		t.Fatalf("%s does not start with an execution trace header: %q", path, raw[:min(len(raw), 16)])
	}
}
