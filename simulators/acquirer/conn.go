// Package acquirer is the acquirer/network peer of cardswitch: a client that sends single
// messages (`cardswitch client`) and a simulator (`cardswitch sim`) that signs on like an
// acquirer, plays a scripted scenario or a seeded random mix against a running switch, checks
// every answer against what it expects and prints a summary.
package acquirer

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// ErrTimeout is returned by Pending.Wait when no answer arrived in time. The answer may still
// arrive; the connection then counts it as late.
var ErrTimeout = errors.New("acquirer: no answer before the timeout")

// ErrClosed is returned once the connection is closed or broken.
var ErrClosed = errors.New("acquirer: connection closed")

// maxResponseBytes bounds a response frame read from the switch.
const maxResponseBytes = server.MaxFrameLimit

// Conn is one acquirer connection to the switch. Requests may be in flight concurrently; answers
// are matched to requests by response MTI, field 11 and field 7 (the switch may answer out of
// order). Several requests with the same key (a retransmission) are answered in order.
type Conn struct {
	nc  net.Conn
	wmu sync.Mutex

	mu       sync.Mutex
	pending  map[string][]*Pending
	timedOut map[string]int // keys whose waiter gave up: an answer for them is late
	err      error

	late      atomic.Int64 // answers that arrived after their waiter timed out
	unmatched atomic.Int64 // answers that matched no request at all
	done      chan struct{}
}

// Pending is a request whose answer is awaited.
type Pending struct {
	key  string
	sent time.Time
	ch   chan *codec.ResponseMessage
	c    *Conn
}

// Dial connects to the switch's ISO 8583 listener.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("acquirer: dial %s: %w", addr, err)
	}
	c := &Conn{nc: nc, pending: map[string][]*Pending{}, timedOut: map[string]int{}, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// answerKey is how an answer names its request.
func answerKey(respMTI, stan, f7 string) string { return respMTI + "|" + stan + "|" + f7 }

// Send writes a request and registers for its answer.
func (c *Conn) Send(req *authz.Request) (*Pending, error) {
	msg, err := codec.BuildRequest(req)
	if err != nil {
		return nil, fmt.Errorf("acquirer: build %s: %w", req.MTI, err)
	}
	return c.SendRaw(msg, codec.ResponseMTI(mtiOf(req)), req.STAN, req.F7)
}

// SendRaw writes an already packed message; respMTI, stan and f7 name the expected answer.
func (c *Conn) SendRaw(msg []byte, respMTI, stan, f7 string) (*Pending, error) {
	p := &Pending{key: answerKey(respMTI, stan, f7), ch: make(chan *codec.ResponseMessage, 1), c: c}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.pending[p.key] = append(c.pending[p.key], p)
	c.mu.Unlock()
	c.wmu.Lock()
	p.sent = time.Now()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := server.WriteFrame(c.nc, msg)
	c.wmu.Unlock()
	if err != nil {
		c.forget(p)
		return nil, fmt.Errorf("acquirer: write: %w", err)
	}
	return p, nil
}

// Wait returns the answer, or ErrTimeout, or the connection's error.
func (p *Pending) Wait(timeout time.Duration) (*codec.ResponseMessage, time.Duration, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m := <-p.ch:
		return m, time.Since(p.sent), nil
	case <-t.C:
	case <-p.c.done:
		select {
		case m := <-p.ch:
			return m, time.Since(p.sent), nil
		default:
		}
		return nil, 0, p.c.closedErr()
	}
	if p.c.forget(p) {
		p.c.mu.Lock()
		p.c.timedOut[p.key]++
		p.c.mu.Unlock()
		return nil, 0, ErrTimeout
	}
	// The answer raced the timer.
	m := <-p.ch
	return m, time.Since(p.sent), nil
}

// forget removes p from the waiters; false when it was already answered.
func (c *Conn) forget(p *Pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.pending[p.key]
	for i, q := range list {
		if q == p {
			list = append(list[:i], list[i+1:]...)
			if len(list) == 0 {
				delete(c.pending, p.key)
			} else {
				c.pending[p.key] = list
			}
			return true
		}
	}
	return false
}

// RoundTrip sends req and waits for its answer.
func (c *Conn) RoundTrip(req *authz.Request, timeout time.Duration) (*codec.ResponseMessage, time.Duration, error) {
	p, err := c.Send(req)
	if err != nil {
		return nil, 0, err
	}
	return p.Wait(timeout)
}

func (c *Conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 16<<10)
	var err error
	for {
		var frame []byte
		frame, err = server.ReadFrame(br, maxResponseBytes)
		if err != nil {
			break
		}
		if len(frame) == 0 {
			continue
		}
		m, derr := codec.DecodeResponse(frame)
		if derr != nil {
			c.unmatched.Add(1)
			continue
		}
		key := answerKey(m.MTI, m.STAN, m.F7)
		c.mu.Lock()
		list := c.pending[key]
		if len(list) == 0 {
			if c.timedOut[key] > 0 {
				c.timedOut[key]--
				c.late.Add(1)
			} else {
				c.unmatched.Add(1)
			}
			c.mu.Unlock()
			continue
		}
		p := list[0]
		if len(list) == 1 {
			delete(c.pending, key)
		} else {
			c.pending[key] = list[1:]
		}
		c.mu.Unlock()
		p.ch <- m
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.mu.Unlock()
	close(c.done)
}

func (c *Conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClosed
	}
	return c.err
}

// Late is the number of answers that arrived after their request timed out.
func (c *Conn) Late() int64 { return c.late.Load() }

// Unmatched is the number of answers that named no request of this connection.
func (c *Conn) Unmatched() int64 { return c.unmatched.Load() }

// Close closes the connection; waiters get ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	err := c.nc.Close()
	<-c.done
	return err
}

// mtiOf is the MTI a request goes out with.
func mtiOf(r *authz.Request) string {
	if r.MTI != "" {
		return r.MTI
	}
	switch r.Kind {
	case authz.KindAuthorization, authz.KindBalanceInquiry:
		return "0100"
	case authz.KindFinancial, authz.KindRefund:
		return "0200"
	case authz.KindAuthAdvice:
		return "0120"
	case authz.KindCompletion:
		return "0220"
	case authz.KindReversal:
		return "0400"
	case authz.KindReversalAdvice:
		return "0420"
	case authz.KindNetworkMgmt:
		return "0800"
	}
	return ""
}
