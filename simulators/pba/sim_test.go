package pba

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

// The simulator plays its whole story against a switch started as serve starts it, and every
// answer is as expected.
func TestSimulatorAgainstSwitch(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	var out, errOut bytes.Buffer
	err = run([]string{"--addr", a.ISOAddr(), "--http-addr", a.HTTPAddr(), "--data-dir", dir, "-v"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), " 0 failed") || strings.Contains(out.String(), "FAIL") {
		t.Fatalf("simulator output:\n%s", out.String())
	}
}
