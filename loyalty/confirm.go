package loyalty

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Confirmations to the partner's confirmationUrl (seed §3.1): the outcome of each enrollment,
// replacement and opt-out, written to the ledger's outbox in the batch that books the outcome
// (ledger/loyalty_outbox.go), then posted signed and retried with backoff.

// Delivery limits.
const (
	// DeliverInterval is how often due confirmations are looked for.
	DeliverInterval = time.Second
	// DeliverTimeout bounds one POST.
	DeliverTimeout = 10 * time.Second
	// DeliverAttemptsMax: after this many failed attempts a confirmation ends FAILED (kept,
	// listed and retryable by an operator).
	DeliverAttemptsMax = 12
	// DeliverBackoffBase is the first retry delay, doubled per attempt up to DeliverBackoffMax.
	DeliverBackoffBase = time.Second
	DeliverBackoffMax  = 10 * time.Minute
	// DeliverBatchMax bounds the confirmations one round posts.
	DeliverBatchMax = 100
	// SignatureHeader carries "t=<unix seconds>,rs256=<base64url RSASSA-PKCS1-v1_5 SHA-256 of
	// "<t>.<body>">" under cardswitch's confirmation key (GET /loyalty/signing-key).
	SignatureHeader = "Loyalty-Signature"
)

// confirmed runs a ledger command and, when it is not refused, queues the confirmation in the
// same batch.
type confirmed[T any] struct {
	cmd  ledger.Command[ledger.Result[T]]
	url  string
	body []byte
}

func (c confirmed[T]) Kind() ledger.OpKind { return c.cmd.Kind() }
func (c confirmed[T]) Keys(k *ledger.Keys) { c.cmd.Keys(k) }
func (c confirmed[T]) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[T] {
	r := c.cmd.Apply(tx, env)
	if r.Refusal == nil {
		tx.QueueLoyaltyConfirmation(c.url, c.body, env)
	}
	return r
}

func withConfirmation[T any](cmd ledger.Command[ledger.Result[T]], url string, r Result) confirmed[T] {
	body, _ := json.Marshal(r)
	return confirmed[T]{cmd: cmd, url: url, body: body}
}

// queueAlone records the confirmation of an outcome that books nothing else (a failure, a card
// found enrolled already).
func (s *Service) queueAlone(url string, r Result) {
	if url == "" {
		return
	}
	body, _ := json.Marshal(r)
	if _, _, err := do(s, ledger.QueueConfirmation{URL: url, Body: body}); err != nil {
		s.log.Warn("loyalty confirmation not queued", "incident", r.IncidentID, "err", err)
	}
}

// Sign is the SignatureHeader value of body at t.
func (s *Service) Sign(t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	h := sha256.Sum256(append([]byte(ts+"."), body...))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.signKey, crypto.SHA256, h[:])
	if err != nil {
		panic("loyalty: signing: " + err.Error()) // a valid key always signs
	}
	return "t=" + ts + ",rs256=" + base64.RawURLEncoding.EncodeToString(sig)
}

// VerifySignature checks a SignatureHeader value against body with the confirmation key's
// public half (what a partner does).
func VerifySignature(pub *rsa.PublicKey, header string, body []byte) bool {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "rs256":
			sig = string(v)
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || ts == "" {
		return false
	}
	h := sha256.Sum256(append([]byte(ts+"."), body...))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], raw) == nil
}

// DeliverDue posts the confirmations due at now and records each attempt; it returns how many
// were delivered.
func (s *Service) DeliverDue(now time.Time) int {
	delivered := 0
	n := 0
	due := s.eng.State().LoyaltyConfirmations()
	// What was read must be durable before the rewards host hears of it (a pipelined engine
	// merges a batch before its flush).
	ctx, cancel := context.WithTimeout(context.Background(), durableWait)
	defer cancel()
	if s.eng.AwaitDurable(ctx) != nil {
		return 0
	}
	for _, c := range due {
		if c.Status != ledger.ConfirmationPending || c.NextAtUnixNano > now.UnixNano() {
			continue
		}
		if n++; n > DeliverBatchMax {
			break
		}
		err := s.post(c, now)
		a := ledger.ConfirmationAttempted{ID: c.ID, Delivered: err == nil}
		if err != nil {
			a.Error = err.Error()
			a.NextAtUnixNano = now.Add(backoff(c.Attempts + 1)).UnixNano()
			a.Final = c.Attempts+1 >= DeliverAttemptsMax
			s.log.Info("loyalty confirmation not delivered", "id", c.ID, "attempt", c.Attempts+1, "err", err)
		} else {
			delivered++
		}
		if _, _, err := do(s, a); err != nil {
			s.log.Warn("loyalty confirmation attempt not recorded", "id", c.ID, "err", err)
		}
	}
	return delivered
}

// durableWait bounds DeliverDue's wait for the batches it read to be durable: about one flush in
// normal operation.
const durableWait = 10 * time.Second

func backoff(attempts int) time.Duration {
	d := DeliverBackoffBase
	for i := 1; i < attempts && d < DeliverBackoffMax; i++ {
		d *= 2
	}
	return min(d, DeliverBackoffMax)
}

func (s *Service) post(c ledger.LoyaltyConfirmation, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), DeliverTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Loyalty-Confirmation-Id", c.ID)
	req.Header.Set(SignatureHeader, s.Sign(now.Unix(), c.Body))
	resp, err := s.confirmClient.Do(req)
	if err != nil {
		return fmt.Errorf("confirmation: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("confirmation: status %d", resp.StatusCode)
	}
	return nil
}
