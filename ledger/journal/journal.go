// Package journal makes ledger batches durable. It is the only user of Badger for money state:
// every engine batch becomes one Badger transaction, synced to disk before Commit returns, and on
// start the whole ledger is loaded back from it. Values are sealed with AES-256-GCM under the data
// key, so card data and personal data are never on disk in clear.
package journal

import (
	"errors"

	"github.com/cardswitch/cardswitch/ledger"
)

// Journal persists ledger changes.
type Journal interface {
	// Commit makes the changes durable, all or nothing; it returns only once they are on disk.
	Commit(changes []ledger.Change) error
	// Load reads every stored row into st (recovery at start).
	Load(st *ledger.State) error
	Close() error
}

// ErrClosed is returned by a journal used after Close.
var ErrClosed = errors.New("journal: closed")

// tables maps a change's table name to its key prefix and a constructor for loading.
var tables = []struct {
	name   string
	prefix string
	new    func() any
}{
	{"customer", "u/", func() any { return new(ledger.Customer) }},
	{"balance", "b/", func() any { return new(ledger.Balance) }},
	{"card", "c/", func() any { return new(ledger.Card) }},
	{"token", "t/", func() any { return new(ledger.Token) }},
	{ledger.TableAgreement, "s/", func() any { return new(ledger.Agreement) }},
	{ledger.TablePBA, "p/", func() any { return new(ledger.PBARecord) }},
	// One key byte per table: re-encryption tells tables apart by it.
	{ledger.TableWalletToken, "w/", func() any { return new(ledger.WalletToken) }},
	{"auth", "a/", func() any { return new(ledger.Auth) }},
	{"reply", "r/", func() any { return new(ledger.Reply) }},
	// Loyalty members and earnings (ledger/loyalty.go).
	{ledger.TableLoyaltyMember, "L/", func() any { return new(ledger.LoyaltyMember) }},
	{ledger.TableLoyaltyEarning, "Y/", func() any { return new(ledger.LoyaltyEarning) }},
	{ledger.TableLoyaltyConfirmation, "Q/", func() any { return new(ledger.LoyaltyConfirmation) }},
	{ledger.TableLoyaltyRedemption, "R/", func() any { return new(ledger.LoyaltyRedemption) }},
	// The time indexes of History mode (ledger/history.go).
	{ledger.TableExpiry, "x/", func() any { return new(ledger.IndexRow) }},
	{ledger.TableAging, "g/", func() any { return new(ledger.IndexRow) }},
	{ledger.TableArchiving, "v/", func() any { return new(ledger.IndexRow) }}, // ledger/archiving.go
	// The event log (ledger/events.go): read back by delivery and the audit list, not loaded
	// into the State; recovery reads only the last key of each.
	{ledger.TableEvent, "e/", func() any { return new(ledger.Event) }},
	{ledger.TableAudit, "d/", func() any { return new(ledger.AuditRecord) }},
}

// isLog reports whether a table is one of the event log's.
func isLog(table string) bool { return table == ledger.TableEvent || table == ledger.TableAudit }

// isIndex reports whether a table is a time index of History mode.
func isIndex(table string) bool {
	return table == ledger.TableExpiry || table == ledger.TableAging || table == ledger.TableArchiving
}

// historyMarker is the key, outside every table, that says the store keeps the time indexes of
// History mode for every auth record and reply: its recovery then reads their keys only.
const historyMarker = "m/history"

func newRow(table string) any {
	for _, t := range tables {
		if t.name == table {
			return t.new()
		}
	}
	return nil
}

func prefixOf(table string) (string, bool) {
	for _, t := range tables {
		if t.name == table {
			return t.prefix, true
		}
	}
	return "", false
}

// Pipeliner is a journal that can make a batch durable in two steps, so that the engine applies
// the next batch while the previous one is being flushed (docs/decisions/0008-write-ahead-log.md,
// the pipelined engine).
type Pipeliner interface {
	Journal
	// Pipelined reports whether Append and Wait are usable; when false, Commit is the way.
	Pipelined() bool
	// Append writes the changes as one record and returns its position without waiting for its
	// flush; the changes are readable by the next batch's reads at once. Nothing is written if
	// it fails, and then the batch may be refused.
	Append(changes []ledger.Change) (uint64, error)
	// Wait returns once the record at pos, and every one before it, is durable; ErrInDoubt when
	// the log failed and the record may or may not be on disk. Positions are waited for in the
	// order they were appended.
	Wait(pos uint64) error
}
