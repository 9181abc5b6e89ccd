package pba

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/mgmt"
)

// registerAndDigitize registers the device for payment and digitizes a device token: the data
// encryption key and the token id.
func (h *harness) registerAndDigitize(sess string) (dek, tokID string) {
	h.t.Helper()
	r := h.mobile(sess, "registerDeviceForPayment", map[string]any{"paymentDeviceInfo": map[string]string{"nfc": "yes"}})
	h.want(r, 200, "")
	dek = r.body["mobileKeys"].(map[string]any)["dataEncryptionKey"].(string)
	d := h.mobile(sess, "digitizeIbanForDevice", map[string]string{"ibanId": ibanID, "userLanguageCode": "en"})
	h.want(d, 200, "")
	return dek, d.str("paymentTokenId")
}

func creds(t *testing.T, dek string, v any) (TransactionCredentials, []Credential) {
	t.Helper()
	b, _ := json.Marshal(v)
	var tc TransactionCredentials
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatal(err)
	}
	cs, err := OpenCredentials(dek, tc.Encrypted)
	if err != nil {
		t.Fatalf("credentials do not decrypt with the mobile key: %v", err)
	}
	return tc, cs
}

// Seed §1.5 and issue 18 item 3: a device token is INACTIVE until provisioning succeeds; then it
// pays contactlessly with cryptograms under the delivered session keys, each ATC once and only
// inside the delivered window; below the threshold the switch replenishes by itself; on request
// too; none left means no payment until replenished.
func TestDeviceTokenContactless(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	h.want(h.mobile(sess, "digitizeIbanForDevice", map[string]string{"ibanId": ibanID}), 409, "DEVICE_NOT_REGISTERED_FOR_PAYMENT")
	h.want(h.mobile(sess, "getPkCertificate", nil), 200, "")
	dek, tokID := h.registerAndDigitize(sess)
	st := h.eng.State()
	if s := tokenState(stateView{st}, tokID); s != authz.TokenInactive {
		t.Fatalf("new device token %s", s)
	}
	lt, _ := st.Token(tokID)
	pan := lt.PAN
	h.server("creditIban", map[string]string{"userId": "alice", "ibanId": ibanID, "amount": "100.00"})
	pay := func(c Credential, amount int64) authz.ActionCode {
		t.Helper()
		icc, err := BuildDeviceField55(c.SessionKey, pan, c.ATC, amount, "978", [4]byte{1, 2, 3, 4})
		if err != nil {
			t.Fatal(err)
		}
		return h.authorize(pan, "", "", icc, amount).Action
	}
	a := h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tokID, "status": "SUCCESS"})
	h.want(a, 200, "")
	tc, cs := creds(t, dek, a.body["transactionCredentials"])
	if tc.FromATC != 1 || tc.ToATC != 5 || len(cs) != 5 {
		t.Fatalf("initial credentials %+v (%d)", tc, len(cs))
	}
	h.want(h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tokID, "status": "SUCCESS"}), 409, "ALREADY_PROVISIONED")
	if s := tokenState(stateView{h.eng.State()}, tokID); s != authz.TokenActive {
		t.Fatalf("provisioned token %s", s)
	}
	if got := pay(cs[0], 100); got != authz.Approved {
		t.Fatalf("first contactless payment: %v", got)
	}
	if got := pay(cs[0], 100); got != authz.CryptogramFailure {
		t.Fatalf("replayed ATC: %v", got)
	}
	forged := Credential{ATC: 9, SessionKey: cs[1].SessionKey}
	if got := pay(forged, 100); got != authz.CryptogramFailure {
		t.Fatalf("ATC outside the window: %v", got)
	}
	// An ATC beyond the window with its true session key (derived here as the switch would):
	// still refused, the device was never given it.
	beyond, _ := deriveCredentials(testKey, pan, 6, 1)
	if got := pay(beyond[0], 100); got != authz.CryptogramFailure {
		t.Fatalf("undelivered ATC: %v", got)
	}
	for _, c := range cs[1:4] {
		if got := pay(c, 100); got != authz.Approved {
			t.Fatalf("payment ATC %d: %v", c.ATC, got)
		}
	}
	// One credential left, below the threshold of 2: the job runner replenishes by message.
	view := h.mobile(sess, "getAllPaymentTokens", nil).body["deviceAndStaticPaymentTokens"].([]any)[0].(map[string]any)
	if view["transactionCredentialsCount"].(float64) != 1 {
		t.Fatalf("credentials left: %v", view)
	}
	h.jobs()
	msgs := h.mobile(sess, "getPendingMessages", nil).body["messages"].([]any)
	var repl map[string]any
	for _, m := range msgs {
		mm := m.(map[string]any)
		if d, _ := mm["data"].(map[string]any); mm["type"] == MsgRemote && d["action"] == "REPLENISH" {
			repl = d
		}
	}
	if repl == nil {
		t.Fatalf("no automatic replenishment message: %v", msgs)
	}
	tc2, cs2 := creds(t, dek, repl["transactionCredentials"])
	if tc2.FromATC != 6 || tc2.ToATC != 10 {
		t.Fatalf("automatic window %+v", tc2)
	}
	if got := pay(cs[4], 100); got != authz.Approved { // the old unused credential still pays
		t.Fatalf("last old credential: %v", got)
	}
	for _, c := range cs2 {
		if got := pay(c, 100); got != authz.Approved {
			t.Fatalf("replenished ATC %d: %v", c.ATC, got)
		}
	}
	// None left: a payment with a further ATC fails until the device replenishes on request.
	if got := pay(beyond[0], 100); got != authz.CryptogramFailure {
		t.Fatalf("spent ATC: %v", got)
	}
	r := h.mobile(sess, "replenishCredentials", map[string]string{"paymentTokenId": tokID})
	h.want(r, 200, "")
	_, cs3 := creds(t, dek, r.body["transactionCredentials"])
	if cs3[0].ATC != 11 || pay(cs3[0], 100) != authz.Approved {
		t.Fatalf("manual replenishment %+v", cs3[0])
	}
	// Suspend (server): 62, credentials withdrawn; unsuspend (admin): active again, replenished
	// by the runner.
	h.want(h.server("suspendPaymentToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if got := pay(cs3[1], 100); got.Field39() != "62" {
		t.Fatalf("suspended: %v", got)
	}
	h.want(h.mobile(sess, "replenishCredentials", map[string]string{"paymentTokenId": tokID}), 409, "PAYMENT_TOKEN_NOT_ACTIVE")
	h.want(h.server("suspendStaticToken", map[string]string{"paymentTokenId": tokID}), 409, "PAYMENT_TOKEN_TYPE_MISMATCH")
	h.want(h.admin(mgmt.RoleEmployee, "unsuspendToken", map[string]string{"paymentTokenId": tokID}), 403, "")
	h.want(h.admin(mgmt.RoleManager, "unsuspendToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if got := pay(cs3[1], 100); got != authz.CryptogramFailure {
		t.Fatalf("credential withdrawn by the suspension: %v", got)
	}
	h.jobs()
	if n := credentialsLeft(stateView{h.eng.State()}, tokID); n != 5 {
		t.Fatalf("credentials after unsuspend: %d", n)
	}
	h.want(h.admin(mgmt.RoleManager, "deletePaymentToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if got := pay(cs3[1], 100); got.Field39() != "14" {
		t.Fatalf("deleted: %v", got)
	}
}

// M9 FAILURE deletes the token (no retry); the not-provisioned job deletes one never confirmed.
func TestProvisioningFailureAndCleanup(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	_, tok1 := h.registerAndDigitize(sess)
	h.want(h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tok1, "status": "MAYBE"}), 400, "INVALID_FIELD")
	h.want(h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tok1, "status": "FAILURE"}), 200, "")
	if s := tokenState(stateView{h.eng.State()}, tok1); s != authz.TokenDeleted {
		t.Fatalf("after FAILURE %s", s)
	}
	h.want(h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tok1, "status": "SUCCESS"}), 409, "PAYMENT_TOKEN_NOT_ACTIVE")
	tok2 := h.mobile(sess, "digitizeIbanForDevice", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	h.clock.Add(59 * time.Minute)
	h.jobs()
	if s := tokenState(stateView{h.eng.State()}, tok2); s != authz.TokenInactive {
		t.Fatalf("before grace %s", s)
	}
	h.clock.Add(2 * time.Minute)
	h.jobs()
	if s := tokenState(stateView{h.eng.State()}, tok2); s != authz.TokenDeleted {
		t.Fatalf("after grace %s", s)
	}
	h.jobs()
	if h.tsp.State(h.tokenTUR(tok2)) != "DELETED" {
		t.Fatal("not deleted at the token service")
	}
}

