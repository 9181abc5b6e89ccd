package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProfileWindowSettingsComeFromTheEnvironment(t *testing.T) {
	w, err := windowFromEnv(envMap(nil))
	if err != nil || w.path != "" {
		t.Fatalf("no CARDSWITCH_CPUPROFILE_WINDOW: %+v, %v; want none", w, err)
	}
	w, err = windowFromEnv(envMap(map[string]string{"CARDSWITCH_CPUPROFILE_WINDOW": "c.out",
		"CARDSWITCH_CPUPROFILE_AFTER": "110s", "CARDSWITCH_CPUPROFILE_FOR": "20s"}))
	if err != nil || w != (windowProfile{path: "c.out", after: 110 * time.Second, span: 20 * time.Second}) {
		t.Fatalf("chosen: %+v, %v", w, err)
	}
	if _, err := windowFromEnv(envMap(map[string]string{"CARDSWITCH_CPUPROFILE_WINDOW": "c.out",
		"CARDSWITCH_CPUPROFILE_FOR": "ten"})); err == nil {
		t.Fatal("a malformed duration was accepted")
	}
}

func TestProfileWindowWritesCPUAndHeapProfiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.out")
	// A window of zero length: the CPU profile starts and stops at once, then the heap profile.
	windowProfile{path: path}.record(context.Background(), slog.New(slog.DiscardHandler))
	for _, p := range []string{path, path + ".heap"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v (size %v)", p, err, fi)
		}
	}
	// A switch that stops before the window starts records nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := filepath.Join(t.TempDir(), "late.out")
	windowProfile{path: late, after: time.Hour}.record(ctx, slog.New(slog.DiscardHandler))
	if _, err := os.Stat(late); !os.IsNotExist(err) {
		t.Fatalf("a window after shutdown was recorded: %v", err)
	}
}
