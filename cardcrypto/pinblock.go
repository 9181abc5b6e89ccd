package cardcrypto

import (
	"crypto/aes"
)

// ISO 9564-1 format 0 (ANSI X9.8, VISA-1, Thales format 01).

// panFieldISO0 returns 0000 || the 12 rightmost PAN digits excluding the check digit, as 8
// bytes. PANs shorter than 13 digits are left-padded with 0.
func panFieldISO0(pan string) ([8]byte, error) {
	var f [8]byte
	if err := checkPAN(pan); err != nil {
		return f, err
	}
	if len(pan) < 2 {
		return f, ErrPAN
	}
	body := pan[:len(pan)-1]
	if len(body) > 12 {
		body = body[len(body)-12:]
	}
	var digits [16]byte
	for i := range digits {
		digits[i] = '0'
	}
	copy(digits[16-len(body):], body)
	packDigits(f[:], string(digits[:]))
	return f, nil
}

// EncodePINBlockISO0 returns the clear 8-byte ISO 9564 format 0 PIN block:
// (0 || L || PIN || F..F) xor (0000 || 12 rightmost PAN digits excluding the check digit).
func EncodePINBlockISO0(pin, pan string) ([]byte, error) {
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	pf, err := panFieldISO0(pan)
	if err != nil {
		return nil, err
	}
	var nib [16]byte
	nib[0] = 0
	nib[1] = byte(len(pin))
	for i := 2; i < 16; i++ {
		nib[i] = 0xF
	}
	for i := 0; i < len(pin); i++ {
		nib[2+i] = pin[i] - '0'
	}
	out := make([]byte, 8)
	for i := range out {
		out[i] = (nib[2*i]<<4 | nib[2*i+1]) ^ pf[i]
	}
	clear(nib[:])
	return out, nil
}

// DecodePINBlockISO0 recovers the PIN from a clear format 0 block. It checks the control nibble
// (0), the length (4-12), the PIN digits and the F fill; each failure wraps ErrPINBlockFormat.
func DecodePINBlockISO0(block []byte, pan string) (string, error) {
	if len(block) != 8 {
		return "", fieldLenError("PINBlock", 8, len(block))
	}
	pf, err := panFieldISO0(pan)
	if err != nil {
		return "", err
	}
	var p [8]byte
	for i := range p {
		p[i] = block[i] ^ pf[i]
	}
	defer clear(p[:])
	return decodePINField(p[:], 0x0, 0xF, 16)
}

