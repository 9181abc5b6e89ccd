package cardcrypto

import (
	"bytes"
	"testing"
)

// EDE2 is TDES with a double-length key, and its MAC3 is ISO 9797-1 algorithm 3: both must give
// exactly what the package's reference functions give.
func TestEDE2MatchesTDESAndMAC3(t *testing.T) {
	key := h("0123456789ABCDEFFEDCBA9876543210")
	e, err := NewEDE2(key)
	if err != nil {
		t.Fatal(err)
	}
	block := h("4E6F772069732074")
	want, err := TDESEncryptECB(key, block)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	e.Encrypt(got, block)
	if !bytes.Equal(got, want) {
		t.Fatalf("EDE2 %X, TDES %X", got, want)
	}
	for _, pad := range []int{PaddingMethod1, PaddingMethod2} {
		for _, n := range []int{0, 5, 8, 13, 16} {
			data := bytes.Repeat([]byte{0xA5}, n)
			want, err := MACAlg3(key, data, pad)
			if err != nil {
				t.Fatal(err)
			}
			h := make([]byte, 8)
			e.MAC3(h, data, pad)
			if !bytes.Equal(h, want) {
				t.Errorf("padding %d, %d bytes: MAC3 method %X, function %X", pad, n, h, want)
			}
		}
	}
	if _, err := NewEDE2(key[:8]); err == nil {
		t.Error("an 8-byte key was accepted")
	}
}

func TestBCDFields(t *testing.T) {
	if b, err := AmountN12(123456); err != nil || b != [6]byte{0, 0, 0, 0x12, 0x34, 0x56} {
		t.Errorf("AmountN12(123456) = %X, %v", b, err)
	}
	if _, err := AmountN12(-1); err == nil {
		t.Error("a negative amount was accepted")
	}
	if b, err := NumericN3("978"); err != nil || b != [2]byte{0x09, 0x78} {
		t.Errorf("NumericN3(978) = %X, %v", b, err)
	}
	if _, err := NumericN3("97A"); err == nil {
		t.Error("a non-numeric code was accepted")
	}
}
