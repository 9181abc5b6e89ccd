package mgmt

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Transaction history is derived from the ledger's auth records (one per money-moving original
// message: authorizations, financial requests, refunds, advices; not balance inquiries). Records
// leave the ledger with its retention, and so leave the history; records archived
// (ledger/archiving.go) are read from the archive, through its index by card and balance.

type historyItem struct {
	TransactionID string  `json:"transactionId"`
	CardID        string  `json:"cardId,omitempty"`
	BalanceID     string  `json:"balanceId,omitempty"`
	MaskedPAN     string  `json:"maskedPan,omitempty"`
	MTI           string  `json:"mti"`
	Type          string  `json:"type"`
	State         string  `json:"state"`
	ActionCode    string  `json:"actionCode"`
	Amount        string  `json:"amount"`
	Held          string  `json:"held"`
	Posted        string  `json:"posted"`
	Currency      string  `json:"currency"`
	Merchant      *string `json:"merchant"`
	MCC           string  `json:"mcc,omitempty"`
	CreatedAt     string  `json:"createdAt"`
}

// historyCursor is opaque to clients: base64url of "<createdAt nanos>|<key>" of the last item.
func encodeCursor(a *ledger.Auth) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(a.CreatedAtUnixNano, 10) + "|" + a.Key))
}

func decodeCursor(s string) (int64, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", false
	}
	ts, key, ok := strings.Cut(string(raw), "|")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	return n, key, err == nil
}

// history lists the records naming one of ids that keep accepts, newest first, one page after
// the cursor.
func (s *Server) history(c *call, ids []string, keep func(*ledger.Auth) bool) (int, any, *apiError) {
	limit, err := pageLimit(c)
	if err != nil {
		return 0, nil, err
	}
	var afterTS int64
	var afterKey string
	hasCursor := false
	if q := c.query("cursor"); q != "" {
		var ok bool
		if afterTS, afterKey, ok = decodeCursor(q); !ok {
			return 0, nil, errBad("INVALID_CURSOR", "cursor is not one this API gave", "cursor")
		}
		hasCursor = true
	}
	st := s.eng.State()
	auths, rerr := st.AuthsOf(ids, func(a *ledger.Auth) bool {
		if !keep(a) {
			return false
		}
		// Strictly older than the cursor in (createdAt desc, key desc) order.
		return !hasCursor || a.CreatedAtUnixNano < afterTS || (a.CreatedAtUnixNano == afterTS && a.Key < afterKey)
	})
	if rerr != nil {
		s.log.Error("transaction history: journal read failed", "err", rerr)
		return 0, nil, errUnavailable
	}
	sort.Slice(auths, func(i, j int) bool {
		if auths[i].CreatedAtUnixNano != auths[j].CreatedAtUnixNano {
			return auths[i].CreatedAtUnixNano > auths[j].CreatedAtUnixNano
		}
		return auths[i].Key > auths[j].Key
	})
	more := len(auths) > limit
	if more {
		auths = auths[:limit]
	}
	cards := map[string]ledger.Card{}
	items := make([]historyItem, 0, len(auths))
	for i := range auths {
		a := &auths[i]
		card, ok := cards[a.CardID]
		if !ok && a.CardID != "" {
			card, _ = st.Card(a.CardID)
			cards[a.CardID] = card
		}
		currency := s.balanceCurrency(a.BalanceID)
		mti, _, _ := strings.Cut(a.Key, "|")
		it := historyItem{TransactionID: base64.RawURLEncoding.EncodeToString([]byte(a.Key)),
			CardID: a.CardID, BalanceID: a.BalanceID, MTI: mti, Type: a.Kind.String(), State: string(a.State),
			ActionCode: a.Action.String(), Amount: formatAmount(a.AmountMinor, currency),
			Held: formatAmount(a.HeldMinor, currency), Posted: formatAmount(a.PostedMinor, currency),
			Currency: currency, CreatedAt: nanosRFC3339(a.CreatedAtUnixNano)}
		if card.PAN != "" {
			it.MaskedPAN = tokenvault.Mask(card.PAN)
		}
		if m := strings.TrimSpace(a.Merchant); m != "" {
			it.Merchant = &m
			it.MCC = a.MCC
		}
		items = append(items, it)
	}
	resp := map[string]any{"items": items}
	if more {
		resp["nextCursor"] = encodeCursor(&auths[len(auths)-1])
	}
	return 200, resp, nil
}

func (s *Server) hCardHistory(c *call) (int, any, *apiError) {
	card, err := c.loadCard()
	if err != nil {
		return 0, nil, err
	}
	return s.history(c, []string{card.ID}, func(a *ledger.Auth) bool { return a.CardID == card.ID })
}

func (s *Server) hBalanceHistory(c *call) (int, any, *apiError) {
	b, err := c.loadBalance(false)
	if err != nil {
		return 0, nil, err
	}
	return s.history(c, []string{b.ID}, func(a *ledger.Auth) bool { return a.BalanceID == b.ID || a.PartnerID == b.ID })
}
