// Package dispatch is the authorization path between the TCP transport and the engine: it decodes
// each frame, answers network management in place, sends money messages into the engine's queue
// (one hop), and encodes the engine's answers on a small pool of encoders so the single writer
// never spends its time on the wire format.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// Observer receives per-message measurements (metrics). Methods must be cheap and safe for
// concurrent use.
type Observer interface {
	Answered(mti string, action authz.ActionCode, latency time.Duration)
	Dropped(reason string)
}

// Tap sees every answered money message (not network management) with its decision, for the
// operator panel's live stream (internal/authfeed). It must be cheap, allocation-free and safe
// for concurrent use: it runs on the answer path. It must not keep req.
type Tap interface {
	Decided(req *authz.Request, action authz.ActionCode, at time.Time, latency time.Duration)
}

// Submitter is the engine's queue.
type Submitter interface {
	Submit(op engine.Op) error
}

// Dispatcher implements server.Handler.
type Dispatcher struct {
	eng  Submitter
	log  *slog.Logger
	obs  Observer
	tap  Tap // Config.Tap, or nil
	work chan pending
	wg   sync.WaitGroup
	// mu orders the engine's sends on work with Close: a send holds it shared, Close exclusively
	// to close work, so an engine that outlives its Stop (a shutdown that timed out) never sends
	// on a closed channel; once closed, it answers on its own goroutine instead.
	mu     sync.RWMutex
	closed bool // guarded by mu

	dropped    atomic.Uint64
	overloaded atomic.Uint64
}

type pending struct {
	req   *authz.Request
	resp  authz.Response
	reply func([]byte)
	start time.Time
}

// Config holds the dispatcher's limits and hooks. Zero values take the defaults.
type Config struct {
	// Encoders is the number of goroutines encoding answers; default GOMAXPROCS.
	Encoders int
	// EncodeQueue bounds answers waiting for an encoder; default 16384. The engine waits when it
	// is full, which slows intake instead of growing memory.
	EncodeQueue int
	// Tap, when set, sees every answered money message (the panel's live stream).
	Tap Tap
}

// New builds a dispatcher over the engine queue. Close stops its encoders.
func New(eng Submitter, log *slog.Logger, obs Observer, o Config) *Dispatcher {
	if o.Encoders <= 0 {
		o.Encoders = runtime.GOMAXPROCS(0)
	}
	if o.EncodeQueue <= 0 {
		o.EncodeQueue = 16384
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{eng: eng, log: log, obs: obs, work: make(chan pending, o.EncodeQueue), tap: o.Tap}
	for i := 0; i < o.Encoders; i++ {
		d.wg.Add(1)
		go d.encoder()
	}
	return d
}

// Close stops the encoders once every queued answer is written. Call it after the engine stopped;
// should the engine still answer after Close (its Stop timed out), those answers are encoded and
// written on the engine's goroutine.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.work)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// enqueue hands an engine answer to the encoders. It runs on the engine goroutine; when the queue
// is full the engine waits (backpressure), and the encoders keep draining until Close.
func (d *Dispatcher) enqueue(p pending) {
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		d.answer(p)
		return
	}
	d.work <- p
	d.mu.RUnlock()
}

// Stats are the dispatcher's counters.
type Stats struct{ Dropped, Overloaded uint64 }

// Stats reports the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Dropped: d.dropped.Load(), Overloaded: d.overloaded.Load()}
}

// HandleFrame decodes one message and answers it, now or after the engine's durable batch.
func (d *Dispatcher) HandleFrame(conn server.ConnInfo, frame []byte, reply func([]byte)) {
	start := time.Now()
	req, err := codec.Decode(frame)
	if err != nil {
		var fe *codec.FormatError
		if errors.As(err, &fe) && fe.Answerable() {
			d.log.Info("format error", "conn", conn.ID, "field", fe.Field, "reason", string(fe.Reason),
				"mti", fe.Request.MTI, "stan", fe.Request.STAN)
			d.answer(pending{req: fe.Request, resp: authz.Response{Action: authz.FormatError}, reply: reply, start: start})
			return
		}
		d.dropped.Add(1)
		if d.obs != nil {
			d.obs.Dropped("undecodable")
		}
		d.log.Warn("message dropped: MTI or STAN unreadable", "conn", conn.ID, "err", err)
		reply(nil)
		return
	}
	if req.Kind == authz.KindNetworkMgmt {
		d.networkManagement(conn, req)
		d.answer(pending{req: req, resp: authz.Response{Action: authz.Approved}, reply: reply, start: start})
		return
	}
	// Events (webhooks) are recorded by the ledger in the message's batch (ledger/events.go).
	op := engine.NewOp(ledger.Authorize{Req: req}, func(resp authz.Response, err error) {
		if err != nil {
			resp = authz.Response{Action: authz.SystemError}
		}
		d.enqueue(pending{req: req, resp: resp, reply: reply, start: start})
	})
	if err := d.eng.Submit(op); err != nil {
		// Overload or shutdown: answer 96 at once instead of going silent (contract §2).
		d.overloaded.Add(1)
		d.answer(pending{req: req, resp: authz.Response{Action: authz.SystemError}, reply: reply, start: start})
	}
}

// networkManagement logs sign-on and sign-off; echo needs nothing.
func (d *Dispatcher) networkManagement(conn server.ConnInfo, req *authz.Request) {
	switch req.NetworkCode {
	case "001":
		d.log.Info("sign-on", "conn", conn.ID, "acquirer", req.AcquirerID, "stan", req.STAN)
	case "002":
		d.log.Info("sign-off", "conn", conn.ID, "acquirer", req.AcquirerID, "stan", req.STAN)
	}
}

func (d *Dispatcher) encoder() {
	defer d.wg.Done()
	for p := range d.work {
		d.answer(p)
	}
}

// answer encodes and writes one response.
func (d *Dispatcher) answer(p pending) {
	var out []byte
	var err error
	if p.resp.Action == authz.FormatError {
		out, err = codec.EncodeFormatError(p.req)
	} else {
		out, err = codec.Encode(p.req, p.resp)
	}
	if err != nil {
		d.dropped.Add(1)
		if d.obs != nil {
			d.obs.Dropped("unencodable")
		}
		d.log.Error("response could not be encoded", "mti", p.req.MTI, "stan", p.req.STAN, "err", err)
		p.reply(nil)
		return
	}
	if d.obs != nil {
		d.obs.Answered(p.req.BaseMTI, p.resp.Action, time.Since(p.start))
	}
	if d.tap != nil && p.req.Kind != authz.KindNetworkMgmt {
		now := time.Now()
		d.tap.Decided(p.req, p.resp.Action, now, now.Sub(p.start))
	}
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		attrs := append(codec.LogAttrs(p.req), slog.String("action", p.resp.Action.String()))
		d.log.LogAttrs(context.Background(), slog.LevelDebug, "answered", attrs...)
	}
	p.reply(out)
}
