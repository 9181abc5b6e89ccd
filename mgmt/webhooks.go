package mgmt

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/cardswitch/cardswitch/notify"
)

// Webhook delivery lives in package notify; the admin endpoints list and replay through it.
const (
	deliveryPending   = notify.StatusPending
	deliveryDelivered = notify.StatusDelivered
	deliveryFailed    = notify.StatusFailed
)

// HTTPDoer sends a webhook request (net/http's Client satisfies it).
type HTTPDoer = notify.HTTPDoer

type delivery = notify.Delivery

// hooks adapts the outbox to the admin handlers; a nil outbox is a disabled one.
type hooks struct{ o *notify.Outbox }

func (h hooks) enabled() bool { return h.o != nil && h.o.Enabled() }

func (h hooks) list(before uint64, limit int, status string) []delivery {
	if h.o == nil {
		return nil
	}
	return h.o.List(before, limit, status)
}

func (h hooks) replay(ids []string, fromSeq uint64) int {
	if h.o == nil {
		return 0
	}
	return h.o.Replay(ids, fromSeq)
}

// randID is n random bytes in hex (resource ids).
func randID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("mgmt: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}
