package mgmt

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
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
}

// auditLog keeps the audit trail: an append-only JSON-lines file in the data directory (synced
// after every entry; management changes are rare next to authorizations) and a bounded ring of
// the latest entries for the admin channel. The change itself is durable in the ledger before
// its entry is written; a crash between the two loses that one entry (docs/api.md).
type auditLog struct {
	mu   sync.Mutex
	f    *os.File
	ring []AuditEntry
	next int // ring write position
	full bool
	seq  uint64
}

func openAudit(path string, size int) (*auditLog, error) {
	a := &auditLog{ring: make([]AuditEntry, size)}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e AuditEntry
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue // a torn last line after a crash
			}
			a.push(e)
		}
		f.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mgmt: audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mgmt: audit log: %w", err)
	}
	a.f = f
	return a, nil
}

func (a *auditLog) push(e AuditEntry) {
	if e.Seq > a.seq {
		a.seq = e.Seq
	}
	a.ring[a.next] = e
	a.next++
	if a.next == len(a.ring) {
		a.next, a.full = 0, true
	}
}

// record appends an entry. A write failure is logged by the caller and does not undo the
// change, which is already durable.
func (a *auditLog) record(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e.Seq = a.seq + 1
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.push(e)
	if a.f == nil {
		return errors.New("mgmt: audit log closed")
	}
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return a.f.Sync()
}

// list returns entries newest first with seq below before (0: from the newest), at most limit,
// keeping those match accepts.
func (a *auditLog) list(before uint64, limit int, match func(*AuditEntry) bool) []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.next
	if a.full {
		n = len(a.ring)
	}
	var out []AuditEntry
	for i := 0; i < n && len(out) < limit; i++ {
		idx := (a.next - 1 - i + len(a.ring)) % len(a.ring)
		e := &a.ring[idx]
		if before != 0 && e.Seq >= before {
			continue
		}
		if match(e) {
			out = append(out, *e)
		}
	}
	return out
}

func (a *auditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// audit records a change made by the call's actor. before/after are API views (or nil).
func (c *call) audit(action, resourceType, resourceID string, before, after any) {
	e := AuditEntry{At: c.s.clock().UTC(), Actor: c.who.Name, Channel: c.who.Channel, Role: c.who.Role,
		Action: action, ResourceType: resourceType, ResourceID: resourceID}
	if before != nil {
		e.Before, _ = json.Marshal(before)
	}
	if after != nil {
		e.After, _ = json.Marshal(after)
	}
	if err := c.s.audit.record(e); err != nil {
		c.s.log.Error("audit entry not written", "action", action, "resource", resourceID, "err", err)
	}
}
