package cardcrypto

import "testing"

// Hot-path costs. Run: go test -run '^$' -bench . -benchmem ./cardcrypto/

func BenchmarkCVV(b *testing.B) {
	cvk := h("0123456789ABCDEFFEDCBA9876543210")
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyCVV(cvk, "4123456789012345", "8701", "101", "561") {
			b.Fatal("no match")
		}
	}
}

func BenchmarkPVV(b *testing.B) {
	pvk := h("0123456789ABCDEFFEDCBA9876543210")
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPVV(pvk, "1122334455667788", 1, "4524", "8523"); !ok || err != nil {
			b.Fatal("no match")
		}
	}
}

func BenchmarkVerifyARQC(b *testing.B) {
	for _, i := range []int{0, 1, 4} { // Visa CVN 10, Visa CVN 18, MC CVN 17
		v := acVectors[i]
		b.Run(v.cvn.String(), func(b *testing.B) {
			imk, in, arqc := h(v.imk), acInputFromVector(v), h(v.wantAC)
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := VerifyARQC(v.cvn, imk, in, arqc); !ok || err != nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkGenerateARPC(b *testing.B) {
	imk := h("0123456789ABCDEFFEDCBA9876543210")
	in := ARPCInput{PAN: "1234567890123456", PSN: "00", ATC: h("001C"), ARQC: h("7A788EA6B8A3E733"), CSU: h("00000000")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IssuerAuthenticationData(VisaCVN18, imk, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPINBlockDecryptISO0(b *testing.B) {
	zpk := h("0123456789ABCDEFFEDCBA9876543210")
	enc, _ := EncryptPINBlockISO0(zpk, "1234", "5555555551234567")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptPINBlockISO0(zpk, enc, "5555555551234567"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPINBlockDecryptISO4(b *testing.B) {
	key := h("00112233445566778899AABBCCDDEEFF")
	block := h("E4BE5B623AF7E006AC319E5B93544564")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptPINBlockISO4(key, block, "1234567890123456"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMACAlg3(b *testing.B) {
	key := h("0123456789ABCDEFFEDCBA9876543210")
	data := h(acVectors[1].data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MACAlg3(key, data, PaddingMethod2); err != nil {
			b.Fatal(err)
		}
	}
}
