package ledger_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Issue 20, defect 2: a digital-first card is the physical copy of its virtual card and "reflects
// its actual condition" (seed, Digital-first card). The two records share one CVC2, one PIN, one
// lock, removal, and the wrong-PIN and wrong-CVC2 counters with their automatic locks. Every
// change below is made through a ledger command, as the management API makes it, and checked by
// an authorization on the other form factor: the fixture's PAN resolves to the virtual card for a
// card-not-present request and to the plastic for a card-present one (plasticOf).

const dfCardID = "card-df"

// newDigitalFirst is the fixture with a digital-first copy of its virtual card.
func newDigitalFirst(t *testing.T) *lt.Fixture {
	t.Helper()
	f := lt.NewFixture(t, 100_00)
	f.Manage("print digital-first", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.IssueDigitalFirst{CardID: dfCardID, BalanceID: lt.BalanceID, VirtualCardID: lt.CardID}.Apply(tx, env).Refusal
	})
	return f
}

// run applies a card command in a batch of its own and returns the events it recorded.
func run(f *lt.Fixture, what string, cmd ledger.Command[ledger.Result[ledger.Card]]) []ledger.Event {
	f.T.Helper()
	var evs []ledger.Event
	f.Manage(what, func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		r := cmd.Apply(tx, env).Refusal
		evs = append([]ledger.Event(nil), tx.Events()...) // the batch reuses its slice
		return r
	})
	return evs
}

var stan int

// online is a card-not-present authorization: decided on the virtual card.
func online(cvc2 string) *authz.Request {
	stan++
	r := lt.Auth(lt.PAN, 1_00, fmt.Sprintf("%06d", stan))
	r.CVC2 = cvc2
	return r
}

// present is a contactless authorization with a PIN: decided on the plastic.
func present(pin string) *authz.Request {
	stan++
	r := lt.Auth(lt.PAN, 1_00, fmt.Sprintf("%06d", stan))
	r.POSEntryMode, r.PINBlock = "071", []byte(pin)
	return r
}

func TestDigitalFirstSharesCVC2(t *testing.T) {
	for _, target := range []string{lt.CardID, dfCardID} {
		t.Run("reset on "+target, func(t *testing.T) {
			f := newDigitalFirst(t)
			var fresh string
			f.Manage("reset CVC2", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				res := ledger.ReplaceCVC2{CardID: target, Candidates: []string{lt.CVC2, "456"}}.Apply(tx, env)
				fresh = res.Value.CVC2
				return res.Refusal
			})
			// The full-data answer of either card gives the card's stored CVC2: an online
			// authorization with either is approved, and both are the new value.
			f.Expect(online(fresh), authz.Approved)
			for _, id := range []string{lt.CardID, dfCardID} {
				f.Expect(online(f.Card(id).CVC2), authz.Approved)
				if got := f.Card(id).CVC2; got != fresh {
					t.Fatalf("card %s keeps CVC2 %q after the reset on %s, want %q", id, got, target, fresh)
				}
			}
			f.Expect(online(lt.CVC2), authz.CardVerificationFailed)
		})
	}
}

func TestDigitalFirstSharesPIN(t *testing.T) {
	f := newDigitalFirst(t)
	run(f, "set PIN on the virtual card", ledger.SetPVV{CardID: lt.CardID, PVV: "9876"})
	f.Expect(present("9876"), authz.Approved)
	f.Expect(present(lt.PVV), authz.IncorrectPIN)
}

// A lock on either form factor declines the other; an unlock on either lifts both, each card
// returning to its own state before the lock; each card's change is a card.state_changed event.
func TestDigitalFirstSharesTheLock(t *testing.T) {
	tests := []struct {
		name           string
		lockOn, liftOn string
	}{
		{"lock virtual, unlock digital-first", lt.CardID, dfCardID},
		{"lock digital-first, unlock virtual", dfCardID, lt.CardID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDigitalFirst(t)
			evs := run(f, "lock", ledger.LockCard{CardID: tt.lockOn, Reason: authz.LockPendingQuery,
				By: ledger.Origin{Source: "admin", Actor: "mona"}})
			f.Expect(online(lt.CVC2), authz.DoNotHonour)
			f.Expect(present(lt.PVV), authz.DoNotHonour)
			for _, id := range []string{lt.CardID, dfCardID} {
				if c := f.Card(id); c.State != ledger.CardLocked || c.LockReason != authz.LockPendingQuery {
					t.Fatalf("card %s after the lock on %s: %s reason %d, want LOCKED reason 3", id, tt.lockOn, c.State, c.LockReason)
				}
			}
			expectTwinEvent(t, evs, tt.lockOn, ledger.CardLocked, "admin", "mona")

			evs = run(f, "unlock", ledger.UnlockCard{CardID: tt.liftOn})
			f.Expect(online(lt.CVC2), authz.Approved)
			f.Expect(present(lt.PVV), authz.Approved)
			for _, id := range []string{lt.CardID, dfCardID} {
				if c := f.Card(id); c.State != ledger.CardActive || c.StateBeforeLock != "" {
					t.Fatalf("card %s after the unlock on %s: %s remembering %q, want ACTIVE", id, tt.liftOn, c.State, c.StateBeforeLock)
				}
			}
			expectTwinEvent(t, evs, tt.liftOn, ledger.CardActive, "twin", "")
		})
	}
}

