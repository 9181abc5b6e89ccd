// Package kycsim simulates an eKYC provider speaking the HTTP protocol of kyc.HTTPProvider:
// POST /verifications takes a verification (202) and, after a delay, POSTs the result to the
// request's callbackUrl signed with the shared secret (kyc.SignatureHeader). The outcome follows
// the sandbox convention of real providers: a last name containing "reject" is REJECTED, one
// containing "review" goes to MANUAL_REVIEW first and is decided ReviewOutcome after
// ReviewDelay, any other gets Default (APPROVED unless set).
package kycsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/kyc"
)

// Config of the simulator. Zero values have the stated defaults.
type Config struct {
	Secret        []byte        // shared with cardswitch (kyc.callbackSecret)
	Delay         time.Duration // from the start to the (first) result; 0: at once
	ReviewDelay   time.Duration // from MANUAL_REVIEW to the final outcome; 0: at once
	Default       kyc.Outcome   // outcome without a sandbox marker; default APPROVED
	ReviewOutcome kyc.Outcome   // final outcome after a manual review; default APPROVED
	// PendingMax bounds the verifications waiting for delivery; past it POST /verifications
	// answers 503 (default 1000).
	PendingMax int
	// Attempts bounds the deliveries of one result (default 5), BackoffBase the wait after
	// the first failed one, doubled each time (default 100ms).
	Attempts    int
	BackoffBase time.Duration
	Client      *http.Client // for callbacks; default one with a 5s timeout
	// After and Now are the clock (default time.After, time.Now): tests make waits instant.
	After func(time.Duration) <-chan time.Time
	Now   func() time.Time
}

// Simulator is the provider. It owns one goroutine per pending verification; Close stops them
// and waits.
type Simulator struct {
	cfg     Config
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending int
}

// New returns a simulator.
func New(cfg Config) *Simulator {
	if cfg.Default == "" {
		cfg.Default = kyc.Approved
	}
	if cfg.ReviewOutcome == "" {
		cfg.ReviewOutcome = kyc.Approved
	}
	if cfg.PendingMax <= 0 {
		cfg.PendingMax = 1000
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 100 * time.Millisecond
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Simulator{cfg: cfg, ctx: ctx, cancel: cancel}
}

// Close stops the pending deliveries and waits for their goroutines.
func (s *Simulator) Close() {
	s.cancel()
	s.wg.Wait()
}

type startBody struct {
	kyc.Request
	CallbackURL string `json:"callbackUrl"`
}

// ServeHTTP answers POST /verifications.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/verifications" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var in startBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil ||
		in.Reference == "" || in.CustomerID == "" || in.CallbackURL == "" {
		http.Error(w, `{"error":"reference, customerId and callbackUrl are required"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.pending >= s.cfg.PendingMax {
		s.mu.Unlock()
		http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
		return
	}
	s.pending++
	s.mu.Unlock()
	s.wg.Add(1)
	go s.run(in)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"id": in.Reference, "status": "PENDING"})
}

// Outcome is the sandbox rule for a last name.
func (s *Simulator) Outcome(lastName string) kyc.Outcome {
	l := strings.ToLower(lastName)
	switch {
	case strings.Contains(l, "reject"):
		return kyc.Rejected
	case strings.Contains(l, "review"):
		return kyc.ManualReview
	}
	return s.cfg.Default
}

// run delivers the verification's result(s) after their delays.
func (s *Simulator) run(in startBody) {
	defer s.wg.Done()
	defer func() { s.mu.Lock(); s.pending--; s.mu.Unlock() }()
	outcome := s.Outcome(in.LastName)
	if !s.wait(s.cfg.Delay) || !s.deliver(in, outcome) {
		return
	}
	if outcome == kyc.ManualReview && s.wait(s.cfg.ReviewDelay) {
		s.deliver(in, s.cfg.ReviewOutcome)
	}
}

func (s *Simulator) wait(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	select {
	case <-s.cfg.After(d):
		return true
	case <-s.ctx.Done():
		return false
	}
}

// deliver POSTs a signed result, retrying with backoff; it reports whether it was taken (2xx).
// A 4xx other than 429 is final (the receiver refused it: a stale or unknown verification).
func (s *Simulator) deliver(in startBody, o kyc.Outcome) bool {
	body, _ := json.Marshal(kyc.Result{Reference: in.Reference, CustomerID: in.CustomerID, Outcome: o})
	backoff := s.cfg.BackoffBase
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if !s.wait(backoff) {
				return false
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, in.CallbackURL, bytes.NewReader(body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(kyc.SignatureHeader, kyc.Sign(s.cfg.Secret, s.cfg.Now(), body))
		resp, err := s.cfg.Client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return true
		case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
			return false
		}
	}
	return false
}
