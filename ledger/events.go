package ledger

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/authz"
)

// Events are facts the ledger records while it books them: a Tx collects them and its batch
// writes them as rows of the event table, in the same durable write as the change they report
// (docs/decisions/0004-events-in-the-batch.md). Delivery (webhooks) reads them back from the
// journal after the batch is durable; nothing outside the batch decides what happened.

// Tables of the event log: rows keyed by their sequence number (EventKey).
const (
	TableEvent = "event"
	TableAudit = "audit"
)

// EventType names what an event reports.
type EventType uint8

// Event types (docs/api.md, "Events").
const (
	EventAuthorizationDecided EventType = 1 // a money message decided
	EventCardStateChanged     EventType = 2 // a card's state or lock reason changed
	EventBalanceLow           EventType = 3 // a balance went under its low-balance threshold
	// EventImported is an event an earlier version's webhook outbox had recorded and not yet
	// delivered when the switch was upgraded: Payload is its envelope as that version made it
	// (id, type, createdAt, data), delivered as it was so receivers recognise its id.
	EventImported EventType = 4
	// EventAgreementCreated and EventAgreementCancelled report a stored-credential agreement's
	// creation (an approved initial operation, or the API) and its end (agreement.go).
	EventAgreementCreated   EventType = 5
	EventAgreementCancelled EventType = 6
	// EventTSHOTP carries a one-time password to the cardholder's contact for the token service
	// hub's step-up (tsh.go): Payload is its data as delivered. The journal seals it at rest
	// like every row; the outbox hides the OTP from listings and forgets it once delivered.
	EventTSHOTP EventType = 7
	// EventBalanceStateChanged reports a balance moving between ACTIVE, BLOCKED and CLOSED
	// (balance_state.go); the customer.* events a customer's lifecycle and KYC
	// (customer_lifecycle.go). Their states are in PreviousStatus and Status.
	EventBalanceStateChanged EventType = 8
	EventCustomerUpdated     EventType = 9
	EventCustomerDeactivated EventType = 10
	EventCustomerReactivated EventType = 11
	EventCustomerDeleted     EventType = 12
	EventCustomerKYCChanged  EventType = 13
)

// String is the event type's name on the wire.
func (t EventType) String() string {
	switch t {
	case EventAuthorizationDecided:
		return "authorization.decided"
	case EventCardStateChanged:
		return "card.state_changed"
	case EventBalanceLow:
		return "balance.low"
	case EventImported:
		return "imported"
	case EventAgreementCreated:
		return "agreement.created"
	case EventAgreementCancelled:
		return "agreement.cancelled"
	case EventTSHOTP:
		return "tsh.otp"
	case EventBalanceStateChanged:
		return "balance.state_changed"
	case EventCustomerUpdated:
		return "customer.updated"
	case EventCustomerDeactivated:
		return "customer.deactivated"
	case EventCustomerReactivated:
		return "customer.reactivated"
	case EventCustomerDeleted:
		return "customer.deleted"
	case EventCustomerKYCChanged:
		return "customer.kyc_changed"
	}
	return "unknown"
}

// Event is one recorded fact. It carries ids and amounts, never a PAN, CVC2, PIN or key. Only the
// fields of its Type are set.
type Event struct {
	Seq        uint64 // assigned by the ledger, increasing by one per event
	Type       EventType
	AtUnixNano int64 // the batch's time
	CardID     string
	BalanceID  string
	Currency   string // of the balance

	// authorization.decided
	AuthKey     string // the message's original key (OriginalKey): reconciles events with auth records
	MTI         string // base MTI
	Kind        authz.Kind
	AmountMinor int64
	Action      authz.ActionCode

	// card.state_changed
	PreviousState      authz.CardState
	State              authz.CardState
	PreviousLockReason authz.LockReason
	LockReason         authz.LockReason
	Source             string // "authorization", or the management channel ("admin", "external:…")
	Actor              string // "switch", or the management actor's name

	// balance.low
	BalanceKind    string
	CustomerID     string
	Program        string
	AvailableMinor int64
	ThresholdMinor int64

	// imported: the envelope of an earlier version's event (JSON)
	Payload []byte

	// agreement.created, agreement.cancelled (CardID, CustomerID and Source are set too)
	AgreementRef string // field 48 subelement 21
	MerchantID   string
	TokenID      string

	// balance.state_changed (balance states) and customer.* (customer states, or KYC states
	// for customer.kyc_changed); BalanceID or CustomerID, Source and Actor are set too.
	PreviousStatus string
	Status         string
}

