package pba

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cardswitch/cardswitch/ledger"
)

// Messages to the device (seed §1.7): every state change the wallet server tells the SDK about
// is a message of the device's installation, written in the batch of the change. It is kept
// until the device acknowledges it (acknowledgeMessage), served by getPendingMessages, and sent
// on the SSE stream while the device is connected (sse.go), with a push to wake it. Delivery is
// at least once: the SDK drops a message whose id it has seen. Each installation's messages are
// numbered in order (seq), and listed and streamed in that order.

// Message types (the seed's names).
const (
	MsgTokenDeleted     = "paymentTokenDeleted"
	MsgTokenSuspended   = "paymentTokenSuspended"
	MsgTokenUnsuspended = "paymentTokenUnsuspend"
	MsgRemote           = "mdesRemoteMessage"
	MsgTokenUpdated     = "notifyTokenUpdated"
	MsgNewTransaction   = "newTransaction"
)

// MaxPendingMessages bounds the unacknowledged messages kept per installation: past it the
// oldest is dropped (the device resynchronises with getAllPaymentTokens, which always tells the
// current state).
const MaxPendingMessages = 500

// Message is one message to a device.
type Message struct {
	ID             string          `json:"id"`
	Seq            uint64          `json:"seq"`
	Type           string          `json:"type"`
	PaymentTokenID string          `json:"paymentTokenId,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	CreatedAt      int64           `json:"createdAt"` // Unix milliseconds
}

func messagePrefix(installID string) string { return "m/" + installID + "/" }
func messageKey(installID string, seq uint64) string {
	return messagePrefix(installID) + fmt.Sprintf("%020d", seq) // zero-padded: keys sort by seq
}
func messageCounterKey(installID string) string { return "mc/" + installID }

// MessageID is a message's id: its installation and sequence number.
func MessageID(installID string, seq uint64) string {
	return installID + "." + strconv.FormatUint(seq, 10)
}

// parseMessageID splits a message id.
func parseMessageID(id string) (installID string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], seq, err == nil
}

// enqueue writes a message for an installation in the batch; with no installation (a static
// token's user has no device) there is nobody to tell.
func enqueue(tx *ledger.Tx, installID, typ, tokenID string, data any, nowMilli int64) {
	if installID == "" {
		return
	}
	if _, ok := get[Installation](txView{tx}, installKey(installID)); !ok {
		return
	}
	var seq uint64
	if r, ok := tx.PBA(messageCounterKey(installID)); ok {
		seq, _ = strconv.ParseUint(string(r.Data), 10, 64)
	}
	seq++
	tx.PutPBA(ledger.PBARecord{Key: messageCounterKey(installID), Data: []byte(strconv.FormatUint(seq, 10))})
	m := Message{ID: MessageID(installID, seq), Seq: seq, Type: typ, PaymentTokenID: tokenID, CreatedAt: nowMilli}
	if data != nil {
		m.Data, _ = json.Marshal(data)
	}
	put(tx, messageKey(installID, seq), m)
	mark(tx, pushKey(installID, seq))
	keys := tx.PBAKeys(messagePrefix(installID))
	for i := 0; i < len(keys)-MaxPendingMessages; i++ {
		tx.DeletePBA(keys[i])
	}
}

// pushKey marks a message the push service has not been asked to announce yet (the job runner
// pushes it: pushMessages).
func pushKey(installID string, seq uint64) string {
	return "mp/" + installID + "/" + fmt.Sprintf("%020d", seq)
}

// dropMessages deletes every message of an installation (it was deleted).
func dropMessages(tx *ledger.Tx, installID string) {
	for _, k := range tx.PBAKeys(messagePrefix(installID)) {
		tx.DeletePBA(k)
	}
	for _, k := range tx.PBAKeys("mp/" + installID + "/") {
		tx.DeletePBA(k)
	}
	tx.DeletePBA(messageCounterKey(installID))
}

// pendingMessages lists an installation's unacknowledged messages in order.
func pendingMessages(st *ledger.State, installID string) []Message {
	var out []Message
	for _, r := range st.PBAList(messagePrefix(installID)) {
		var m Message
		if json.Unmarshal(r.Data, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// pushMessages asks the push service to wake the devices that have new messages (seed §1.7:
// every message goes over SSE and the push service). A push that fails is tried again at the
// next run; one made twice wakes the device twice, which fetches its pending messages anyway.
func (s *Service) pushMessages(ctx context.Context) {
	st := s.eng.State()
	for i, rec := range st.PBAList("mp/") {
		if i == jobsPerRun || ctx.Err() != nil {
			return
		}
		rest := strings.TrimPrefix(rec.Key, "mp/")
		installID, seqS, _ := strings.Cut(rest, "/")
		seq, _ := strconv.ParseUint(seqS, 10, 64)
		in, ok := get[Installation](stateView{st}, installKey(installID))
		m, ok2 := get[Message](stateView{st}, messageKey(installID, seq))
		if ok && ok2 && in.FCMToken != "" {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			err := s.adapters.Push.Push(cctx, in.FCMToken, m)
			cancel()
			if err != nil {
				s.log.Warn("pba push failed", "installation", installID, "err", err)
				continue
			}
		}
		key := rec.Key
		s.execLogged(command[bool]{apply: func(tx *ledger.Tx, _ *ledger.Env) (bool, *ledger.Refusal) {
			tx.DeletePBA(key)
			return true, nil
		}})
	}
}

// newTransactions turns the marks of decided authorizations with the users' tokens into
// newTransaction messages to every device of the token's user (seed: pushTransactionDetails →
// onNewTransaction), each mark in a batch of its own with its messages.
func (s *Service) newTransactions(ctx context.Context) {
	st := s.eng.State()
	for i, rec := range st.PBAList(ledger.PBANewTransactionPrefix) {
		if i == jobsPerRun || ctx.Err() != nil {
			return
		}
		authKey := strings.TrimPrefix(rec.Key, ledger.PBANewTransactionPrefix)
		a, found := st.Auth(authKey)
		tokID := string(rec.Data)
		key := rec.Key
		s.execLogged(command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
			tx.DeletePBA(key)
			pt, ok := get[PaymentToken](txView{tx}, tokenKey(tokID))
			if !ok || !found {
				return false, nil
			}
			cur := s.insts[pt.Institution].currency
			data := map[string]string{"transactionId": a.Key, "paymentTokenId": pt.ID, "ibanId": pt.IBANID,
				"type": a.Kind.String(), "actionCode": a.Action.String(), "amount": formatAmount(a.AmountMinor, cur),
				"currency": cur, "merchant": strings.TrimSpace(a.Merchant)}
			for _, k := range (txView{tx}).keys(userInstallsPrefix(pt.Institution, pt.Sub)) {
				enqueue(tx, lastPart(k), MsgNewTransaction, pt.ID, data, env.Now.UnixMilli())
			}
			return true, nil
		}})
	}
}
