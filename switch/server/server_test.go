package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests in this file are specifications of the transport's behaviour (docs/transport.md). None of
// them runs in parallel, so that the goroutine leak check counts only its own goroutines.

const testTimeout = 5 * time.Second

var echo = HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) { reply(frame) })

// testServer serves on a loopback listener and shuts down at the end of the test.
type testServer struct {
	*Server
	addr     string
	serveErr chan error
	logs     *lockedBuffer
}

func startServer(t testing.TB, cfg Config, h Handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, cfg, h, ln)
}

func startServerOn(t testing.TB, cfg Config, h Handler, ln net.Listener) *testServer {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := &testServer{Server: New(cfg, h, logger), addr: ln.Addr().String(), serveErr: make(chan error, 1), logs: logs}
	go func() { ts.serveErr <- ts.Serve(ln) }()
	select {
	case <-ts.Ready():
	case <-time.After(testTimeout):
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = ts.Shutdown(ctx)
		select {
		case err := <-ts.serveErr:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ts
}

// client is a test peer speaking the length-prefixed framing.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(msg string) {
	c.t.Helper()
	if err := WriteFrame(c.nc, []byte(msg)); err != nil {
		c.t.Fatalf("send %q: %v", msg, err)
	}
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

func (c *client) recv() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	b, err := ReadFrame(c.br, 0)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return string(b)
}

// expectClosed waits until the server closed the connection (EOF or reset) within timeout.
func (c *client) expectClosed(timeout time.Duration) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	b, err := ReadFrame(c.br, 0)
	if err == nil {
		c.t.Fatalf("got frame %q, want connection closed", b)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
		return
	}
	c.t.Fatalf("want connection closed, got %v", err)
}

// expectNothing asserts no frame arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.Peek(1)
	if err == nil {
		c.t.Fatalf("unexpected bytes %v", b)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want read timeout, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// held is a frame whose reply the test gives later.
type held struct {
	frame []byte
	reply func([]byte)
}

// holdingHandler passes every frame with its reply callback to the test.
func holdingHandler(n int) (Handler, chan held) {
	ch := make(chan held, n)
	return HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		ch <- held{frame, reply}
	}), ch
}

func receive(t testing.TB, ch <-chan held) held {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(testTimeout):
		t.Fatal("handler not called")
		return held{}
	}
}

