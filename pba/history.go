package pba

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Transaction history (M12): the auth records of the balances behind the user's IBANs (or of
// one IBAN), newest first, in pages that follow an opaque cursor (next) until it is absent.
// Records leave with the ledger's retention, and so leave the history.

// History page limits.
const (
	defaultHistoryLimit = 20
	maxHistoryLimit     = 100
)

type historyItem struct {
	TransactionID  string `json:"transactionId"`
	IBANID         string `json:"ibanId"`
	PaymentTokenID string `json:"paymentTokenId,omitempty"`
	Type           string `json:"type"`
	State          string `json:"state"`
	ActionCode     string `json:"actionCode"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	Merchant       string `json:"merchant,omitempty"`
	CreatedAt      string `json:"createdAt"`
}

func (s *Service) hGetTransactionHistory(c *call) (any, *apiError) {
	var in struct {
		Limit  int    `json:"limit"`
		Next   string `json:"next"`
		IBANID string `json:"ibanId"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.Limit == 0 {
		in.Limit = defaultHistoryLimit
	}
	if in.Limit < 1 || in.Limit > maxHistoryLimit {
		return nil, errBad("INVALID_FIELD", "limit", "limit: 1 to 100")
	}
	var afterTS int64
	var afterKey string
	if in.Next != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.Next)
		ts, key, ok := strings.Cut(string(raw), "|")
		n, perr := strconv.ParseInt(ts, 10, 64)
		if err != nil || !ok || perr != nil {
			return nil, errBad("INVALID_FIELD", "next", "next: not a cursor of this history")
		}
		afterTS, afterKey = n, key
	}
	st := s.eng.State()
	balances := map[string]Link{}
	for _, r := range st.PBAList(linkPrefix(c.sess.inst, c.sess.sub)) {
		l, ok := get[Link](stateView{st}, r.Key)
		if ok && (in.IBANID == "" || l.IBANID == in.IBANID) {
			balances[l.BalanceID] = l
		}
	}
	if in.IBANID != "" && len(balances) == 0 {
		return nil, fromRefusal(errIBANNotFound)
	}
	tokenOfCard := map[string]string{}
	for _, pt := range userTokens(stateView{st}, c.sess.inst, c.sess.sub) {
		tokenOfCard[pt.CardID] = pt.ID
	}
	ids := make([]string, 0, len(balances))
	for id := range balances {
		ids = append(ids, id)
	}
	auths, err := st.AuthsOf(ids, func(a *ledger.Auth) bool { // archived records too (ledger/archiving.go)
		if _, ok := balances[a.BalanceID]; !ok {
			return false
		}
		return in.Next == "" || a.CreatedAtUnixNano < afterTS || (a.CreatedAtUnixNano == afterTS && a.Key < afterKey)
	})
	if err != nil {
		return nil, errUnavailable
	}
	sort.Slice(auths, func(i, j int) bool {
		if auths[i].CreatedAtUnixNano != auths[j].CreatedAtUnixNano {
			return auths[i].CreatedAtUnixNano > auths[j].CreatedAtUnixNano
		}
		return auths[i].Key > auths[j].Key
	})
	out := map[string]any{}
	items := []historyItem{}
	for i := range auths {
		if len(items) == in.Limit {
			last := auths[i-1]
			out["next"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.CreatedAtUnixNano, 10) + "|" + last.Key))
			break
		}
		a := &auths[i]
		l := balances[a.BalanceID]
		cur := s.insts[c.sess.inst].currency
		items = append(items, historyItem{TransactionID: a.Key, IBANID: l.IBANID, PaymentTokenID: tokenOfCard[a.CardID],
			Type: a.Kind.String(), State: string(a.State), ActionCode: a.Action.String(), Amount: formatAmount(a.AmountMinor, cur),
			Currency: cur, Merchant: strings.TrimSpace(a.Merchant),
			CreatedAt: time.Unix(0, a.CreatedAtUnixNano).UTC().Format(time.RFC3339Nano)})
	}
	out["transactionHistoryList"] = items
	return out, nil
}
