package mgmt

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
)

// AuditEntry is one management change: who, through which channel, when, what, and the resource
// before and after (API views: never a PAN, CVC2, PIN or key).
type AuditEntry struct {
	Seq          uint64          `json:"seq"`
	At           time.Time       `json:"at"`
	Actor        string          `json:"actor"`
	Channel      string          `json:"channel"`
	Role         string          `json:"role,omitempty"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resourceType"`
	ResourceID   string          `json:"resourceId"`
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
	// CorrelationID is the token service hub's x-correlation-id of a /tsh call.
	CorrelationID string `json:"correlationId,omitempty"`
	// Reason is the operator's reason for the change (the Audit-Reason header; audit_reason.go).
	Reason string `json:"reason,omitempty"`
}

// auditLog is the audit trail: audit rows of the ledger's journal (ledger/events.go), written in
// the batch of the change they describe (auditIn) or, for what changes nothing in the ledger (a
// card data read, a session), in a batch of their own (audit).
type auditLog struct {
	src ledger.EventLog
	log *slog.Logger
}

func entryOf(r *ledger.AuditRecord) AuditEntry {
	return AuditEntry{Seq: r.Seq, At: time.Unix(0, r.AtUnixNano).UTC(), Actor: r.Actor, Channel: r.Channel, Role: r.Role,
		Action: r.Action, ResourceType: r.ResourceType, ResourceID: r.ResourceID, Before: r.Before, After: r.After, CorrelationID: r.CorrelationID, Reason: r.Reason}
}

// list returns entries newest first with seq below before (0: from the newest), at most limit,
// keeping those match accepts. A read error is logged and ends the list early.
func (a *auditLog) list(before uint64, limit int, match func(*AuditEntry) bool) []AuditEntry {
	var out []AuditEntry
	_, err := a.src.Audits(before, limit, func(r *ledger.AuditRecord) bool {
		e := entryOf(r)
		if match(&e) {
			out = append(out, e)
			return true
		}
		return false
	})
	if err != nil {
		a.log.Error("audit trail not read", "err", err)
	}
	return out
}

// record builds the audit row of a change made by the call's actor. before/after are API views
// (or nil).
func (c *call) record(action, resourceType, resourceID string, before, after any) ledger.AuditRecord {
	r := ledger.AuditRecord{AtUnixNano: c.s.clock().UnixNano(), Actor: c.who.Name, Channel: c.who.Channel,
		Role: c.who.Role, Action: action, ResourceType: resourceType, ResourceID: resourceID, Reason: c.reason()}
	if before != nil {
		r.Before, _ = json.Marshal(before)
	}
	if after != nil {
		r.After, _ = json.Marshal(after)
	}
	return r
}

// auditIn records the audit entry in the batch of the change it describes: both are durable
// together or not at all.
func (c *call) auditIn(tx *ledger.Tx, action, resourceType, resourceID string, before, after any) {
	tx.Audit(c.record(action, resourceType, resourceID, before, after))
}

// inBatch is a management command whose audit entry (and events the ledger cannot know, such as
// the actor of a card change) are written by then in the batch that applies it, once it
// succeeded: the change and its record are durable together or not at all.
type inBatch[T any] struct {
	cmd  ledger.Command[ledger.Result[T]]
	then func(tx *ledger.Tx, after T)
}

func (b inBatch[T]) Kind() ledger.OpKind { return b.cmd.Kind() }
func (b inBatch[T]) Keys(k *ledger.Keys) { b.cmd.Keys(k) }

func (b inBatch[T]) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[T] {
	r := b.cmd.Apply(tx, env)
	if r.Refusal == nil {
		b.then(tx, r.Value)
	}
	return r
}

// execAudited runs cmd in the engine with its audit entry in the same batch: entry names the
// resource and gives its before/after views from the row the command left. Use it for every
// change; audit (a batch of its own) is for what changes nothing (reads, sessions, replays).
func execAudited[T any](c *call, cmd ledger.Command[ledger.Result[T]], action, resourceType string,
	entry func(after T) (id string, before, afterView any)) (T, *apiError) {
	return exec(c.s, inBatch[T]{cmd: cmd, then: func(tx *ledger.Tx, after T) {
		id, b, a := entry(after)
		c.auditIn(tx, action, resourceType, id, b, a)
	}})
}

// auditRecords is the command that writes audit entries in a batch of their own.
type auditRecords []ledger.AuditRecord

func (auditRecords) Kind() ledger.OpKind { return ledger.OpAudit }
func (auditRecords) Keys(*ledger.Keys)   {}

func (a auditRecords) Apply(tx *ledger.Tx, _ *ledger.Env) int {
	for _, r := range a {
		tx.Audit(r)
	}
	return len(a)
}

// audit records an entry in a batch of its own, for a call that changes nothing in the ledger
// (a read of card data, a session, a replay). A failure is logged.
func (c *call) audit(action, resourceType, resourceID string, before, after any) {
	r := c.record(action, resourceType, resourceID, before, after)
	ctx, cancel := c.s.engineCtx()
	defer cancel()
	if _, err := engine.Do(ctx, c.s.eng, auditRecords{r}); err != nil {
		c.s.log.Error("audit entry not written", "action", action, "resource", resourceID, "err", err)
	}
}

// importLegacyAudit moves the entries of the audit file of earlier versions
// (<dataDir>/mgmt/audit.log) into the journal, once: in one batch, then the file is renamed. A
// crash between the two imports nothing twice: a journal that holds audit rows is not imported
// into again.
func (s *Server) importLegacyAudit(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mgmt: audit log: %w", err)
	}
	var recs []ledger.AuditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a torn last line after a crash
		}
		recs = append(recs, ledger.AuditRecord{AtUnixNano: e.At.UnixNano(), Actor: e.Actor, Channel: e.Channel,
			Role: e.Role, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
			Before: e.Before, After: e.After})
	}
	f.Close()
	existing, err := s.audit.src.Audits(0, 1, nil)
	if err != nil {
		return fmt.Errorf("mgmt: audit log: %w", err)
	}
	if len(existing) == 0 && len(recs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := engine.Do(ctx, s.eng, auditRecords(recs)); err != nil {
			return fmt.Errorf("mgmt: import audit log: %w", err)
		}
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("mgmt: audit log: %w", err)
	}
	s.log.Info("audit entries of the earlier audit file moved into the journal", "entries", len(recs))
	return nil
}