func TestConfigDefaults(t *testing.T) {
	got := New(Config{}, echo, nil).Config()
	want := Config{
		Addr: DefaultAddr, MaxFrameBytes: 8192, MaxInFlightPerConn: 256, MaxSessions: 1024,
		IdleTimeout: 5 * time.Minute, WriteTimeout: 10 * time.Second, DrainTimeout: 10 * time.Second,
	}
	if got != want {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	neg := New(Config{MaxFrameBytes: -1, IdleTimeout: -time.Second}, echo, nil).Config()
	if neg.MaxFrameBytes != 8192 || neg.IdleTimeout != 5*time.Minute {
		t.Fatalf("negative values not defaulted: %+v", neg)
	}
	if got := New(Config{MaxFrameBytes: 100_000}, echo, nil).Config().MaxFrameBytes; got != MaxFrameLimit {
		t.Fatalf("MaxFrameBytes above the prefix range = %d, want %d", got, MaxFrameLimit)
	}
}

func TestEchoRoundTrip(t *testing.T) {
	var gotInfo atomic.Value
	ts := startServer(t, Config{}, HandlerFunc(func(ci ConnInfo, frame []byte, reply func([]byte)) {
		gotInfo.Store(ci)
		reply(frame)
	}))
	c := dial(t, ts.addr)
	for _, m := range []string{"0800 sign-on", "0100 authorization", strings.Repeat("x", 8192)} {
		c.send(m)
		if got := c.recv(); got != m {
			t.Fatalf("echo: got %d bytes, want %d", len(got), len(m))
		}
	}
	ci := gotInfo.Load().(ConnInfo)
	if ci.ID == 0 || ci.RemoteAddr != c.nc.LocalAddr().String() {
		t.Fatalf("ConnInfo = %+v, client address %s", ci, c.nc.LocalAddr())
	}
	st := ts.Stats()
	if st.FramesIn != 3 || st.FramesOut != 3 || st.ConnectionsOpen != 1 || st.ConnectionsAccepted != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestListenAndServe(t *testing.T) {
	srv := New(Config{Addr: "127.0.0.1:0"}, echo, nil)
	if srv.Addr() != nil {
		t.Fatal("Addr before listening should be nil")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	<-srv.Ready()
	c := dial(t, srv.Addr().String())
	c.send("ping")
	if got := c.recv(); got != "ping" {
		t.Fatalf("got %q", got)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe = %v", err)
	}
	if err := srv.ListenAndServe(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe after Shutdown = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Serve after Shutdown left the listener open")
	}
}

func TestManyConcurrentConnections(t *testing.T) {
	const conns, frames = 64, 100
	ts := startServer(t, Config{}, echo)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(testTimeout))
			// Pipelined: all requests first, then all replies (echo keeps the order).
			bw := bufio.NewWriter(nc)
			for j := range frames {
				if err := WriteFrame(bw, fmt.Appendf(nil, "conn %d frame %d", i, j)); err != nil {
					errs <- err
					return
				}
			}
			if err := bw.Flush(); err != nil {
				errs <- err
				return
			}
			br := bufio.NewReader(nc)
			for j := range frames {
				got, err := ReadFrame(br, 0)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("conn %d frame %d", i, j); string(got) != want {
					errs <- fmt.Errorf("got %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := ts.Stats(); st.FramesIn != conns*frames || st.FramesOut != conns*frames || st.ConnectionsAccepted != conns {
		t.Fatalf("stats = %+v", st)
	}
}

func TestOutOfOrderAsyncReplies(t *testing.T) {
	h, ch := holdingHandler(10)
	ts := startServer(t, Config{}, h)
	c := dial(t, ts.addr)
	msgs := []string{"a", "b", "c", "d", "e"}
	for _, m := range msgs {
		c.send(m)
	}
	var got []held
	for range msgs {
		got = append(got, receive(t, ch))
	}
	// Reply from another goroutine, newest first: replies are written in the order given.
	go func() {
		for i := len(got) - 1; i >= 0; i-- {
			got[i].reply(append([]byte("re:"), got[i].frame...))
		}
	}()
	for i := len(msgs) - 1; i >= 0; i-- {
		if r := c.recv(); r != "re:"+msgs[i] {
			t.Fatalf("got %q, want %q", r, "re:"+msgs[i])
		}
	}
}

func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, Config{MaxFrameBytes: 16}, echo)
	bad, good := dial(t, ts.addr), dial(t, ts.addr)
	good.send("before")
	if got := good.recv(); got != "before" {
		t.Fatalf("got %q", got)
	}
	bad.send(strings.Repeat("x", 16)) // at the limit: fine
	if got := bad.recv(); len(got) != 16 {
		t.Fatalf("got %d bytes", len(got))
	}
	bad.send(strings.Repeat("4", 17)) // over the limit
	bad.expectClosed(testTimeout)

	good.send("after")
	if got := good.recv(); got != "after" {
		t.Fatalf("other connection: got %q", got)
	}
	waitFor(t, "bad connection unregistered", func() bool { return ts.Stats().ConnectionsOpen == 1 })
	if st := ts.Stats(); st.FramesOversize != 1 {
		t.Fatalf("FramesOversize = %d", st.FramesOversize)
	}
	if strings.Contains(ts.logs.String(), "44444444") {
		t.Fatal("frame bytes reached the log")
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	ts := startServer(t, Config{IdleTimeout: idle}, echo)

	quiet, chatty := dial(t, ts.addr), dial(t, ts.addr)
	quiet.send("hello")
	if got := quiet.recv(); got != "hello" {
		t.Fatalf("got %q", got)
	}
	start := time.Now()

	// chatty sends a byte at a time, each well within the timeout: inbound bytes, not whole frames,
	// keep a connection alive.
	frame := []byte{0, 4, 'p', 'i', 'n', 'g'}
	for _, b := range frame {
		time.Sleep(idle / 3)
		chatty.sendRaw([]byte{b})
	}
	if got := chatty.recv(); got != "ping" {
		t.Fatalf("chatty got %q", got)
	}

	quiet.expectClosed(testTimeout)
	if el := time.Since(start); el < idle {
		t.Fatalf("closed after %v, before the idle timeout %v", el, idle)
	}
	chatty.send("still open") // the idle timer restarted with every byte
	if got := chatty.recv(); got != "still open" {
		t.Fatalf("got %q", got)
	}
	if st := ts.Stats(); st.IdleTimeouts != 1 {
		t.Fatalf("IdleTimeouts = %d", st.IdleTimeouts)
	}
}

func TestMaxSessions(t *testing.T) {
	ts := startServer(t, Config{MaxSessions: 2}, echo)
	c1, c2 := dial(t, ts.addr), dial(t, ts.addr)
	for _, c := range []*client{c1, c2} {
		c.send("x")
		c.recv()
	}
	c3 := dial(t, ts.addr) // accepted by the kernel, closed by the server at once
	c3.expectClosed(testTimeout)
	if st := ts.Stats(); st.ConnectionsRejected != 1 || st.ConnectionsOpen != 2 {
		t.Fatalf("stats = %+v", st)
	}

	_ = c1.nc.Close()
	waitFor(t, "closed session released", func() bool { return ts.Stats().ConnectionsOpen == 1 })
	c4 := dial(t, ts.addr)
	c4.send("y")
	if got := c4.recv(); got != "y" {
		t.Fatalf("got %q", got)
	}
	c2.send("z")
	if got := c2.recv(); got != "z" {
		t.Fatalf("got %q", got)
	}
}

func TestInFlightBackpressure(t *testing.T) {
	const limit, total = 4, 10
	h, ch := holdingHandler(total)
	ts := startServer(t, Config{MaxInFlightPerConn: limit}, h)
	c := dial(t, ts.addr)
	for i := range total {
		c.send(fmt.Sprint(i))
	}
	var pending []held
	for range limit {
		pending = append(pending, receive(t, ch))
	}
	// The read loop has stopped: no fifth frame reaches the handler while four are unanswered.
	select {
	case h := <-ch:
		t.Fatalf("frame %q handed over beyond MaxInFlightPerConn", h.frame)
	case <-time.After(100 * time.Millisecond):
	}
	if st := ts.Stats(); st.BackpressurePauses == 0 || st.FramesIn != limit {
		t.Fatalf("stats = %+v", st)
	}

	pending[0].reply(pending[0].frame) // one slot frees: exactly one more frame is read
	if got := c.recv(); got != "0" {
		t.Fatalf("got %q", got)
	}
	pending = append(pending[1:], receive(t, ch))
	select {
	case h := <-ch:
		t.Fatalf("frame %q handed over beyond MaxInFlightPerConn", h.frame)
	case <-time.After(50 * time.Millisecond):
	}

	// Answer everything: all frames come through in order.
	go func() {
		for _, p := range pending {
			p.reply(p.frame)
		}
		for range total - limit - 1 {
			p := <-ch
			p.reply(p.frame)
		}
	}()
	for i := 1; i < total; i++ {
		if got := c.recv(); got != fmt.Sprint(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
}

func TestHandlerPanicContained(t *testing.T) {
	const pan = "5351100000000001"
	ts := startServer(t, Config{MaxInFlightPerConn: 1}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		switch string(frame) {
		case "boom " + pan:
			panic(fmt.Errorf("cannot handle %s", frame)) // a value that carries message bytes
		case "index":
			_ = frame[len(frame)+1] // runtime error
		}
		reply(frame)
	}))
	c := dial(t, ts.addr)
	// With one frame in flight allowed, "ok" is only read if the panicked frame released its slot.
	c.send("boom " + pan)
	c.send("ok")
	if got := c.recv(); got != "ok" {
		t.Fatalf("got %q, want the frame after the panic", got)
	}
	c.send("index")
	c.send("ok2")
	if got := c.recv(); got != "ok2" {
		t.Fatalf("got %q", got)
	}
	st := ts.Stats()
	if st.HandlerPanics != 2 || st.ConnectionsOpen != 1 {
		t.Fatalf("stats = %+v", st)
	}
	logs := ts.logs.String()
	if strings.Contains(logs, pan) {
		t.Fatal("frame bytes reached the log")
	}
	if !strings.Contains(logs, "*fmt.wrapError") && !strings.Contains(logs, "*errors.errorString") {
		t.Fatalf("panic type not logged: %s", logs)
	}
	if !strings.Contains(logs, "index out of range") {
		t.Fatalf("runtime error not logged: %s", logs)
	}
}

func TestHandlerPanicAfterHandingOffReply(t *testing.T) {
	// The handler gave reply to another goroutine, then panicked: the late reply is ignored
	// (the slot was already released), not written twice into the accounting.
	late := make(chan func([]byte), 1)
	ts := startServer(t, Config{MaxInFlightPerConn: 1}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		if string(frame) == "handoff" {
			late <- reply
			panic("after handoff")
		}
		reply(frame)
	}))
	c := dial(t, ts.addr)
	c.send("handoff")
	c.send("next")
	if got := c.recv(); got != "next" {
		t.Fatalf("got %q", got)
	}
	(<-late)([]byte("late"))
	c.expectNothing(50 * time.Millisecond)
	if st := ts.Stats(); st.RepliesDuplicate != 1 || st.HandlerPanics != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestZeroLengthFrameIgnored(t *testing.T) {
	var calls atomic.Int64
	ts := startServer(t, Config{}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		calls.Add(1)
		reply(frame)
	}))
	c := dial(t, ts.addr)
	c.sendRaw([]byte{0, 0, 0, 0})
	c.send("x")
	if got := c.recv(); got != "x" {
		t.Fatalf("got %q", got)
	}
	if st := ts.Stats(); st.FramesEmpty != 2 || calls.Load() != 1 {
		t.Fatalf("stats = %+v, handler calls %d", st, calls.Load())
	}
}

