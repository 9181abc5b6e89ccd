package cardcrypto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
)

// FuzzPINBlockDecodeISO0: decoding never panics, fails only with ErrPINBlockFormat (for a valid
// PAN), and a block that decodes re-encodes to itself (format 0 leaves no free bits).
func FuzzPINBlockDecodeISO0(f *testing.F) {
	for _, v := range iso0Vectors {
		f.Add(h(v.wantClear), v.pan)
	}
	f.Add(h("141261AAAAEDCBA9"), "5555555551234567")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, block []byte, pan string) {
		pin, err := DecodePINBlockISO0(block, pan)
		if err != nil {
			if len(block) == 8 && checkPAN(pan) == nil && len(pan) >= 2 && !errors.Is(err, ErrPINBlockFormat) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		again, err := EncodePINBlockISO0(pin, pan)
		if err != nil || !bytes.Equal(again, block) {
			t.Fatalf("re-encode %X != %X (%v)", again, block, err)
		}
	})
}

// FuzzPINBlockDecryptISO4: no panics; whatever decrypts re-encrypts (with the recovered random
// half) to the same block.
func FuzzPINBlockDecryptISO4(f *testing.F) {
	key := h("00112233445566778899AABBCCDDEEFF")
	for _, v := range iso4DecipherVectors {
		f.Add(h(v.block), v.pan)
	}
	f.Add(h(iso4Vectors[0].wantBlock), iso4Vectors[0].pan)
	f.Add([]byte{1, 2, 3}, "1")
	f.Fuzz(func(t *testing.T, block []byte, pan string) {
		pin, err := DecryptPINBlockISO4(key, block, pan)
		if err != nil {
			return
		}
		if checkPIN(pin) != nil {
			t.Fatalf("decoded an invalid PIN of length %d", len(pin))
		}
		// Recover the random half to re-encrypt.
		panField, _ := EncodePANFieldISO4(pan)
		b := aesDecrypt(key, block)
		xorInto(b, panField)
		plain := aesDecrypt(key, b)
		again, err := EncryptPINBlockISO4(key, pin, pan, plain[8:])
		if err != nil || !bytes.Equal(again, block) {
			t.Fatalf("re-encrypt differs (%v)", err)
		}
	})
}

// FuzzCVNFromIAD: no panics, and a recognised CVN has the scheme asked for.
func FuzzCVNFromIAD(f *testing.F) {
	f.Add(h("06010A03A06010"), "visa")
	f.Add(h("0111A00003220000000000000000000322FF"), "mastercard")
	f.Add(append(h("1F22"), make([]byte, 30)...), "visa")
	f.Add([]byte{}, "amex")
	f.Fuzz(func(t *testing.T, iad []byte, scheme string) {
		cvn, err := CVNFromIAD(iad, scheme)
		if err == nil && !bytes.EqualFold([]byte(cvn.Scheme()), []byte(scheme)) {
			t.Fatalf("%v for scheme %q", cvn, scheme)
		}
	})
}

// FuzzVerifyARQCFromField55: any field 55 either fails cleanly or is evaluated; the issuer path
// never panics on hostile ICC data.
func FuzzVerifyARQCFromField55(f *testing.F) {
	imk := h("0123456789ABCDEFFEDCBA9876543210")
	for _, v := range acVectors {
		in := acInputFromVector(v)
		var f55 []byte
		f55, _ = tlv.Append(f55, tlv.TagAmountAuthorised, in.AmountAuthorised)
		f55, _ = tlv.Append(f55, tlv.TagTerminalCountryCode, in.TerminalCountry)
		f55, _ = tlv.Append(f55, tlv.TagTVR, in.TVR)
		f55, _ = tlv.Append(f55, tlv.TagTransactionCurrencyCode, in.TxnCurrency)
		f55, _ = tlv.Append(f55, tlv.TagTransactionDate, in.TxnDate)
		f55, _ = tlv.Append(f55, tlv.TagTransactionType, in.TxnType)
		f55, _ = tlv.Append(f55, tlv.TagUnpredictableNumber, in.UN)
		f55, _ = tlv.Append(f55, tlv.TagAIP, in.AIP)
		f55, _ = tlv.Append(f55, tlv.TagATC, in.ATC)
		f55, _ = tlv.Append(f55, tlv.TagIssuerApplicationData, in.IAD)
		f55, _ = tlv.Append(f55, tlv.TagApplicationCryptogram, h(v.wantAC))
		f.Add(f55, v.cvn.Scheme())
	}
	f.Fuzz(func(t *testing.T, f55 []byte, scheme string) {
		icc, err := tlv.Parse(f55)
		if err != nil {
			return
		}
		in, err := ACInputFromTLV("1234567890123456", "00", icc)
		if err != nil {
			return
		}
		cvn, err := CVNFromIAD(in.IAD, scheme)
		if err != nil {
			return
		}
		arqc, _ := icc.Get(tlv.TagApplicationCryptogram)
		_, _ = VerifyARQC(cvn, imk, in, arqc)
	})
}
