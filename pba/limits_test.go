package pba

import (
	"fmt"
	"math/big"
	"testing"
)

// testIBAN makes a valid German IBAN of account number n (check digits computed by mod-97).
func testIBAN(n int) string {
	bban := fmt.Sprintf("37040044%010d", n)
	num, _ := new(big.Int).SetString(bban+"131400", 10) // D=13 E=14, then 00
	check := 98 - new(big.Int).Mod(num, big.NewInt(97)).Int64()
	return fmt.Sprintf("DE%02d%s", check, bban)
}

// Every per-user limit refuses with its code and writes nothing.
func TestPerUserLimits(t *testing.T) {
	h := newHarness(t)
	add := func(i int) answer {
		iban := testIBAN(i)
		if !ValidIBAN(iban) {
			t.Fatalf("test IBAN %s invalid", iban)
		}
		return h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": h.sign("alice", PurposeAccountInfo,
			func(c *Claims) { c.IBAN = iban })})
	}
	for i := range MaxIBANsPerUser {
		h.want(add(i), 200, "")
	}
	h.want(add(MaxIBANsPerUser), 409, "TOO_MANY_IBANS")
	sess, _ := h.pair("bob", "dev-0")
	for i := range MaxLiveTokensPerUser {
		h.want(h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}), 200, "")
		_ = i
	}
	h.want(h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}), 409, "TOO_MANY_PAYMENT_TOKENS")
	for i := 1; i < MaxInstallationsPerUser; i++ {
		h.pair("bob", fmt.Sprintf("dev-%d", i))
	}
	a := h.call("POST", "/pba/pairDeviceByTrustedIdentity", map[string]any{"trustedIdentity": h.sign("bob", PurposeTrustedIdentity, nil),
		"deviceInfo": map[string]string{"deviceId": "one-too-many"}})
	h.want(a, 409, "TOO_MANY_DEVICES")
	// Pairing again a device the user already has replaces it, within the limit.
	h.pair("bob", "dev-3")
}
