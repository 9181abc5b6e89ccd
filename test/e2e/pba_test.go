package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/pba"
)

// pbaClient speaks /pba to a running switch and signs as the development bank.
type pbaClient struct {
	t   *testing.T
	s   *sw
	jti atomic.Int64
}

func newPBAClient(t *testing.T, s *sw) *pbaClient { return &pbaClient{t: t, s: s} }

func (p *pbaClient) sign(sub, purpose string) string {
	p.t.Helper()
	key, err := pba.LoadSigningKey(filepath.Join(p.s.dir, config.DevPBAKeyFile))
	if err != nil {
		p.t.Fatal(err)
	}
	now := time.Now()
	c := pba.Claims{Issuer: config.DevPBAInstitution, Subject: sub, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		ID: fmt.Sprintf("e2e-%d-%d", now.UnixNano(), p.jti.Add(1)), Purpose: purpose}
	switch purpose {
	case pba.PurposeAccountInfo:
		c.IBAN, c.CountryCode, c.Phone = "DE89 3704 0044 0532 0130 00", "DE", "+4930123456"
	case pba.PurposeIBANInfo:
		c.IBANID = pba.IBANID("DE89370400440532013000")
	}
	s, err := pba.Sign(key, config.DevPBAKID, c)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// post calls an operation; session "" for none.
func (p *pbaClient) post(path, session string, body any, hdr ...string) (int, map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.s.app.HTTPAddr()+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (p *pbaClient) ok(path, session string, body any, hdr ...string) map[string]any {
	p.t.Helper()
	st, out := p.post(path, session, body, hdr...)
	if st != 200 {
		p.t.Fatalf("%s: %d %v", path, st, out)
	}
	return out
}

// eventually polls f until it reports true (the job runner works in the background).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 18 "Done when": digitize an IBAN, pay with the static token over ISO 8583, suspend it
// and see 62, delete it and see 14, against the switch as `cardswitch serve` runs it (the
// development profile's institution and key pair).
func TestPBAStaticTokenEndToEnd(t *testing.T) {
	s := startSwitch(t)
	p := newPBAClient(t, s)
	pair := p.ok("/pba/pairDeviceByTrustedIdentity", "", map[string]any{"trustedIdentity": p.sign("anna", pba.PurposeAccountInfo),
		"fcmRegistrationToken": "fcm-1", "deviceInfo": map[string]string{"deviceId": "phone-1"}})
	sess := pair["userSessionToken"].(string)
	ibanID := pba.IBANID("DE89370400440532013000")
	tok := p.ok("/pba/digitizeIbanForStatic", sess, map[string]string{"ibanId": ibanID})["paymentTokenId"].(string)
	var data map[string]any
	eventually(t, "the static token's payment data", func() bool {
		st, out := p.post("/pba/getStaticTokenPaymentData", sess, map[string]string{"signedIbanInfo": p.sign("anna", pba.PurposeIBANInfo)})
		if st == 409 && out["code"] != "STATIC_TOKEN_PAYMENT_DATA_NOT_AVAILABLE" {
			t.Fatalf("409 %v", out)
		}
		data = out
		return st == 200
	})
	if data["paymentTokenId"] != tok {
		t.Fatalf("payment data of %v", data["paymentTokenId"])
	}
	pan, exp, cvc2 := data["tokenPAN"].(string), data["expDate"].(string), data["CVC2"].(string)
	c := card{pan: pan, expiry: exp[2:] + exp[:2]}
	bal := p.ok("/pba/server/creditIban", "", map[string]string{"userId": "anna", "ibanId": ibanID, "amount": "50.00"}, "Idempotency-Key", "fund-1")
	if bal["available"] != "50.00" {
		t.Fatalf("credit %v", bal)
	}
	pay := func(amountMinor int64) string {
		r := s.req("0100", "000000", c, amountMinor)
		r.CVC2 = cvc2
		return s.send(r).ResponseCode
	}
	if rc := pay(1234); rc != "00" {
		t.Fatalf("e-commerce payment with the static token: %s", rc)
	}
	if st, _ := p.post("/pba/server/creditIban", "", map[string]string{"userId": "anna", "ibanId": ibanID, "amount": "1.00"}); st != 200 {
		t.Fatal("second credit")
	}
	p.ok("/pba/server/suspendStaticToken", "", map[string]string{"paymentTokenId": tok})
	if rc := pay(100); rc != "62" {
		t.Fatalf("suspended static token: %s", rc)
	}
	p.ok("/pba/server/unsuspendStaticToken", "", map[string]string{"paymentTokenId": tok})
	if rc := pay(100); rc != "00" {
		t.Fatalf("unsuspended static token: %s", rc)
	}
	p.ok("/pba/deleteStaticToken", sess, map[string]string{"paymentTokenId": tok})
	if rc := pay(100); rc != "14" {
		t.Fatalf("deleted static token: %s", rc)
	}
	hist := p.ok("/pba/getTransactionHistory", sess, map[string]any{"limit": 2})
	items := hist["transactionHistoryList"].([]any)
	if len(items) != 2 || hist["next"] == nil {
		t.Fatalf("history page %v", hist)
	}
	rest := p.ok("/pba/getTransactionHistory", sess, map[string]any{"limit": 10, "next": hist["next"]})
	if n := len(rest["transactionHistoryList"].([]any)); n != 2 || rest["next"] != nil {
		t.Fatalf("second history page: %d items, next %v", n, rest["next"])
	}
}

// Issue 18 "Done when": a device token pays contactlessly with cryptograms until its delivered
// credentials run out (an undelivered ATC is declined 82) and are replenished, automatically by
// the switch and on request.
func TestPBADeviceTokenEndToEnd(t *testing.T) {
	s := startSwitch(t)
	p := newPBAClient(t, s)
	sess := p.ok("/pba/pairDeviceByTrustedIdentity", "", map[string]any{"trustedIdentity": p.sign("ben", pba.PurposeAccountInfo),
		"fcmRegistrationToken": "fcm-2", "deviceInfo": map[string]string{"deviceId": "phone-2"}})["userSessionToken"].(string)
	keys := p.ok("/pba/registerDeviceForPayment", sess, map[string]any{"paymentDeviceInfo": map[string]string{"os": "android"}})
	dek := keys["mobileKeys"].(map[string]any)["dataEncryptionKey"].(string)
	ibanID := pba.IBANID("DE89370400440532013000")
	dig := p.ok("/pba/digitizeIbanForDevice", sess, map[string]string{"ibanId": ibanID})
	tok := dig["paymentTokenId"].(string)
	profile, err := pba.OpenTokenProfile(dek, dig["encryptedTokenProfile"].(string))
	if err != nil {
		t.Fatal(err)
	}
	conf := p.ok("/pba/confirmProvisioningStatus", sess, map[string]string{"paymentTokenId": tok, "status": "SUCCESS"})
	creds := func(v any) []pba.Credential {
		b, _ := json.Marshal(v)
		var tc pba.TransactionCredentials
		_ = json.Unmarshal(b, &tc)
		cs, err := pba.OpenCredentials(dek, tc.Encrypted)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	first := creds(conf["transactionCredentials"])
	p.ok("/pba/server/creditIban", "", map[string]string{"userId": "ben", "ibanId": ibanID, "amount": "500.00"})
	tokenPAN := profile.TokenPAN
	pay := func(c pba.Credential) string {
		icc, err := pba.BuildDeviceField55(c.SessionKey, tokenPAN, c.ATC, 500, "978", [4]byte{9, 8, 7, 6})
		if err != nil {
			t.Fatal(err)
		}
		r := s.req("0100", "000000", card{pan: tokenPAN}, 500)
		r.ExpiryYYMM, r.ICC, r.POSEntryMode = "", icc, "071"
		return s.send(r).ResponseCode
	}
	for _, c := range first {
		if rc := pay(c); rc != "00" {
			t.Fatalf("contactless ATC %d: %s", c.ATC, rc)
		}
	}
	// Out of credentials: a cryptogram for an ATC the device was never given is declined even
	// with the right key (derived here from the development IMK, as only the switch can).
	prog, _ := s.app.Config().Program(config.DevPBAProgram)
	mk, _ := cardcrypto.DeriveICCMasterKeyOptionA(config.Key(prog.Keys.IMKAC), tokenPAN, "00")
	sk, _ := cardcrypto.DeriveCommonSessionKey(mk, []byte{0x01, 0x00})
	if rc := pay(pba.Credential{ATC: 256, SessionKey: fmt.Sprintf("%X", sk)}); rc != "82" {
		t.Fatalf("undelivered ATC: %s", rc)
	}
	// The switch replenished by itself (below the threshold) through a device message.
	var auto []pba.Credential
	eventually(t, "the automatic replenishment", func() bool {
		for _, m := range p.ok("/pba/getPendingMessages", sess, nil)["messages"].([]any) {
			mm := m.(map[string]any)
			if d, _ := mm["data"].(map[string]any); d["action"] == "REPLENISH" {
				auto = creds(d["transactionCredentials"])
				p.ok("/pba/acknowledgeMessage", sess, map[string]string{"messageId": mm["id"].(string)})
				return true
			}
		}
		return false
	})
	for _, c := range auto {
		if rc := pay(c); rc != "00" {
			t.Fatalf("replenished ATC %d: %s", c.ATC, rc)
		}
	}
	manual := creds(p.ok("/pba/replenishCredentials", sess, map[string]string{"paymentTokenId": tok})["transactionCredentials"])
	if rc := pay(manual[0]); rc != "00" {
		t.Fatalf("manually replenished ATC %d: %s", manual[0].ATC, rc)
	}
	p.ok("/pba/server/suspendPaymentToken", "", map[string]string{"paymentTokenId": tok})
	if rc := pay(manual[1]); rc != "62" {
		t.Fatalf("suspended device token: %s", rc)
	}
	// Pairing the phone again for another user deletes the installation's device tokens.
	p.ok("/pba/pairDeviceByTrustedIdentity", "", map[string]any{"trustedIdentity": p.sign("cleo", pba.PurposeTrustedIdentity),
		"deviceInfo": map[string]string{"deviceId": "phone-2"}})
	if lt, _ := s.app.Engine().State().Token(tok); lt.State != authz.TokenDeleted {
		t.Fatalf("device token after re-pairing: %s", lt.State)
	}
}
