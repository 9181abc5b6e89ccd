package cardcrypto

import (
	"bytes"
	"errors"
	"testing"
)

// ISO/IEC 9797-1 Annex B and pyemv rows of vectors §1.2.
func TestMACAlg3Vectors(t *testing.T) {
	for _, v := range macVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := MACAlg3(h(v.key), h(v.data), v.padMethod)
			if err != nil {
				t.Fatal(err)
			}
			if hx(got) != v.want {
				t.Fatalf("MAC = %s, want %s", hx(got), v.want)
			}
		})
	}
}

// MAC algorithm 3 is CBC-DES under KL with the last block through TDES (vectors §1.2 step 3):
// check that identity with the package's own CBC and TDES helpers on the Annex B data.
func TestMACAlg3EqualsCBCThenTDES(t *testing.T) {
	key := h("0123456789ABCDEFFEDCBA9876543210")
	data := h("4E6F77206973207468652074696D6520666F7220616C6C20") // aligned, method 1 adds nothing
	kl := append(bytes.Repeat(key[:8], 2), key[:8]...)
	cbc, err := TDESEncryptCBC(kl, make([]byte, 8), data[:16]) // KL||KL||KL = single DES
	if err != nil {
		t.Fatal(err)
	}
	last := cbc[8:]
	xorInto(last, data[16:])
	want, err := TDESEncryptBlock(key, last)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := MACAlg3(key, data, PaddingMethod1)
	if !bytes.Equal(got, want) {
		t.Fatalf("MAC %s != CBC/TDES %s", hx(got), hx(want))
	}
}

func TestMACAlg3Padding(t *testing.T) {
	key := h("0123456789ABCDEFFEDCBA9876543210")
	// Method 1: empty data is one zero block; 8 zero bytes give the same MAC.
	empty, _ := MACAlg3(key, nil, PaddingMethod1)
	zero, _ := MACAlg3(key, make([]byte, 8), PaddingMethod1)
	if !bytes.Equal(empty, zero) {
		t.Fatal("method 1: empty data must MAC as one zero block")
	}
	// Method 2: data d and d||80 must differ (the 80 is always added).
	a, _ := MACAlg3(key, []byte{1, 2, 3}, PaddingMethod2)
	b, _ := MACAlg3(key, []byte{1, 2, 3, 0x80}, PaddingMethod2)
	if bytes.Equal(a, b) {
		t.Fatal("method 2 padding ambiguity")
	}
	if _, err := MACAlg3(key, nil, 3); !errors.Is(err, ErrPadding) {
		t.Fatalf("padding 3: %v", err)
	}
	if _, err := MACAlg3(key[:8], nil, 1); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("8-byte key: %v", err)
	}
}

// Flipping any data bit, or any key bit that DES uses, changes the MAC; the 16 parity bits (LSB
// of each key byte) are ignored by DES, so flipping one must not change it.
func TestMACAlg3BitFlips(t *testing.T) {
	v := macVectors[0]
	key, data := h(v.key), h(v.data)
	want := h(v.want)
	for i := 0; i < len(data)*8; i++ {
		d := bytes.Clone(data)
		d[i/8] ^= 1 << (i % 8)
		got, _ := MACAlg3(key, d, v.padMethod)
		if bytes.Equal(got, want) {
			t.Fatalf("data bit %d flipped, MAC unchanged", i)
		}
	}
	for i := 0; i < len(key)*8; i++ {
		k := bytes.Clone(key)
		k[i/8] ^= 1 << (i % 8)
		got, _ := MACAlg3(k, data, v.padMethod)
		if parity := i%8 == 0; parity != bytes.Equal(got, want) {
			t.Fatalf("key bit %d (parity=%v): MAC unchanged=%v", i, parity, bytes.Equal(got, want))
		}
	}
}

