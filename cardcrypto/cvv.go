package cardcrypto

import (
	"crypto/subtle"
)

// Service codes for the card verification value variants.
const (
	ServiceCodeCVV2 = "000" // CVV2 / CVC2, printed on the card
	ServiceCodeICVV = "999" // Visa iCVV, in the chip's track 2 equivalent data
)

// CVV computes the 3-digit Visa CVV / Mastercard CVC (also CVV2/CVC2 with service code "000" and
// iCVV with "999"). cvk is CVK A || CVK B (16 bytes), pan 1-19 digits, expiryYYMM and serviceCode
// 4 and 3 digits. Algorithm: PAN||expiry||service code right-padded with 0 to 32 digits as two
// blocks B1, B2; T = TDES(CVK, DES(CVKA, B1) xor B2); the first 3 decimal digits of T (digits,
// then A-F as 0-5).
func CVV(cvk []byte, pan, expiryYYMM, serviceCode string) (string, error) {
	var out [3]byte
	if err := cvv(out[:], cvk, pan, expiryYYMM, serviceCode); err != nil {
		return "", err
	}
	return string(out[:]), nil
}

func cvv(out []byte, cvk []byte, pan, expiry, serviceCode string) error {
	if err := checkPAN(pan); err != nil {
		return err
	}
	if len(expiry) != 4 || !IsDigits(expiry) {
		return ErrExpiry
	}
	if len(serviceCode) != 3 || !IsDigits(serviceCode) {
		return ErrServiceCode
	}
	if len(cvk) != 16 {
		return ErrKeyLength
	}
	kA, err := newDES(cvk[:8])
	if err != nil {
		return err
	}
	kAB, err := newDoubleTDES(cvk)
	if err != nil {
		return err
	}
	var digits [32]byte
	n := copy(digits[:], pan)
	n += copy(digits[n:], expiry)
	n += copy(digits[n:], serviceCode)
	for i := n; i < len(digits); i++ {
		digits[i] = '0'
	}
	var b [16]byte
	packDigits(b[:], string(digits[:]))
	var t [8]byte
	kA.Encrypt(t[:], b[:8])
	xorInto(t[:], b[8:])
	kAB.Encrypt(t[:], t[:])
	decimalize(out[:0], t[:], 3)
	return nil
}

// CVV2 is CVV with service code 000 (CVV2 / CVC2).
func CVV2(cvk []byte, pan, expiryYYMM string) (string, error) {
	return CVV(cvk, pan, expiryYYMM, ServiceCodeCVV2)
}

// ICVV is CVV with service code 999 (Visa iCVV). Confirm the convention per scheme before using
// it for Mastercard chip data.
func ICVV(cvk []byte, pan, expiryYYMM string) (string, error) {
	return CVV(cvk, pan, expiryYYMM, ServiceCodeICVV)
}

// VerifyCVV reports whether value is the CVV for the inputs, comparing in constant time. Any
// malformed input, including a CVK of the wrong length, gives false: validate keys when the
// configuration is loaded (KCV) so that a bad key is not mistaken for bad card data.
func VerifyCVV(cvk []byte, pan, expiryYYMM, serviceCode, value string) bool {
	var want [3]byte
	if err := cvv(want[:], cvk, pan, expiryYYMM, serviceCode); err != nil {
		return false
	}
	return len(value) == 3 && subtle.ConstantTimeCompare(want[:], []byte(value)) == 1
}
