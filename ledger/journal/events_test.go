package journal_test

import (
	"reflect"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// Event and audit rows round-trip through the Badger journal; recovery restores the sequences
// without loading the rows; pruning forgets the old events only.
func TestEventLogInBadger(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	var changes []ledger.Change
	var events []ledger.Event
	for seq := uint64(1); seq <= 300; seq++ {
		e := ledger.Event{Seq: seq, Type: ledger.EventAuthorizationDecided, AtUnixNano: int64(seq) * 1e9,
			CardID: "card-1", BalanceID: "bal-1", Currency: "EUR", AuthKey: "0100|x", MTI: "0100",
			Kind: authz.KindAuthorization, AmountMinor: int64(seq), Action: authz.Approved,
			PreviousState: ledger.CardActive, State: ledger.CardLocked, LockReason: authz.LockSuspectedFraud,
			Source: "admin", Actor: "eve", BalanceKind: "CUSTOMER", CustomerID: "cu", Program: "demo-mc",
			AvailableMinor: -5, ThresholdMinor: 10}
		events = append(events, e)
		changes = append(changes, ledger.Change{Table: ledger.TableEvent, Key: ledger.EventKey(seq), Row: &events[len(events)-1]})
	}
	audits := []ledger.AuditRecord{
		{Seq: 1, AtUnixNano: 5, Actor: "eve", Channel: "admin", Role: "Employee", Action: "card.lock",
			ResourceType: "card", ResourceID: "card-1", Before: []byte(`{"state":"ACTIVE"}`), After: []byte(`{"state":"LOCKED"}`)},
		{Seq: 2, AtUnixNano: 6, Actor: "mona", Channel: "admin", Action: "card.full_data_read", ResourceType: "card", ResourceID: "card-2"},
	}
	for i := range audits {
		changes = append(changes, ledger.Change{Table: ledger.TableAudit, Key: ledger.EventKey(audits[i].Seq), Row: &audits[i]})
	}
	if err := j.Commit(changes); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j = open(t, dir, key)
	defer j.Close()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	if st.LastEventSeq() != 300 {
		t.Fatalf("recovered last event %d", st.LastEventSeq())
	}
	got, err := j.Events(100, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 || got[0].Seq != 101 || !reflect.DeepEqual(got[0], events[100]) {
		t.Fatalf("events after 100: %d, first %+v", len(got), got[0])
	}
	a, err := j.Audits(0, 10, nil)
	if err != nil || len(a) != 2 || a[0].Seq != 2 || !reflect.DeepEqual(a[1], audits[0]) || a[0].Before != nil {
		t.Fatalf("audits %+v %v", a, err)
	}
	a, _ = j.Audits(2, 10, func(r *ledger.AuditRecord) bool { return r.Actor == "eve" })
	if len(a) != 1 || a[0].Seq != 1 {
		t.Fatalf("audits before 2 %+v", a)
	}
	if err := j.DeleteEvents(250); err != nil {
		t.Fatal(err)
	}
	got, _ = j.Events(0, 1000)
	if len(got) != 50 || got[0].Seq != 251 {
		t.Fatalf("after pruning: %d events from %d", len(got), got[0].Seq)
	}
	// A new batch continues the sequence: the next event is 301 even though rows were pruned.
	st2 := ledger.NewState(j)
	if err := j.Load(st2); err != nil {
		t.Fatal(err)
	}
	if st2.LastEventSeq() != 300 {
		t.Fatalf("recovered last event after pruning %d", st2.LastEventSeq())
	}
}
