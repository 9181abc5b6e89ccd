package kyc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPProvider is a provider reached over HTTP: POST {BaseURL}/verifications with the Request
// and the callback address; the provider answers 202 and later POSTs the Result, signed with the
// shared secret (SignatureHeader), to CallbackURL (the management API's POST /kyc/callback).
type HTTPProvider struct {
	BaseURL     string
	CallbackURL string
	// Client is used for the start request; its Timeout bounds it (DefaultStartTimeout when
	// the client has none).
	Client *http.Client
}

// DefaultStartTimeout bounds a start request when the client sets no timeout: a provider that
// does not answer in time is ErrUnavailable and the customer may start again.
const DefaultStartTimeout = 5 * time.Second

// startBody is what the provider receives.
type startBody struct {
	Request
	CallbackURL string `json:"callbackUrl"`
}

// Start asks the provider to verify r.
func (p *HTTPProvider) Start(ctx context.Context, r Request) error {
	body, err := json.Marshal(startBody{Request: r, CallbackURL: p.CallbackURL})
	if err != nil {
		return fmt.Errorf("kyc: start: %w", err)
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	if c.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.BaseURL, "/")+"/verifications", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("kyc: start: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// SignatureHeader carries a callback's signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the shared secret>". The time bounds replays (CallbackTolerance); a replay
// inside it is harmless anyway, since results are applied as guarded, idempotent transitions.
const SignatureHeader = "KYC-Signature"

// CallbackTolerance is how far a callback's signing time may be from the receiver's clock.
const CallbackTolerance = 5 * time.Minute

// Sign returns the signature header value for body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Signature errors.
var (
	ErrBadSignature = errors.New("kyc: callback signature invalid")
	ErrStale        = errors.New("kyc: callback signed too far from now")
)

// Verify checks a callback's signature header against body at now: the MAC compared in
// constant time, the signing time within CallbackTolerance.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" || len(secret) == 0 {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > CallbackTolerance || d < -CallbackTolerance {
		return ErrStale
	}
	return nil
}