// expectTwinEvent checks that the ledger recorded card.state_changed for the card the change was
// not made on (the management API records the named card's own).
func expectTwinEvent(t *testing.T, evs []ledger.Event, named string, state authz.CardState, source, actor string) {
	t.Helper()
	twin := lt.CardID
	if named == lt.CardID {
		twin = dfCardID
	}
	for _, e := range evs {
		if e.Type == ledger.EventCardStateChanged && e.CardID == twin {
			if e.State != state || e.Source != source || e.Actor != actor {
				t.Fatalf("event of %s: %+v, want state %s source %q actor %q", twin, e, state, source, actor)
			}
			return
		}
	}
	t.Fatalf("no card.state_changed for %s in %+v", twin, evs)
}

// A plastic not yet activated keeps its own state: a lock on the virtual card locks it, and the
// unlock returns each card to its own state before the lock (the plastic INACTIVE again).
func TestDigitalFirstLockKeepsEachState(t *testing.T) {
	f := newDigitalFirst(t)
	f.Manage("plastic not yet activated", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		c, _ := tx.Card(dfCardID)
		c.State = ledger.CardInactive
		tx.PutCard(c)
		return nil
	})
	run(f, "lock", ledger.LockCard{CardID: lt.CardID, Reason: authz.LockPendingQuery})
	if c := f.Card(dfCardID); c.State != ledger.CardLocked || c.StateBeforeLock != ledger.CardInactive {
		t.Fatalf("plastic after the lock: %s remembering %q, want LOCKED remembering INACTIVE", c.State, c.StateBeforeLock)
	}
	run(f, "unlock", ledger.UnlockCard{CardID: lt.CardID})
	if c := f.Card(dfCardID); c.State != ledger.CardInactive {
		t.Fatalf("plastic after the unlock: %s, want INACTIVE", c.State)
	}
	if c := f.Card(lt.CardID); c.State != ledger.CardActive {
		t.Fatalf("virtual card after the unlock: %s, want ACTIVE", c.State)
	}
	f.Expect(online(lt.CVC2), authz.Approved)
	f.Expect(present(lt.PVV), authz.CardInactive)
}

func TestDigitalFirstSharesRemoval(t *testing.T) {
	for _, target := range []string{lt.CardID, dfCardID} {
		t.Run("remove "+target, func(t *testing.T) {
			f := newDigitalFirst(t)
			evs := run(f, "remove", ledger.RemoveCard{CardID: target})
			f.Expect(online(lt.CVC2), authz.InvalidCard)
			f.Expect(present(lt.PVV), authz.InvalidCard)
			for _, id := range []string{lt.CardID, dfCardID} {
				if c := f.Card(id); c.State != ledger.CardRemoved {
					t.Fatalf("card %s after the removal of %s: %s, want REMOVED", id, target, c.State)
				}
			}
			expectTwinEvent(t, evs, target, ledger.CardRemoved, "twin", "")
		})
	}
}

// The wrong-CVC2 and wrong-PIN counters are one card's: five wrong CVC2 values online lock the
// plastic too, three wrong PINs at a terminal lock the virtual card too, and a new PIN set on
// either card resets the count of both.
func TestDigitalFirstSharesCounters(t *testing.T) {
	t.Run("CVC2 values online lock the plastic", func(t *testing.T) {
		f := newDigitalFirst(t)
		var evs []ledger.Event
		for range authz.CardDataTriesMax {
			tx := f.State.Begin()
			env := f.Env
			env.Now = f.Now
			r := online("999")
			f.LoadMessage(tx, r, &env)
			tx.Process(r, &env)
			evs = append(evs, tx.Events()...)
			f.CommitTx(tx)
		}
		f.Expect(present(lt.PVV), authz.SuspectedFraud)
		for _, id := range []string{lt.CardID, dfCardID} {
			if c := f.Card(id); c.State != ledger.CardLocked || c.LockReason != authz.LockSuspectedFraud ||
				c.CardDataFails != authz.CardDataTriesMax {
				t.Fatalf("card %s after %d wrong CVC2 values: %s reason %d, %d fails", id, authz.CardDataTriesMax,
					c.State, c.LockReason, c.CardDataFails)
			}
		}
		expectTwinEvent(t, evs, lt.CardID, ledger.CardLocked, "authorization", "switch")
	})
	t.Run("PIN tries at a terminal lock the virtual card", func(t *testing.T) {
		f := newDigitalFirst(t)
		for range authz.PINTriesMax {
			f.Process(present("0000"))
		}
		f.Expect(online(lt.CVC2), authz.PINTriesExceeded)
		for _, id := range []string{lt.CardID, dfCardID} {
			if c := f.Card(id); c.State != ledger.CardLocked || c.LockReason != authz.LockPINTriesExceeded {
				t.Fatalf("card %s after %d wrong PINs: %s reason %d", id, authz.PINTriesMax, c.State, c.LockReason)
			}
		}
	})
	t.Run("a new PIN resets both counts", func(t *testing.T) {
		f := newDigitalFirst(t)
		for range authz.PINTriesMax - 1 {
			f.Process(present("0000"))
		}
		run(f, "set PIN on the virtual card", ledger.SetPVV{CardID: lt.CardID, PVV: "9876"})
		// Had the plastic kept its count, this wrong PIN would be its last try.
		f.Expect(present("0000"), authz.IncorrectPIN)
		f.Expect(present("9876"), authz.Approved)
		if c := f.Card(dfCardID); c.PINTries != 0 {
			t.Fatalf("plastic counts %d wrong PINs after a new PIN", c.PINTries)
		}
	})
}
