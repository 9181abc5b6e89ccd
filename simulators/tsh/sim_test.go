package tsh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
)

func startSwitch(t *testing.T, webhookURL, secret string) (*app.App, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.WebhookURL, cfg.HTTP.WebhookSecret = webhookURL, secret
	a, err := app.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a, dir
}

// The simulator's whole flow against a switch whose webhook is the simulator's receiver: every
// check passes, the OTP among them.
func TestSimulatorFullFlowWithWebhook(t *testing.T) {
	w, err := ListenWebhook("127.0.0.1:0", []byte("sim-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, dir := startSwitch(t, w.URL(), "sim-secret")
	var log bytes.Buffer
	rep, err := Run(Config{HTTPAddr: a.HTTPAddr(), ISOAddr: a.ISOAddr(), CertFile: filepath.Join(dir, "tsh-dev-1.crt"),
		IssuerID: config.DevTSHIssuerID, KeyID: config.DevTSHKeyID, Webhook: w,
		Logf: func(f string, v ...any) { log.WriteString(strings.TrimSpace(fmt.Sprintf(f, v...)) + "\n") }})
	if err != nil || rep.Mismatched != 0 || rep.Checked < 30 {
		t.Fatalf("%+v %v\n%s", rep, err, log.String())
	}
	if !strings.Contains(log.String(), "ok        OTP delivered to the webhook") {
		t.Fatalf("no OTP check:\n%s", log.String())
	}
}

// `cardswitch sim --tsh` against the development profile (no webhook: the OTP's delivery is not
// checked), as make demo runs it.
func TestSimulatorCommandWithoutWebhook(t *testing.T) {
	a, dir := startSwitch(t, "", "")
	var out, errOut bytes.Buffer
	err := run([]string{"--addr", a.ISOAddr(), "--http-addr", a.HTTPAddr(), "--data-dir", dir}, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "0 mismatched") || !strings.Contains(out.String(), "ok        sendOTP") {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	if !Wanted([]string{"--addr", "x", "--tsh"}) || Wanted([]string{"--scenario", "f"}) || len(Without([]string{"--tsh", "a"})) != 1 {
		t.Fatal("--tsh detection")
	}
}
