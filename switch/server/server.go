// Package server is the TCP transport for ISO 8583 frames (contract §2 framing: a 2-byte unsigned
// big-endian length, then the message). It knows nothing about message content: it accepts
// connections, cuts the byte stream into frames, enforces the transport limits, hands every frame to
// a Handler and writes the replies back, and drains in-flight replies at shutdown.
//
// Per connection there is one read goroutine (which calls the Handler) and one write goroutine fed
// by a bounded channel. Replies are written in the order they arrive, which need not be request
// order; the peer matches them by content (MTI, STAN). The writer coalesces: it flushes only when no
// further reply is queued, so a burst of replies shares one system call.
//
// Frame bytes are never logged: they carry PANs.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the Config limits. They are the values used when a field is zero or negative.
const (
	DefaultAddr               = "127.0.0.1:8583" // contract §1 ISO listener
	DefaultMaxFrameBytes      = 8192             // contract §2 iso.maxFrameBytes
	DefaultMaxInFlightPerConn = 256
	DefaultMaxSessions        = 1024
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultWriteTimeout       = 10 * time.Second
	DefaultDrainTimeout       = 10 * time.Second
)

// Sizes of the per-connection buffers. The writer buffer is larger because replies are coalesced:
// a full buffer is flushed on its own, so it also bounds the bytes handed to one write system call.
const (
	readBufferBytes  = 8 << 10
	writeBufferBytes = 16 << 10
	// tcpKeepAlivePeriod is set explicitly on accepted connections (ListenAndServe) so that a peer
	// that vanished without a FIN or RST is detected even while it has requests in flight.
	tcpKeepAlivePeriod = 15 * time.Second
	// acceptBackoffMax bounds the pause after a temporary accept error (e.g. EMFILE), as net/http.
	acceptBackoffMax = time.Second
	// rejectLogInterval spaces the log lines about connections refused at MaxSessions.
	rejectLogInterval = time.Second
)

var (
	// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown has been called.
	ErrServerClosed = errors.New("server: closed")
	// ErrDrainTimeout is returned by Shutdown when Config.DrainTimeout passed before every in-flight
	// reply was written; the remaining connections were closed and their replies dropped.
	ErrDrainTimeout = errors.New("server: drain timeout, in-flight replies dropped")
)

