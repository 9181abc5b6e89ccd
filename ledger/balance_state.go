package ledger

// Balance states (docs/users-balances.md): a user balance is ACTIVE, BLOCKED or CLOSED.
//
//	ACTIVE  authorizations decided as usual; reloads, refunds and cards allowed.
//	BLOCKED frozen by the issuer: authorizations, financial requests and balance inquiries are
//	        declined 1019 (field 39 57, authz.Decide); reloads and refunds still land, and
//	        completions and reversals of earlier approvals are booked (the network settled
//	        them); no new card is issued on it.
//	CLOSED  final: only a balance with no funds and no open holds is closed; authorizations are
//	        declined 1004 (62), reloads and new cards refused.
//
// A change to the state it is already in changes nothing and is answered with the balance (a
// retried request is harmless); every other change outside the table is refused with 409.

// BalanceAction is a requested change of a balance's state.
type BalanceAction uint8

// Balance actions, each named by the state it leads to.
const (
	BalanceBlock   BalanceAction = iota + 1 // -> BLOCKED
	BalanceUnblock                          // -> ACTIVE
	BalanceClose                            // -> CLOSED
)

// String is the action as the audit trail names it.
func (a BalanceAction) String() string {
	switch a {
	case BalanceBlock:
		return "block"
	case BalanceUnblock:
		return "unblock"
	case BalanceClose:
		return "close"
	}
	return "unknown"
}

// BalanceTransition is the pure rule of the balance states: the state a balance in from ends in
// after action, given its current and held amounts, or the refusal. It reads nothing else.
func BalanceTransition(from BalanceState, action BalanceAction, currentMinor, heldMinor int64) (BalanceState, *Refusal) {
	var to BalanceState
	switch action {
	case BalanceBlock:
		to = BalanceBlocked
	case BalanceUnblock:
		to = BalanceActive
	case BalanceClose:
		to = BalanceClosed
	default:
		return from, refuse(Invalid, "INVALID_ACTION", "unknown balance action")
	}
	if from == to {
		return from, nil
	}
	switch from {
	case BalanceClosed:
		return from, refuse(Conflict, "BALANCE_CLOSED", "the balance is closed for good")
	case BalanceActive, BalanceBlocked:
	default:
		return from, refuse(Conflict, "BALANCE_STATE_UNKNOWN", "the balance is in an unknown state")
	}
	if to == BalanceClosed {
		if heldMinor != 0 {
			return from, refuse(Conflict, "BALANCE_HAS_HOLDS", "the balance has open holds: it can be closed once they are captured, reversed or expired")
		}
		if currentMinor != 0 {
			return from, refuse(Conflict, "BALANCE_NOT_EMPTY", "the balance holds funds: only a balance at zero can be closed")
		}
	}
	return to, nil
}

// SetBalanceState applies action to a user balance and records balance.state_changed when its
// state changed. Partner balances are not changed here (they fund programs, not cardholders).
func (tx *Tx) SetBalanceState(balanceID string, action BalanceAction, by Origin) (Balance, *Refusal) {
	b, ok := tx.Balance(balanceID)
	if !ok {
		return Balance{}, refuse(NotFound, "BALANCE_NOT_FOUND", "no such balance")
	}
	if b.Kind != BalanceUser {
		return Balance{}, refuse(Conflict, "NOT_A_USER_BALANCE", "only a user balance is blocked, unblocked or closed")
	}
	to, ref := BalanceTransition(b.State, action, b.CurrentMinor, b.HeldMinor)
	if ref != nil {
		return Balance{}, ref
	}
	if to == b.State {
		return b, nil
	}
	prev := b.State
	b.State = to
	tx.PutBalance(b)
	tx.emit(Event{Type: EventBalanceStateChanged, BalanceID: b.ID, CustomerID: b.CustomerID, Currency: b.Currency,
		PreviousStatus: string(prev), Status: string(to), Source: by.Source, Actor: by.Actor})
	return b, nil
}

// SetBalanceState is the command of Tx.SetBalanceState.
type SetBalanceState struct {
	BalanceID string
	Action    BalanceAction
	By        Origin // the channel and actor of balance.state_changed
}

func (SetBalanceState) Kind() OpKind { return OpSetBalanceState }
func (SetBalanceState) Keys(*Keys)   {}

func (c SetBalanceState) Apply(tx *Tx, _ *Env) Result[Balance] {
	return result(tx.SetBalanceState(c.BalanceID, c.Action, c.By))
}
