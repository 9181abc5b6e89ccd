// Package journaltest holds the journal doubles of the tests: Faulty fails chosen commits of a
// journal, Memory is a journal kept in memory that is also the History of the State built on it
// (ledger.NewState), with the same reads as the Badger journal.
package journaltest

import (
	"errors"
	"sort"
	"sync"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
)

// ErrInjected is the failure a Faulty journal injects.
var ErrInjected = errors.New("journal: injected write failure")

// Faulty wraps a journal and fails chosen commits, as a full disk would: the failing commit writes
// nothing (Badger transactions are atomic), and later commits succeed again unless told otherwise.
type Faulty struct {
	Inner journal.Journal

	mu      sync.Mutex
	commits int
	// FailAt lists commit numbers (1-based) that fail.
	FailAt map[int]bool
	// FailAll makes every commit fail until cleared (a full disk).
	FailAll bool
}

// Commit fails when told to, otherwise delegates.
func (f *Faulty) Commit(changes []ledger.Change) error {
	f.mu.Lock()
	f.commits++
	fail := f.FailAll || f.FailAt[f.commits]
	f.mu.Unlock()
	if fail {
		return ErrInjected
	}
	return f.Inner.Commit(changes)
}

// SetFailAll switches the full-disk mode.
func (f *Faulty) SetFailAll(v bool) { f.mu.Lock(); f.FailAll = v; f.mu.Unlock() }

// Commits reports how many commits were attempted.
func (f *Faulty) Commits() int { f.mu.Lock(); defer f.mu.Unlock(); return f.commits }

// Load delegates.
func (f *Faulty) Load(st *ledger.State) error { return f.Inner.Load(st) }

// Close delegates.
func (f *Faulty) Close() error { return f.Inner.Close() }

// Memory is an in-memory journal for tests: it keeps the committed rows as a real store would.
type Memory struct {
	mu   sync.Mutex
	rows map[string]ledger.Change
}

// NewMemory returns an empty in-memory journal.
func NewMemory() *Memory { return &Memory{rows: map[string]ledger.Change{}} }

// Commit stores copies of the rows.
func (m *Memory) Commit(changes []ledger.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range changes {
		k := c.Table + "/" + c.Key
		if c.Row == nil {
			delete(m.rows, k)
			continue
		}
		m.rows[k] = ledger.Change{Table: c.Table, Key: c.Key, Row: copyRow(c.Row)}
	}
	return nil
}

func copyRow(r any) any {
	switch v := r.(type) {
	case *ledger.Customer:
		c := *v
		return &c
	case *ledger.Balance:
		c := *v
		return &c
	case *ledger.Card:
		c := *v
		return &c
	case *ledger.Token:
		c := *v
		return &c
	case *ledger.Agreement:
		c := *v
		c.Payments = append([]ledger.AgreementPayment(nil), v.Payments...)
		return &c
	case *ledger.WalletToken: // slices are replaced, never changed in place (ledger/tsh.go)
		c := *v
		return &c
	case *ledger.Auth:
		c := *v
		return &c
	case *ledger.PBARecord:
		c := *v
		c.Data = append([]byte(nil), v.Data...)
		return &c
	case *ledger.Reply:
		c := *v
		return &c
	case *ledger.IndexRow:
		c := *v
		c.Entries = append([]ledger.IndexEntry(nil), v.Entries...)
		return &c
	case *ledger.Event:
		c := *v
		return &c
	case *ledger.AuditRecord:
		c := *v
		c.Before, c.After = append([]byte(nil), v.Before...), append([]byte(nil), v.After...)
		return &c
	case *ledger.LoyaltyMember:
		c := *v
		return &c
	case *ledger.LoyaltyEarning:
		c := *v
		return &c
	case *ledger.LoyaltyConfirmation:
		c := *v
		c.Body = append([]byte(nil), v.Body...)
		return &c
	case *ledger.LoyaltyRedemption:
		c := *v
		c.Debits = append([]ledger.PointsDebit(nil), v.Debits...)
		return &c
	}
	panic("journal: unknown row type")
}

// isIndex reports whether a table is a time index (ledger/history.go).
func isIndex(table string) bool {
	return table == ledger.TableExpiry || table == ledger.TableAging || table == ledger.TableArchiving
}