// AuditRecord is one management change: who, through which channel, what, and the resource before
// and after as JSON views (never a PAN, CVC2, PIN or key). It is a row of the batch that books
// the change.
type AuditRecord struct {
	Seq          uint64
	AtUnixNano   int64
	Actor        string
	Channel      string
	Role         string
	Action       string
	ResourceType string
	ResourceID   string
	Before       []byte // JSON, or nil
	After        []byte // JSON, or nil
	// CorrelationID is the caller's id of the session the change belongs to (the token
	// service hub's x-correlation-id), or "".
	CorrelationID string
	// Reason is the operator's free-text reason for the change (the Audit-Reason header of an
	// admin request, which the operator panel asks for), or "".
	Reason string
}

// EventLog reads back the event and audit rows the batches wrote (the journal implements it).
type EventLog interface {
	// Events returns at most max events with a sequence above afterSeq, in sequence order.
	Events(afterSeq uint64, max int) ([]Event, error)
	// DeleteEvents forgets the events up to and including throughSeq (delivered and past
	// retention); the sequence is not reused.
	DeleteEvents(throughSeq uint64) error
	// Audits returns at most max audit records below beforeSeq (0: from the newest), newest
	// first, keeping those keep accepts.
	Audits(beforeSeq uint64, max int, keep func(*AuditRecord) bool) ([]AuditRecord, error)
}

// EventKey is the row key of a sequence number: fixed width, so the store's key order is the
// sequence order.
func EventKey(seq uint64) string {
	var b [16]byte
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = hex[seq&15]
		seq >>= 4
	}
	return string(b[:])
}

// ParseEventKey is the inverse of EventKey.
func ParseEventKey(key string) (uint64, bool) {
	if len(key) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(key, 16, 64)
	return v, err == nil
}

// sequences are the last sequence numbers committed; the engine goroutine advances them in
// Commit, delivery reads them.
type sequences struct {
	event atomic.Uint64
	audit atomic.Uint64
}

// LastEventSeq is the sequence of the last committed event (0: none yet).
func (s *State) LastEventSeq() uint64 { return s.seq.event.Load() }

// RestoreSequences sets the last event and audit sequences found in the store (recovery), so
// the next batch continues after them.
func (s *State) RestoreSequences(lastEvent, lastAudit uint64) {
	s.seq.event.Store(lastEvent)
	s.seq.audit.Store(lastAudit)
}

// SetBatchTime is the time stamped on the events of the batch (the engine's Env.Now).
func (tx *Tx) SetBatchTime(now time.Time) { tx.now = now.UnixNano() }

// emit records an event in the batch with the next sequence number.
func (tx *Tx) emit(e Event) {
	e.Seq = tx.s.seq.event.Load() + uint64(len(tx.events)) + 1
	if e.AtUnixNano == 0 {
		e.AtUnixNano = tx.now
	}
	tx.events = append(tx.events, e)
}

// Audit records a management change in the batch that books it.
func (tx *Tx) Audit(a AuditRecord) {
	a.Seq = tx.s.seq.audit.Load() + uint64(len(tx.audits)) + 1
	if a.AtUnixNano == 0 {
		a.AtUnixNano = tx.now
	}
	tx.audits = append(tx.audits, a)
}

// Events lists the events the batch recorded so far (tests).
func (tx *Tx) Events() []Event { return tx.events }

