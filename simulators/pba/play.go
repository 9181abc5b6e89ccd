package pba

import (
	"fmt"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/pba"
)

// play runs the story; every answer is checked.
func (s *sim) play() {
	user := fmt.Sprintf("sim-user-%d", time.Now().UnixNano())
	iban := "DE89370400440532013000"
	ibanID := pba.IBANID(iban)
	device := user + "-phone"

	// The bank's app: pair the phone with the signed account info (user and IBAN created).
	pair := s.expect("pair device", "/pba/pairDeviceByTrustedIdentity", "", map[string]any{
		"trustedIdentity": s.sign(user, pba.PurposeAccountInfo, iban), "fcmRegistrationToken": "fcm-" + device,
		"deviceInfo": map[string]string{"deviceId": device, "model": "simulated"}}, 200, "")
	sess := str(pair, "userSessionToken")
	s.expect("replayed trusted identity refused", "/pba/addUserWithIban", "", map[string]string{
		"signedAccountInfo": s.sign(user, pba.PurposeTrustedIdentity, "")}, 401, "INVALID_TRUSTED_IDENTITY")
	s.expect("no session", "/pba/getAllPaymentTokens", "", nil, 401, "USER_UNATHORIZED")

	// Static token: digitize, wait for the CVC2, fund, pay e-commerce.
	static := str(s.expect("digitize for static", "/pba/digitizeIbanForStatic", sess, map[string]string{"ibanId": ibanID}, 200, ""), "paymentTokenId")
	var data map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, out := s.call("/pba/getStaticTokenPaymentData", sess, map[string]string{"signedIbanInfo": s.sign(user, pba.PurposeIBANInfo, iban)})
		if st == 200 {
			data = out
			break
		}
		if st != 409 || out["code"] != "STATIC_TOKEN_PAYMENT_DATA_NOT_AVAILABLE" || time.Now().After(deadline) {
			s.check("static token payment data", false, fmt.Sprintf("%d %v", st, out["code"]))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.check("static token payment data", str(data, "paymentTokenId") == static && len(str(data, "CVC2")) == 3, fmt.Sprint(data["paymentTokenId"]))
	s.expect("fund the IBAN", "/pba/server/creditIban", "", map[string]string{"userId": user, "ibanId": ibanID, "amount": "300.00"},
		200, "", "Idempotency-Key", user+"-fund")
	pan, exp, cvc2 := str(data, "tokenPAN"), str(data, "expDate"), str(data, "CVC2")
	ecom := func() *authz.Request {
		return &authz.Request{PAN: pan, ExpiryYYMM: exp[2:] + exp[:2], CVC2: cvc2, AmountMinor: 1999, POSEntryMode: "010"}
	}
	s.pay("e-commerce with the static token", ecom(), "00")
	s.expect("suspend the static token (bank)", "/pba/server/suspendStaticToken", "", map[string]string{"paymentTokenId": static}, 200, "")
	s.pay("suspended static token", ecom(), "62")
	s.expect("unsuspend the static token (bank)", "/pba/server/unsuspendStaticToken", "", map[string]string{"paymentTokenId": static}, 200, "")
	s.pay("unsuspended static token", ecom(), "00")

	// Device token: register, digitize, provision, pay contactless until the credentials run out.
	keys := s.expect("register for payment", "/pba/registerDeviceForPayment", sess, map[string]any{"paymentDeviceInfo": map[string]string{"nfc": "yes"}}, 200, "")
	mk, _ := keys["mobileKeys"].(map[string]any)
	dek, _ := mk["dataEncryptionKey"].(string)
	dig := s.expect("digitize for device", "/pba/digitizeIbanForDevice", sess, map[string]string{"ibanId": ibanID}, 200, "")
	dev := str(dig, "paymentTokenId")
	profile, err := pba.OpenTokenProfile(dek, str(dig, "encryptedTokenProfile"))
	if !s.check("decrypt the token profile", err == nil && len(profile.TokenPAN) == 16, fmt.Sprint(err)) {
		return
	}
	conf := s.expect("confirm provisioning", "/pba/confirmProvisioningStatus", sess, map[string]string{"paymentTokenId": dev, "status": "SUCCESS"}, 200, "")
	creds, err := credentials(dek, conf["transactionCredentials"])
	if !s.check("decrypt the transaction credentials", err == nil && len(creds) > 0, fmt.Sprint(err)) {
		return
	}
	devicePAN := profile.TokenPAN
	tap := func(c pba.Credential) *authz.Request {
		icc, err := pba.BuildDeviceField55(c.SessionKey, devicePAN, c.ATC, 500, "978", [4]byte{1, 2, 3, 4})
		if err != nil {
			panic(err)
		}
		return &authz.Request{PAN: devicePAN, AmountMinor: 500, ICC: icc, POSEntryMode: "071"}
	}
	for _, c := range creds {
		s.pay(fmt.Sprintf("contactless ATC %d", c.ATC), tap(c), "00")
	}
	// The phone used every credential it holds: its SDK answers the next tap with
	// NO_TRANSACTION_CREDENTIALS, and the app replenishes.
	fmt.Fprintln(s.out, "pba-sim: phone: NO_TRANSACTION_CREDENTIALS, replenishing")
	repl := s.expect("replenish on request", "/pba/replenishCredentials", sess, map[string]string{"paymentTokenId": dev}, 200, "")
	more, err := credentials(dek, repl["transactionCredentials"])
	if s.check("decrypt the replenished credentials", err == nil && len(more) > 0, fmt.Sprint(err)) {
		s.pay("contactless after replenishment", tap(more[0]), "00")
		s.pay("same ATC again (replay)", tap(more[0]), "82")
	}
	s.expect("suspend the device token (bank)", "/pba/server/suspendPaymentToken", "", map[string]string{"paymentTokenId": dev}, 200, "")
	if len(more) > 1 {
		s.pay("suspended device token", tap(more[1]), "62")
	}
	msgs := s.expect("pending messages", "/pba/getPendingMessages", sess, nil, 200, "")
	list, _ := msgs["messages"].([]any)
	s.check("device told of the suspension", hasType(list, pba.MsgTokenSuspended), fmt.Sprint(len(list)))
	for _, m := range list {
		if mm, ok := m.(map[string]any); ok {
			s.expect("acknowledge "+str(mm, "type"), "/pba/acknowledgeMessage", sess, map[string]string{"messageId": str(mm, "id")}, 200, "")
		}
	}

	// Delete the static token: 14.
	s.expect("delete the static token (app)", "/pba/deleteStaticToken", sess, map[string]string{"paymentTokenId": static}, 200, "")
	s.pay("deleted static token", ecom(), "14")

	// Re-pair on another device, then pair the first phone for someone else: the first
	// installation is gone.
	first := str(pair, "installationId")
	s.expect("pair a second phone", "/pba/pairDeviceByTrustedIdentity", "", map[string]any{
		"trustedIdentity": s.sign(user, pba.PurposeTrustedIdentity, ""), "deviceInfo": map[string]string{"deviceId": device + "-2"}}, 200, "")
	s.expect("another user pairs the first phone", "/pba/pairDeviceByTrustedIdentity", "", map[string]any{
		"trustedIdentity": s.sign(user+"-other", pba.PurposeTrustedIdentity, ""), "deviceInfo": map[string]string{"deviceId": device}}, 200, "")
	s.expect("old session", "/pba/getAllPaymentTokens", sess, nil, 401, "USER_UNATHORIZED")
	s.expect("login on the replaced installation", "/pba/loginByTrustedIdentity", "", map[string]string{
		"trustedIdentity": s.sign(user, pba.PurposeTrustedIdentity, ""), "installationId": first}, 404, "CANT_FIND_DEVICE")
	if len(more) > 2 {
		s.pay("device token of the replaced installation", tap(more[2]), "14")
	}
}

func hasType(list []any, typ string) bool {
	for _, m := range list {
		if mm, ok := m.(map[string]any); ok && mm["type"] == typ {
			return true
		}
	}
	return false
}

func (s *sim) tokens(sess string) []map[string]any {
	_, out := s.call("/pba/getAllPaymentTokens", sess, nil)
	list, _ := out["deviceAndStaticPaymentTokens"].([]any)
	var res []map[string]any
	for _, t := range list {
		if m, ok := t.(map[string]any); ok {
			res = append(res, m)
		}
	}
	return res
}
