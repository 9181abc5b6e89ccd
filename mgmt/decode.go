package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/cardswitch/cardswitch/ledger"
)

// decodeStrict decodes a JSON object into dst: unknown fields, wrong types, trailing data and
// non-objects are field-level 400s. An empty body is an empty object when optional.
func decodeStrict(body []byte, dst any, optional bool) *apiError {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if optional {
			return nil
		}
		return errBad("INVALID_JSON", "a JSON object body is required", "")
	}
	if trimmed[0] != '{' {
		return errBad("INVALID_JSON", "the body must be a JSON object", "")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBad("INVALID_JSON", "unexpected data after the JSON object", "")
	}
	return nil
}

func jsonError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		return errBad("INVALID_FIELD", "wrong type for "+f+": want "+jsonTypeName(te.Type.Kind().String()), f)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		f := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return errBad("UNKNOWN_FIELD", "unknown field "+f, f)
	}
	return errBad("INVALID_JSON", "malformed JSON", "")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint8", "uint16", "uint32", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	}
	return "object"
}

// maxAmountMinor bounds amounts to what ISO 8583 field 4 (n12) can carry.
const maxAmountMinor = 999_999_999_999

// parseAmount turns a decimal string in major units into minor units, requiring exactly the
// currency's number of decimals ("12.34" for EUR, "12" for JPY, "12.345" for BHD).
func parseAmount(field string, raw json.RawMessage, currency string, allowZero bool) (int64, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errMissing(field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errBad("INVALID_AMOUNT", field+" must be a decimal string such as \"12.34\"", field)
	}
	return parseAmountString(field, s, currency, allowZero)
}

var amountRe = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})(\.[0-9]+)?$`)

func parseAmountString(field, s, currency string, allowZero bool) (int64, *apiError) {
	cur, ok := ledger.CurrencyByAlpha(currency)
	if !ok {
		return 0, errBad("UNKNOWN_CURRENCY", "unknown currency", field)
	}
	m := amountRe.FindStringSubmatch(s)
	if m == nil {
		return 0, errBad("INVALID_AMOUNT", field+" must be a non-negative decimal string such as \"12.34\"", field)
	}
	decimals := 0
	if m[2] != "" {
		decimals = len(m[2]) - 1
	}
	if decimals != cur.Exponent {
		return 0, errBad("INVALID_AMOUNT", field+" must have exactly "+itoa(cur.Exponent)+" decimals for "+currency, field)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, errBad("INVALID_AMOUNT", field+" is not a decimal", field)
	}
	minor := d.Shift(int32(cur.Exponent))
	if !minor.IsInteger() || minor.GreaterThan(decimal.NewFromInt(maxAmountMinor)) {
		return 0, errBad("INVALID_AMOUNT", field+" is too large", field)
	}
	v := minor.IntPart()
	if v == 0 && !allowZero {
		return 0, errBad("INVALID_AMOUNT", field+" must be positive", field)
	}
	return v, nil
}

// formatAmount writes minor units as a decimal string with the currency's decimals.
func formatAmount(minor int64, currency string) string {
	exp := 2
	if cur, ok := ledger.CurrencyByAlpha(currency); ok {
		exp = cur.Exponent
	}
	return decimal.New(minor, int32(-exp)).StringFixed(int32(exp))
}

func itoa(n int) string {
	return decimal.NewFromInt(int64(n)).String()
}

var (
	reName  = regexp.MustCompile(`^[\p{L}\p{M}' .\-]{1,100}$`)
	reEmail = regexp.MustCompile(`^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$`)
	// Phone numbers: E.164 digits (6 to 15) with an optional leading +; spaces, dashes, dots and
	// parentheses as partners commonly format them are accepted and kept as sent.
	rePhone    = regexp.MustCompile(`^\+?[0-9(][0-9 ().\-]{4,22}[0-9]$`)
	reExtID    = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,64}$`)
	reIdemKey  = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	reCurrency = regexp.MustCompile(`^[A-Z]{3}$`)
	reDigits   = regexp.MustCompile(`^[0-9]+$`)
)
