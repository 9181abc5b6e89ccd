package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
)

// The loyalty confirmation outbox (seed §3.1): each enrollment, replacement and opt-out outcome
// for a partner that gave a confirmationUrl is a row written in the batch that books the outcome
// (or, for a failure that changes nothing else, in a batch of its own), so a confirmation is
// never lost once the outcome is durable. The loyalty package posts due rows and records each
// attempt here; a delivered row is deleted, one that keeps failing ends FAILED (kept, listed).

// TableLoyaltyConfirmation is the outbox's journal table.
const TableLoyaltyConfirmation = "loyalty_confirmation"

// Confirmation statuses.
const (
	ConfirmationPending = "PENDING"
	ConfirmationFailed  = "FAILED"
)

// LoyaltyConfirmation is one confirmation to post.
type LoyaltyConfirmation struct {
	ID                string
	URL               string
	Body              []byte // the JSON posted (the Result)
	Status            string
	Attempts          int
	NextAtUnixNano    int64
	LastError         string
	CreatedAtUnixNano int64
}

type confirmationTable map[string]LoyaltyConfirmation

func (t confirmationTable) get(k string) (LoyaltyConfirmation, bool) { v, ok := t[k]; return v, ok }

// ConfirmationID is a confirmation's id: a hash of its address, body and time (the same on
// every replay of the batch).
func ConfirmationID(url string, body []byte, atUnixNano int64) string {
	h := sha256.New()
	h.Write([]byte(url))
	h.Write([]byte{0})
	h.Write(body)
	h.Write([]byte(strconv.FormatInt(atUnixNano, 10)))
	return "lc_" + hex.EncodeToString(h.Sum(nil))[:24]
}

// QueueLoyaltyConfirmation writes a pending confirmation in the batch (nothing without a URL).
func (tx *Tx) QueueLoyaltyConfirmation(url string, body []byte, env *Env) {
	if url == "" {
		return
	}
	now := env.Now.UnixNano()
	c := LoyaltyConfirmation{ID: ConfirmationID(url, body, now), URL: url, Body: body, Status: ConfirmationPending,
		NextAtUnixNano: now, CreatedAtUnixNano: now}
	tx.loyalty.confirmations.put(c.ID, c)
}

// QueueConfirmation records a confirmation in a batch of its own (an outcome that books nothing
// else: a failed enrollment).
type QueueConfirmation struct {
	URL  string
	Body []byte
}

func (QueueConfirmation) Kind() OpKind { return OpLoyalty }
func (QueueConfirmation) Keys(*Keys)   {}

func (c QueueConfirmation) Apply(tx *Tx, env *Env) Result[struct{}] {
	tx.QueueLoyaltyConfirmation(c.URL, c.Body, env)
	return Result[struct{}]{}
}

// ConfirmationAttempted records one delivery attempt: delivered deletes the row; otherwise the
// attempt is counted and the next one set at NextAtUnixNano, or the row ends FAILED when Final.
type ConfirmationAttempted struct {
	ID             string
	Delivered      bool
	Error          string
	NextAtUnixNano int64
	Final          bool
}

func (ConfirmationAttempted) Kind() OpKind { return OpLoyalty }
func (ConfirmationAttempted) Keys(*Keys)   {}

func (c ConfirmationAttempted) Apply(tx *Tx, _ *Env) Result[struct{}] {
	cur, ok := tx.loyalty.confirmations.get(c.ID)
	if !ok || cur.Status != ConfirmationPending {
		return Result[struct{}]{}
	}
	if c.Delivered {
		tx.loyalty.confirmations.del(c.ID)
		return Result[struct{}]{}
	}
	cur.Attempts++
	cur.LastError, cur.NextAtUnixNano = c.Error, c.NextAtUnixNano
	if c.Final {
		cur.Status = ConfirmationFailed
	}
	tx.loyalty.confirmations.put(c.ID, cur)
	return Result[struct{}]{}
}

// RetryConfirmation makes a FAILED confirmation pending again (an operator's replay).
type RetryConfirmation struct{ ID string }

func (RetryConfirmation) Kind() OpKind { return OpLoyalty }
func (RetryConfirmation) Keys(*Keys)   {}

func (c RetryConfirmation) Apply(tx *Tx, env *Env) Result[LoyaltyConfirmation] {
	cur, ok := tx.loyalty.confirmations.get(c.ID)
	if !ok {
		return Result[LoyaltyConfirmation]{Refusal: refuse(NotFound, "CONFIRMATION_NOT_FOUND", "no such confirmation")}
	}
	cur.Status, cur.Attempts, cur.NextAtUnixNano = ConfirmationPending, 0, env.Now.UnixNano()
	tx.loyalty.confirmations.put(c.ID, cur)
	return Result[LoyaltyConfirmation]{Value: cur}
}

// LoyaltyConfirmations lists the committed confirmations (pending and failed), oldest first
// (queries and the delivery loop).
func (s *State) LoyaltyConfirmations() []LoyaltyConfirmation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]LoyaltyConfirmation, 0, len(s.loyalty.confirmations))
	for _, c := range s.loyalty.confirmations {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAtUnixNano != out[j].CreatedAtUnixNano {
			return out[i].CreatedAtUnixNano < out[j].CreatedAtUnixNano
		}
		return out[i].ID < out[j].ID
	})
	return out
}
