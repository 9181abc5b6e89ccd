package cardcrypto

import (
	"bytes"
	"errors"
	"testing"
)

// Vectors §6.1 (psec tests/test_pinblock.py and docstring): clear format 0 blocks, then the same
// block through a ZPK and back.
func TestPINBlockISO0Vectors(t *testing.T) {
	zpk := h("0123456789ABCDEFFEDCBA9876543210") // the contract's example ZPK
	for _, v := range iso0Vectors {
		t.Run(v.name, func(t *testing.T) {
			clearBlock, err := EncodePINBlockISO0(v.pin, v.pan)
			if err != nil {
				t.Fatal(err)
			}
			if hx(clearBlock) != v.wantClear {
				t.Fatalf("clear block %s, want %s", hx(clearBlock), v.wantClear)
			}
			pin, err := DecodePINBlockISO0(h(v.wantClear), v.pan)
			if err != nil || pin != v.pin {
				t.Fatalf("decode = %s, %v", pin, err)
			}
			enc, err := EncryptPINBlockISO0(zpk, v.pin, v.pan)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := TDESEncryptBlock(zpk, h(v.wantClear))
			if !bytes.Equal(enc, want) {
				t.Fatalf("encrypted %s, want TDES(clear) %s", hx(enc), hx(want))
			}
			pin, err = DecryptPINBlockISO0(zpk, enc, v.pan)
			if err != nil || pin != v.pin {
				t.Fatalf("decrypt = %s, %v", pin, err)
			}
		})
	}
}

func TestPINBlockISO0Errors(t *testing.T) {
	pan := "5555555551234567"
	cases := []struct {
		name  string
		block string
		cause error
	}{
		{"control nibble 1", "141261AAAAEDCBA9", ErrPINBlockControl},
		{"length 3", "031261AAAAEDCBA9", ErrPINBlockLength},
		{"length 13", "0D1261AAAAEDCBA9", ErrPINBlockLength},
		{"non-decimal PIN digit", "04A261AAAAEDCBA9", ErrPINBlockDigit},
		{"fill not F", "041261AAAAEDCBA8", ErrPINBlockFill},
	}
	for _, c := range cases {
		_, err := DecodePINBlockISO0(h(c.block), pan)
		if !errors.Is(err, ErrPINBlockFormat) || !errors.Is(err, c.cause) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The right block against another PAN must not decode to the PIN.
	if pin, err := DecodePINBlockISO0(h("041261AAAAEDCBA9"), "5555555551234577"); err == nil && pin == "1234" {
		t.Error("wrong PAN decodes the PIN")
	}
	if _, err := DecodePINBlockISO0(h("041261AAAAEDCB"), pan); !errors.Is(err, ErrDataLength) {
		t.Error(err)
	}
	for _, pin := range []string{"123", "1234567890123", "12a4", ""} {
		if _, err := EncodePINBlockISO0(pin, pan); !errors.Is(err, ErrPIN) {
			t.Errorf("PIN %q: %v", pin, err)
		}
	}
	if _, err := EncodePINBlockISO0("1234", "5"); !errors.Is(err, ErrPAN) {
		t.Error(err)
	}
	if _, err := EncryptPINBlockISO0(make([]byte, 8), "1234", pan); !errors.Is(err, ErrKeyLength) {
		t.Error(err)
	}
	// Error strings carry no PIN or PAN digits.
	_, err := DecodePINBlockISO0(h("041261AAAAEDCBA8"), pan)
	for _, secret := range []string{"1234", "555555", "041261"} {
		if bytes.Contains([]byte(err.Error()), []byte(secret)) {
			t.Errorf("error %q leaks %q", err, secret)
		}
	}
}

// Any single bit flipped in the encrypted block or the ZPK (non-parity) must not yield the PIN.
// A flip decrypts to a random-looking block; it is rejected by the format checks or, very
// rarely, decodes to some other PIN: never to the original.
func TestPINBlockISO0BitFlips(t *testing.T) {
	zpk := h("0123456789ABCDEFFEDCBA9876543210")
	pan, pin := "5555555551234567", "1234"
	enc, _ := EncryptPINBlockISO0(zpk, pin, pan)
	for bit := 0; bit < 64; bit++ {
		b := bytes.Clone(enc)
		b[bit/8] ^= 1 << (bit % 8)
		if got, err := DecryptPINBlockISO0(zpk, b, pan); err == nil && got == pin {
			t.Fatalf("block bit %d flipped, PIN recovered", bit)
		}
	}
	for bit := 0; bit < 128; bit++ {
		if bit%8 == 0 {
			continue
		}
		k := bytes.Clone(zpk)
		k[bit/8] ^= 1 << (bit % 8)
		if got, err := DecryptPINBlockISO0(k, enc, pan); err == nil && got == pin {
			t.Fatalf("ZPK bit %d flipped, PIN recovered", bit)
		}
	}
}

// Vectors §6.2 (psec deterministic case with the random half forced to FF..FF, 19-digit PAN).
func TestPINBlockISO4Vectors(t *testing.T) {
	for _, v := range iso4Vectors {
		t.Run(v.name, func(t *testing.T) {
			pinField := h(v.pinField)
			pin := "1234"
			pf, err := EncodePINFieldISO4(pin, pinField[8:])
			if err != nil || hx(pf) != v.pinField {
				t.Fatalf("PIN field %s, %v", hx(pf), err)
			}
			panField, err := EncodePANFieldISO4(v.pan)
			if err != nil || hx(panField) != v.wantPANField {
				t.Fatalf("PAN field %s, %v", hx(panField), err)
			}
			block, err := EncryptPINBlockISO4(h(v.key), pin, v.pan, pinField[8:])
			if err != nil {
				t.Fatal(err)
			}
			if hx(block) != v.wantBlock {
				t.Fatalf("block %s, want %s", hx(block), v.wantBlock)
			}
			got, err := DecryptPINBlockISO4(h(v.key), block, v.pan)
			if err != nil || got != pin {
				t.Fatalf("decrypt = %s, %v", got, err)
			}
		})
	}
	// Decipher-only rows (psec).
	for _, v := range iso4DecipherVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := DecryptPINBlockISO4(h(v.key), h(v.block), v.pan)
			if err != nil || got != v.wantPIN {
				t.Fatalf("decrypt = %s, %v", got, err)
			}
		})
	}
}