// decodePINField checks control || L || PIN || fill over the first nibbles nibbles of f.
func decodePINField(f []byte, control, fill byte, nibbles int) (string, error) {
	at := func(i int) byte {
		if i%2 == 0 {
			return f[i/2] >> 4
		}
		return f[i/2] & 0x0F
	}
	if at(0) != control {
		return "", pinBlockError(ErrPINBlockControl)
	}
	n := int(at(1))
	if n < 4 || n > 12 {
		return "", pinBlockError(ErrPINBlockLength)
	}
	var pin [12]byte
	for i := 0; i < n; i++ {
		d := at(2 + i)
		if d > 9 {
			clear(pin[:])
			return "", pinBlockError(ErrPINBlockDigit)
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < nibbles; i++ {
		if at(i) != fill {
			clear(pin[:])
			return "", pinBlockError(ErrPINBlockFill)
		}
	}
	s := string(pin[:n])
	clear(pin[:])
	return s, nil
}

// EncryptPINBlockISO0 builds the format 0 block and enciphers it with TDES-EDE under zpk (16 or
// 24 bytes), as carried in ISO 8583 field 52.
func EncryptPINBlockISO0(zpk []byte, pin, pan string) ([]byte, error) {
	c, err := newTDES(zpk)
	if err != nil {
		return nil, err
	}
	block, err := EncodePINBlockISO0(pin, pan)
	if err != nil {
		return nil, err
	}
	c.Encrypt(block, block)
	return block, nil
}

// DecryptPINBlockISO0 deciphers an 8-byte field 52 block under zpk (16 or 24 bytes) and decodes
// it against pan. A wrong key or PAN almost always shows as an ErrPINBlockFormat error.
func DecryptPINBlockISO0(zpk, block []byte, pan string) (string, error) {
	if len(block) != 8 {
		return "", fieldLenError("PINBlock", 8, len(block))
	}
	c, err := newTDES(zpk)
	if err != nil {
		return "", err
	}
	var clearBlock [8]byte
	c.Decrypt(clearBlock[:], block)
	defer clear(clearBlock[:])
	return DecodePINBlockISO0(clearBlock[:], pan)
}

// ISO 9564-1:2017 format 4 (AES, 16-byte block).

// EncodePINFieldISO4 returns the 16-byte plain PIN field: 4 || L || PIN || A..A to nibble 16,
// then the 8 random bytes the caller supplies (from crypto/rand; this package does no I/O).
func EncodePINFieldISO4(pin string, random []byte) ([]byte, error) {
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	if len(random) != 8 {
		return nil, fieldLenError("random", 8, len(random))
	}
	var nib [16]byte
	nib[0] = 4
	nib[1] = byte(len(pin))
	for i := 2; i < 16; i++ {
		nib[i] = 0xA
	}
	for i := 0; i < len(pin); i++ {
		nib[2+i] = pin[i] - '0'
	}
	out := make([]byte, 16)
	for i := 0; i < 8; i++ {
		out[i] = nib[2*i]<<4 | nib[2*i+1]
	}
	copy(out[8:], random)
	clear(nib[:])
	return out, nil
}

// EncodePANFieldISO4 returns the 16-byte plain PAN field: M || PAN || 0..0, where M = PAN length
// - 12 (0-7); a PAN shorter than 12 digits is left-padded with 0 to 12 and gets M = 0.
func EncodePANFieldISO4(pan string) ([]byte, error) {
	f, err := panFieldISO4(pan)
	if err != nil {
		return nil, err
	}
	return f[:], nil
}

func panFieldISO4(pan string) ([16]byte, error) {
	var f [16]byte
	if err := checkPAN(pan); err != nil {
		return f, err
	}
	var digits [32]byte
	for i := range digits {
		digits[i] = '0'
	}
	if len(pan) >= 12 {
		digits[0] = byte('0' + len(pan) - 12)
		copy(digits[1:], pan)
	} else {
		copy(digits[1+12-len(pan):], pan)
	}
	packDigits(f[:], string(digits[:]))
	return f, nil
}

// EncryptPINBlockISO4 enciphers a format 4 PIN block under the AES key (16, 24 or 32 bytes):
// C = AES(K, AES(K, PINfield) xor PANfield). random is the 8-byte random half of the PIN field.
func EncryptPINBlockISO4(key []byte, pin, pan string, random []byte) ([]byte, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKeyLength
	}
	pf, err := panFieldISO4(pan)
	if err != nil {
		return nil, err
	}
	block, err := EncodePINFieldISO4(pin, random)
	if err != nil {
		return nil, err
	}
	c.Encrypt(block, block)
	xorInto(block, pf[:])
	c.Encrypt(block, block)
	return block, nil
}

// DecryptPINBlockISO4 deciphers a 16-byte format 4 block under the AES key and returns the PIN:
// A = AES⁻¹(K, C) xor PANfield, PINfield = AES⁻¹(K, A). It checks the control nibble (4), the
// length (4-12), the digits and the A fill of the first 8 bytes, and ignores the random half.
func DecryptPINBlockISO4(key, block []byte, pan string) (string, error) {
	if len(block) != 16 {
		return "", fieldLenError("PINBlock", 16, len(block))
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return "", ErrKeyLength
	}
	pf, err := panFieldISO4(pan)
	if err != nil {
		return "", err
	}
	var b [16]byte
	defer clear(b[:])
	c.Decrypt(b[:], block)
	xorInto(b[:], pf[:])
	c.Decrypt(b[:], b[:])
	return decodePINField(b[:8], 0x4, 0xA, 16)
}
