package ledger

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/cardswitch/cardswitch/authz"
)

// Wallet tokens of the token service hub (contract §5, package tsh). A token the hub tells the
// issuer about is a Token of the token vault like any other (authorized on its funding card);
// what the hub adds lives beside it in a WalletToken of the same id: the hub's names for it
// (virtualCardId, walletCardRefId, ...), its device bindings and step-ups, and the history of
// the x-correlation-ids that created and changed it. Wallet tokens are few per card and read
// only by /tsh and /admin, so the State keeps them in memory and the journal persists them as
// rows of their own table.

// TableWalletToken is the journal table of wallet tokens.
const TableWalletToken = "wallet_token"

// walletHistoryMax bounds the changes a wallet token remembers: the oldest are dropped (the
// audit trail keeps every call).
const walletHistoryMax = 64

// walletBindingsMax bounds the device bindings a wallet token remembers (oldest dropped).
const walletBindingsMax = 16

// WalletTokenChange is one call of the hub that created or changed a wallet token.
type WalletTokenChange struct {
	AtUnixNano    int64            `json:"at"`
	CorrelationID string           `json:"correlationId"`
	Operation     string           `json:"operation"` // notifyVirtualCardChange, notifyStandInProcess
	Action        string           `json:"action,omitempty"`
	State         authz.TokenState `json:"state"` // the token's state after the call
	ErrorCode     int              `json:"errorCode,omitempty"`
}

// DeviceBinding is a device binding of a wallet token (DEVICE_BOUND / DEVICE_UNBOUND).
type DeviceBinding struct {
	Reference     string `json:"reference"` // deviceBindingReference
	Bound         bool   `json:"bound"`
	AtUnixNano    int64  `json:"at"`
	CorrelationID string `json:"correlationId"`
}

// WalletToken is what the hub says of a token.
type WalletToken struct {
	TokenID             string              `json:"tokenId"` // WalletTokenID(VirtualCardID)
	VirtualCardID       string              `json:"virtualCardId"`
	WalletProviderID    string              `json:"walletProviderId"`
	WalletCardRefID     string              `json:"walletCardRefId,omitempty"`
	WalletVirtualCardID string              `json:"walletVirtualCardId,omitempty"`
	TokenStorageID      string              `json:"tokenStorageId,omitempty"`
	IsPrimary           bool                `json:"isPrimary"`
	TokenAssuranceLevel string              `json:"tokenAssuranceLevel,omitempty"`
	StandIn             bool                `json:"standIn,omitempty"` // registered by notifyStandInProcess
	Erased              bool                `json:"erased,omitempty"`  // ERASE: personal data removed
	Bindings            []DeviceBinding     `json:"bindings,omitempty"`
	StepUps             []string            `json:"stepUps,omitempty"` // CARDHOLDER_STEPUP_* actions, in order
	History             []WalletTokenChange `json:"history"`
}

// WalletTokenID is the token id of the hub's virtualCardId: "tok_" and a hash of it, so the id
// needs no index and the same virtualCardId always names the same token.
func WalletTokenID(virtualCardID string) string {
	h := sha256.Sum256([]byte("tsh|" + virtualCardID))
	return "tok_" + hex.EncodeToString(h[:12])
}

func (w *WalletToken) record(c WalletTokenChange) {
	h := append([]WalletTokenChange(nil), w.History...)
	h = append(h, c)
	if len(h) > walletHistoryMax {
		h = h[len(h)-walletHistoryMax:]
	}
	w.History = h
}

// walletStore is the State's wallet tokens by token id.
type walletStore struct{ byID map[string]WalletToken }

func newWalletStore() *walletStore { return &walletStore{byID: map[string]WalletToken{}} }

func (s *walletStore) get(id string) (WalletToken, bool) {
	w, ok := s.byID[id]
	return w, ok
}

func (s *walletStore) set(w *WalletToken) { s.byID[w.TokenID] = *w }

// WalletToken returns a wallet token as the batch sees it.
func (tx *Tx) WalletToken(id string) (WalletToken, bool) { return tx.wallets.get(id) }

