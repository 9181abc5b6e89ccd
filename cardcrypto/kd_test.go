package cardcrypto

import (
	"bytes"
	"errors"
	"testing"
)

// Vectors §2.1/2.2 (pyemv kd.py docstrings, tests/test_kd_hsm.py, tests/test_cvn_hsm.py). The
// full MK is compared after odd-parity adjustment, and the published 2-byte KCV as well.
func TestDeriveICCMasterKeyVectors(t *testing.T) {
	for _, v := range mkdVectors {
		t.Run(v.name, func(t *testing.T) {
			derive := DeriveICCMasterKeyOptionA
			if v.option == "B" {
				derive = DeriveICCMasterKeyOptionB
			}
			mk, err := derive(h(v.imk), v.pan, v.psn)
			if err != nil {
				t.Fatal(err)
			}
			if hx(mk) != v.wantMK {
				t.Fatalf("MK = %s, want %s", hx(mk), v.wantMK)
			}
			if !HasOddParity(mk) {
				t.Fatal("MK not odd parity")
			}
			if v.wantKCV != "" {
				kcv, _ := KCV(mk)
				if hx(kcv[:2]) != v.wantKCV {
					t.Fatalf("KCV = %s, want %s", hx(kcv[:2]), v.wantKCV)
				}
			}
			// DeriveICCMasterKey picks A up to 16 digits and B above: for Option B rows and for
			// Option A rows of up to 16 digits it must give the same key.
			if v.option == "B" || len(v.pan) <= 16 {
				auto, err := DeriveICCMasterKey(h(v.imk), v.pan, v.psn)
				if err != nil || !bytes.Equal(auto, mk) {
					t.Fatalf("DeriveICCMasterKey = %s, %v", hx(auto), err)
				}
			}
		})
	}
}

// Vectors §2.1 step 2: Y is the rightmost 16 digits of PAN||PSN, left-padded with 0. A short PAN
// must therefore equal the same PAN written with leading zeros, and the PSN forms "", "0", "00",
// "000" are the same.
func TestOptionAPaddingAndPSNForms(t *testing.T) {
	imk := h("0123456789ABCDEFFEDCBA9876543210")
	a, err := DeriveICCMasterKeyOptionA(imk, "4111111111111", "1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveICCMasterKeyOptionA(imk, "0004111111111111", "01")
	c, _ := DeriveICCMasterKeyOptionA(imk, "4111111111111", "001")
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("left padding / PSN forms differ")
	}
	ref, _ := DeriveICCMasterKeyOptionA(imk, "1234567890123456", "00")
	for _, psn := range []string{"", "0", "000"} {
		got, err := DeriveICCMasterKeyOptionA(imk, "1234567890123456", psn)
		if err != nil || !bytes.Equal(got, ref) {
			t.Fatalf("PSN %q: %v", psn, err)
		}
	}
	for _, psn := range []string{"100", "1a", "0000", "x"} {
		if _, err := DeriveICCMasterKey(imk, "1234567890123456", psn); !errors.Is(err, ErrPSN) {
			t.Fatalf("PSN %q: %v", psn, err)
		}
	}
	for _, pan := range []string{"", "12345678901234567890", "12345678901234x6"} {
		if _, err := DeriveICCMasterKey(imk, pan, "00"); !errors.Is(err, ErrPAN) {
			t.Fatalf("PAN %q: %v", pan, err)
		}
	}
	if _, err := DeriveICCMasterKey(imk[:8], "1234567890123456", "00"); !errors.Is(err, ErrKeyLength) {
		t.Fatal(err)
	}
}

