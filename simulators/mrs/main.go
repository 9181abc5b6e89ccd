package mrs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Limits of the standalone server.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 2 * time.Minute // a slow-answer fault may hold an answer this long
	idleTimeout  = time.Minute
)

// Main runs the simulator on its own (`cardswitch mrs`): it serves until SIGINT or SIGTERM.
func Main(args []string) error { return run(context.Background(), args, os.Stdout) }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mrs", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	keyFile := fs.String("key", "var/mrs-key.pem", "RSA private key bankAccountNumber is sealed to (made on first start, 0600)")
	programs := fs.String("programs", "DEMO-PROGRAM=535110", "programmes: ID=BIN[|BIN...],...")
	statePath := fs.String("state", "", "file keeping the accounts across restarts (empty: memory only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := LoadOrCreateKey(*keyFile)
	if err != nil {
		return err
	}
	ps, err := ParsePrograms(*programs)
	if err != nil {
		return err
	}
	sim, err := New(Config{Key: key, Programs: ps, StatePath: *statePath})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("mrs: %w", err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
	fmt.Fprintf(out, "rewards host simulator on http://%s%s (public key %s)\n", ln.Addr(), PathSOAP, PathPublicKey)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// ParsePrograms reads "ID=BIN|BIN,ID2=BIN".
func ParsePrograms(s string) ([]Program, error) {
	var out []Program
	for _, p := range strings.Split(s, ",") {
		id, bins, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || id == "" || bins == "" {
			return nil, fmt.Errorf("mrs: programs: want ID=BIN[|BIN...], got %q", p)
		}
		out = append(out, Program{ID: id, BINs: strings.Split(bins, "|")})
	}
	return out, nil
}

// LoadOrCreateKey reads an RSA private key (PKCS#8 PEM), making a 2048-bit one on first use.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("mrs: key: %w", err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("mrs: key: %w", err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("mrs: key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mrs: key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("mrs: key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("mrs: key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("mrs: key: not RSA")
	}
	return rk, nil
}
