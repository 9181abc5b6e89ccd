// Package notify delivers the ledger's events to the webhook. The events themselves are rows the
// engine wrote in the batch that booked them (ledger/events.go); this package reads them back
// from the journal after the batch is durable, POSTs them signed, one at a time with backoff, and
// keeps the delivery state of each in a file of its own. That state can be lost without losing
// an event: an event without a record is delivered again (at least once, receivers dedupe on id).
package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Delivery statuses and limits (docs/api.md, "Events").
const (
	StatusPending     = "PENDING"
	StatusDelivered   = "DELIVERED"
	StatusFailed      = "FAILED"
	timeout           = 10 * time.Second
	backoffMax        = 10 * time.Minute
	attemptsMax       = 12      // then FAILED; replayable
	pendingMax        = 100_000 // waiting in memory; later events wait in the journal
	retainMax         = 10_000  // delivered/failed events kept for replay
	syncInterval      = 50 * time.Millisecond
	readBatch         = 1024 // events read from the journal at a time
	pruneStep         = 1024 // events past retention deleted from the journal at a time
	idleWait          = time.Second
	signatureHeader   = "Cardswitch-Signature"
	eventIDHeader     = "Cardswitch-Event-Id"
	eventTypeHeader   = "Cardswitch-Event-Type"
	responseBodyLimit = 64 << 10
)

