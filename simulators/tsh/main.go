package tsh

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/simulators/acquirer"
)

// Main is `cardswitch sim --tsh`: play the hub's flow once against a running switch and print
// each check; it returns ErrMismatch (wrapped) when an answer differed.
func Main(args []string) error { return run(args, os.Stdout, os.Stderr) }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim --tsh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8583", "switch ISO 8583 listener HOST:PORT")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "switch management listener HOST:PORT (/tsh, /secure)")
	dataDir := fs.String("data-dir", "", "the switch's data directory: the development certificate tsh-dev-1.crt is read there")
	certFile := fs.String("cert", "", "the issuer certificate to encrypt to (PEM); default <data-dir>/tsh-dev-1.crt")
	issuerID := fs.String("issuer-id", config.DevTSHIssuerID, "x-issuer-id")
	keyID := fs.String("key-id", config.DevTSHKeyID, "publicKeyIdentifier")
	webhook := fs.String("webhook-listen", "", "receive the switch's webhook here (HOST:PORT; the switch's http.webhookUrl must point at it) and check the OTP's delivery")
	secret := fs.String("webhook-secret", "", "the switch's http.webhookSecret (with --webhook-listen)")
	wait := fs.Duration("wait", 0, "wait up to this long for GET /healthz to answer 200 first")
	timeout := fs.Duration("timeout", 5*time.Second, "answer timeout per call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim --tsh: unexpected argument %q", fs.Arg(0))
	}
	if *certFile == "" {
		if *dataDir == "" {
			return errors.New("sim --tsh: give --cert FILE or --data-dir DIR")
		}
		*certFile = filepath.Join(*dataDir, "tsh-dev-1.crt")
	}
	if *wait > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), *wait)
		err := acquirer.NewMgmt(*httpAddr).WaitHealthy(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	cfg := Config{HTTPAddr: *httpAddr, ISOAddr: *addr, CertFile: *certFile, IssuerID: *issuerID, KeyID: *keyID,
		Timeout: *timeout, Logf: func(format string, a ...any) { fmt.Fprintf(stdout, "sim-tsh: "+format+"\n", a...) }}
	if *webhook != "" {
		w, err := ListenWebhook(*webhook, []byte(*secret))
		if err != nil {
			return err
		}
		defer w.Close()
		cfg.Webhook = w
	}
	rep, err := Run(cfg)
	fmt.Fprintf(stdout, "sim-tsh: %d checks, %d mismatched\n", rep.Checked, rep.Mismatched)
	return err
}

// Wanted reports whether `sim` args ask for the hub (--tsh).
func Wanted(args []string) bool {
	for _, a := range args {
		if a == "--tsh" || a == "-tsh" {
			return true
		}
	}
	return false
}

// Without returns args without --tsh.
func Without(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if a != "--tsh" && a != "-tsh" {
			out = append(out, a)
		}
	}
	return out
}