// Handler processes one inbound message.
//
// HandleFrame runs on the connection's read goroutine: while it runs no further frame is read from
// that connection, so it must hand the work off quickly and never block on a slow resource (the
// engine answers a full queue with 96 at once instead of blocking).
//
// It must eventually call reply exactly once, with the response bytes, or with nil for "no
// response" (e.g. an undecodable message that is dropped). reply may be called from any goroutine,
// before or after HandleFrame returns; it never blocks. A second call is ignored and counted
// (Stats.RepliesDuplicate). Until reply is called the frame counts against
// Config.MaxInFlightPerConn, and Shutdown waits for it. reply must not be given a slice that is
// modified afterwards: the write goroutine reads it later.
//
// The frame slice is owned by the handler after the call: the server never reuses it.
type Handler interface {
	HandleFrame(conn ConnInfo, frame []byte, reply func(resp []byte))
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(conn ConnInfo, frame []byte, reply func(resp []byte))

// HandleFrame calls f.
func (f HandlerFunc) HandleFrame(conn ConnInfo, frame []byte, reply func(resp []byte)) {
	f(conn, frame, reply)
}

// ConnInfo identifies the connection a frame came from.
type ConnInfo struct {
	ID         uint64 // unique within the Server, from 1, in accept order
	RemoteAddr string // the peer's address as net.Conn.RemoteAddr().String()
}

// Config holds the listener address and the transport limits. Every limit has a default, used when
// the field is zero or negative; each states what happens when it is hit.
type Config struct {
	// Addr is the TCP address ListenAndServe listens on. Default DefaultAddr (127.0.0.1:8583).
	Addr string

	// MaxFrameBytes bounds the message length a peer may announce in a length prefix.
	// Default 8192 (contract iso.maxFrameBytes); values above 65535 (what a 2-byte prefix can
	// express) mean 65535. When hit: the connection is closed at once without reading the message
	// (the stream is out of step), its unwritten replies are dropped, Stats.FramesOversize counts it;
	// other connections are not affected.
	MaxFrameBytes int

	// MaxInFlightPerConn bounds the frames of one connection that were handed to the Handler and
	// whose reply has not yet been written into the connection's write buffer. Default 256.
	// When hit: the read loop stops reading (TCP backpressure towards the peer) until a reply is
	// written; Stats.BackpressurePauses counts the pauses.
	MaxInFlightPerConn int

	// MaxSessions bounds the connections served at once. Default 1024. When hit: a new connection
	// is accepted and closed immediately, Stats.ConnectionsRejected counts it.
	MaxSessions int

	// IdleTimeout closes a connection when no inbound byte arrived for that long. Default 5m.
	// When hit: reading stops, in-flight replies are still written (bounded by DrainTimeout), then
	// the connection is closed; Stats.IdleTimeouts counts it. Sign-on and echo (0800) traffic keep
	// a quiet connection open.
	IdleTimeout time.Duration

	// WriteTimeout bounds every write system call to a connection. Default 10s. When hit: the
	// connection is closed, its unwritten replies are dropped, Stats.WriteErrors counts it.
	WriteTimeout time.Duration

	// DrainTimeout bounds the wait for in-flight replies once a connection stops reading: at
	// Shutdown (together with the Shutdown context, whichever ends first), after the peer closed its
	// side, and after an idle timeout. Default 10s. When hit: the connection is closed and the
	// missing replies are dropped (Stats.RepliesDropped); Shutdown returns ErrDrainTimeout.
	DrainTimeout time.Duration
}

// withDefaults returns cfg with every unset or invalid limit replaced by its default.
func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.MaxFrameBytes > MaxFrameLimit {
		cfg.MaxFrameBytes = MaxFrameLimit
	}
	if cfg.MaxInFlightPerConn <= 0 {
		cfg.MaxInFlightPerConn = DefaultMaxInFlightPerConn
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	return cfg
}

// Server is the ISO 8583 TCP transport. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	handler Handler
	logger  *slog.Logger

	ready     chan struct{} // closed once the first listener is registered
	readyOnce sync.Once
	stopping  chan struct{} // closed when Shutdown begins
	stopOnce  sync.Once
	nextID    atomic.Uint64
	// drainTimedOut is set when a connection gave up its in-flight replies at its own drain
	// timeout: Shutdown then reports ErrDrainTimeout even if the last connection closed first.
	drainTimedOut atomic.Bool
	stats         counters

	rejectLoggedAt atomic.Int64 // unix nanoseconds of the last session-limit log line

	mu         sync.Mutex
	inShutdown bool                          // guarded by mu; set once, by Shutdown
	listeners  map[*trackedListener]struct{} // guarded by mu
	conns      map[*conn]struct{}            // guarded by mu
	addr       net.Addr                      // guarded by mu; the first listener's address
	connsDone  chan struct{}                 // closed when inShutdown and conns is empty
	doneOnce   sync.Once
}

// trackedListener gives every listener a comparable identity (a listener's dynamic type need not be
// comparable, so it cannot be a map key itself).
type trackedListener struct{ net.Listener }

// New returns a Server for cfg (defaults applied to unset limits) that hands frames to h.
// A nil logger discards log records. h must not be nil.
func New(cfg Config, h Handler, logger *slog.Logger) *Server {
	if h == nil {
		panic("server: nil Handler")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       cfg.withDefaults(),
		handler:   h,
		logger:    logger,
		ready:     make(chan struct{}),
		stopping:  make(chan struct{}),
		listeners: make(map[*trackedListener]struct{}),
		conns:     make(map[*conn]struct{}),
		connsDone: make(chan struct{}),
	}
}

// Config returns the configuration in effect, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Ready returns a channel closed once the server is listening (the first Serve has registered its
// listener).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address of the first listener, or nil before the server is listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe listens on Config.Addr and serves until Shutdown; it then returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	if s.isShuttingDown() {
		return ErrServerClosed
	}
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Listen opens the TCP listener of Config.Addr as ListenAndServe does (TCP keep-alive on accepted
// connections), without serving it: a caller that must know the address, or see a bind error,
// before it serves (the app, which binds every listener before any traffic) passes it to Serve.
func (s *Server) Listen() (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: tcpKeepAlivePeriod}
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", s.cfg.Addr, err)
	}
	return ln, nil
}

