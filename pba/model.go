package pba

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// The records of Pay by Account, kept in the ledger's Pay by Account table (ledger/pba.go) as
// JSON under these keys, so that each change is in the batch of the money rows it goes with:
//
//	u/<inst>/<sub>                 User: a bank user (the institution's sub) and its customer
//	l/<inst>/<sub>/<ibanId>        Link: a user's IBAN and the balance behind it
//	li/<ibanId>/<inst>/<sub>       the users of an IBAN (index)
//	i/<installationId>             Installation: a pairing of a device for a user
//	d/<deviceId>                   the device's active installation id
//	ui/<inst>/<sub>/<installId>    a user's installations (index)
//	t/<paymentTokenId>             PaymentToken: a static or device token
//	ut/<inst>/<sub>/<tokenId>      a user's tokens (index)
//	w/<tokenId>                    a device token's ATC window (read by the authorization path)
//	j/<jobId>                      Job: a pending job step (jobs.go)
//	m/<installId>/<seq>            Message: a message to the device not yet acknowledged
//	mc/<installId>                 the installation's last message sequence number
//
// Path parts that come from outside (sub, deviceId) are escaped so that they cannot contain "/".

// Token kinds.
const (
	KindStatic = "STATIC"
	KindDevice = "DEVICE"
)

// User is a bank user of an institution.
type User struct {
	Institution string `json:"inst"`
	Sub         string `json:"sub"`
	CustomerID  string `json:"customerId"`
	Phone       string `json:"phone,omitempty"`
	Email       string `json:"email,omitempty"`
	Country     string `json:"country"`
	CreatedAt   int64  `json:"createdAt"`
}

// Link is one IBAN of one user, with the ledger balance that backs it.
type Link struct {
	Institution string `json:"inst"`
	Sub         string `json:"sub"`
	IBAN        string `json:"iban"` // electronic format
	IBANID      string `json:"ibanId"`
	Country     string `json:"country"`
	BalanceID   string `json:"balanceId"`
	CreatedAt   int64  `json:"createdAt"`
}

// Installation is one pairing of a device: at most one per device is active (its d/ record
// names it); a replaced installation is deleted.
type Installation struct {
	ID          string          `json:"id"`
	DeviceID    string          `json:"deviceId"`
	Institution string          `json:"inst"`
	Sub         string          `json:"sub"`
	FCMToken    string          `json:"fcm,omitempty"`
	DeviceInfo  json.RawMessage `json:"deviceInfo,omitempty"`
	// PaymentAppInstanceID is set once the device registered for payment (M5).
	PaymentAppInstanceID string `json:"paymentAppInstanceId,omitempty"`
	SecurityIssues       int    `json:"securityIssues,omitempty"`
	CreatedAt            int64  `json:"createdAt"`
}

// PaymentToken is a static or device token of a user's IBAN. Its state is the ledger token's
// (same id), which the authorization path reads.
type PaymentToken struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Institution    string `json:"inst"`
	Sub            string `json:"sub"`
	IBANID         string `json:"ibanId"`
	InstallationID string `json:"installationId,omitempty"` // device tokens
	CardID         string `json:"cardId"`                   // the internal account card it funds from
	TUR            string `json:"tur"`                      // token unique reference at the token service
	Last4          string `json:"last4"`
	ExpiryYYMM     string `json:"expiry"`
	// CVC2Confirmed: the account processing platform confirmed the static token's CVC2
	// (until then the token is INACTIVE and its payment data not available).
	CVC2Confirmed bool `json:"cvc2Confirmed,omitempty"`
	// Provisioned: the device confirmed provisioning (SUCCESS); the token is then ACTIVE.
	Provisioned bool `json:"provisioned,omitempty"`
	// NextATC is the first ATC not yet delivered to the device (device tokens).
	NextATC int `json:"nextAtc,omitempty"`
	// Enrolled3DS: the static token is enrolled at the 3-D Secure server.
	Enrolled3DS bool  `json:"enrolled3ds,omitempty"`
	CreatedAt   int64 `json:"createdAt"`
	DeletedAt   int64 `json:"deletedAt,omitempty"`
	// DeletedBy says which path deleted it (sdk, server, admin, provisioning_failure, job, ...).
	DeletedBy string `json:"deletedBy,omitempty"`
}

func esc(s string) string { return url.PathEscape(s) }

func userKey(inst, sub string) string         { return "u/" + inst + "/" + esc(sub) }
func linkPrefix(inst, sub string) string      { return "l/" + inst + "/" + esc(sub) + "/" }
func linkKey(inst, sub, ibanID string) string { return linkPrefix(inst, sub) + ibanID }
func ibanUsersPrefix(ibanID string) string    { return "li/" + ibanID + "/" }
func ibanUserKey(ibanID, inst, sub string) string {
	return ibanUsersPrefix(ibanID) + inst + "/" + esc(sub)
}
func installKey(id string) string                { return "i/" + id }
func deviceKey(deviceID string) string           { return "d/" + esc(deviceID) }
func userInstallsPrefix(inst, sub string) string { return "ui/" + inst + "/" + esc(sub) + "/" }
func tokenKey(id string) string                  { return "t/" + id }
func userTokensPrefix(inst, sub string) string   { return "ut/" + inst + "/" + esc(sub) + "/" }

// lastPart is what follows the last "/" of a key.
func lastPart(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// reader reads records: from a batch (Tx) or from the committed state (queries).
type reader interface {
	PBA(key string) (ledger.PBARecord, bool)
	Token(id string) (ledger.Token, bool)
	Balance(id string) (ledger.Balance, bool)
}

// keyLister lists record keys under a prefix: a Tx (PBAKeys) or the State (stateKeys).
type keyLister interface {
	reader
	keys(prefix string) []string
}

type txView struct{ *ledger.Tx }

func (v txView) keys(p string) []string { return v.PBAKeys(p) }

type stateView struct{ *ledger.State }

func (v stateView) keys(p string) []string {
	rs := v.PBAList(p)
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

func get[T any](r reader, key string) (T, bool) {
	var v T
	rec, ok := r.PBA(key)
	if !ok {
		return v, false
	}
	if err := json.Unmarshal(rec.Data, &v); err != nil {
		// Only this package writes these records; one that does not decode is a bug.
		panic("pba: record " + key + " does not decode: " + err.Error())
	}
	return v, true
}

func put(tx *ledger.Tx, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("pba: record does not encode: " + err.Error())
	}
	tx.PutPBA(ledger.PBARecord{Key: key, Data: b})
}

// mark writes an index record (no value).
func mark(tx *ledger.Tx, key string) { tx.PutPBA(ledger.PBARecord{Key: key}) }

// tokenState is the payment token's state: the ledger token's.
func tokenState(r reader, id string) authz.TokenState {
	t, ok := r.Token(id)
	if !ok {
		return authz.TokenDeleted
	}
	return t.State
}

func unesc(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}