// Field-encoding vectors from openemv/pinblock test/pinblock_format4_test.c and the short-PAN
// PAN field psec gives for PAN "1".
func TestPINBlockISO4Fields(t *testing.T) {
	pf, _ := EncodePINFieldISO4("12345", make([]byte, 8))
	if hx(pf[:8]) != "4512345AAAAAAAAA" {
		t.Errorf("PIN field %s", hx(pf))
	}
	for _, c := range []struct{ pan, want string }{
		{"411111111111111", "34111111111111110000000000000000"},
		{"123456789", "00001234567890000000000000000000"},
		{"1", "00000000000010000000000000000000"},
	} {
		got, err := EncodePANFieldISO4(c.pan)
		if err != nil || hx(got) != c.want {
			t.Errorf("PAN field(%s) = %s, %v; want %s", c.pan, hx(got), err, c.want)
		}
	}
}

// psec test_decipher_pinblock_iso_4_exception lists wrong control field, bad fill, non-numeric
// PIN and bad length; the same four failures are built here by enciphering bad PIN fields.
func TestPINBlockISO4Errors(t *testing.T) {
	key := h("00112233445566778899AABBCCDDEEFF")
	pan := "1234567890123456"
	encipher := func(pinField string) []byte {
		t.Helper()
		panField, _ := EncodePANFieldISO4(pan)
		a, _ := aesEncrypt(key, h(pinField))
		xorInto(a, panField)
		c, _ := aesEncrypt(key, a)
		return c
	}
	cases := []struct {
		name, pinField string
		cause          error
	}{
		{"control 3", "341234AAAAAAAAAA0000000000000000", ErrPINBlockControl},
		{"fill not A", "441234AAAAAAAAAB0000000000000000", ErrPINBlockFill},
		{"PIN digit B", "44123BAAAAAAAAAA0000000000000000", ErrPINBlockDigit},
		{"length 3", "43123AAAAAAAAAAA0000000000000000", ErrPINBlockLength},
		{"length 13", "4D1234567890123A0000000000000000", ErrPINBlockLength},
	}
	for _, c := range cases {
		_, err := DecryptPINBlockISO4(key, encipher(c.pinField), pan)
		if !errors.Is(err, ErrPINBlockFormat) || !errors.Is(err, c.cause) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The random half is ignored, and a 12-digit PIN round-trips.
	ok := encipher("4C123456789012AA0123456789ABCDEF")
	if pin, err := DecryptPINBlockISO4(key, ok, pan); err != nil || pin != "123456789012" {
		t.Errorf("12-digit PIN: %s %v", pin, err)
	}
	if _, err := DecryptPINBlockISO4(key[:15], ok, pan); !errors.Is(err, ErrKeyLength) {
		t.Error(err)
	}
	if _, err := DecryptPINBlockISO4(key, ok[:8], pan); !errors.Is(err, ErrDataLength) {
		t.Error(err)
	}
	if _, err := EncryptPINBlockISO4(key, "1234", pan, make([]byte, 7)); !errors.Is(err, ErrDataLength) {
		t.Error(err)
	}
	if _, err := EncryptPINBlockISO4(key, "1234", "12345678901234567890", make([]byte, 8)); !errors.Is(err, ErrPAN) {
		t.Error(err)
	}
	// One flipped bit in the block, the key or the PAN never gives the PIN back.
	block, _ := EncryptPINBlockISO4(key, "1234", pan, h("0102030405060708"))
	for bit := 0; bit < 128; bit++ {
		b := bytes.Clone(block)
		b[bit/8] ^= 1 << (bit % 8)
		if got, err := DecryptPINBlockISO4(key, b, pan); err == nil && got == "1234" {
			t.Fatalf("block bit %d: PIN recovered", bit)
		}
		k := bytes.Clone(key)
		k[bit/8] ^= 1 << (bit % 8)
		if got, err := DecryptPINBlockISO4(k, block, pan); err == nil && got == "1234" {
			t.Fatalf("key bit %d: PIN recovered", bit)
		}
	}
	if got, err := DecryptPINBlockISO4(key, block, "1234567890123457"); err == nil && got == "1234" {
		t.Fatal("other PAN: PIN recovered")
	}
}
