//go:build invariants

package ledger

import "fmt"

// Invariants reports whether this build checks the money invariants after every batch (build
// tag invariants; the tests use it, production does not pay for it).
const Invariants = true

// AssertBatch checks that the batch tx keeps the money invariants of every balance it touches,
// given the State as committed before it:
//
//	held    = Σ held of the open auth records naming the balance (own or partner)
//	current = loaded − Σ posted of the auth records naming it (a company balance: Σ
//	          FX.CompanyPostedMinor of those naming it as FX.CompanyID)
//	held ≥ 0, and an auth record that is not open holds nothing
//
// It checks them by difference: what the batch changed on each balance must equal what it changed
// on the auth records naming it (a sweep over all records would read every record from the
// journal in History mode). Together with a State that kept them before, that proves they hold
// after. A violation is a bug in the ledger: it panics, before the batch is durable, naming the
// balance and amounts only (never card data).
//
// It reads the committed auth records from what the batch loaded before it was applied (the Tx's
// committed side), so it does no I/O either. Call it after tx.Changes, before Commit.
func AssertBatch(tx *Tx, changes []Change) {
	s := tx.s
	type sums struct {
		held, posted int64
		own          bool // an auth record names the balance as its own, not as its partner
	}
	moved := map[string]*sums{}
	add := func(a *Auth, sign int64) {
		for i, id := range [2]string{a.BalanceID, a.PartnerID} {
			if id == "" {
				continue
			}
			m := moved[id]
			if m == nil {
				m = &sums{}
				moved[id] = m
			}
			m.own = m.own || i == 0
			if a.State == AuthOpen {
				m.held += sign * a.HeldMinor
			}
			m.posted += sign * a.PostedMinor
		}
		if a.FX != nil && a.FX.CompanyID != "" { // fx.go: the company balance's share of a capture
			m := moved[a.FX.CompanyID]
			if m == nil {
				m = &sums{}
				moved[a.FX.CompanyID] = m
			}
			m.posted += sign * a.FX.CompanyPostedMinor
		}
	}
	after := map[string]*Balance{}
	for _, c := range changes {
		switch c.Table {
		case "balance":
			if b, ok := c.Row.(*Balance); ok {
				after[c.Key] = b
			}
		case "auth":
			// An archived record left the hot store for the archive: its money still counts.
			if old, found := tx.committedAuth(c.Key); found && !(c.Row == nil && tx.archived[c.Key]) {
				add(&old, -1)
			}
			if a, ok := c.Row.(*Auth); ok {
				if a.HeldMinor < 0 || (a.State != AuthOpen && a.HeldMinor != 0) {
					panic(fmt.Sprintf("ledger: invariant violated: an auth record on balance %q is %s and holds %d",
						a.BalanceID, a.State, a.HeldMinor))
				}
				add(a, +1)
			}
		}
	}
	for id := range after {
		if moved[id] == nil {
			moved[id] = &sums{}
		}
	}
	for id, m := range moved {
		before, existed := s.Balance(id)
		now, changed := after[id]
		if !changed {
			if !existed {
				if m.own && (m.held != 0 || m.posted != 0) {
					panic(fmt.Sprintf("ledger: invariant violated: auth records move money on balance %q, which the ledger does not hold", id))
				}
				continue // a partner balance a program names but that was never opened
			}
			now = &before
		}
		if now.HeldMinor < 0 {
			panic(fmt.Sprintf("ledger: invariant violated: balance %q holds %d", id, now.HeldMinor))
		}
		if d := now.HeldMinor - before.HeldMinor; d != m.held {
			panic(fmt.Sprintf("ledger: invariant violated: balance %q: held changed by %d, its open holds by %d",
				id, d, m.held))
		}
		dCur, dLoaded := now.CurrentMinor-before.CurrentMinor, now.LoadedMinor-before.LoadedMinor
		if dCur != dLoaded-m.posted {
			panic(fmt.Sprintf("ledger: invariant violated: balance %q: current changed by %d, loads by %d, posted by %d",
				id, dCur, dLoaded, m.posted))
		}
	}
}

// committedAuth is an auth record as committed before the batch, as the prefetch loaded it.
func (tx *Tx) committedAuth(key string) (Auth, bool) { return tx.authBase.get(key) }
