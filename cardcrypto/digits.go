package cardcrypto

// IsDigits reports whether s is non-empty and made only of ASCII digits.
func IsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkPAN accepts 1 to 19 ASCII digits. Algorithms that need more digits check further.
func checkPAN(pan string) error {
	if len(pan) > 19 || !IsDigits(pan) {
		return ErrPAN
	}
	return nil
}

// normalizePSN turns a PAN sequence number into the two digits EMV key derivation uses: "" (5F34
// absent) becomes "00", one digit is left-padded, and three digits with a leading zero (ISO 8583
// field 23, n3) keep the last two.
func normalizePSN(psn string) (string, error) {
	switch len(psn) {
	case 0:
		return "00", nil
	case 1:
		if IsDigits(psn) {
			return "0" + psn, nil
		}
	case 2:
		if IsDigits(psn) {
			return psn, nil
		}
	case 3:
		if psn[0] == '0' && IsDigits(psn) {
			return psn[1:], nil
		}
	}
	return "", ErrPSN
}

// packDigits writes the ASCII digit (or upper/lower-case hex) string s, whose length is even,
// into dst as packed nibbles. The caller has validated s.
func packDigits(dst []byte, s string) {
	for i := 0; i+1 < len(s); i += 2 {
		dst[i/2] = nibble(s[i])<<4 | nibble(s[i+1])
	}
}

func nibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// decimalize returns the first n decimal digits of src read as hex nibbles, left to right, in
// the two passes of the Visa CVV/PVV and EMV Option B algorithms: first the nibbles 0-9 as they
// are, then the nibbles A-F mapped to 0-5. n must not exceed 2*len(src).
func decimalize(dst []byte, src []byte, n int) []byte {
	for pass := 0; pass < 2 && len(dst) < n; pass++ {
		for i := 0; i < 2*len(src) && len(dst) < n; i++ {
			v := src[i/2]
			if i%2 == 0 {
				v >>= 4
			}
			v &= 0x0F
			if pass == 0 && v <= 9 {
				dst = append(dst, '0'+v)
			} else if pass == 1 && v > 9 {
				dst = append(dst, '0'+v-10)
			}
		}
	}
	return dst
}