// Vectors §2.3/2.4 (pyemv kd.py docstring, test_kd_hsm.py, test_cvn_hsm.py).
func TestSessionKeyVectors(t *testing.T) {
	for _, v := range skVectors {
		t.Run(v.name, func(t *testing.T) {
			sk, err := DeriveSessionKey(h(v.mk), h(v.r))
			if err != nil {
				t.Fatal(err)
			}
			if hx(sk) != v.wantSK {
				t.Fatalf("SK = %s, want %s", hx(sk), v.wantSK)
			}
			if v.wantKCV != "" {
				kcv, _ := KCV(sk)
				if hx(kcv[:2]) != v.wantKCV {
					t.Fatalf("KCV = %s, want %s", hx(kcv[:2]), v.wantKCV)
				}
			}
			// The ATC / ATC+UN forms give the same key when R has their shape.
			r := h(v.r)
			if bytes.Equal(r[2:], make([]byte, 6)) {
				csk, _ := DeriveCommonSessionKey(h(v.mk), r[:2])
				if !bytes.Equal(csk, sk) {
					t.Fatal("DeriveCommonSessionKey differs")
				}
			}
			if bytes.Equal(r[2:4], []byte{0, 0}) {
				mc, _ := DeriveMastercardSessionKey(h(v.mk), r[:2], r[4:])
				if !bytes.Equal(mc, sk) {
					t.Fatal("DeriveMastercardSessionKey differs")
				}
			}
		})
	}
	mk := h(skVectors[0].mk)
	if _, err := DeriveSessionKey(mk, make([]byte, 7)); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
	if _, err := DeriveCommonSessionKey(mk, make([]byte, 3)); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
	if _, err := DeriveMastercardSessionKey(mk, make([]byte, 2), make([]byte, 3)); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
}

// Vectors §3.2 "More pyemv rows" (tests/test_kd_hsm.py): IMK -> ICC MK (A or B) -> CSK with
// R = 1234567890123456 (SK KCV published) -> ARQC over 0123..CDEF x2 (method 2) -> ARPC.
func TestKDHSMChain(t *testing.T) {
	imk := h("0123456789ABCDEFFEDCBA9876543210")
	data := h("0123456789ABCDEF0123456789ABCDEF")
	for _, v := range kdHSMRows {
		t.Run(v.name, func(t *testing.T) {
			derive := DeriveICCMasterKeyOptionA
			if v.mkd == "B" {
				derive = DeriveICCMasterKeyOptionB
			}
			mk, err := derive(imk, v.pan, v.psn)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := DeriveSessionKey(mk, h("1234567890123456"))
			if err != nil {
				t.Fatal(err)
			}
			if kcv, _ := KCV(sk); hx(kcv[:2]) != v.skKCV {
				t.Fatalf("SK KCV %s, want %s", hx(kcv[:2]), v.skKCV)
			}
			arqc, _ := MACAlg3(sk, data, PaddingMethod2)
			if hx(arqc) != v.arqc {
				t.Fatalf("ARQC %s, want %s", hx(arqc), v.arqc)
			}
			if v.arpc1MK != "" {
				if got, _ := ARPCMethod1(mk, arqc, h("0000")); hx(got) != v.arpc1MK {
					t.Fatalf("ARPC m1 MK %s, want %s", hx(got), v.arpc1MK)
				}
			}
			if v.arpc1SK != "" {
				if got, _ := ARPCMethod1(sk, arqc, h("0000")); hx(got) != v.arpc1SK {
					t.Fatalf("ARPC m1 SK %s, want %s", hx(got), v.arpc1SK)
				}
			}
			if v.arpc2 != "" {
				if got, _ := ARPCMethod2(sk, arqc, h("00000000"), nil); hx(got) != v.arpc2 {
					t.Fatalf("ARPC m2 %s, want %s", hx(got), v.arpc2)
				}
			}
		})
	}
}

// pyemv tests/test_ac_hsm.py: the derived keys of the MAC and ARPC rows carry published KCVs
// (SK 3E73.. = 0995, ICC MK F843.. = 1DA5); check the derivation chain that produces them.
func TestACHSMDerivedKeys(t *testing.T) {
	mk, err := DeriveICCMasterKeyOptionA(h("0123456789ABCDEFFEDCBA9876543210"), "9901234567890123", "45")
	if err != nil {
		t.Fatal(err)
	}
	if hx(mk) != "F84315C7B95BD3B0C74694922C3808B0" {
		t.Fatalf("MK %s", hx(mk))
	}
	sk, _ := DeriveSessionKey(mk, h("1234567890123456"))
	if hx(sk) != "3E736BF8D37664348A04E3ABE00DEFC1" {
		t.Fatalf("SK %s", hx(sk))
	}
	if kcv, _ := KCV(sk); hx(kcv[:2]) != "0995" {
		t.Fatalf("SK KCV %s", hx(kcv))
	}
}