// HTTPDoer sends a webhook request (net/http's Client satisfies it).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Event is one outbound notification as delivered and listed.
type Event struct {
	ID        string          `json:"id"`
	Seq       uint64          `json:"seq"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// Delivery is an event with its delivery state (GET /admin/webhooks/events).
type Delivery struct {
	Event     Event     `json:"event"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"nextAt"`
	LastError string    `json:"lastError,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// record is one line of the delivery-state file: the state of the event seq after a change.
// The last record of a sequence wins on start.
type record struct {
	Seq       uint64    `json:"seq"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"nextAt"`
	LastError string    `json:"lastError,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Config configures the outbox.
type Config struct {
	URL    string // "": delivery disabled; events are still recorded and pruned
	Secret []byte
	// Path is the delivery-state file (<dataDir>/mgmt/deliveries.log).
	Path   string
	Client HTTPDoer // default: net/http with a 10 s timeout, no redirects
	Log    *slog.Logger
	// BackoffBase is the first retry delay (default 1 s), doubled per attempt up to 10 min.
	BackoffBase time.Duration
}

// Outbox delivers the journal's events. One goroutine (Start, Close) reads new events, sends
// due ones and prunes the delivered ones past retention from the journal.
type Outbox struct {
	cfg Config
	src ledger.EventLog

	published atomic.Uint64 // last committed event sequence (engine's Published)

	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	dirty    bool
	bySeq    map[uint64]*Delivery
	byID     map[string]*Delivery
	order    []*Delivery // by seq
	read     uint64      // last event sequence read from the journal
	recorded uint64      // highest sequence with a record at start: below it, no record = trimmed
	pruned   uint64      // events through this sequence were deleted from the journal
	pending  int

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// Open reads the delivery state and the undelivered events. lastSeq is the last committed event
// sequence (ledger.State.LastEventSeq after recovery).
func Open(cfg Config, src ledger.EventLog, lastSeq uint64) (*Outbox, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	o := &Outbox{cfg: cfg, src: src, bySeq: map[uint64]*Delivery{}, byID: map[string]*Delivery{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	o.published.Store(lastSeq)
	if !o.Enabled() {
		return o, nil
	}
	recs, err := readRecords(cfg.Path)
	if err != nil {
		return nil, err
	}
	for seq := range recs {
		o.recorded = max(o.recorded, seq)
	}
	if err := o.fill(recs); err != nil {
		return nil, err
	}
	o.trim()
	if err := o.compact(); err != nil {
		return nil, err
	}
	return o, nil
}

func readRecords(path string) (map[uint64]record, error) {
	recs := map[uint64]record{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notify: delivery state: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Seq == 0 {
			continue // a torn last line after a crash
		}
		recs[r.Seq] = r
	}
	return recs, nil
}

// compact rewrites the delivery-state file with one record per retained event.
func (o *Outbox) compact() error {
	tmp := o.cfg.Path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("notify: delivery state: %w", err)
	}
	bw := bufio.NewWriter(f)
	for _, d := range o.order {
		line, _ := json.Marshal(recordOf(d))
		bw.Write(append(line, '\n'))
	}
	if err := errors.Join(bw.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("notify: delivery state: %w", err)
	}
	if err := os.Rename(tmp, o.cfg.Path); err != nil {
		return fmt.Errorf("notify: delivery state: %w", err)
	}
	if o.f, err = os.OpenFile(o.cfg.Path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("notify: delivery state: %w", err)
	}
	o.w = bufio.NewWriter(o.f)
	return nil
}

func recordOf(d *Delivery) record {
	return record{Seq: d.Event.Seq, Status: d.Status, Attempts: d.Attempts, NextAt: d.NextAt,
		LastError: d.LastError, UpdatedAt: d.UpdatedAt}
}

// fill reads events after o.read, up to the last published (durable) one, from the journal while
// fewer than pendingMax wait; recs gives
// the state of events recorded before a restart (nil afterwards). Caller holds mu or owns o.
func (o *Outbox) fill(recs map[uint64]record) error {
	for o.pending < pendingMax {
		evs, err := o.src.Events(o.read, min(readBatch, pendingMax-o.pending))
		if err != nil {
			return fmt.Errorf("notify: read events: %w", err)
		}
		for i := range evs {
			e := &evs[i]
			if e.Seq > o.published.Load() {
				// Written but not yet durable (a pipelined engine merges a batch before its
				// flush): read again once Published says it is.
				return nil
			}
			o.read = e.Seq
			d := &Delivery{Event: envelope(e), Status: StatusPending}
			d.NextAt, d.UpdatedAt = d.Event.CreatedAt, d.Event.CreatedAt
			if r, ok := recs[e.Seq]; ok {
				d.Status, d.Attempts, d.NextAt, d.LastError, d.UpdatedAt = r.Status, r.Attempts, r.NextAt, r.LastError, r.UpdatedAt
				if d.Status == StatusDelivered {
					d.Event = Redacted(d.Event) // as before the restart: a delivered OTP is not kept
				}
			} else if e.Seq <= o.recorded {
				continue // delivered or failed, and trimmed from the state before the restart
			}
			o.bySeq[e.Seq] = d
			o.byID[d.Event.ID] = d
			o.order = append(o.order, d)
			if d.Status == StatusPending {
				o.pending++
			}
		}
		if len(evs) == 0 {
			return nil
		}
	}
	return nil
}

// trim drops the oldest delivered or failed deliveries beyond retainMax. Caller holds mu.
func (o *Outbox) trim() {
	terminal := len(o.order) - o.pending
	if terminal <= retainMax {
		return
	}
	drop := terminal - retainMax
	kept := o.order[:0]
	for _, d := range o.order {
		if drop > 0 && d.Status != StatusPending {
			delete(o.byID, d.Event.ID)
			delete(o.bySeq, d.Event.Seq)
			drop--
			continue
		}
		kept = append(kept, d)
	}
	clear(o.order[len(kept):])
	o.order = kept
}

// Enabled reports whether a webhook URL is configured.
func (o *Outbox) Enabled() bool { return o.cfg.URL != "" }

// Published tells the outbox the last committed event sequence. It never blocks (the engine
// calls it after every batch).
func (o *Outbox) Published(seq uint64) {
	if seq > o.published.Load() {
		o.published.Store(seq)
		o.poke()
	}
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Start runs the deliverer until Close.
func (o *Outbox) Start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started {
		return
	}
	o.started = true
	go o.run()
}

func (o *Outbox) run() {
	defer close(o.done)
	sync := time.NewTicker(syncInterval)
	defer sync.Stop()
	for {
		o.refill()
		o.prune()
		d, wait := o.due(time.Now())
		if d != nil {
			o.attempt(d)
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-o.stop:
			timer.Stop()
			return
		case <-o.wake:
		case <-sync.C:
			o.mu.Lock()
			o.syncLocked()
			o.mu.Unlock()
		case <-timer.C:
		}
		timer.Stop()
	}
}

// refill reads the events committed since the last read.
func (o *Outbox) refill() {
	if !o.Enabled() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.published.Load() <= o.read || o.pending >= pendingMax {
		return
	}
	if err := o.fill(nil); err != nil {
		o.cfg.Log.Error("webhook events not read; retrying", "err", err)
	}
}

// prune deletes from the journal the events no delivery needs any more: below every retained
// one (disabled: all but the last retainMax).
func (o *Outbox) prune() {
	o.mu.Lock()
	through := o.read
	if len(o.order) > 0 {
		through = o.order[0].Event.Seq - 1
	}
	if !o.Enabled() {
		through = 0
		if p := o.published.Load(); p > retainMax {
			through = p - retainMax
		}
	}
	if through < o.pruned+pruneStep {
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	if err := o.src.DeleteEvents(through); err != nil {
		o.cfg.Log.Error("delivered events not pruned; retrying", "err", err)
		return
	}
	o.mu.Lock()
	o.pruned = through
	o.mu.Unlock()
}

func (o *Outbox) appendLocked(d *Delivery) {
	if o.w == nil {
		return
	}
	line, _ := json.Marshal(recordOf(d))
	o.w.Write(append(line, '\n'))
	o.dirty = true
}

func (o *Outbox) syncLocked() {
	if !o.dirty || o.f == nil {
		return
	}
	if err := errors.Join(o.w.Flush(), o.f.Sync()); err != nil {
		o.cfg.Log.Error("webhook delivery state sync failed", "err", err)
		return
	}
	o.dirty = false
}

// due picks the oldest pending event whose time has come, or says how long to wait.
func (o *Outbox) due(now time.Time) (*Delivery, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	wait := idleWait
	if !o.Enabled() {
		return nil, wait
	}
	for _, d := range o.order {
		if d.Status != StatusPending {
			continue
		}
		if !d.NextAt.After(now) {
			cp := *d
			return &cp, 0
		}
		if w := d.NextAt.Sub(now); w < wait {
			wait = w
		}
	}
	return nil, wait
}

func (o *Outbox) attempt(d *Delivery) {
	err := o.send(d.Event)
	now := time.Now().UTC()
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, ok := o.bySeq[d.Event.Seq]
	if !ok || cur.Status != StatusPending || cur.Attempts != d.Attempts {
		return // replayed or trimmed meanwhile
	}
	cur.Attempts++
	cur.UpdatedAt = now
	if err == nil {
		cur.Status, cur.LastError = StatusDelivered, ""
		cur.Event = Redacted(cur.Event) // a delivered OTP is not kept
		o.pending--
	} else {
		cur.LastError = err.Error()
		if cur.Attempts >= attemptsMax {
			cur.Status = StatusFailed
			o.pending--
		} else {
			cur.NextAt = now.Add(o.backoff(cur.Attempts))
		}
	}
	o.appendLocked(cur)
	o.trim()
}

func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.cfg.BackoffBase
	for i := 1; i < attempts && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// Signature is the Cardswitch-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the webhook secret>.
func Signature(secret []byte, t int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	ts := strconv.FormatInt(t, 10)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func (o *Outbox) send(ev Event) error {
	body, _ := json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	}{ev.ID, ev.Type, ev.CreatedAt, ev.Data})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(eventIDHeader, ev.ID)
	req.Header.Set(eventTypeHeader, ev.Type)
	req.Header.Set(signatureHeader, Signature(o.cfg.Secret, time.Now().Unix(), body))
	resp, err := o.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, responseBodyLimit))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: status %d", resp.StatusCode)
	}
	return nil
}

// Replay makes retained events pending again: the ones named, or all from fromSeq on.
func (o *Outbox) Replay(ids []string, fromSeq uint64) int {
	now := time.Now().UTC()
	o.mu.Lock()
	n := 0
	mark := func(d *Delivery) {
		if d.Status != StatusPending {
			o.pending++
		}
		d.Status, d.Attempts, d.NextAt, d.LastError, d.UpdatedAt = StatusPending, 0, now, "", now
		o.appendLocked(d)
		n++
	}
	if len(ids) > 0 {
		for _, id := range ids {
			if d, ok := o.byID[id]; ok {
				mark(d)
			}
		}
	} else {
		for _, d := range o.order {
			if d.Event.Seq >= fromSeq {
				mark(d)
			}
		}
	}
	o.mu.Unlock()
	o.poke()
	return n
}

// List returns retained events newest first, below seq before (0: from the newest).
func (o *Outbox) List(before uint64, limit int, status string) []Delivery {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Delivery
	for i := len(o.order) - 1; i >= 0 && len(out) < limit; i-- {
		d := o.order[i]
		if before != 0 && d.Event.Seq >= before {
			continue
		}
		if status != "" && d.Status != status {
			continue
		}
		cp := *d
		cp.Event = Redacted(cp.Event)
		out = append(out, cp)
	}
	return out
}

// Close stops the deliverer and syncs the delivery state.
func (o *Outbox) Close() error {
	o.mu.Lock()
	started := o.started
	o.mu.Unlock()
	if started {
		select {
		case <-o.stop:
		default:
			close(o.stop)
		}
		<-o.done
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	o.syncLocked()
	err := o.f.Close()
	o.f = nil
	return err
}