// Seed §1.4: one active installation per device. Pairing again (another user) deletes the
// previous installation and its device tokens; its session ends (USER_UNATHORIZED) and its login
// answers CANT_FIND_DEVICE.
func TestPairingReplacesInstallation(t *testing.T) {
	h := newHarness(t)
	sessA, insA := h.pair("alice", "dev-1")
	_, tokA := h.registerAndDigitize(sessA)
	sessB, insB := h.pair("bob", "dev-1")
	if insA == insB || insB == "" {
		t.Fatal("pairing must give a new installation id")
	}
	if s := tokenState(stateView{h.eng.State()}, tokA); s != authz.TokenDeleted {
		t.Fatalf("old installation's device token %s", s)
	}
	h.want(h.mobile(sessA, "getAllPaymentTokens", nil), 401, "USER_UNATHORIZED")
	h.want(h.call("POST", "/pba/loginByTrustedIdentity", map[string]string{"trustedIdentity": h.sign("alice", PurposeTrustedIdentity, nil),
		"installationId": insA}), 404, "CANT_FIND_DEVICE")
	h.want(h.mobile(sessB, "getAllPaymentTokens", nil), 200, "")
	h.jobs()
	if h.tsp.State(h.tokenTUR(tokA)) != "DELETED" {
		t.Fatal("old device token not deleted at the token service")
	}
	// Login on the live installation: a new session. Login for another user's installation:
	// CANT_FIND_DEVICE.
	l := h.call("POST", "/pba/loginByTrustedIdentity", map[string]string{"trustedIdentity": h.sign("bob", PurposeTrustedIdentity, nil),
		"installationId": insB})
	h.want(l, 200, "")
	h.want(h.mobile(l.str("userSessionToken"), "getAllPaymentTokens", nil), 200, "")
	h.want(h.call("POST", "/pba/loginByTrustedIdentity", map[string]string{"trustedIdentity": h.sign("alice", PurposeTrustedIdentity, nil),
		"installationId": insB}), 404, "CANT_FIND_DEVICE")
	// Sessions expire.
	h.clock.Add(11 * time.Minute)
	h.want(h.mobile(sessB, "getAllPaymentTokens", nil), 401, "USER_UNATHORIZED")
	h.want(h.mobile("nope", "getAllPaymentTokens", nil), 401, "USER_UNATHORIZED")
	h.want(h.call("POST", "/pba/getAllPaymentTokens", nil), 401, "USER_UNATHORIZED")
	// Unpair and admin deleteDevice.
	sessC, insC := h.pair("carol", "dev-2")
	h.want(h.mobile(sessC, "unpairDevice", nil), 200, "")
	h.want(h.mobile(sessC, "getAllPaymentTokens", nil), 401, "USER_UNATHORIZED")
	if _, ok := get[Installation](stateView{h.eng.State()}, installKey(insC)); ok {
		t.Fatal("unpaired installation kept")
	}
	_, insD := h.pair("dave", "dev-3")
	h.want(h.admin(mgmt.RoleManager, "deleteDevice", map[string]string{"deviceInstallationId": insD}), 200, "")
	h.want(h.admin(mgmt.RoleManager, "deleteDevice", map[string]string{"deviceInstallationId": insD}), 404, "INSTALLATION_NOT_FOUND")
}

