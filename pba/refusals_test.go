package pba

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type downTSP struct{ *LocalTokenService }

func (downTSP) Tokenize(context.Context, TokenizeRequest) (string, error) {
	return "", errors.New("token service down")
}

// The refusals of the mobile operations not covered by the lifecycle tests.
func TestMobileRefusals(t *testing.T) {
	h := newHarness(t)
	sessA, _ := h.pair("alice", "dev-1")
	sessB, _ := h.pair("bob", "dev-2")
	tokA := h.mobile(sessA, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	// No static token yet for bob: PAYMENT_TOKEN_NOT_FOUND; alice's signed data on bob's session.
	h.want(h.mobile(sessB, "getStaticTokenPaymentData", map[string]string{"signedIbanInfo": h.sign("bob", PurposeIBANInfo, nil)}), 404, "PAYMENT_TOKEN_NOT_FOUND")
	h.want(h.mobile(sessB, "getStaticTokenPaymentData", map[string]string{"signedIbanInfo": h.sign("alice", PurposeIBANInfo, nil)}), 401, "INVALID_TRUSTED_IDENTITY")
	other := h.sign("bob", PurposeIBANInfo, func(c *Claims) { c.IBANID = IBANID(testIBAN(7)) })
	h.want(h.mobile(sessB, "getStaticTokenPaymentData", map[string]string{"signedIbanInfo": other}), 404, "IBAN_NOT_FOUND")
	// Another user's token is not found; the wrong kind is a mismatch.
	h.want(h.mobile(sessB, "deleteStaticToken", map[string]string{"paymentTokenId": tokA}), 404, "PAYMENT_TOKEN_NOT_FOUND")
	h.want(h.mobile(sessA, "deletePaymentToken", map[string]string{"paymentTokenId": tokA}), 409, "PAYMENT_TOKEN_TYPE_MISMATCH")
	h.want(h.mobile(sessA, "deleteStaticToken", map[string]string{}), 400, "MISSING_FIELD")
	// Digitizing an IBAN the user does not have; a malformed ibanId.
	h.want(h.mobile(sessA, "digitizeIbanForStatic", map[string]string{"ibanId": IBANID(testIBAN(9))}), 404, "IBAN_NOT_FOUND")
	h.want(h.mobile(sessA, "digitizeIbanForStatic", map[string]string{"ibanId": "ABC"}), 400, "INVALID_FIELD")
	h.want(h.mobile(sessA, "digitizeIbanForStatic", map[string]string{}), 400, "MISSING_FIELD")
	// History.
	h.want(h.mobile(sessA, "getTransactionHistory", map[string]any{"limit": 101}), 400, "INVALID_FIELD")
	h.want(h.mobile(sessA, "getTransactionHistory", map[string]any{"next": "%%%"}), 400, "INVALID_FIELD")
	h.want(h.mobile(sessA, "getTransactionHistory", map[string]any{"ibanId": IBANID(testIBAN(9))}), 404, "IBAN_NOT_FOUND")
	hist := h.mobile(sessA, "getTransactionHistory", nil)
	h.want(hist, 200, "")
	if l := hist.body["transactionHistoryList"].([]any); len(l) != 0 || hist.body["next"] != nil {
		t.Fatalf("empty history %s", hist.raw)
	}
	// Pairing without a device id; a body too large; login without installation.
	h.want(h.call("POST", "/pba/pairDeviceByTrustedIdentity", map[string]any{"trustedIdentity": h.sign("alice", PurposeTrustedIdentity, nil),
		"deviceInfo": map[string]string{}}), 400, "MISSING_FIELD")
	h.want(h.call("POST", "/pba/pairDeviceByTrustedIdentity", map[string]any{"trustedIdentity": h.sign("alice", PurposeTrustedIdentity, nil)}), 400, "MISSING_FIELD")
	h.want(h.call("POST", "/pba/loginByTrustedIdentity", map[string]any{"trustedIdentity": h.sign("alice", PurposeTrustedIdentity, nil)}), 400, "MISSING_FIELD")
	h.want(h.call("POST", "/pba/addUserWithIban", `{"signedAccountInfo":"`+strings.Repeat("a", DefaultMaxBodyBytes)+`"}`), 413, "BODY_TOO_LARGE")
	// The token service does not answer: 502, nothing booked.
	h.restart(Adapters{TokenService: downTSP{NewLocalTokenService()}, ThreeDS: h.acs})
	sessA, _ = h.pair("alice", "dev-1")
	before := len(userTokens(stateView{h.eng.State()}, "demo-bank", "alice"))
	h.want(h.mobile(sessA, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}), 502, "TOKEN_SERVICE_UNAVAILABLE")
	if after := len(userTokens(stateView{h.eng.State()}, "demo-bank", "alice")); after != before {
		t.Fatalf("a token was booked without the token service: %d -> %d", before, after)
	}
}
