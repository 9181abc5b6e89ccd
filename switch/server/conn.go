package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// errReadStopped is what the connection reader returns once Shutdown stopped reading.
var errReadStopped = errors.New("server: reading stopped")

// longAgo is a deadline in the past: setting it makes a blocked Read return at once.
var longAgo = time.Unix(1, 0)

// conn is one served connection. Its goroutines: serve (the read loop, which calls the Handler)
// and writeLoop, started and waited for by serve; the Server owns serve and waits for it in
// Shutdown.
//
// In-flight accounting: the read loop increments inflight before it hands a frame to the Handler;
// the write loop decrements it after it took that frame's reply (or nil) from writeCh. Each frame
// puts at most one item into writeCh, so items queued <= inflight <= MaxInFlightPerConn = cap(writeCh)
// and a reply never blocks.
type conn struct {
	srv  *Server
	nc   net.Conn
	info ConnInfo
	br   *bufio.Reader
	bw   *bufio.Writer

	inflight  atomic.Int64
	slotFreed chan struct{} // capacity 1: the write loop released a slot; wakes a paused read loop
	writeCh   chan []byte   // capacity MaxInFlightPerConn: replies, nil for "no response"

	rmu         sync.Mutex    // orders stopReading against the idle deadline set before each Read
	readStopped atomic.Bool   // written under rmu
	stopRead    chan struct{} // closed by stopReading

	readDone   chan struct{} // closed by serve once the read loop ended: the writer drains
	kill       chan struct{} // closed by abort: stop now, drop what is unwritten
	killOnce   sync.Once
	writerDone chan struct{} // closed by the write loop when it ended

	wmu          sync.Mutex // orders enqueue against the write loop's exit
	writerExited bool       // guarded by wmu
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	c := &conn{
		srv:        s,
		nc:         nc,
		info:       ConnInfo{ID: id, RemoteAddr: nc.RemoteAddr().String()},
		slotFreed:  make(chan struct{}, 1),
		writeCh:    make(chan []byte, s.cfg.MaxInFlightPerConn),
		stopRead:   make(chan struct{}),
		readDone:   make(chan struct{}),
		kill:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.br = bufio.NewReaderSize(connReader{c}, readBufferBytes)
	c.bw = bufio.NewWriterSize(connWriter{c}, writeBufferBytes)
	return c
}

// connReader arms the idle deadline before every read system call, so IdleTimeout means "no
// inbound byte for that long", whatever the frame boundaries.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	c.rmu.Lock()
	if c.readStopped.Load() {
		c.rmu.Unlock()
		return 0, errReadStopped
	}
	err := c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	c.rmu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.nc.Read(p)
}

// connWriter arms the write deadline before every write system call.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	if err := w.c.nc.SetWriteDeadline(time.Now().Add(w.c.srv.cfg.WriteTimeout)); err != nil {
		return 0, err
	}
	return w.c.nc.Write(p)
}

// stopReading makes the read loop end (Shutdown): a blocked Read returns at once, a paused loop
// wakes, and no further frame is handed to the Handler.
func (c *conn) stopReading() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.readStopped.Load() {
		return
	}
	c.readStopped.Store(true)
	close(c.stopRead)
	_ = c.nc.SetReadDeadline(longAgo)
}

// abort closes the connection at once; unwritten replies are dropped.
func (c *conn) abort() {
	c.killOnce.Do(func() {
		close(c.kill)
		_ = c.nc.Close()
	})
}

func (c *conn) killed() bool {
	select {
	case <-c.kill:
		return true
	default:
		return false
	}
}

// serve runs the read loop, then waits for the write loop to finish its drain, closes the
// connection and unregisters it.
func (c *conn) serve() {
	go c.writeLoop()
	if c.readLoop() == endAbort {
		c.abort()
	}
	close(c.readDone)
	<-c.writerDone
	_ = c.nc.Close()
	c.srv.unregister(c)
	c.srv.logger.Debug("server: connection closed", "conn", c.info.ID)
}

// readEnd says how a connection continues once its read loop ended.
type readEnd int

const (
	endDrain readEnd = iota // write the in-flight replies (bounded by DrainTimeout), then close
	endAbort                // close now
)

func (c *conn) readLoop() readEnd {
	s := c.srv
	maxInFlight := int64(s.cfg.MaxInFlightPerConn)
	for {
		if c.inflight.Load() >= maxInFlight {
			// Backpressure: stop reading until the writer has taken a reply. The peer's sends
			// then fill the kernel buffers and TCP flow control slows it down.
			s.stats.backpressurePauses.Add(1)
			for c.inflight.Load() >= maxInFlight {
				select {
				case <-c.slotFreed:
				case <-c.stopRead:
					return endDrain
				case <-c.kill:
					return endAbort
				}
			}
		}
		frame, err := ReadFrame(c.br, s.cfg.MaxFrameBytes)
		if err != nil {
			return c.readFailed(err)
		}
		if c.readStopped.Load() {
			// Shutdown began while this frame arrived: no new work once draining started.
			s.stats.framesDiscarded.Add(1)
			return endDrain
		}
		if len(frame) == 0 {
			s.stats.framesEmpty.Add(1)
			continue
		}
		s.stats.framesIn.Add(1)
		c.inflight.Add(1)
		c.dispatch(frame)
	}
}

