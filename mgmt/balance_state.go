package mgmt

import "github.com/cardswitch/cardswitch/ledger"

// Balance states through the API (docs/users-balances.md): block, unblock and close a user
// balance. /secure for the partner's server; /admin for operators, block and unblock from
// Manager up, close from Manager up as well (the seed has a balance's state kept by the
// issuer's staff, not by customer service, and a close needs the balance at zero anyway).
// The cardholder cannot change a balance's state.

// readBefore runs cmd after reading, in the same batch, the row it changes (get): the audit
// entry's "before" is then the row exactly as the change found it.
type readBefore[T any] struct {
	cmd  ledger.Command[ledger.Result[T]]
	get  func(tx *ledger.Tx) T
	prev *T
}

func (r readBefore[T]) Kind() ledger.OpKind { return r.cmd.Kind() }
func (r readBefore[T]) Keys(k *ledger.Keys) { r.cmd.Keys(k) }

func (r readBefore[T]) Apply(tx *ledger.Tx, env *ledger.Env) ledger.Result[T] {
	*r.prev = r.get(tx)
	return r.cmd.Apply(tx, env)
}

func (s *Server) hBlockBalance(c *call) (int, any, *apiError) {
	return s.setBalanceState(c, ledger.BalanceBlock)
}

func (s *Server) hUnblockBalance(c *call) (int, any, *apiError) {
	return s.setBalanceState(c, ledger.BalanceUnblock)
}

func (s *Server) hCloseBalance(c *call) (int, any, *apiError) {
	return s.setBalanceState(c, ledger.BalanceClose)
}

// setBalanceState changes a user balance's state; the ledger records balance.state_changed and
// the audit entry is written in the same batch. A refusal is a 409 with the ledger's code
// (BALANCE_CLOSED, BALANCE_NOT_EMPTY, BALANCE_HAS_HOLDS, NOT_A_USER_BALANCE).
func (s *Server) setBalanceState(c *call, action ledger.BalanceAction) (int, any, *apiError) {
	if err := c.decode(&struct{}{}); err != nil {
		return 0, nil, err
	}
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	var prev ledger.Balance
	cmd := readBefore[ledger.Balance]{cmd: ledger.SetBalanceState{BalanceID: b.ID, Action: action, By: c.origin(c.who.Channel)},
		get: func(tx *ledger.Tx) ledger.Balance { p, _ := tx.Balance(b.ID); return p }, prev: &prev}
	after, aerr := exec(s, inBatch[ledger.Balance]{cmd: cmd, then: func(tx *ledger.Tx, after ledger.Balance) {
		if after.State != prev.State {
			c.auditIn(tx, "balance."+action.String(), "balance", b.ID, map[string]any{"state": prev.State},
				map[string]any{"state": after.State})
		}
	}})
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, viewBalance(after, s.cardIDsOf(b.ID)), nil
}
