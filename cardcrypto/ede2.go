package cardcrypto

import (
	"crypto/cipher"
	"crypto/des"
	"errors"
)

// EDE2 is TDES-EDE2 over two single-DES key schedules: E_KL(D_KR(E_KL(x))). It serves keys
// derived per card or per transaction, where two schedules are cheaper than crypto/des's three
// and the schedule cache of des.go would only churn.
type EDE2 struct{ l, r cipher.Block }

// NewEDE2 schedules a 16-byte double-length key.
func NewEDE2(k []byte) (EDE2, error) {
	if len(k) < 16 {
		return EDE2{}, errors.New("cardcrypto: EDE2 needs a 16-byte key")
	}
	l, err := des.NewCipher(k[:8])
	if err != nil {
		return EDE2{}, err
	}
	r, err := des.NewCipher(k[8:16])
	if err != nil {
		return EDE2{}, err
	}
	return EDE2{l, r}, nil
}

// Encrypt enciphers one 8-byte block; dst and src may overlap entirely.
func (e EDE2) Encrypt(dst, src []byte) {
	e.l.Encrypt(dst, src)
	e.r.Decrypt(dst, dst)
	e.l.Encrypt(dst, dst)
}

// AmountN12 is an amount in minor units as EMV n12 (6 bytes BCD), as in tags 9F02 and 9F03.
func AmountN12(minor int64) ([6]byte, error) {
	var b [6]byte
	if minor < 0 || minor > 999999999999 {
		return b, errors.New("cardcrypto: amount out of n12 range")
	}
	for i := 5; i >= 0; i-- {
		lo := minor % 10
		minor /= 10
		hi := minor % 10
		minor /= 10
		b[i] = byte(hi<<4 | lo)
	}
	return b, nil
}

// NumericN3 is a 3-digit ISO numeric code (currency, country) as EMV n3 (2 bytes BCD, 0 d1 d2 d3).
func NumericN3(s string) ([2]byte, error) {
	var b [2]byte
	if len(s) != 3 || !IsDigits(s) {
		return b, errors.New("cardcrypto: want a 3-digit ISO numeric code")
	}
	b[0] = s[0] - '0'
	b[1] = (s[1]-'0')<<4 | (s[2] - '0')
	return b, nil
}

// MAC3 is ISO/IEC 9797-1 MAC algorithm 3 (single-DES CBC under the left key, the last block
// finished with D_KR then E_KL) with padding method 1 or 2, into h (8 bytes), without allocating.
func (e EDE2) MAC3(h, data []byte, padding int) {
	clear(h[:8])
	full := len(data) - len(data)%8
	for i := 0; i < full; i += 8 {
		for j := 0; j < 8; j++ {
			h[j] ^= data[i+j]
		}
		e.l.Encrypt(h, h)
	}
	tail := data[full:]
	if padding == PaddingMethod2 || len(tail) > 0 || len(data) == 0 {
		var last [8]byte
		copy(last[:], tail)
		if padding == PaddingMethod2 {
			last[len(tail)] = 0x80
		}
		for j := 0; j < 8; j++ {
			h[j] ^= last[j]
		}
		e.l.Encrypt(h, h)
	}
	e.r.Decrypt(h, h)
	e.l.Encrypt(h, h)
}
