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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		windowProfile{path: path, span: time.Hour}.record(ctx, slog.New(slog.DiscardHandler))
	}()
	// The window ends with the switch (ctx), whatever its length; poll for the profile's file.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(path); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, p := range []string{path, path + ".heap"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v (size %v)", p, err, fi)
		}
	}
}