func TestNilReplyWritesNothing(t *testing.T) {
	ts := startServer(t, Config{MaxInFlightPerConn: 1}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		if string(frame) == "garbage" {
			reply(nil)
			return
		}
		reply(frame)
	}))
	c := dial(t, ts.addr)
	c.send("garbage")
	c.send("next")
	if got := c.recv(); got != "next" {
		t.Fatalf("got %q", got)
	}
	if st := ts.Stats(); st.RepliesNone != 1 || st.FramesOut != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDuplicateReplyIgnored(t *testing.T) {
	ts := startServer(t, Config{}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		reply(frame)
		reply([]byte("again"))
	}))
	c := dial(t, ts.addr)
	c.send("once")
	if got := c.recv(); got != "once" {
		t.Fatalf("got %q", got)
	}
	c.expectNothing(50 * time.Millisecond)
	if st := ts.Stats(); st.RepliesDuplicate != 1 || st.FramesOut != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestPeerHalfCloseStillGetsReplies(t *testing.T) {
	ts := startServer(t, Config{}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		time.AfterFunc(30*time.Millisecond, func() { reply(frame) })
	}))
	c := dial(t, ts.addr)
	for _, m := range []string{"1", "2", "3"} {
		c.send(m)
	}
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 3 {
		got[c.recv()] = true
	}
	if len(got) != 3 {
		t.Fatalf("replies %v", got)
	}
	c.expectClosed(testTimeout)
}