// KCV: pyemv tests/test_kd_hsm.py publishes "08D7" as the 2-byte KCV of IMK 0123..3210.
func TestKCV(t *testing.T) {
	kcv, err := KCV(h("0123456789ABCDEFFEDCBA9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	if hx(kcv[:2]) != "08D7" || len(kcv) != 3 {
		t.Fatalf("KCV %s", hx(kcv))
	}
	if _, err := KCV(make([]byte, 15)); !errors.Is(err, ErrKeyLength) {
		t.Fatal(err)
	}
}

func TestTDESRoundTrips(t *testing.T) {
	key := h("0123456789ABCDEFFEDCBA9876543210")
	iv := h("0102030405060708")
	data := h("4E6F77206973207468652074696D6520666F7220616C6C20")
	ecb, err := TDESEncryptECB(key, data)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := TDESDecryptECB(key, ecb)
	if !bytes.Equal(back, data) {
		t.Fatal("ECB round trip")
	}
	cbc, _ := TDESEncryptCBC(key, iv, data)
	back, _ = TDESDecryptCBC(key, iv, cbc)
	if !bytes.Equal(back, data) || bytes.Equal(cbc, ecb) {
		t.Fatal("CBC round trip")
	}
	blk, _ := TDESEncryptBlock(key, data[:8])
	if !bytes.Equal(blk, ecb[:8]) {
		t.Fatal("block != first ECB block")
	}
	back, _ = TDESDecryptBlock(key, blk)
	if !bytes.Equal(back, data[:8]) {
		t.Fatal("block round trip")
	}
	// K1 == K2: TDES-EDE2 reduces to single DES (vectors §1.1).
	single := h("0123456789ABCDEF")
	d1, _ := DESEncryptBlock(single, data[:8])
	d2, _ := TDESEncryptBlock(append(bytes.Clone(single), single...), data[:8])
	if !bytes.Equal(d1, d2) {
		t.Fatal("KL==KR must equal single DES")
	}
	back, _ = DESDecryptBlock(single, d1)
	if !bytes.Equal(back, data[:8]) {
		t.Fatal("DES round trip")
	}
	// 24-byte keys work; other lengths and partial blocks do not.
	if _, err := TDESEncryptBlock(append(bytes.Clone(key), key[:8]...), data[:8]); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 8, 15, 32} {
		if _, err := TDESEncryptBlock(make([]byte, n), data[:8]); !errors.Is(err, ErrKeyLength) {
			t.Fatalf("key %d bytes: %v", n, err)
		}
	}
	if _, err := TDESEncryptECB(key, data[:7]); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
	if _, err := TDESEncryptCBC(key, iv[:4], data); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
	if _, err := DESEncryptBlock(single, data[:9]); !errors.Is(err, ErrDataLength) {
		t.Fatal(err)
	}
}

func TestOddParity(t *testing.T) {
	k := h("0000FFFE0102")
	AdjustOddParity(k)
	if hx(k) != "0101FEFE0102" || !HasOddParity(k) {
		t.Fatalf("parity %s", hx(k))
	}
	if HasOddParity(h("00")) {
		t.Fatal("00 has even parity")
	}
}

// Luhn: 79927398713 is the ISO/IEC 7812-1 worked example; the other PANs are the contract's BINs
// and common test PANs.
func TestLuhn(t *testing.T) {
	for _, c := range []struct {
		payload string
		check   byte
	}{
		{"7992739871", '3'},
		{"411111111111111", '1'},
		{"555555555555444", '4'},
		{"000000000000000", '0'},
		{"5", '9'},
	} {
		got, err := LuhnCheckDigit(c.payload)
		if err != nil || got != c.check {
			t.Fatalf("LuhnCheckDigit(%s) = %c, %v; want %c", c.payload, got, err, c.check)
		}
		full := c.payload + string(c.check)
		if !LuhnValid(full) {
			t.Fatalf("LuhnValid(%s) = false", full)
		}
		// Any single-digit change breaks the check.
		for i := 0; i < len(full); i++ {
			b := []byte(full)
			b[i] = '0' + (b[i]-'0'+1)%10
			if LuhnValid(string(b)) {
				t.Fatalf("LuhnValid(%s) after changing digit %d", b, i)
			}
		}
	}
	for _, bad := range []string{"", "1", "12a4", "12345678901234567890"} {
		if LuhnValid(bad) {
			t.Fatalf("LuhnValid(%q)", bad)
		}
	}
	if _, err := LuhnCheckDigit("12x"); !errors.Is(err, ErrPAN) {
		t.Fatal(err)
	}
	if _, err := LuhnCheckDigit(""); !errors.Is(err, ErrPAN) {
		t.Fatal(err)
	}
}
