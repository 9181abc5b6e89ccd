package cardcrypto

import (
	"crypto/cipher"
	"crypto/subtle"
)

func checkPIN(pin string) error {
	if len(pin) < 4 || len(pin) > 12 || !IsDigits(pin) {
		return ErrPIN
	}
	return nil
}

// PVV computes the 4-digit Visa PIN Verification Value. pvk is PVK A || PVK B (16 bytes), pan at
// least 12 digits, pvki 0-9, pin 4-12 digits (the first 4 are used). TSP = the 11 rightmost PAN
// digits excluding the check digit || PVKI || the 4 leftmost PIN digits; PVV = the first 4
// decimal digits of TDES(PVK, TSP) (digits, then A-F as 0-5).
func PVV(pvk []byte, pan string, pvki int, pin string) (string, error) {
	var out [4]byte
	if err := pvv(out[:], pvk, pan, pvki, pin); err != nil {
		return "", err
	}
	return string(out[:]), nil
}

func pvv(out []byte, pvk []byte, pan string, pvki int, pin string) error {
	if err := checkPAN(pan); err != nil {
		return err
	}
	if len(pan) < 12 {
		return ErrPAN
	}
	if pvki < 0 || pvki > 9 {
		return ErrPVKI
	}
	if err := checkPIN(pin); err != nil {
		return err
	}
	c, err := newDoubleTDES(pvk)
	if err != nil {
		return err
	}
	var tsp [16]byte
	copy(tsp[:11], pan[len(pan)-12:len(pan)-1])
	tsp[11] = byte('0' + pvki)
	copy(tsp[12:], pin[:4])
	var block [8]byte
	packDigits(block[:], string(tsp[:]))
	clear(tsp[:])
	c.Encrypt(block[:], block[:])
	decimalize(out[:0], block[:], 4)
	clear(block[:])
	return nil
}

// VerifyPVV reports whether value is the PVV of pin, comparing in constant time. The error is for
// inputs that cannot be evaluated (PVK length, PVKI, malformed PAN or PIN): a caller must not
// count those as a wrong PIN, since that would lock cards on a configuration mistake.
func VerifyPVV(pvk []byte, pan string, pvki int, pin, value string) (bool, error) {
	var want [4]byte
	if err := pvv(want[:], pvk, pan, pvki, pin); err != nil {
		return false, err
	}
	return len(value) == 4 && subtle.ConstantTimeCompare(want[:], []byte(value)) == 1, nil
}

// DecimalizeWithTable maps each hex digit of hexDigits through the 16-digit decimalisation table
// (table[i] replaces hex digit i), as IBM 3624 PIN generation does.
func DecimalizeWithTable(hexDigits, table string) (string, error) {
	if len(table) != 16 || !IsDigits(table) || !isHex(hexDigits) {
		return "", ErrDecimalizationTable
	}
	out := make([]byte, len(hexDigits))
	for i := 0; i < len(hexDigits); i++ {
		out[i] = table[nibble(hexDigits[i])]
	}
	return string(out), nil
}

// IBM3624NaturalPIN returns the IBM 3624 natural (intermediate) PIN of pinLen digits (4-12):
// the validation data (16 hex digits, already selected from the PAN and padded as the issuer
// configures) enciphered under pvk (8, 16 or 24 bytes), decimalised through table, leftmost
// pinLen digits.
func IBM3624NaturalPIN(pvk []byte, validationData, table string, pinLen int) (string, error) {
	if pinLen < 4 || pinLen > 12 {
		return "", ErrPIN
	}
	if len(validationData) != 16 || !isHex(validationData) || len(table) != 16 || !IsDigits(table) {
		return "", ErrDecimalizationTable
	}
	var c cipher.Block
	var err error
	if len(pvk) == 8 {
		c, err = newDES(pvk)
	} else {
		c, err = newTDES(pvk)
	}
	if err != nil {
		return "", err
	}
	var block [8]byte
	packDigits(block[:], validationData)
	c.Encrypt(block[:], block[:])
	out := make([]byte, pinLen)
	for i := range out {
		v := block[i/2]
		if i%2 == 0 {
			v >>= 4
		}
		out[i] = table[v&0x0F]
	}
	return string(out), nil
}

// IBM3624Offset returns the offset that turns the natural PIN into pin:
// offset[i] = (pin[i] - natural[i]) mod 10, as many digits as the PIN.
func IBM3624Offset(pvk []byte, validationData, table, pin string) (string, error) {
	if err := checkPIN(pin); err != nil {
		return "", err
	}
	natural, err := IBM3624NaturalPIN(pvk, validationData, table, len(pin))
	if err != nil {
		return "", err
	}
	out := make([]byte, len(pin))
	for i := range out {
		out[i] = '0' + (pin[i]-natural[i]+10)%10
	}
	return string(out), nil
}

// VerifyIBM3624Offset reports whether pin matches natural PIN + offset digit by digit (mod 10).
// The offset has the PIN's length. The comparison does not stop at the first difference.
func VerifyIBM3624Offset(pvk []byte, validationData, table, offset, pin string) (bool, error) {
	if err := checkPIN(pin); err != nil {
		return false, err
	}
	if len(offset) != len(pin) || !IsDigits(offset) {
		return false, ErrPIN
	}
	natural, err := IBM3624NaturalPIN(pvk, validationData, table, len(pin))
	if err != nil {
		return false, err
	}
	diff := 0
	for i := 0; i < len(pin); i++ {
		diff |= int(('0'+(natural[i]-'0'+offset[i]-'0')%10)^pin[i]) & 0xFF
	}
	return diff == 0, nil
}
