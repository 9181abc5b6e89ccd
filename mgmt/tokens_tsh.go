package mgmt

import (
	"github.com/cardswitch/cardswitch/ledger"
)

// GET /admin/tokens?cardId=: a card's tokens with what the token service hub said of them
// (contract §5): state, wallet, type, last 4 of the token PAN, and the x-correlation-ids of the
// calls that created and changed each (tokens registered otherwise have no hub history).

type tokenHistoryView struct {
	At            string `json:"at"`
	CorrelationID string `json:"correlationId"`
	Operation     string `json:"operation"`
	Action        string `json:"action,omitempty"`
	State         string `json:"state"`
	ErrorCode     int    `json:"errorCode,omitempty"`
}

type deviceBindingView struct {
	Reference     string `json:"deviceBindingReference"`
	Bound         bool   `json:"bound"`
	At            string `json:"at"`
	CorrelationID string `json:"correlationId"`
}

type walletTokenView struct {
	tokenView
	VirtualCardID    string              `json:"virtualCardId,omitempty"`
	WalletProviderID string              `json:"walletProviderId,omitempty"`
	StandIn          bool                `json:"standIn,omitempty"`
	Erased           bool                `json:"erased,omitempty"`
	CreatedBy        string              `json:"createdByCorrelationId,omitempty"`
	History          []tokenHistoryView  `json:"history"`
	Bindings         []deviceBindingView `json:"deviceBindings,omitempty"`
	StepUps          []string            `json:"stepUps,omitempty"`
}

func viewWalletToken(t ledger.Token, w ledger.WalletToken, isWallet bool) walletTokenView {
	v := walletTokenView{tokenView: viewToken(t), History: []tokenHistoryView{}}
	if !isWallet {
		return v
	}
	v.VirtualCardID, v.WalletProviderID, v.StandIn, v.Erased, v.StepUps = w.VirtualCardID, w.WalletProviderID, w.StandIn, w.Erased, w.StepUps
	for _, h := range w.History {
		v.History = append(v.History, tokenHistoryView{At: nanosRFC3339(h.AtUnixNano), CorrelationID: h.CorrelationID,
			Operation: h.Operation, Action: h.Action, State: string(h.State), ErrorCode: h.ErrorCode})
	}
	if len(w.History) > 0 {
		v.CreatedBy = w.History[0].CorrelationID
	}
	for _, b := range w.Bindings {
		v.Bindings = append(v.Bindings, deviceBindingView{Reference: b.Reference, Bound: b.Bound,
			At: nanosRFC3339(b.AtUnixNano), CorrelationID: b.CorrelationID})
	}
	return v
}

func (s *Server) hTokensOfCard(c *call) (int, any, *apiError) {
	cardID := c.query("cardId")
	if cardID == "" {
		return 0, nil, errMissing("cardId")
	}
	st := s.eng.State()
	if _, ok := st.Card(cardID); !ok {
		return 0, nil, errNotFound("CARD_NOT_FOUND", "no such card")
	}
	out := []walletTokenView{}
	for _, id := range st.TokenIDsOfCard(cardID) {
		t, ok := st.Token(id)
		if !ok || t.CardID != cardID { // a token moved to another card (UPDATE) stays in the old card's index
			continue
		}
		w, isWallet := st.WalletToken(id)
		out = append(out, viewWalletToken(t, w, isWallet))
	}
	return 200, map[string]any{"tokens": out}, nil
}