// Seed §1.7: messages are kept until acknowledged, in order, with ids; updateRNSToken and
// reportSecurityIssue are recorded.
func TestMessagesAndDeviceUpdates(t *testing.T) {
	h := newHarness(t)
	sess, ins := h.pair("alice", "dev-1")
	_, tok := h.registerAndDigitize(sess)
	h.mobile(sess, "confirmProvisioningStatus", map[string]string{"paymentTokenId": tok, "status": "SUCCESS"})
	h.server("suspendPaymentToken", map[string]string{"paymentTokenId": tok})
	msgs := h.mobile(sess, "getPendingMessages", nil).body["messages"].([]any)
	var types []string
	var last float64
	for _, m := range msgs {
		mm := m.(map[string]any)
		types = append(types, mm["type"].(string))
		if mm["seq"].(float64) <= last {
			t.Fatalf("out of order: %v", msgs)
		}
		last = mm["seq"].(float64)
	}
	want := []string{MsgRemote, MsgTokenUpdated, MsgTokenSuspended}
	if len(types) != 3 || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Fatalf("messages %v", types)
	}
	first := msgs[0].(map[string]any)["id"].(string)
	h.want(h.mobile(sess, "acknowledgeMessage", map[string]string{"messageId": first}), 200, "")
	h.want(h.mobile(sess, "acknowledgeMessage", map[string]string{"messageId": first}), 200, "") // again: no change
	h.want(h.mobile(sess, "acknowledgeMessage", map[string]string{"messageId": "ins_other.1"}), 404, "MESSAGE_NOT_FOUND")
	if n := len(h.mobile(sess, "getPendingMessages", nil).body["messages"].([]any)); n != 2 {
		t.Fatalf("after ack: %d", n)
	}
	h.want(h.mobile(sess, "updateRNSToken", map[string]string{"deviceInstallationId": ins, "newRNSToken": "fcm-2"}), 200, "")
	h.want(h.mobile(sess, "updateRNSToken", map[string]string{"newRNSToken": ""}), 400, "MISSING_FIELD")
	h.want(h.mobile(sess, "reportSecurityIssue", map[string]string{"reason": "ROOTED"}), 200, "")
	in, _ := get[Installation](stateView{h.eng.State()}, installKey(ins))
	if in.FCMToken != "fcm-2" || in.SecurityIssues != 1 {
		t.Fatalf("installation %+v", in)
	}
}
