package pba

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// IBAN rules (contract §6): an IBAN is taken in electronic format (upper case, no spaces) and
// must pass the ISO 13616 / ISO 7064 mod-97 check; its ibanId is the lower-case hex SHA-256 of
// that electronic format.

// ibanMaxLen is the longest IBAN ISO 13616 allows; ibanMinLen the shortest in use (Norway).
const (
	ibanMinLen = 15
	ibanMaxLen = 34
)

// ElectronicIBAN is an IBAN in electronic format: spaces removed, letters upper case.
func ElectronicIBAN(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}

// ValidIBAN reports whether iban (electronic format) is well formed and passes mod-97: two
// letters of country, two check digits, then letters and digits, 15 to 34 characters, and the
// rearranged number (country and check digits moved to the end, letters as 10..35) is 1 mod 97.
func ValidIBAN(iban string) bool {
	if len(iban) < ibanMinLen || len(iban) > ibanMaxLen {
		return false
	}
	if !isUpper(iban[0]) || !isUpper(iban[1]) || !isDigit(iban[2]) || !isDigit(iban[3]) {
		return false
	}
	rem := 0
	for i := range len(iban) {
		c := iban[(i+4)%len(iban)]
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case isUpper(c):
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// IBANID is the ibanId of an IBAN in electronic format.
func IBANID(iban string) string {
	h := sha256.Sum256([]byte(iban))
	return hex.EncodeToString(h[:])
}

// validIBANID reports whether s looks like an ibanId: 64 lower-case hex characters.
func validIBANID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// IBANCountry is the country code an IBAN starts with.
func IBANCountry(iban string) string {
	if len(iban) < 2 {
		return ""
	}
	return iban[:2]
}

// maskIBAN shows an IBAN as its country and its last four characters, for answers and audit
// entries (an IBAN is personal data).
func maskIBAN(iban string) string {
	if len(iban) < 8 {
		return "****"
	}
	return iban[:2] + strings.Repeat("*", len(iban)-6) + iban[len(iban)-4:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// iso3166 lists the ISO 3166-1 alpha-2 codes (officially assigned), for countryCode claims.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// validCountry reports whether c is an ISO 3166-1 alpha-2 code.
func validCountry(c string) bool {
	return len(c) == 2 && isUpper(c[0]) && isUpper(c[1]) && strings.Contains(iso3166, c)
}