func TestShutdownDrainsInFlight(t *testing.T) {
	const delay = 200 * time.Millisecond
	called := make(chan struct{}, 1)
	ts := startServer(t, Config{}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		called <- struct{}{}
		go func() { // the engine answers later, after its durable batch
			time.Sleep(delay)
			reply(append([]byte("re:"), frame...))
		}()
	}))
	idle := dial(t, ts.addr)
	c := dial(t, ts.addr)
	c.send("in flight")
	<-called

	shutdownErr := make(chan error, 1)
	start := time.Now()
	go func() { shutdownErr <- ts.Shutdown(context.Background()) }()

	if got := c.recv(); got != "re:in flight" {
		t.Fatalf("got %q", got)
	}
	c.expectClosed(testTimeout)
	idle.expectClosed(testTimeout)
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}
	if el := time.Since(start); el > delay+time.Second {
		t.Fatalf("Shutdown took %v", el)
	}
	if err := <-ts.serveErr; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	ts.serveErr <- ErrServerClosed // for the cleanup's check
	if st := ts.Stats(); st.ConnectionsOpen != 0 || st.RepliesDropped != 0 || st.FramesOut != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestShutdownStopsHandingOverFrames(t *testing.T) {
	h, ch := holdingHandler(10)
	ts := startServer(t, Config{}, h)
	c := dial(t, ts.addr)
	c.send("first")
	first := receive(t, ch)
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- ts.Shutdown(context.Background()) }()
	waitFor(t, "shutdown started", ts.isShuttingDown)
	time.Sleep(20 * time.Millisecond)
	c.send("after shutdown began") // may fail to arrive or be discarded, never handled
	first.reply(first.frame)
	if got := c.recv(); got != "first" {
		t.Fatalf("got %q", got)
	}
	if err := <-shutdownErr; err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		t.Fatalf("frame %q handed to the handler after Shutdown began", h.frame)
	default:
	}
}