// Load puts copies of the stored rows into st, and the keys of auth records and replies and
// of index rows (as the Badger journal does for a store it marked). st must read its history
// from m (ledger.NewState(m)).
func (m *Memory) Load(st *ledger.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lastEvent, lastAudit uint64
	for _, c := range m.rows {
		switch {
		case c.Table == ledger.TableEvent:
			lastEvent = max(lastEvent, c.Row.(*ledger.Event).Seq)
		case c.Table == ledger.TableAudit:
			lastAudit = max(lastAudit, c.Row.(*ledger.AuditRecord).Seq)
		case isIndex(c.Table):
			st.LoadIndexKey(c.Table, c.Key, len(c.Row.(*ledger.IndexRow).Entries))
		case c.Table == "auth" || c.Table == "reply":
			st.LoadKey(c.Table, []byte(c.Key))
		default:
			st.Load(copyRow(c.Row))
		}
	}
	st.RestoreSequences(lastEvent, lastAudit)
	st.FinishLoad()
	return nil
}

var (
	_ ledger.History  = (*Memory)(nil)
	_ journal.Journal = (*Memory)(nil)
	_ journal.Journal = (*Faulty)(nil)
)

// ReadAuth reads a committed auth record.
func (m *Memory) ReadAuth(key string) (ledger.Auth, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.rows["auth/"+key]; ok {
		return *c.Row.(*ledger.Auth), true, nil
	}
	return ledger.Auth{}, false, nil
}

// ReadReply reads a committed reply.
func (m *Memory) ReadReply(key string) (ledger.Reply, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.rows["reply/"+key]; ok {
		r := *c.Row.(*ledger.Reply)
		r.Response.ICCResponse = append([]byte(nil), r.Response.ICCResponse...)
		return r, true, nil
	}
	return ledger.Reply{}, false, nil
}

// ReadIndex returns the first max rows of an index table in key order.
func (m *Memory) ReadIndex(table string, max int) ([]ledger.IndexRow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k, c := range m.rows {
		if c.Table == table {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []ledger.IndexRow
	for _, k := range keys[:min(len(keys), max)] {
		out = append(out, *copyRow(m.rows[k].Row).(*ledger.IndexRow))
	}
	return out, nil
}

// EachAuth calls f with every committed auth record in key order until f returns false.
func (m *Memory) EachAuth(f func(*ledger.Auth) bool) error {
	m.mu.Lock()
	var auths []ledger.Auth
	for _, c := range m.rows {
		if c.Table == "auth" {
			auths = append(auths, *c.Row.(*ledger.Auth))
		}
	}
	m.mu.Unlock()
	sort.Slice(auths, func(i, k int) bool { return auths[i].Key < auths[k].Key })
	for i := range auths {
		if !f(&auths[i]) {
			break
		}
	}
	return nil
}

// Close does nothing.
func (m *Memory) Close() error { return nil }

var _ ledger.EventLog = (*Memory)(nil)

// logRows returns copies of a log table's rows in sequence order.
func (m *Memory) logRows(table string) []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k, c := range m.rows {
		if c.Table == table {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // fixed-width keys: sequence order
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, copyRow(m.rows[k].Row))
	}
	return out
}

// Events returns at most max events above afterSeq in sequence order.
func (m *Memory) Events(afterSeq uint64, max int) ([]ledger.Event, error) {
	var out []ledger.Event
	for _, r := range m.logRows(ledger.TableEvent) {
		if e := r.(*ledger.Event); e.Seq > afterSeq && len(out) < max {
			out = append(out, *e)
		}
	}
	return out, nil
}

// DeleteEvents forgets the events through throughSeq.
func (m *Memory) DeleteEvents(throughSeq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.rows {
		if c.Table == ledger.TableEvent && c.Row.(*ledger.Event).Seq <= throughSeq {
			delete(m.rows, k)
		}
	}
	return nil
}

// Audits returns at most max audit records below beforeSeq (0: all), newest first.
func (m *Memory) Audits(beforeSeq uint64, max int, keep func(*ledger.AuditRecord) bool) ([]ledger.AuditRecord, error) {
	rows := m.logRows(ledger.TableAudit)
	var out []ledger.AuditRecord
	for i := len(rows) - 1; i >= 0 && len(out) < max; i-- {
		a := rows[i].(*ledger.AuditRecord)
		if (beforeSeq == 0 || a.Seq < beforeSeq) && (keep == nil || keep(a)) {
			out = append(out, *a)
		}
	}
	return out, nil
}
