package mgmt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Webhook event types (docs/api.md, "Events").
const (
	EventCardStateChanged     = "card.state_changed"
	EventAuthorizationDecided = "authorization.decided"
	EventBalanceLow           = "balance.low"
	deliveryPending           = "PENDING"
	deliveryDelivered         = "DELIVERED"
	deliveryFailed            = "FAILED"
	webhookTimeout            = 10 * time.Second
	webhookBackoffMax         = 10 * time.Minute
	webhookAttemptsMax        = 12      // then FAILED; replayable
	webhookPendingMax         = 100_000 // beyond: new events are dropped and counted
	webhookRetainMax          = 10_000  // delivered/failed events kept for replay
	webhookSyncInterval       = 50 * time.Millisecond
	webhookSignatureHeader    = "Cardswitch-Signature"
	webhookEventIDHeader      = "Cardswitch-Event-Id"
	webhookEventTypeHeader    = "Cardswitch-Event-Type"
)

// HTTPDoer sends a webhook request (net/http's Client satisfies it).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Event is one outbound notification.
type Event struct {
	ID        string          `json:"id"`
	Seq       uint64          `json:"seq"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// delivery is an event with its delivery state; one such record is appended to the outbox
// file for every change of state, and the last record of an event wins on recovery.
type delivery struct {
	Event     Event     `json:"event"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"nextAt"`
	LastError string    `json:"lastError,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type outboxConfig struct {
	path   string
	url    string
	secret []byte
	client HTTPDoer
	clock  func() time.Time
	log    *slog.Logger
}