// PutWalletToken writes a wallet token in the batch.
func (tx *Tx) PutWalletToken(w WalletToken) { tx.wallets.put(w.TokenID, w) }

// WalletToken returns a committed wallet token (queries).
func (s *State) WalletToken(id string) (WalletToken, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.wallets.get(id)
}

// RegisterWalletToken registers the token PAN the hub gave (tokenInfo) for a card, with its
// wallet record: Token is checked as AddToken checks it (card, type, PAN not in use), Wallet
// gets Change as its first history entry. A wallet token with the id exists already →
// TOKEN_EXISTS.
type RegisterWalletToken struct {
	Token  Token
	Wallet WalletToken
	Change WalletTokenChange
}

func (RegisterWalletToken) Kind() OpKind { return OpRegisterWalletToken }
func (RegisterWalletToken) Keys(*Keys)   {}

func (c RegisterWalletToken) Apply(tx *Tx, env *Env) Result[WalletToken] {
	if _, ok := tx.WalletToken(c.Wallet.TokenID); ok || c.Token.ID != c.Wallet.TokenID {
		return result(WalletToken{}, refuse(Conflict, "TOKEN_EXISTS", "the virtual card is registered"))
	}
	t, r := tx.AddToken(c.Token, env)
	if r != nil {
		return result(WalletToken{}, r)
	}
	w := c.Wallet
	w.History = nil
	ch := c.Change
	ch.AtUnixNano, ch.State = env.Now.UnixNano(), t.State
	w.record(ch)
	tx.PutWalletToken(w)
	return result(w, nil)
}

// ChangeWalletToken applies what the hub said of a wallet token: a lifecycle state, a new
// funding card (UPDATE), a new token PAN (RENEW), an erasure (ERASE), a device binding or a
// step-up, and records the call. The caller decided the change on the token as it read it
// (package tsh); ExpectState is that state, and a token found in another state (a concurrent
// call) is refused with TOKEN_CHANGED so that the decision is made again, never applied to a
// state it was not made for.
type ChangeWalletToken struct {
	TokenID     string
	ExpectState authz.TokenState
	State       authz.TokenState // the state after the change ("" : unchanged)
	CardID      string           // UPDATE: the new funding card
	// RENEW: the new token PAN (hash, clear, last 4) and expiry (YYMM).
	PANHash, PAN, Last4, ExpiryYYMM string
	Erase                           bool
	Binding                         *DeviceBinding
	StepUp                          string
	// Wallet fields the call carried ("" keeps the current value).
	WalletCardRefID, WalletVirtualCardID, TokenStorageID, TokenAssuranceLevel string
	IsPrimary                                                                 *bool
	Change                                                                    WalletTokenChange
}

func (ChangeWalletToken) Kind() OpKind { return OpChangeWalletToken }
func (ChangeWalletToken) Keys(*Keys)   {}