// emitDecided records authorization.decided for a money message or balance inquiry that was
// decided (not a format or system error) on a known card. Called only when Env.AuthorizationEvents.
func (tx *Tx) emitDecided(req *authz.Request, resp authz.Response, env *Env) {
	if !(req.Kind.MovesMoney() || req.Kind == authz.KindBalanceInquiry) ||
		resp.Action == authz.FormatError || resp.Action == authz.SystemError {
		return
	}
	cardID, balanceID := tx.AccountOf(req)
	if cardID == "" {
		return
	}
	e := Event{Type: EventAuthorizationDecided, AtUnixNano: env.Now.UnixNano(), CardID: cardID, BalanceID: balanceID,
		AuthKey: OriginalKey(req.BaseMTI, req.STAN, req.F7, req.AcquirerID), MTI: req.BaseMTI, Kind: req.Kind,
		AmountMinor: req.AmountMinor, Action: resp.Action}
	if b, ok := tx.Balance(balanceID); ok {
		e.Currency = b.Currency
	}
	tx.emit(e)
}

// ImportEvents records the envelopes of events an earlier version's webhook outbox had not
// delivered (EventImported), so that delivery goes on from the journal. Importing the same
// envelope twice (a crash before the old file was set aside) delivers it twice with the same id:
// delivery is at least once.
type ImportEvents struct{ Payloads [][]byte }

func (ImportEvents) Kind() OpKind { return OpImportEvents }
func (ImportEvents) Keys(*Keys)   {}

func (c ImportEvents) Apply(tx *Tx, _ *Env) int {
	for _, p := range c.Payloads {
		tx.emit(Event{Type: EventImported, Payload: p})
	}
	return len(c.Payloads)
}

// EmitCardState records card.state_changed when a card's state or lock reason differs between
// prev (as the batch read it before the change) and next.
func (tx *Tx) EmitCardState(prev, next Card, source, actor string) {
	if prev.State == next.State && prev.LockReason == next.LockReason {
		return
	}
	tx.emit(Event{Type: EventCardStateChanged, CardID: next.ID, BalanceID: next.BalanceID,
		PreviousState: prev.State, State: next.State, PreviousLockReason: prev.LockReason,
		LockReason: next.LockReason, Source: source, Actor: actor})
}

// noteLow records balance.low when next goes under its threshold and the balance as the batch
// holds it was not under it. Only balances with a threshold get here (PutBalance).
func (tx *Tx) noteLow(next *Balance) {
	if !next.IsLow() {
		return
	}
	if prev, ok := tx.balances.get(next.ID); ok && prev.IsLow() {
		return
	}
	tx.emit(Event{Type: EventBalanceLow, BalanceID: next.ID, Currency: next.Currency, BalanceKind: next.Kind,
		CustomerID: next.CustomerID, Program: next.Program, AvailableMinor: next.AvailableMinor(),
		ThresholdMinor: next.LowMarkMinor})
}

// appendEventChanges adds the batch's event and audit rows to its changes.
func (tx *Tx) appendEventChanges(dst []Change) []Change {
	for i := range tx.events {
		dst = append(dst, Change{Table: TableEvent, Key: EventKey(tx.events[i].Seq), Row: &tx.events[i]})
	}
	for i := range tx.audits {
		dst = append(dst, Change{Table: TableAudit, Key: EventKey(tx.audits[i].Seq), Row: &tx.audits[i]})
	}
	return dst
}

// commitEvents advances the committed sequences past the batch's rows.
func (tx *Tx) commitEvents() {
	if n := len(tx.events); n > 0 {
		tx.s.seq.event.Add(uint64(n))
	}
	if n := len(tx.audits); n > 0 {
		tx.s.seq.audit.Add(uint64(n))
	}
}

// resetEvents drops the batch's events (Reset, Rollback).
func (tx *Tx) resetEvents() {
	clear(tx.events) // no references kept into the next batch
	tx.events = tx.events[:0]
	clear(tx.audits)
	tx.audits = tx.audits[:0]
}