// outbox is the durable webhook outbox: an append-only file of delivery records in the data
// directory (synced by a group commit at most webhookSyncInterval after an event), compacted on
// start; one deliverer goroutine sends due events with exponential backoff.
type outbox struct {
	cfg         outboxConfig
	backoffBase time.Duration

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	dirty   bool
	byID    map[string]*delivery
	order   []*delivery // by seq
	seq     uint64
	pending int
	dropped uint64

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

func openOutbox(cfg outboxConfig) (*outbox, error) {
	o := &outbox{cfg: cfg, backoffBase: time.Second, byID: map[string]*delivery{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.client == nil {
		o.cfg.client = &http.Client{Timeout: webhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.url == "" {
		return o, nil // disabled: nothing is recorded
	}
	if f, err := os.Open(cfg.path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var d delivery
			if json.Unmarshal(sc.Bytes(), &d) != nil || d.Event.ID == "" {
				continue // torn last line
			}
			if prev, ok := o.byID[d.Event.ID]; ok {
				*prev = d
			} else {
				dd := d
				o.byID[d.Event.ID] = &dd
				o.order = append(o.order, &dd)
			}
			if d.Event.Seq > o.seq {
				o.seq = d.Event.Seq
			}
		}
		f.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mgmt: webhook outbox: %w", err)
	}
	sort.Slice(o.order, func(i, j int) bool { return o.order[i].Event.Seq < o.order[j].Event.Seq })
	o.trim()
	for _, d := range o.order {
		if d.Status == deliveryPending {
			o.pending++
		}
	}
	// Compact: rewrite the retained records, one line each.
	tmp := cfg.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mgmt: webhook outbox: %w", err)
	}
	bw := bufio.NewWriter(f)
	for _, d := range o.order {
		line, _ := json.Marshal(d)
		bw.Write(append(line, '\n'))
	}
	if err := errors.Join(bw.Flush(), f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("mgmt: webhook outbox: %w", err)
	}
	if err := os.Rename(tmp, cfg.path); err != nil {
		return nil, fmt.Errorf("mgmt: webhook outbox: %w", err)
	}
	if o.f, err = os.OpenFile(cfg.path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("mgmt: webhook outbox: %w", err)
	}
	o.w = bufio.NewWriter(o.f)
	return o, nil
}

// trim drops the oldest delivered or failed records beyond webhookRetainMax. Caller holds mu
// (or owns o exclusively).
func (o *outbox) trim() {
	terminal := 0
	for _, d := range o.order {
		if d.Status != deliveryPending {
			terminal++
		}
	}
	if terminal <= webhookRetainMax {
		return
	}
	drop := terminal - webhookRetainMax
	kept := o.order[:0]
	for _, d := range o.order {
		if drop > 0 && d.Status != deliveryPending {
			delete(o.byID, d.Event.ID)
			drop--
			continue
		}
		kept = append(kept, d)
	}
	o.order = kept
}

func (o *outbox) enabled() bool { return o.cfg.url != "" }

// Start runs the deliverer and the group-commit syncer until Close.
func (o *outbox) Start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || !o.enabled() {
		return
	}
	o.started = true
	go o.run()
}

// publish records an event; it never blocks on the network. The record reaches the disk with
// the next group commit.
func (o *outbox) publish(typ string, data any) {
	if !o.enabled() {
		return
	}
	raw, err := json.Marshal(data)
	if err != nil {
		panic("mgmt: event data: " + err.Error())
	}
	now := o.cfg.clock().UTC()
	o.mu.Lock()
	if o.f == nil {
		o.mu.Unlock()
		return
	}
	if o.pending >= webhookPendingMax {
		o.dropped++
		o.mu.Unlock()
		o.cfg.log.Warn("webhook outbox full: event dropped", "type", typ)
		return
	}
	o.seq++
	d := &delivery{Event: Event{ID: "evt_" + randID(12), Seq: o.seq, Type: typ, CreatedAt: now, Data: raw},
		Status: deliveryPending, NextAt: now, UpdatedAt: now}
	o.byID[d.Event.ID] = d
	o.order = append(o.order, d)
	o.pending++
	o.appendLocked(d)
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) appendLocked(d *delivery) {
	line, _ := json.Marshal(d)
	o.w.Write(append(line, '\n'))
	o.dirty = true
}

func (o *outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) syncLocked() {
	if !o.dirty || o.f == nil {
		return
	}
	if err := errors.Join(o.w.Flush(), o.f.Sync()); err != nil {
		o.cfg.log.Error("webhook outbox sync failed", "err", err)
		return
	}
	o.dirty = false
}

func (o *outbox) run() {
	defer close(o.done)
	sync := time.NewTicker(webhookSyncInterval)
	defer sync.Stop()
	for {
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

// due picks the oldest pending event whose time has come, or says how long to wait.
func (o *outbox) due(now time.Time) (*delivery, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	wait := time.Second
	for _, d := range o.order {
		if d.Status != deliveryPending {
			continue
		}
		if !d.NextAt.After(now) {
			o.syncLocked() // never send an event before it is durable
			cp := *d
			return &cp, 0
		}
		if w := d.NextAt.Sub(now); w < wait {
			wait = w
		}
	}
	return nil, wait
}

func (o *outbox) attempt(d *delivery) {
	err := o.send(d.Event)
	now := time.Now().UTC()
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, ok := o.byID[d.Event.ID]
	if !ok || cur.Status != deliveryPending || cur.Attempts != d.Attempts {
		return // replayed or trimmed meanwhile
	}
	cur.Attempts++
	cur.UpdatedAt = now
	if err == nil {
		cur.Status, cur.LastError = deliveryDelivered, ""
		o.pending--
	} else {
		cur.LastError = err.Error()
		if cur.Attempts >= webhookAttemptsMax {
			cur.Status = deliveryFailed
			o.pending--
		} else {
			cur.NextAt = now.Add(o.backoff(cur.Attempts))
		}
	}
	o.appendLocked(cur)
	o.trim()
}

func (o *outbox) backoff(attempts int) time.Duration {
	d := o.backoffBase
	for i := 1; i < attempts && d < webhookBackoffMax; i++ {
		d *= 2
	}
	return min(d, webhookBackoffMax)
}

// signature is the Cardswitch-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the webhook secret>.
func signature(secret []byte, t int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	ts := strconv.FormatInt(t, 10)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func (o *outbox) send(ev Event) error {
	body, _ := json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	}{ev.ID, ev.Type, ev.CreatedAt, ev.Data})
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhookEventIDHeader, ev.ID)
	req.Header.Set(webhookEventTypeHeader, ev.Type)
	req.Header.Set(webhookSignatureHeader, signature(o.cfg.secret, time.Now().Unix(), body))
	resp, err := o.cfg.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: status %d", resp.StatusCode)
	}
	return nil
}

// replay makes retained events pending again: the ones named, or all from fromSeq on.
func (o *outbox) replay(ids []string, fromSeq uint64) int {
	now := time.Now().UTC()
	o.mu.Lock()
	n := 0
	mark := func(d *delivery) {
		if d.Status != deliveryPending {
			o.pending++
		}
		d.Status, d.Attempts, d.NextAt, d.LastError, d.UpdatedAt = deliveryPending, 0, now, "", now
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

// list returns retained events newest first, below seq before (0: from the newest).
func (o *outbox) list(before uint64, limit int, status string) []delivery {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []delivery
	for i := len(o.order) - 1; i >= 0 && len(out) < limit; i-- {
		d := o.order[i]
		if before != 0 && d.Event.Seq >= before {
			continue
		}
		if status != "" && d.Status != status {
			continue
		}
		out = append(out, *d)
	}
	return out
}

// Close stops the deliverer and syncs the outbox.
func (o *outbox) Close() error {
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

func randID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("mgmt: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}
