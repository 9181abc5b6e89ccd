package tsh

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/cardswitch/cardswitch/tokenvault"
)

// The JSON inside the encrypted fields (notes §5.1–§5.4). Card data stays in redacting types
// (tokenvault.PAN, tokenvault.CVC2) from the moment it is parsed.

// ErrCardInfo is plaintext that is not the seed's JSON (400 INVALID_CARD_INFO).
var ErrCardInfo = errors.New("tsh: the decrypted data is not the seed's JSON")

// CardInfo is the plaintext of cipheredCardInfo: {"fpan","exp"?,"cvv"?,...}.
type CardInfo struct {
	FPAN tokenvault.PAN
	Exp  string // MMYY, "" when absent
	CVV  tokenvault.CVC2
}

// TokenInfo is the plaintext of tokenInfo: {"pan","exp"?,...}.
type TokenInfo struct {
	PAN tokenvault.PAN
	Exp string // MMYY, "" when absent (UPI)
}

// Bounds of the plaintext fields (notes §5).
const (
	panMax                 = 19
	panMin                 = 12 // the shortest card number a scheme issues; the seed says only "up to 19"
	additionalCardInfosMax = 8177
	originalTokenMax       = 19
	originalTokenRefMax    = 32
	originalTokenAssurance = 2
)

type cardInfoJSON struct {
	FPAN                        *string         `json:"fpan"`
	Exp                         *string         `json:"exp"`
	CVV                         *string         `json:"cvv"`
	AdditionalCardInfos         json.RawMessage `json:"additionalCardInfos"`
	OriginalToken               *string         `json:"originalToken"`
	OriginalTokenReferenceID    *string         `json:"originalTokenReferenceID"`
	OriginalTokenAssuranceLevel *string         `json:"originalTokenAssuranceLevel"`
}

// ParseCardInfo reads a cipheredCardInfo plaintext. fpan is required (12 to 19 digits), exp is
// MMYY, cvv 3 or 4 digits, additionalCardInfos an object of at most 8177 characters, and the
// originalToken* fields of the token-for-token flow are bounded as the seed says. Other keys
// are ignored (the hub may add some).
func ParseCardInfo(plain []byte) (CardInfo, error) {
	var j cardInfoJSON
	if err := strictJSON(plain, &j); err != nil {
		return CardInfo{}, err
	}
	if j.FPAN == nil || !digits(*j.FPAN, panMin, panMax) {
		return CardInfo{}, ErrCardInfo
	}
	if j.Exp != nil && !mmyy(*j.Exp) {
		return CardInfo{}, ErrCardInfo
	}
	if j.CVV != nil && !digits(*j.CVV, 3, 4) {
		return CardInfo{}, ErrCardInfo
	}
	if len(j.AdditionalCardInfos) > 0 {
		if j.AdditionalCardInfos[0] != '{' || utf8.RuneCount(j.AdditionalCardInfos) > additionalCardInfosMax {
			return CardInfo{}, ErrCardInfo
		}
	}
	if !within(j.OriginalToken, originalTokenMax) || !within(j.OriginalTokenReferenceID, originalTokenRefMax) ||
		!within(j.OriginalTokenAssuranceLevel, originalTokenAssurance) {
		return CardInfo{}, ErrCardInfo
	}
	ci := CardInfo{FPAN: tokenvault.PAN(*j.FPAN)}
	if j.Exp != nil {
		ci.Exp = *j.Exp
	}
	if j.CVV != nil {
		ci.CVV = tokenvault.CVC2(*j.CVV)
	}
	return ci, nil
}

// ParseTokenInfo reads a tokenInfo plaintext: pan required (12 to 19 digits), exp MMYY.
func ParseTokenInfo(plain []byte) (TokenInfo, error) {
	var j struct {
		PAN                         *string `json:"pan"`
		Exp                         *string `json:"exp"`
		OriginalToken               *string `json:"originalToken"`
		OriginalTokenReferenceID    *string `json:"originalTokenReferenceID"`
		OriginalTokenAssuranceLevel *string `json:"originalTokenAssuranceLevel"`
	}
	if err := strictJSON(plain, &j); err != nil {
		return TokenInfo{}, err
	}
	if j.PAN == nil || !digits(*j.PAN, panMin, panMax) || (j.Exp != nil && !mmyy(*j.Exp)) {
		return TokenInfo{}, ErrCardInfo
	}
	if !within(j.OriginalToken, originalTokenMax) || !within(j.OriginalTokenReferenceID, originalTokenRefMax) ||
		!within(j.OriginalTokenAssuranceLevel, originalTokenAssurance) {
		return TokenInfo{}, ErrCardInfo
	}
	ti := TokenInfo{PAN: tokenvault.PAN(*j.PAN)}
	if j.Exp != nil {
		ti.Exp = *j.Exp
	}
	return ti, nil
}

// ParseAuthenticationValue reads an authenticationValue plaintext: {"cvv":"123"}.
func ParseAuthenticationValue(plain []byte) (tokenvault.CVC2, error) {
	var j struct {
		CVV *string `json:"cvv"`
	}
	if err := strictJSON(plain, &j); err != nil {
		return "", err
	}
	if j.CVV == nil || !digits(*j.CVV, 3, 4) {
		return "", ErrCardInfo
	}
	return tokenvault.CVC2(*j.CVV), nil
}

// strictJSON decodes one JSON object and nothing after it. Field types are checked by the
// decoder (a number where a string belongs fails).
func strictJSON(plain []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(plain))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ErrCardInfo
	}
	dec = json.NewDecoder(bytes.NewReader(plain))
	if err := dec.Decode(v); err != nil || dec.More() {
		return ErrCardInfo
	}
	return nil
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// mmyy reports whether s is an expiry MMYY with a month 01–12.
func mmyy(s string) bool {
	if !digits(s, 4, 4) {
		return false
	}
	m := (s[0]-'0')*10 + s[1] - '0'
	return m >= 1 && m <= 12
}

func within(s *string, max int) bool { return s == nil || utf8.RuneCountInString(*s) <= max }
