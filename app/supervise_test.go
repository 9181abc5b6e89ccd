package app_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/switch/codec"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: t.TempDir(), ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var stan atomic.Int64

// authFrame is a framed 0100 for a card no one issued: the engine answers it (14) and
// remembers the reply, so it goes through a durable batch.
func authFrame(t *testing.T) []byte {
	t.Helper()
	n := stan.Add(1)
	body := fmt.Sprintf("535110%09d", 900000000+n)
	d, _ := cardcrypto.LuhnCheckDigit(body)
	f7 := time.Now().UTC().Format("0102150405")
	raw, err := codec.BuildRequest(&authz.Request{MTI: "0100", PAN: body + string(d), ProcessingCode: "000000",
		AmountMinor: 100, HasAmount: true, F7: f7, STAN: fmt.Sprintf("%06d", n), LocalTime: f7[4:],
		LocalDate: f7[:4], ExpiryYYMM: "3012", POSEntryMode: "010", AcquirerID: "123456",
		RRN: fmt.Sprintf("%012d", n), TerminalID: "TERM0001", MerchantID: "MERCHANT0000001",
		MerchantName: "CARDSWITCH TEST SHOP     BERLIN       DE", CurrencyNum: "978", MCC: "5999"})
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(raw)))
	return append(out, raw...)
}

// exchange sends one framed message on c and reads one answer.
func exchange(c net.Conn, frame []byte) error {
	if _, err := c.Write(frame); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(r, make([]byte, binary.BigEndian.Uint16(l[:])))
	return err
}

// blockingJournal holds every Commit once armed, until released: an engine slow to drain.
type blockingJournal struct {
	journal.Journal
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingJournal) Commit(ch []ledger.Change) error {
	if b.armed.Load() {
		b.once.Do(func() { close(b.entered) })
		<-b.release
	}
	return b.Journal.Commit(ch)
}

// freePort returns a loopback address nothing listens on (for a listener the test must know
// before the switch starts).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func healthz(addr string) (int, error) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// An engine slow to drain (a journal commit that outlasts the shutdown's bound) must not make
// the dispatcher panic when it answers after Shutdown gave up on it. Before the fix Shutdown
// closed the encoders' channel after engine.Stop timed out, and the engine's late answer sent on
// it: "panic: send on closed channel".
func TestShutdownOutlivedByTheEngineDoesNotPanic(t *testing.T) {
	cfg := testConfig(t)
	cfg.ISO.DrainTimeout = 100 * time.Millisecond
	bj := &blockingJournal{entered: make(chan struct{}), release: make(chan struct{})}
	a, err := app.StartWith(cfg, slog.New(slog.DiscardHandler), app.Options{WrapJournal: func(j journal.Journal) journal.Journal {
		bj.Journal = j
		return bj
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a.ISOAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bj.armed.Store(true)
	go exchange(c, authFrame(t))
	select {
	case <-bj.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the authorization never reached the journal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = a.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown with the engine stuck in a commit: %v, want the deadline", err)
	}
	close(bj.release) // the engine finishes its batch now and answers (96: the journal is closed)
	if err := a.Engine().Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With a webhook configured, traffic that arrives while the switch starts must not race with the
// start-up (go test -race). Before the fix the encoders read App.http, which StartWith wrote after
// the ISO listener already served.
func TestTrafficDuringStartWithWebhook(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	cfg := testConfig(t)
	cfg.HTTP.WebhookURL, cfg.HTTP.WebhookSecret = hook.URL, "secret"
	cfg.ISO.Addr = freePort(t)
	answered := make(chan error, 1)
	go func() {
		// Dial until the listener accepts: the first message arrives while Start still runs.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			c, err := net.Dial("tcp", cfg.ISO.Addr)
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			err = exchange(c, authFrame(t))
			c.Close()
			answered <- err
			return
		}
		answered <- errors.New("the ISO listener never accepted")
	}()
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Error(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// failingListener's Accept fails for good once fail is closed, as a listener broken underneath.
type failingListener struct {
	net.Listener
	fail chan struct{}
}

func (f *failingListener) Accept() (net.Conn, error) {
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() { c, err := f.Listener.Accept(); ch <- accepted{c, err} }()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-f.fail:
		return nil, errAcceptBroken
	}
}

var errAcceptBroken = &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("listener broken underneath")}

// An accept error after start-up ends Run with that error and /healthz stops answering ok. Before
// the fix the ISO listener ended unnoticed and /healthz kept answering 200.
func TestAcceptErrorEndsRunAndHealthz(t *testing.T) {
	cfg := testConfig(t)
	fl := &failingListener{fail: make(chan struct{})}
	a := app.New(cfg, slog.New(slog.DiscardHandler), app.Options{WrapISOListener: func(ln net.Listener) net.Listener {
		fl.Listener = ln
		return fl
	}})
	ran := make(chan error, 1)
	go func() { ran <- a.Run(context.Background()) }()
	select {
	case <-a.Started():
	case err := <-ran:
		t.Fatal(err)
	}
	if code, err := healthz(a.HTTPAddr()); code != 200 {
		t.Fatalf("/healthz before the failure: %d %v", code, err)
	}
	close(fl.fail)
	select {
	case err := <-ran:
		if !errors.Is(err, errAcceptBroken) {
			t.Fatalf("Run: %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after the ISO listener failed")
	}
	if a.Ready() {
		t.Error("Ready after a component failure")
	}
	if code, err := healthz(a.HTTPAddr()); code == 200 {
		t.Errorf("/healthz after the ISO listener failed: %d %v", code, err)
	}
}

// A cancelled context stops the switch cleanly: Run returns nil (serve exits 0 on SIGTERM).
func TestRunReturnsNilAfterCancel(t *testing.T) {
	cfg := testConfig(t)
	a := app.New(cfg, slog.New(slog.DiscardHandler), app.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-ran:
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a.ISOAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(c, authFrame(t)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := healthz(a.HTTPAddr()); err == nil {
		t.Error("management API still serving after Run returned")
	}
}

// A listener that cannot bind fails Run at start, with nothing left running.
func TestRunFailsWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.HTTP.Addr = taken.Addr().String()
	if _, err := app.Start(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "http listener") {
		t.Fatalf("Start with the HTTP port taken: %v", err)
	}
	// The journal was closed again: a second start on the same data directory opens it.
	cfg.HTTP.Addr = "127.0.0.1:0"
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