func (c ChangeWalletToken) Apply(tx *Tx, env *Env) Result[WalletToken] {
	w, ok := tx.WalletToken(c.TokenID)
	t, tok := tx.Token(c.TokenID)
	if !ok || !tok {
		return result(WalletToken{}, refuse(NotFound, "TOKEN_NOT_FOUND", "no such virtual card"))
	}
	if t.State != c.ExpectState {
		return result(WalletToken{}, refuse(Conflict, "TOKEN_CHANGED", "the token changed meanwhile; retry"))
	}
	if c.CardID != "" && c.CardID != t.CardID {
		if _, ok := tx.Card(c.CardID); !ok {
			return result(WalletToken{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card"))
		}
		t.CardID = c.CardID
	}
	if c.PANHash != "" && c.PANHash != t.PANHash {
		if _, used := tx.TokenIDByPANHash(c.PANHash); used {
			return result(WalletToken{}, refuse(Conflict, "TOKEN_EXISTS", "the token PAN is registered"))
		}
		if _, used := tx.CardIDByPANHash(c.PANHash); used {
			return result(WalletToken{}, refuse(Conflict, "TOKEN_EXISTS", "the token PAN is a card PAN"))
		}
		t.PANHash, t.PAN, t.Last4 = c.PANHash, c.PAN, c.Last4
		if c.ExpiryYYMM != "" {
			t.ExpiryYYMM = c.ExpiryYYMM
		}
	}
	if c.Erase {
		// The clear token PAN goes; its hash stays so that the PAN still finds a deleted
		// token (14) rather than nothing.
		t.PAN = ""
		w.WalletCardRefID, w.WalletVirtualCardID, w.TokenStorageID = "", "", ""
		w.Bindings = nil
		w.Erased = true
	}
	tx.PutToken(t)
	if c.State != "" && c.State != t.State {
		var r *Refusal
		if t, r = tx.SetTokenState(t.ID, c.State); r != nil {
			return result(WalletToken{}, r)
		}
	}
	if !c.Erase {
		w.WalletCardRefID = keep(w.WalletCardRefID, c.WalletCardRefID)
		w.WalletVirtualCardID = keep(w.WalletVirtualCardID, c.WalletVirtualCardID)
		w.TokenStorageID = keep(w.TokenStorageID, c.TokenStorageID)
	}
	w.TokenAssuranceLevel = keep(w.TokenAssuranceLevel, c.TokenAssuranceLevel)
	if c.IsPrimary != nil {
		w.IsPrimary = *c.IsPrimary
	}
	now := env.Now.UnixNano()
	if c.Binding != nil {
		b := *c.Binding
		b.AtUnixNano = now
		bs := append(append([]DeviceBinding(nil), w.Bindings...), b)
		if len(bs) > walletBindingsMax {
			bs = bs[len(bs)-walletBindingsMax:]
		}
		w.Bindings = bs
	}
	if c.StepUp != "" {
		su := append(append([]string(nil), w.StepUps...), c.StepUp)
		if len(su) > walletBindingsMax {
			su = su[len(su)-walletBindingsMax:]
		}
		w.StepUps = su
	}
	ch := c.Change
	ch.AtUnixNano, ch.State = now, t.State
	w.record(ch)
	tx.PutWalletToken(w)
	return result(w, nil)
}

func keep(cur, next string) string {
	if next == "" {
		return cur
	}
	return next
}

// SendOTP records a tsh.otp event for the webhook to deliver: Data is the event's data as
// delivered (package tsh builds it). It changes nothing else.
type SendOTP struct {
	CardID string
	Data   []byte
}

func (SendOTP) Kind() OpKind { return OpSendOTP }
func (SendOTP) Keys(*Keys)   {}

func (c SendOTP) Apply(tx *Tx, _ *Env) Result[struct{}] {
	tx.emit(Event{Type: EventTSHOTP, CardID: c.CardID, Payload: c.Data})
	return Result[struct{}]{}
}

// WalletCVVChecked books a CVV the hub sent (requestCardDigitization) and cardswitch checked
// against the card: as on the ISO path (authz.Decide, applyCardEffects), a wrong value counts
// towards the card's consecutive wrong-card-data values and the authz.CardDataTriesMax-th locks
// the card (suspected fraud, 7), a right value resets the count; twins share both. So a
// 3-digit CVV cannot be found by asking the hub's way a thousand times.
type WalletCVVChecked struct {
	CardID string
	Right  bool
}

func (WalletCVVChecked) Kind() OpKind { return OpWalletCVVChecked }
func (WalletCVVChecked) Keys(*Keys)   {}

func (c WalletCVVChecked) Apply(tx *Tx, _ *Env) Result[Card] {
	card, ok := tx.Card(c.CardID)
	if !ok {
		return result(Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card"))
	}
	lock := authz.NotLocked
	switch {
	case c.Right && card.CardDataFails == 0:
		return result(card, nil)
	case c.Right:
		card.CardDataFails = 0
	default:
		card.CardDataFails++
		if card.CardDataFails >= authz.CardDataTriesMax {
			lock = authz.LockSuspectedFraud
		}
	}
	if lock != authz.NotLocked {
		tx.EmitCardState(card, Card{ID: card.ID, BalanceID: card.BalanceID, State: CardLocked, LockReason: lock}, "tsh", "token service hub")
		card.lock(lock)
	}
	tx.PutCard(card)
	if hasTwins(&card) {
		tx.shareCardEffects(&card, lock)
	}
	return result(card, nil)
}
