package acquirer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// startSwitch runs a real switch in-process (the same wiring as `cardswitch serve`, through
// app.Start) on free loopback ports with a fresh data directory.
func startSwitch(t *testing.T) (*app.App, *config.Config) {
	t.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: t.TempDir(), ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a, cfg
}

// provision sets up the scenario through the management API; while app.Start does not serve
// the API yet (404), the test serves mgmt itself on the app's engine.
func provision(t *testing.T, a *app.App, cfg *config.Config, s Setup) (*World, *Mgmt) {
	t.Helper()
	m := NewMgmt(a.HTTPAddr())
	w, err := Provision(m, s, t.Logf)
	if err == nil {
		return w, m
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && apiErr.Path == "/secure/customers" {
		// The app does not serve the management API yet: serve it here on the same engine.
		t.Logf("management API not served by app.Start (%v): serving mgmt on the app's engine", err)
		m = startMgmt(t, a, cfg)
		w, err := Provision(m, s, t.Logf)
		if err != nil {
			t.Fatalf("provision: %v", err)
		}
		return w, m
	}
	t.Fatalf("provision: %v", err)
	return nil, nil
}

func startMgmt(t *testing.T, a *app.App, cfg *config.Config) *Mgmt {
	t.Helper()
	srv, err := mgmt.New(mgmt.Deps{Config: mgmt.Config{DataDir: cfg.DataDir, HTTP: cfg.HTTP, Programs: cfg.Programs}, Engine: a.Engine(), PANHash: tokenvault.Hasher(config.Key(cfg.Security.DataKey)),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: a.Ready})
	if err != nil {
		t.Fatalf("mgmt: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return NewMgmt(ln.Addr().String())
}

// TestDemoScenarioEndToEnd plays scenarios/demo.yaml against a real switch: every step must match.
func TestDemoScenarioEndToEnd(t *testing.T) {
	a, cfg := startSwitch(t)
	sc, err := LoadScenario("../../scenarios/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	world, admin := provision(t, a, cfg, sc.Setup)
	conn, err := Dial(a.ISOAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &Runner{Conn: conn, Builder: NewBuilder(KeysFromConfig(cfg), DefaultTerminal), Mgmt: admin, World: world, Timeout: 5 * time.Second}
	rep := r.RunScenario(sc)
	var out bytes.Buffer
	rep.PrintSteps(&out)
	rep.PrintSummary(&out)
	t.Log("\n" + out.String())
	for _, s := range rep.Steps {
		if !s.Matched {
			t.Errorf("step %s: want %s, got %s %s", s.Name, s.Want, s.Got, s.Detail)
		}
	}
}

// TestRandomMixEndToEnd plays a seeded random mix, chip and PIN-less, against a real switch.
func TestRandomMixEndToEnd(t *testing.T) {
	a, cfg := startSwitch(t)
	setup := DemoSetup
	setup.Balances = []BalanceSpec{{Ref: "eur", Currency: "EUR", Reload: "300.00"}}
	setup.Cards = []CardSpec{{Ref: "mc", Balance: "eur", Program: "demo-mc", PIN: "1234"},
		{Ref: "visa", Balance: "eur", Program: "demo-visa", PIN: "4321"}}
	world, admin := provision(t, a, cfg, setup)
	conn, err := Dial(a.ISOAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &Runner{Conn: conn, Builder: NewBuilder(KeysFromConfig(cfg), DefaultTerminal), Mgmt: admin, World: world, Timeout: 5 * time.Second}
	rep := r.RunMix(MixOptions{Count: 150, Seed: 7, Chip: true})
	var out bytes.Buffer
	rep.PrintByKind(&out)
	rep.PrintSummary(&out)
	t.Log("\n" + out.String())
	if !rep.OK() {
		t.Errorf("%d mismatches", rep.Totals().Mismatched)
	}
}

// TestSimAndClientCommands drives the `sim` and `client` commands' code paths against a real
// switch: flags, health wait, provisioning, sign-on, scenario, summary, exit status; client
// messages and printing.
func TestSimAndClientCommands(t *testing.T) {
	a, cfg := startSwitch(t)
	httpAddr := a.HTTPAddr()
	if _, err := NewMgmt(httpAddr).CreateCustomer(CustomerSpec{ExternalID: "probe"}); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			httpAddr = strings.TrimPrefix(startMgmt(t, a, cfg).BaseURL, "http://")
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte(`
name: small
setup:
  balances: [{ref: eur, reload: "20.00"}]
  cards: [{ref: mc, program: demo-mc}]
steps:
  - {name: p, kind: purchase, card: mc, amount: "5.00", entry: chip, expect: {code: "00", available: "15.00"}}
  - {kind: retransmit, ref: p, repeat: true}
  - {kind: reversal, ref: p, amount: "2.00"}
  - {kind: balance, card: mc, expect: {available: "18.00"}}
  - {kind: purchase, card: mc, amount: "50.00", expect: "51"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cards := filepath.Join(dir, "cards.json")
	var out, errOut bytes.Buffer
	err := runSim([]string{"--addr", a.ISOAddr(), "--http-addr", httpAddr, "--data-dir", cfg.DataDir, "--wait", "5s",
		"--scenario", path, "--cards-out", cards}, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	if !strings.Contains(out.String(), "matched 5, mismatched 0") || !strings.Contains(out.String(), "PASS") {
		t.Errorf("summary missing")
	}

	// A failing expectation makes the command fail.
	bad := strings.Replace(mustRead(t, path), `expect: "51"`, `expect: "00"`, 1)
	os.WriteFile(path, []byte(bad), 0o600)
	out.Reset()
	err = runSim([]string{"--addr", a.ISOAddr(), "--http-addr", httpAddr, "--data-dir", cfg.DataDir, "--scenario", path}, &out, &errOut)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(out.String(), "MISMATCH") {
		t.Errorf("want ErrMismatch, got %v\n%s", err, out.String())
	}

	out.Reset()
	if err := runClient([]string{"balance", "--addr", a.ISOAddr(), "--cards", cards, "--card", "mc", "--expect", "00"}, &out, &errOut); err != nil {
		t.Fatalf("client: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "54       available 18.00 EUR") {
		t.Errorf("client output:\n%s", out.String())
	}
	out.Reset()
	if err := runClient([]string{"echo", "--addr", a.ISOAddr()}, &out, &errOut); err != nil || !strings.Contains(out.String(), "39       00 approved") {
		t.Errorf("client echo: %v\n%s", err, out.String())
	}
	out.Reset()
	err = runClient([]string{"--addr", a.ISOAddr(), "auth", "--cards", cards, "--card", "mc", "--amount", "1.00", "--entry", "contactless",
		"--data-dir", cfg.DataDir, "--expect", "00"}, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "38 ") {
		t.Errorf("client contactless: %v\n%s", err, out.String())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
