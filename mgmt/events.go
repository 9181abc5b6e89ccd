package mgmt

import (
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// lowMarks remembers which balances are under their low-balance threshold, so balance.low is
// published once on crossing, not on every authorization (in memory: after a restart a balance
// still low is notified again on its next change).
type lowMarks struct {
	mu  sync.Mutex
	low map[string]bool
}

func newLowMarks() *lowMarks { return &lowMarks{low: map[string]bool{}} }

// checkLow publishes balance.low when b has just gone under its threshold.
func (s *Server) checkLow(b ledger.Balance) {
	isLow := b.IsLow()
	s.low.mu.Lock()
	was := s.low.low[b.ID]
	if isLow {
		s.low.low[b.ID] = true
	} else {
		delete(s.low.low, b.ID)
	}
	s.low.mu.Unlock()
	if isLow && !was {
		s.hooks.publish(EventBalanceLow, map[string]any{"balanceId": b.ID, "kind": b.Kind,
			"customerId": b.CustomerID, "program": b.Program, "currency": b.Currency,
			"available": formatAmount(b.AvailableMinor(), b.Currency),
			"threshold": formatAmount(b.LowMarkMinor, b.Currency)})
	}
}

// AuthorizationNotice is what the switch tells the management side about a decided money
// message (wired by main from the dispatcher, after the decision is durable).
type AuthorizationNotice struct {
	CardID      string
	BalanceID   string
	MTI         string
	Kind        authz.Kind
	AmountMinor int64
	Action      authz.ActionCode
	At          time.Time
}

// NotifyAuthorization publishes authorization.decided, card.state_changed when the decision
// locked the card (PIN tries exceeded), and balance.low when the balance (or the program's
// partner balance) went under its threshold. It never blocks on the network and never sees a
// PAN. Safe for concurrent use.
func (s *Server) NotifyAuthorization(n AuthorizationNotice) {
	st := s.eng.State()
	currency := ""
	if b, ok := st.Balance(n.BalanceID); ok {
		currency = b.Currency
		s.checkLow(b)
	}
	s.hooks.publish(EventAuthorizationDecided, map[string]any{"cardId": n.CardID, "balanceId": n.BalanceID,
		"mti": n.MTI, "type": n.Kind.String(), "amount": formatAmount(n.AmountMinor, currency), "currency": currency,
		"actionCode": n.Action.String(), "approved": n.Action.IsApproved(), "at": n.At.UTC()})
	if card, ok := st.Card(n.CardID); ok {
		if n.Action == authz.PINTriesExceeded && card.State == ledger.CardLocked {
			s.hooks.publish(EventCardStateChanged, map[string]any{"cardId": card.ID, "balanceId": card.BalanceID,
				"previousState": ledger.CardActive, "state": card.State, "previousLockReason": 0,
				"lockReason": int(card.LockReason), "source": "authorization", "actor": "switch"})
		}
		if p, ok := s.cfg.Program(card.Program); ok && p.PartnerBalanceID != "" {
			if pb, ok := st.Balance(p.PartnerBalanceID); ok {
				s.checkLow(pb)
			}
		}
	}
}
