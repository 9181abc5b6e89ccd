package loyalty

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/loyalty/pancrypt"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Host is the rewards host (MRS) as cardswitch calls it: one SOAP operation with its fields. A
// status code, 0 or not, is an answer (a value); error is reserved for no answer:
// ErrHostUnavailable when the call certainly changed nothing, ErrOutcomeUnknown when a change
// may have been applied without its answer reaching us.
type Host interface {
	Call(ctx context.Context, op string, fields []mrswire.Field) (mrswire.Response, error)
	// SealPAN seals a card number to the host's key for bankAccountNumber.
	SealPAN(ctx context.Context, pan tokenvault.PAN) (pancrypt.Envelope, error)
}

// Errors of a call without an answer.
var (
	ErrHostUnavailable = errors.New("loyalty: rewards host unavailable")
	ErrOutcomeUnknown  = errors.New("loyalty: rewards host outcome unknown")
)

// Defaults of the client (ClientConfig zero values).
const (
	// DefaultAttemptTimeout bounds one attempt (connect, send, answer); past it the attempt is
	// abandoned as without an answer.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultAttempts is how many times a call is tried at most.
	DefaultAttempts = 3
	// DefaultBackoff is the wait before the second attempt; it doubles up to MaxBackoff.
	DefaultBackoff = 100 * time.Millisecond
	MaxBackoff     = 2 * time.Second
)

// safeToRepeat are the operations a retry cannot apply twice: the reads, and enroll (a repeated
// enroll of the same card for the same customer answers -50 with the account the first made).
// The others change state and are repeated only when the host answered -1001 (it did nothing)
// or the connection was refused (the request never left).
var safeToRepeat = map[string]bool{
	mrswire.OpEnroll: true, mrswire.OpGetCustomerAccounts: true, mrswire.OpGetCustomerDetails: true,
	mrswire.OpGetRewardCatalog: true, mrswire.OpGetRewardItems: true, mrswire.OpGetPointDetails: true,
}

// ClientConfig configures the SOAP client.
type ClientConfig struct {
	URL            string       // the host's base URL (loyalty.rewardsHost)
	HTTP           *http.Client // nil: a client of its own; its Timeout is not used (AttemptTimeout is)
	AttemptTimeout time.Duration
	Attempts       int
	Backoff        time.Duration
	// Sleep waits between attempts (tests pass one that does not wait); nil: a timer that ends
	// early with ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client is the SOAP client of the rewards host.
type Client struct {
	cfg ClientConfig

	mu  sync.Mutex
	key *rsa.PublicKey // the host's, fetched once
}

// NewClient returns a client for cfg with its defaults applied.
func NewClient(cfg ClientConfig) *Client {
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	return &Client{cfg: cfg}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attemptError is why one attempt got no answer; sent reports whether the request may have
// reached the host.
type attemptError struct {
	err  error
	sent bool
}

// Call runs op, retrying as safeToRepeat says with exponential backoff.
func (c *Client) Call(ctx context.Context, op string, fields []mrswire.Field) (mrswire.Response, error) {
	body := mrswire.EncodeRequest(op, fields)
	wait := c.cfg.Backoff
	var last *attemptError
	for attempt := 1; ; attempt++ {
		resp, aerr := c.attempt(ctx, op, body)
		if aerr == nil {
			if resp.StatusCode != mrswire.StatusServerError || attempt >= c.cfg.Attempts {
				return resp, nil // an answer; a last -1001 is the host's clear "not done"
			}
		} else {
			last = aerr
			if aerr.sent && !safeToRepeat[op] {
				return mrswire.Response{}, fmt.Errorf("%w: %s: %v", ErrOutcomeUnknown, op, aerr.err)
			}
			if attempt >= c.cfg.Attempts || ctx.Err() != nil {
				break
			}
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			break
		}
		wait = min(2*wait, MaxBackoff)
	}
	if last != nil && last.sent && !safeToRepeat[op] {
		return mrswire.Response{}, fmt.Errorf("%w: %s: %v", ErrOutcomeUnknown, op, last.err)
	}
	if last == nil {
		return mrswire.Response{}, fmt.Errorf("%w: %s: %v", ErrHostUnavailable, op, ctx.Err())
	}
	return mrswire.Response{}, fmt.Errorf("%w: %s: %v", ErrHostUnavailable, op, last.err)
}

func (c *Client) attempt(ctx context.Context, op string, body []byte) (mrswire.Response, *attemptError) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.cfg.URL+mrswire.PathSOAP, bytes.NewReader(body))
	if err != nil {
		return mrswire.Response{}, &attemptError{err: err}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+op+`"`)
	res, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return mrswire.Response{}, &attemptError{err: err, sent: !refused(err)}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, mrswire.MaxBodyBytes+1))
	if err != nil {
		return mrswire.Response{}, &attemptError{err: err, sent: true}
	}
	if res.StatusCode != http.StatusOK {
		// A 4xx is the host refusing the envelope before doing anything; a 5xx may have run.
		return mrswire.Response{}, &attemptError{err: fmt.Errorf("HTTP %d", res.StatusCode), sent: res.StatusCode >= 500}
	}
	resp, err := mrswire.DecodeResponse(op, raw)
	if err != nil {
		return mrswire.Response{}, &attemptError{err: err, sent: true}
	}
	return resp, nil
}

// refused reports a connection that was never made (nothing was sent).
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// SealPAN seals pan to the host's public key (fetched from the host once).
func (c *Client) SealPAN(ctx context.Context, pan tokenvault.PAN) (pancrypt.Envelope, error) {
	k, err := c.hostKey(ctx)
	if err != nil {
		return pancrypt.Envelope{}, err
	}
	return pancrypt.Seal(k, []byte(pan.Reveal()))
}

func (c *Client) hostKey(ctx context.Context) (*rsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != nil {
		return c.key, nil
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.cfg.URL+mrswire.PathPublicKey, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrHostUnavailable, err)
	}
	res, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrHostUnavailable, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 16<<10))
	k, err := ParseRSAPublicKey(raw)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: public key: HTTP %d", ErrHostUnavailable, res.StatusCode)
	}
	c.key = k
	return k, nil
}

// ParseRSAPublicKey reads a PEM RSA public key (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY").
func ParseRSAPublicKey(raw []byte) (*rsa.PublicKey, error) {
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("loyalty: not a PEM key")
	}
	if b.Type == "RSA PUBLIC KEY" {
		return x509.ParsePKCS1PublicKey(b.Bytes)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("loyalty: key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("loyalty: not an RSA key")
	}
	return rk, nil
}

// handlerTransport is an http.RoundTripper into an http.Handler in the same process: the
// in-process rewards host speaks the real protocol without a port. A handler that aborts
// (http.ErrAbortHandler: the dropped-connection fault) reads as a connection closed without an
// answer.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (res *http.Response, err error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if r != http.ErrAbortHandler {
					panic(r)
				}
				err = &net.OpError{Op: "read", Net: "inproc", Err: io.ErrUnexpectedEOF}
			}
		}()
		t.h.ServeHTTP(rec, req)
	}()
	if err != nil {
		return nil, err
	}
	if req.Context().Err() != nil {
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: rec.status, Header: rec.header, Body: io.NopCloser(&rec.body),
		Request: req, ContentLength: int64(rec.body.Len())}, nil
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

// InProcessClient is a client of a handler in this process (the default rewards host).
func InProcessClient(h http.Handler, cfg ClientConfig) *Client {
	cfg.URL = "http://rewards-host.inproc"
	cfg.HTTP = &http.Client{Transport: handlerTransport{h: h}}
	return NewClient(cfg)
}
