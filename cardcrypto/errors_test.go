package cardcrypto

import (
	"errors"
	"strings"
	"testing"
)

// Errors name fields, tags, lengths and offsets, never key, PIN, PAN or cryptogram material
// (house rule: clear PANs, PINs and keys never reach a log line, and errors end up in logs).
func TestErrorsCarryNoSecrets(t *testing.T) {
	const pan = "5413339000001513"
	key := h("0123456789ABCDEFFEDCBA9876543210")
	secrets := []string{pan, "541333", "1513", "0123456789", "01234567", "ABCDEF", "9876", "4711"}
	in := acInputFromVector(acVectors[3])
	in.PAN = pan
	in.TVR = in.TVR[:3]
	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	collect(GenerateAC(MastercardCVN16, key, in))
	collect(VerifyARQC(MastercardCVN16, key, in, h("0123456789ABCDEF")[:5]))
	collect(GenerateARPC(VisaCVN10, key, ARPCInput{PAN: pan, ARQC: h("0123456789ABCDEF"), ARC: h("47")}))
	collect(CVV(key[:7], pan, "2512", "101"))
	collect(PVV(key, pan, 1, "47x1"))
	collect(DecodePINBlockISO0(h("041261AAAAEDCBA8"), pan))
	collect(DecryptPINBlockISO0(key, h("0123456789ABCDEF"), pan))
	collect(DecryptPINBlockISO4(h("00112233445566778899AABBCCDDEEFF"), h("0123456789ABCDEF0123456789ABCDEF"), pan))
	collect(DeriveICCMasterKey(key, pan+"x", "00"))
	collect(CVNFromIAD(h("0119A00003220000000000000000000322FF"), "mastercard"))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "cardcrypto: ") {
			t.Errorf("case %d: %q lacks the package prefix", i, msg)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToUpper(msg), s) {
				t.Errorf("case %d: %q contains %q", i, msg, s)
			}
		}
	}
	var fe *FieldError
	if !errors.As(errs[0], &fe) || fe.Field != "95" || !strings.Contains(errs[0].Error(), "field 95") {
		t.Errorf("field error: %v", errs[0])
	}
}