func TestShutdownBoundedByContext(t *testing.T) {
	h, ch := holdingHandler(1)
	ts := startServer(t, Config{}, h)
	c := dial(t, ts.addr)
	c.send("never answered in time")
	p := receive(t, ch)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Shutdown took %v", el)
	}
	c.expectClosed(testTimeout)
	waitFor(t, "connection closed", func() bool { return ts.Stats().ConnectionsOpen == 0 })
	p.reply(p.frame) // too late: counted, not written, does not block
	if st := ts.Stats(); st.RepliesDropped != 1 {
		t.Fatalf("RepliesDropped = %d", st.RepliesDropped)
	}
}

func TestShutdownBoundedByDrainTimeout(t *testing.T) {
	h, ch := holdingHandler(1)
	ts := startServer(t, Config{DrainTimeout: 100 * time.Millisecond}, h)
	c := dial(t, ts.addr)
	c.send("never answered")
	receive(t, ch)
	if err := ts.Shutdown(context.Background()); !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Shutdown = %v, want ErrDrainTimeout", err)
	}
	c.expectClosed(testTimeout)
}

func TestWriteCoalescing(t *testing.T) {
	// The first flush blocks inside Write while 49 more replies queue up; they must then go out
	// together in one Write, not one Write per reply.
	const n = 50
	gate := make(chan struct{})
	var writes atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := &wrapListener{Listener: ln, wrap: func(nc net.Conn) net.Conn {
		return &gatedConn{Conn: nc, gate: gate, writes: &writes}
	}}
	h, ch := holdingHandler(n)
	ts := startServerOn(t, Config{}, h, wl)
	c := dial(t, ts.addr)
	bw := bufio.NewWriter(c.nc)
	for i := range n {
		_ = WriteFrame(bw, fmt.Appendf(nil, "%02d", i))
	}
	_ = bw.Flush()
	var ps []held
	for range n {
		ps = append(ps, receive(t, ch))
	}
	ps[0].reply(ps[0].frame)
	waitFor(t, "first write blocked", func() bool { return writes.Load() == 1 })
	for _, p := range ps[1:] {
		p.reply(p.frame)
	}
	close(gate)
	for i := range n {
		if got := c.recv(); got != fmt.Sprintf("%02d", i) {
			t.Fatalf("got %q", got)
		}
	}
	if w := writes.Load(); w > 3 {
		t.Fatalf("%d replies took %d writes; want them coalesced", n, w)
	}
}

type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l *wrapListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(nc), nil
}

type gatedConn struct {
	net.Conn
	gate   chan struct{}
	writes *atomic.Int64
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	<-c.gate
	return c.Conn.Write(p)
}

func TestWriteTimeout(t *testing.T) {
	// A peer that sends but never reads: the write deadline closes the connection.
	pl := newPipeListener()
	ts := startServerOn(t, Config{WriteTimeout: 100 * time.Millisecond}, echo, pl)
	peer := pl.dial()
	defer peer.Close()
	go func() { _ = WriteFrame(peer, []byte("never read")) }()
	waitFor(t, "write error", func() bool { return ts.Stats().WriteErrors == 1 })
	waitFor(t, "connection closed", func() bool { return ts.Stats().ConnectionsOpen == 0 })
	_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open")
	}
}

