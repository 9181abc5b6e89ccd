package ledger_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// Issue 20, defect 1: unlock returns a card to the state it had before the lock. A physical card
// not yet activated (INACTIVE) that is locked and unlocked is INACTIVE again, not ACTIVE: a lock
// and an unlock must not activate a card that was never personalised nor activated.
func TestUnlockRestoresStateBeforeLock(t *testing.T) {
	const physicalID, physicalPAN = "card-phys", "5351100000000019"
	tests := []struct {
		name    string
		cardID  string
		pan     string
		reasons []authz.LockReason // locks in order: the later ones re-lock a locked card
		want    authz.CardState
		wantAct authz.ActionCode // an authorization after the unlock
	}{
		{"inactive physical, reason 3", physicalID, physicalPAN, []authz.LockReason{authz.LockPendingQuery},
			ledger.CardInactive, authz.CardInactive},
		{"inactive physical, re-locked 3 then 7", physicalID, physicalPAN,
			[]authz.LockReason{authz.LockPendingQuery, authz.LockSuspectedFraud}, ledger.CardInactive, authz.CardInactive},
		{"active, reason 3", lt.CardID, lt.PAN, []authz.LockReason{authz.LockPendingQuery},
			ledger.CardActive, authz.Approved},
		{"active, re-locked 7 then 6", lt.CardID, lt.PAN,
			[]authz.LockReason{authz.LockSuspectedFraud, authz.LockPINTriesExceeded}, ledger.CardActive, authz.Approved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lt.NewFixture(t, 10000)
			f.Manage("issue physical", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				_, r := tx.IssueCard(ledger.Card{ID: physicalID, BalanceID: lt.BalanceID, Program: lt.Program,
					Type: ledger.CardPhysical, PANHash: f.Env.PANHasher(physicalPAN), PAN: physicalPAN,
					Last4: physicalPAN[12:], ExpiryYYMM: lt.Expiry, PSN: "00", CVC2: lt.CVC2, PVV: lt.PVV}, env)
				return r
			})
			before := f.Card(tt.cardID).State
			for _, reason := range tt.reasons {
				f.Manage("lock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
					_, r := tx.ChangeCard(tt.cardID, ledger.ChangeLock, reason)
					return r
				})
			}
			if c := f.Card(tt.cardID); c.State != ledger.CardLocked || c.StateBeforeLock != before {
				t.Fatalf("after the lock the card is %s remembering %q, want LOCKED remembering %s",
					c.State, c.StateBeforeLock, before)
			}
			f.Manage("unlock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
				_, r := tx.ChangeCard(tt.cardID, ledger.ChangeUnlock, authz.NotLocked)
				return r
			})
			c := f.Card(tt.cardID)
			if c.State != tt.want || c.LockReason != authz.NotLocked || c.StateBeforeLock != "" {
				t.Fatalf("%s card locked %v then unlocked is %s (lock reason %d), want %s",
					before, tt.reasons, c.State, c.LockReason, tt.want)
			}
			f.Expect(lt.Auth(tt.pan, 100, "000001"), tt.wantAct)
		})
	}
}

// The automatic locks of an authorization (third wrong PIN, fifth wrong CVC2) remember the state
// too: the card, ACTIVE as it must be to be checked at all, is ACTIVE again after the unlock.
func TestAutomaticLockRemembersState(t *testing.T) {
	tests := []struct {
		name   string
		wrong  func(r *authz.Request)
		times  int
		reason authz.LockReason
	}{
		{"PIN tries", func(r *authz.Request) { r.PINBlock = []byte("0000") }, authz.PINTriesMax, authz.LockPINTriesExceeded},
		{"CVC2 values", func(r *authz.Request) { r.CVC2 = "999" }, authz.CardDataTriesMax, authz.LockSuspectedFraud},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lt.NewFixture(t, 10000)
			for i := range tt.times {
				r := lt.Auth(lt.PAN, 100, fmt.Sprintf("%06d", i+1))
				tt.wrong(r)
				f.Process(r)
			}
			c := f.Card(lt.CardID)
			if c.State != ledger.CardLocked || c.StateBeforeLock != ledger.CardActive {
				t.Fatalf("after %d wrong values the card is %s (reason %d) remembering %q, want LOCKED remembering ACTIVE",
					tt.times, c.State, c.LockReason, c.StateBeforeLock)
			}
			f.Manage("unlock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
				_, r := tx.ChangeCard(lt.CardID, ledger.ChangeUnlock, authz.NotLocked)
				return r
			})
			if c := f.Card(lt.CardID); c.State != ledger.CardActive || c.StateBeforeLock != "" {
				t.Fatalf("unlocked: %s remembering %q, want ACTIVE", c.State, c.StateBeforeLock)
			}
		})
	}
}

// A card locked before the state before a lock was kept has none stored: unlock falls back to
// ACTIVE, as every unlock did then.
func TestUnlockOfCardLockedBeforeTheFieldExisted(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Manage("an old lock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		c, _ := tx.Card(lt.CardID)
		c.State, c.LockReason, c.StateBeforeLock = ledger.CardLocked, authz.LockPendingQuery, ""
		tx.PutCard(c)
		return nil
	})
	f.Manage("unlock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.ChangeCard(lt.CardID, ledger.ChangeUnlock, authz.NotLocked)
		return r
	})
	if c := f.Card(lt.CardID); c.State != ledger.CardActive {
		t.Fatalf("unlocked: %s, want ACTIVE", c.State)
	}
	f.Expect(lt.Auth(lt.PAN, 100, "000001"), authz.Approved)
}

// Removing a locked card forgets the state before the lock: removal is final.
func TestRemoveLockedCardForgetsStateBeforeLock(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	for _, ch := range []ledger.CardChange{ledger.ChangeLock, ledger.ChangeRemove} {
		f.Manage("change", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
			_, r := tx.ChangeCard(lt.CardID, ch, authz.LockPendingQuery)
			return r
		})
	}
	if c := f.Card(lt.CardID); c.State != ledger.CardRemoved || c.StateBeforeLock != "" {
		t.Fatalf("removed: %s remembering %q", c.State, c.StateBeforeLock)
	}
}
