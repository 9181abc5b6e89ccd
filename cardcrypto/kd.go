package cardcrypto

import (
	"crypto/cipher"
	"crypto/sha1"
)

// DeriveICCMasterKey derives the ICC master key (MK_AC for an IMK-AC) the way EMV Book 2
// Annex A1.4 prescribes for the PAN length: Option A for PANs of up to 16 digits and Option B
// for longer ones (Option B is defined as Option A for PANs of 16 digits or fewer).
// imk is the double-length issuer master key; psn is the PAN sequence number (5F34), "" meaning
// absent ("00"). The result is odd-parity adjusted.
func DeriveICCMasterKey(imk []byte, pan string, psn string) ([]byte, error) {
	if len(pan) <= 16 {
		return DeriveICCMasterKeyOptionA(imk, pan, psn)
	}
	return DeriveICCMasterKeyOptionB(imk, pan, psn)
}

// DeriveICCMasterKeyOptionA implements EMV Book 2 A1.4.1: Y = the rightmost 16 digits of
// PAN||PSN (left-padded with 0 to 16), MK = TDES_IMK(Y) || TDES_IMK(Y xor FF..FF), odd parity.
func DeriveICCMasterKeyOptionA(imk []byte, pan string, psn string) ([]byte, error) {
	c, p, err := mkInput(imk, pan, psn)
	if err != nil {
		return nil, err
	}
	x := pan + p // PAN||PSN, at most 21 digits
	var digits [16]byte
	for i := range digits {
		digits[i] = '0'
	}
	if len(x) >= 16 {
		copy(digits[:], x[len(x)-16:])
	} else {
		copy(digits[16-len(x):], x)
	}
	var yb [8]byte
	packDigits(yb[:], string(digits[:]))
	return mkFromY(c, yb), nil
}

// DeriveICCMasterKeyOptionB implements EMV Book 2 A1.4.2. For PANs of 16 digits or fewer it is
// Option A. Otherwise X = PAN||PSN (a leading 0 added when the digit count is odd) is BCD packed
// and hashed with SHA-1; Y = the first 16 decimal digits of the hash (digits first, then A-F as
// 0-5), and MK is computed from Y as in Option A.
func DeriveICCMasterKeyOptionB(imk []byte, pan string, psn string) ([]byte, error) {
	if len(pan) <= 16 {
		return DeriveICCMasterKeyOptionA(imk, pan, psn)
	}
	c, p, err := mkInput(imk, pan, psn)
	if err != nil {
		return nil, err
	}
	x := pan + p
	if len(x)%2 == 1 {
		x = "0" + x
	}
	var packed [11]byte // at most 19+2+1 = 22 digits
	packDigits(packed[:], x)
	sum := sha1.Sum(packed[:len(x)/2])
	var ydigits [16]byte
	decimalize(ydigits[:0], sum[:], 16)
	var yb [8]byte
	packDigits(yb[:], string(ydigits[:]))
	return mkFromY(c, yb), nil
}

func mkInput(imk []byte, pan, psn string) (cipher.Block, string, error) {
	if err := checkPAN(pan); err != nil {
		return nil, "", err
	}
	p, err := normalizePSN(psn)
	if err != nil {
		return nil, "", err
	}
	c, err := newDoubleTDES(imk)
	if err != nil {
		return nil, "", err
	}
	return c, p, nil
}

func mkFromY(c cipher.Block, y [8]byte) []byte {
	mk := make([]byte, 16)
	c.Encrypt(mk[:8], y[:])
	for i := range y {
		y[i] ^= 0xFF
	}
	c.Encrypt(mk[8:], y[:])
	AdjustOddParity(mk)
	return mk
}

// DeriveSessionKey implements the EMV common session key derivation (Book 2 A1.3.1) for an
// arbitrary 8-byte diversifier R: SK = TDES_MK(R with R[2]=F0) || TDES_MK(R with R[2]=0F),
// odd-parity adjusted (byte index 2 is zero-based). mk is the double-length ICC master key.
func DeriveSessionKey(mk []byte, r []byte) ([]byte, error) {
	if len(r) != 8 {
		return nil, &FieldError{Field: "R", Err: ErrDataLength}
	}
	c, err := newDoubleTDES(mk)
	if err != nil {
		return nil, err
	}
	var rr [8]byte
	copy(rr[:], r)
	return sessionKey(c, rr), nil
}

func sessionKey(c cipher.Block, r [8]byte) []byte {
	sk := make([]byte, 16)
	r[2] = 0xF0
	c.Encrypt(sk[:8], r[:])
	r[2] = 0x0F
	c.Encrypt(sk[8:], r[:])
	AdjustOddParity(sk)
	return sk
}

// DeriveCommonSessionKey derives the EMV common session key for application cryptograms:
// R = ATC(2) || 00 00 00 00 00 00. atc is the 2-byte value of tag 9F36.
func DeriveCommonSessionKey(mk []byte, atc []byte) ([]byte, error) {
	if len(atc) != 2 {
		return nil, fieldLenError("9F36", 2, len(atc))
	}
	var r [8]byte
	copy(r[:], atc)
	return DeriveSessionKey(mk, r[:])
}

// DeriveMastercardSessionKey derives the Mastercard proprietary SKD session key (M/Chip 4
// CVN 16/17): the common construction with R = ATC(2) || 00 00 || UN(4), where UN is tag 9F37.
func DeriveMastercardSessionKey(mk []byte, atc []byte, un []byte) ([]byte, error) {
	if len(atc) != 2 {
		return nil, fieldLenError("9F36", 2, len(atc))
	}
	if len(un) != 4 {
		return nil, fieldLenError("9F37", 4, len(un))
	}
	var r [8]byte
	copy(r[:2], atc)
	copy(r[4:], un)
	return DeriveSessionKey(mk, r[:])
}