// Serve accepts connections on ln until Shutdown, then returns ErrServerClosed; any other return
// is a permanent accept error. Serve closes ln when it returns. It may be called for several
// listeners.
func (s *Server) Serve(ln net.Listener) error {
	tl := &trackedListener{ln}
	s.mu.Lock()
	if s.inShutdown {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[tl] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })
	s.logger.Info("server: listening", "addr", ln.Addr().String())

	defer func() {
		s.mu.Lock()
		delete(s.listeners, tl)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isShuttingDown() {
				return ErrServerClosed
			}
			s.stats.acceptErrors.Add(1)
			if !isTemporary(err) {
				return fmt.Errorf("server: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			s.logger.Warn("server: accept error, retrying", "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.serveConn(nc)
	}
}

// isTemporary reports an accept error worth retrying (EMFILE, ECONNABORTED, ...). It keeps the
// semantics net/http relies on, through an interface to avoid the deprecated method's lint.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// serveConn registers nc and starts its goroutines, or closes it when the session limit is reached
// or the server is shutting down.
func (s *Server) serveConn(nc net.Conn) {
	s.mu.Lock()
	if s.inShutdown {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		rejected := s.stats.connectionsRejected.Add(1)
		// A peer in a reconnect loop must not flood the log: at most one line per interval,
		// the counter carries the rest.
		now := time.Now().UnixNano()
		if last := s.rejectLoggedAt.Load(); now-last >= int64(rejectLogInterval) &&
			s.rejectLoggedAt.CompareAndSwap(last, now) {
			s.logger.Warn("server: session limit reached, connection closed",
				"remote", nc.RemoteAddr().String(), "maxSessions", s.cfg.MaxSessions,
				"rejectedTotal", rejected)
		}
		_ = nc.Close()
		return
	}
	c := newConn(s, nc, s.nextID.Add(1))
	s.conns[c] = struct{}{}
	s.stats.connectionsOpen.Add(1)
	s.stats.connectionsAccepted.Add(1)
	s.mu.Unlock()

	s.logger.Debug("server: connection opened", "conn", c.info.ID, "remote", c.info.RemoteAddr)
	go c.serve()
}

// unregister removes a finished connection; the last one to go during Shutdown releases it.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.stats.connectionsOpen.Add(-1)
	if s.inShutdown && len(s.conns) == 0 {
		s.doneOnce.Do(func() { close(s.connsDone) })
	}
	s.mu.Unlock()
}

func (s *Server) isShuttingDown() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// Shutdown stops the server gracefully: it closes the listeners, stops every connection from
// reading (a frame not yet handed to the Handler is discarded, Stats.FramesDiscarded), waits until
// every in-flight reply has been written and flushed, and closes the connections.
//
// The wait is bounded by ctx and by Config.DrainTimeout, whichever ends first. When the bound is
// hit, the remaining connections are closed at once, their missing replies dropped, and Shutdown
// returns ctx.Err() or ErrDrainTimeout without waiting further (as net/http does; their goroutines
// end as soon as any HandleFrame call they are in returns).
//
// When Shutdown returns nil, no HandleFrame call is running and none will be made again, every
// reply has been written, and every connection goroutine has ended. Serve calls return
// ErrServerClosed. Shutdown may be called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.inShutdown = true
	s.stopOnce.Do(func() { close(s.stopping) })
	listeners := make([]*trackedListener, 0, len(s.listeners))
	for tl := range s.listeners {
		listeners = append(listeners, tl)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if len(s.conns) == 0 {
		s.doneOnce.Do(func() { close(s.connsDone) })
	}
	s.mu.Unlock()

	for _, tl := range listeners {
		_ = tl.Close()
	}
	for _, c := range conns {
		c.stopReading()
	}
	s.logger.Info("server: shutting down", "connections", len(conns))

	drain := time.NewTimer(s.cfg.DrainTimeout)
	defer drain.Stop()
	select {
	case <-s.connsDone:
		if s.drainTimedOut.Load() {
			return ErrDrainTimeout
		}
		s.logger.Info("server: drained")
		return nil
	case <-ctx.Done():
		s.abortAll("context done")
		return ctx.Err()
	case <-drain.C:
		s.abortAll("drain timeout")
		return ErrDrainTimeout
	}
}

// abortAll closes every remaining connection at once.
func (s *Server) abortAll(reason string) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.logger.Warn("server: closing connections with replies in flight",
		"reason", reason, "connections", len(conns))
	for _, c := range conns {
		c.abort()
	}
}