// pipeListener hands out in-memory net.Pipe connections, which block a Write until the peer reads.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) dial() net.Conn {
	server, peer := net.Pipe()
	l.conns <- server
	return peer
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		srv := New(Config{IdleTimeout: time.Minute}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
			if frame[0] == 'a' {
				time.AfterFunc(20*time.Millisecond, func() { reply(frame) })
				return
			}
			reply(frame)
		}), nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.Serve(ln) }()
		<-srv.Ready()
		var clients []net.Conn
		for i := range 10 {
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, nc)
			br := bufio.NewReader(nc)
			for _, m := range []string{"sync", "async"} {
				if err := WriteFrame(nc, []byte(m)); err != nil {
					t.Fatal(err)
				}
				if _, err := ReadFrame(br, 0); err != nil {
					t.Fatal(err)
				}
			}
			if i%2 == 0 { // half of them leave a reply in flight at shutdown
				_ = WriteFrame(nc, []byte("async"))
			}
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-serveErr; !errors.Is(err, ErrServerClosed) {
			t.Fatal(err)
		}
		for _, nc := range clients {
			_ = nc.Close()
		}
	}()
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func benchServer(b *testing.B) string {
	b.Helper()
	srv := New(Config{}, echo, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	<-srv.Ready()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// BenchmarkRoundTrip: one request at a time over loopback, echo handler (client allocations
// included: one response frame per round trip).
func BenchmarkRoundTrip(b *testing.B) {
	addr := benchServer(b)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	bw, br := bufio.NewWriter(nc), bufio.NewReader(nc)
	msg := bytes.Repeat([]byte("0"), 200) // about an 0100's size
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(bw, msg); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadFrame(br, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripPipelined: a window of 64 requests in flight on one connection, the way an
// acquirer host drives a switch; shows the effect of reply coalescing.
func BenchmarkRoundTripPipelined(b *testing.B) {
	const window = 64
	addr := benchServer(b)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg := bytes.Repeat([]byte("0"), 200)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(nc)
		for range b.N {
			if _, err := ReadFrame(br, 0); err != nil {
				readErr <- err
				return
			}
			credits <- struct{}{}
		}
		readErr <- nil
	}()
	bw := bufio.NewWriter(nc)
	for range b.N {
		select {
		case <-credits:
		default:
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
			<-credits
		}
		if err := WriteFrame(bw, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-readErr; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRoundTripParallel: one connection per benchmark goroutine, one request at a time each.
func BenchmarkRoundTripParallel(b *testing.B) {
	addr := benchServer(b)
	msg := bytes.Repeat([]byte("0"), 200)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		bw, br := bufio.NewWriter(nc), bufio.NewReader(nc)
		for pb.Next() {
			if err := WriteFrame(bw, msg); err != nil {
				b.Error(err)
				return
			}
			if err := bw.Flush(); err != nil {
				b.Error(err)
				return
			}
			if _, err := ReadFrame(br, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestReplyTooLongForAFrame(t *testing.T) {
	ts := startServer(t, Config{MaxInFlightPerConn: 1}, HandlerFunc(func(_ ConnInfo, frame []byte, reply func([]byte)) {
		if string(frame) == "huge" {
			reply(make([]byte, MaxFrameLimit+1)) // a handler bug: not writable, slot still released
			return
		}
		reply(frame)
	}))
	c := dial(t, ts.addr)
	c.send("huge")
	c.send("next")
	if got := c.recv(); got != "next" {
		t.Fatalf("got %q", got)
	}
	if st := ts.Stats(); st.RepliesInvalid != 1 || st.FramesOut != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestTemporaryAcceptErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(2)
	ts := startServerOn(t, Config{}, echo, fl)
	c := dial(t, ts.addr)
	c.send("after retries")
	if got := c.recv(); got != "after retries" {
		t.Fatalf("got %q", got)
	}
	if st := ts.Stats(); st.AcceptErrors != 2 {
		t.Fatalf("AcceptErrors = %d", st.AcceptErrors)
	}
}

type flakyListener struct {
	net.Listener
	failures atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, temporaryError{}
	}
	return l.Listener.Accept()
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "too many open files" }
func (temporaryError) Temporary() bool { return true }
func (temporaryError) Timeout() bool   { return false }
