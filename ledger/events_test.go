package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Events are rows of the batch that books the fact they report, with the facts as the batch saw
// them: the real previous state of a card, the crossing of a threshold once.
func TestEventsAreRowsOfTheirBatch(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 100_00)
	f.Env.AuthorizationEvents = true

	approved := lt.Auth(lt.PAN, 20_00, "000001")
	f.Expect(approved, authz.Approved)
	// The threshold is set above what is available: the balance crosses it now, once.
	f.Manage("low mark", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.SetLowMark(lt.BalanceID, 90_00)
		return r
	})
	f.Expect(lt.Auth(lt.PAN, 1_00, "000002"), authz.Approved) // still low: no second balance.low
	// Five wrong CVC2 values lock the card: the fifth decision and the lock are one batch.
	for i := range authz.CardDataTriesMax {
		r := lt.Auth(lt.PAN, 1_00, "00010"+string(rune('0'+i)))
		r.CVC2 = "999"
		f.Process(r)
	}
	// A batch rolled back leaves no event and no gap in the sequence.
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	tx.Process(lt.Auth(lt.PAN, 1_00, "000200"), &env)
	if len(tx.Events()) != 1 {
		t.Fatalf("rolled-back batch recorded %d events, want 1", len(tx.Events()))
	}
	tx.Rollback()
	f.Manage("unlock", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		prev, _ := tx.Card(lt.CardID)
		next, r := tx.ChangeCard(lt.CardID, ledger.ChangeUnlock, 0)
		tx.EmitCardState(prev, next, "admin", "mona")
		return r
	})

	evs, err := mem.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []ledger.EventType
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has sequence %d", i, e.Seq)
		}
		types = append(types, e.Type)
	}
	want := []ledger.EventType{ledger.EventAuthorizationDecided, ledger.EventBalanceLow, ledger.EventAuthorizationDecided}
	for range authz.CardDataTriesMax - 1 {
		want = append(want, ledger.EventAuthorizationDecided)
	}
	want = append(want, ledger.EventCardStateChanged, ledger.EventAuthorizationDecided, ledger.EventCardStateChanged)
	if len(types) != len(want) {
		t.Fatalf("event types %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("event types %v, want %v", types, want)
		}
	}
	if e := evs[0]; e.AuthKey != ledger.OriginalKey("0100", approved.STAN, approved.F7, approved.AcquirerID) ||
		!e.Action.IsApproved() || e.CardID != lt.CardID || e.BalanceID != lt.BalanceID || e.Currency != "EUR" ||
		e.AmountMinor != 20_00 || e.AtUnixNano != lt.Epoch.UnixNano() {
		t.Fatalf("authorization.decided %+v", e)
	}
	if e := evs[1]; e.AvailableMinor != 80_00 || e.ThresholdMinor != 90_00 || e.CustomerID != lt.Customer {
		t.Fatalf("balance.low %+v", e)
	}
	lock := evs[len(evs)-3]
	if lock.PreviousState != ledger.CardActive || lock.State != ledger.CardLocked || lock.LockReason == authz.NotLocked ||
		lock.Source != "authorization" || lock.Actor != "switch" {
		t.Fatalf("lock by CVC2 %+v", lock)
	}
	unlock := evs[len(evs)-1]
	if unlock.PreviousState != ledger.CardLocked || unlock.PreviousLockReason != lock.LockReason ||
		unlock.State != ledger.CardActive || unlock.Actor != "mona" {
		t.Fatalf("unlock %+v", unlock)
	}

	// Recovery continues the sequence after the last stored event.
	st := ledger.NewState(mem)
	if err := mem.Load(st); err != nil {
		t.Fatal(err)
	}
	if st.LastEventSeq() != uint64(len(evs)) {
		t.Fatalf("recovered last event %d, want %d", st.LastEventSeq(), len(evs))
	}
}

// Without a webhook, authorizations record no event (a row per message saved); state changes
// still do.
func TestAuthorizationEventsOnlyWhenAsked(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 100_00)
	f.Expect(lt.Auth(lt.PAN, 1_00, "000001"), authz.Approved)
	f.Manage("lock", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		prev, _ := tx.Card(lt.CardID)
		next, r := tx.ChangeCard(lt.CardID, ledger.ChangeLock, authz.LockSuspectedFraud)
		tx.EmitCardState(prev, next, "admin", "eve")
		return r
	})
	evs, _ := mem.Events(0, 100)
	if len(evs) != 1 || evs[0].Type != ledger.EventCardStateChanged {
		t.Fatalf("events %+v", evs)
	}
}

var _ ledger.EventLog = (*journaltest.Memory)(nil)