// readFailed classifies a read error. Error texts from the net package carry addresses, never
// message bytes, so they can be logged.
func (c *conn) readFailed(err error) readEnd {
	s := c.srv
	var tooLarge *FrameTooLargeError
	switch {
	case c.readStopped.Load():
		return endDrain
	case c.killed():
		return endAbort
	case errors.As(err, &tooLarge):
		s.stats.framesOversize.Add(1)
		s.logger.Warn("server: frame over MaxFrameBytes, connection closed",
			"conn", c.info.ID, "remote", c.info.RemoteAddr, "length", tooLarge.Length, "max", tooLarge.Max)
		return endAbort
	case err == io.EOF:
		return endDrain
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.stats.idleTimeouts.Add(1)
		s.logger.Info("server: idle timeout, connection closed",
			"conn", c.info.ID, "remote", c.info.RemoteAddr, "idleTimeout", s.cfg.IdleTimeout)
		return endDrain
	default:
		s.stats.readErrors.Add(1)
		s.logger.Debug("server: read error, connection closed", "conn", c.info.ID, "err", err)
		return endAbort
	}
}

// pendingReply is the reply callback of one frame; done makes it answer at most once.
type pendingReply struct {
	c    *conn
	done atomic.Bool
}

func (r *pendingReply) reply(resp []byte) {
	if r.done.Swap(true) {
		// As net/http treats a superfluous WriteHeader: a handler bug, reported, not fatal, and it
		// must not release a second in-flight slot.
		r.c.srv.stats.repliesDuplicate.Add(1)
		r.c.srv.logger.Error("server: reply called more than once, ignored", "conn", r.c.info.ID)
		return
	}
	if resp == nil {
		r.c.srv.stats.repliesNone.Add(1)
	}
	r.c.enqueue(resp)
}

// abandon releases the frame's in-flight slot if no reply was given (after a handler panic).
// A reply arriving later is then counted as a duplicate.
func (r *pendingReply) abandon() {
	if !r.done.Swap(true) {
		r.c.enqueue(nil)
	}
}

// dispatch hands one frame to the Handler: the per-message recover boundary (house rule 4).
func (c *conn) dispatch(frame []byte) {
	r := &pendingReply{c: c}
	defer func() {
		if p := recover(); p != nil {
			c.handlerPanicked(p)
			r.abandon()
		}
	}()
	c.srv.handler.HandleFrame(c.info, frame, r.reply)
}

// handlerPanicked logs a recovered panic without its value unless it is a runtime error: a value
// built by the handler could contain message bytes (a PAN), a runtime error's text cannot.
func (c *conn) handlerPanicked(p any) {
	c.srv.stats.handlerPanics.Add(1)
	what := fmt.Sprintf("%T", p)
	if re, ok := p.(runtime.Error); ok {
		what = re.Error()
	}
	c.srv.logger.Error("server: handler panic recovered, frame dropped",
		"conn", c.info.ID, "panic", what, "stack", string(debug.Stack()))
}

// enqueue hands a reply (nil: none) to the write loop. It never blocks.
func (c *conn) enqueue(resp []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writerExited {
		if resp != nil {
			c.srv.stats.repliesDropped.Add(1)
		}
		return
	}
	select {
	case c.writeCh <- resp:
	default:
		// Impossible while the in-flight accounting holds (see conn): a bug in this package.
		panic("server: write queue full, in-flight accounting broken")
	}
}

// releaseSlot ends one frame's in-flight time and wakes a paused read loop.
func (c *conn) releaseSlot() {
	c.inflight.Add(-1)
	select {
	case c.slotFreed <- struct{}{}:
	default:
	}
}

// writeLoop writes replies as they come. Once the read loop ended it keeps writing until nothing is
// in flight, bounded by DrainTimeout.
func (c *conn) writeLoop() {
	defer c.writerExit()
	readDone := c.readDone
	var drainTimeout <-chan time.Time
	for {
		select {
		case resp := <-c.writeCh:
			if err := c.writeBatch(resp); err != nil {
				if !c.killed() {
					c.srv.stats.writeErrors.Add(1)
					c.srv.logger.Warn("server: write error, connection closed",
						"conn", c.info.ID, "remote", c.info.RemoteAddr, "err", err)
				}
				c.abort()
				return
			}
			if readDone == nil && c.inflight.Load() == 0 {
				return // drained
			}
		case <-readDone:
			if c.killed() || c.inflight.Load() == 0 {
				return
			}
			readDone = nil
			t := time.NewTimer(c.srv.cfg.DrainTimeout)
			defer t.Stop()
			drainTimeout = t.C
		case <-drainTimeout:
			c.srv.drainTimedOut.Store(true)
			c.srv.logger.Warn("server: drain timeout, connection closed with replies in flight",
				"conn", c.info.ID, "inFlight", c.inflight.Load())
			return
		case <-c.kill:
			return
		}
	}
}

// writeBatch buffers resp and every reply already queued behind it, then flushes once: under load
// many replies share one system call.
func (c *conn) writeBatch(resp []byte) error {
	for {
		if resp != nil {
			if len(resp) > MaxFrameLimit {
				c.srv.stats.repliesInvalid.Add(1)
				c.srv.logger.Error("server: reply longer than a frame can carry, dropped",
					"conn", c.info.ID, "length", len(resp))
			} else if err := writeFrameBuffered(c.bw, resp); err != nil {
				return err
			} else {
				c.srv.stats.framesOut.Add(1)
			}
		}
		c.releaseSlot()
		select {
		case resp = <-c.writeCh:
			continue
		default:
		}
		return c.bw.Flush()
	}
}

// writerExit marks the write loop gone, so later replies are counted as dropped, and counts the
// replies left in the queue.
func (c *conn) writerExit() {
	c.wmu.Lock()
	c.writerExited = true
	for {
		select {
		case resp := <-c.writeCh:
			if resp != nil {
				c.srv.stats.repliesDropped.Add(1)
			}
			continue
		default:
		}
		break
	}
	c.wmu.Unlock()
	close(c.writerDone)
}
