package cardcrypto

// LuhnCheckDigit returns the ASCII check digit ('0'..'9') that makes payload||digit pass the Luhn
// (ISO/IEC 7812-1 Annex B, mod 10) check. payload is 1 to 18 ASCII digits.
func LuhnCheckDigit(payload string) (byte, error) {
	if len(payload) > 18 || !IsDigits(payload) {
		return 0, ErrPAN
	}
	// The check digit position is not doubled, so the rightmost payload digit is.
	sum := luhnSum(payload, true)
	return byte('0' + (10-sum%10)%10), nil
}

// LuhnValid reports whether number (2 to 19 ASCII digits, check digit last) passes the Luhn check.
func LuhnValid(number string) bool {
	if len(number) < 2 || len(number) > 19 || !IsDigits(number) {
		return false
	}
	return luhnSum(number, false)%10 == 0
}

// luhnSum adds the digits of s from the right, doubling every second digit; doubleFirst says
// whether the rightmost digit is doubled.
func luhnSum(s string, doubleFirst bool) int {
	sum := 0
	double := doubleFirst
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum
}
