package panel

import (
	"bytes"
	"encoding/json"
	"html/template"
	"strconv"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// lockReasons are the seed's card stop reasons (Lock table), in code order.
var lockReasons = []struct {
	Code         int
	Name         string
	Irreversible bool
}{
	{1, "Card lost", true}, {2, "Card stolen", true}, {3, "Pending query", false}, {4, "Card consolidation", false},
	{5, "Card inactive", true}, {6, "PIN tries exceeded", false}, {7, "Suspected fraud", false}, {8, "Card replaced", true},
}

var funcs = template.FuncMap{
	// money formats an amount of minor units in an ISO 4217 numeric currency.
	"money": func(minor int64, currencyNum string) string {
		c, ok := ledger.CurrencyByNumeric(currencyNum)
		if !ok {
			return strconv.FormatInt(minor, 10) + " (" + currencyNum + ")"
		}
		return formatMinor(minor, c.Exponent) + " " + c.Alpha
	},
	"when":        func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"lockReasons": func() any { return lockReasons },
	"lockName": func(code int) string {
		if code >= 1 && code <= len(lockReasons) {
			return lockReasons[code-1].Name
		}
		return ""
	},
	"unlockable": func(code int) bool { return !authz.LockReason(code).Irreversible() },
	// pretty indents a JSON view (audit before/after) for a <pre>.
	"pretty": func(raw json.RawMessage) string {
		if len(raw) == 0 {
			return ""
		}
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
	"maskedPAN": func(last4 string) string { return "•••• " + last4 },
}

// formatMinor writes minor units with exp decimals ("-12.50").
func formatMinor(minor int64, exp int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp > 0 {
		for len(s) <= exp {
			s = "0" + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
