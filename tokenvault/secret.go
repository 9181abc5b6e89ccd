package tokenvault

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Two places cannot be reached by methods, and code must not put secrets there: fmt prints an
// unexported struct field by reflection (its methods are not called), and encoding/json writes a
// string-kind map key as it is. Keep secrets in exported fields and never key a map by them.

// PAN is a clear primary account number (a card's or a token's). Printed, logged, marshalled or
// put in an error it shows only the masked form of Mask (first six and last four digits); Reveal
// returns the digits.
type PAN string

// CVC2 is a clear card verification code (CVC2/CVV2). It never shows in any output; Reveal
// returns the digits.
type CVC2 string

// PVV is a Visa PIN verification value. It never shows in any output; Reveal returns the digits.
type PVV string

// PIN is a clear PIN on its way to becoming a PVV. It never shows in any output.
type PIN string

// redacted is what a secret other than a PAN shows.
const redacted = "[redacted]"

// Reveal returns the clear PAN. Callers: the journal's sealed rows, the encrypted card-data
// answer, the security checks and the hash.
func (p PAN) Reveal() string { return string(p) }

// Masked is the PAN as a log line or an API answer may show it.
func (p PAN) Masked() string { return Mask(string(p)) }

// Last4 returns the last four digits ("" when the PAN is shorter).
func (p PAN) Last4() string {
	if len(p) < 4 {
		return ""
	}
	return string(p[len(p)-4:])
}

func (p PAN) String() string                 { return p.Masked() }
func (p PAN) GoString() string               { return "tokenvault.PAN(" + p.Masked() + ")" }
func (p PAN) Format(f fmt.State, verb rune)  { writeFormatted(f, verb, p.Masked(), p.GoString()) }
func (p PAN) LogValue() slog.Value           { return slog.StringValue(p.Masked()) }
func (p PAN) MarshalJSON() ([]byte, error)   { return json.Marshal(p.Masked()) }
func (p PAN) MarshalText() ([]byte, error)   { return []byte(p.Masked()), nil }
func (c CVC2) Reveal() string                { return string(c) }
func (c CVC2) String() string                { return redacted }
func (c CVC2) GoString() string              { return "tokenvault.CVC2(" + redacted + ")" }
func (c CVC2) Format(f fmt.State, verb rune) { writeFormatted(f, verb, redacted, c.GoString()) }
func (c CVC2) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (c CVC2) MarshalJSON() ([]byte, error)  { return json.Marshal(redacted) }
func (c CVC2) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (v PVV) Reveal() string                 { return string(v) }
func (v PVV) String() string                 { return redacted }
func (v PVV) GoString() string               { return "tokenvault.PVV(" + redacted + ")" }
func (v PVV) Format(f fmt.State, verb rune)  { writeFormatted(f, verb, redacted, v.GoString()) }
func (v PVV) LogValue() slog.Value           { return slog.StringValue(redacted) }
func (v PVV) MarshalJSON() ([]byte, error)   { return json.Marshal(redacted) }
func (v PVV) MarshalText() ([]byte, error)   { return []byte(redacted), nil }
func (p PIN) String() string                 { return redacted }
func (p PIN) GoString() string               { return "tokenvault.PIN(" + redacted + ")" }
func (p PIN) Format(f fmt.State, verb rune)  { writeFormatted(f, verb, redacted, p.GoString()) }
func (p PIN) LogValue() slog.Value           { return slog.StringValue(redacted) }
func (p PIN) MarshalJSON() ([]byte, error)   { return json.Marshal(redacted) }
func (p PIN) MarshalText() ([]byte, error)   { return []byte(redacted), nil }

// writeFormatted answers every fmt verb with the redacted text: without Format, %x, %q or %d
// of a string type would print (an encoding of) the clear value.
func writeFormatted(f fmt.State, verb rune, shown, goSyntax string) {
	if verb == 'v' && f.Flag('#') {
		shown = goSyntax
	}
	if w, ok := f.Width(); ok && w > len(shown) {
		pad := make([]byte, w-len(shown))
		for i := range pad {
			pad[i] = ' '
		}
		if f.Flag('-') {
			shown += string(pad)
		} else {
			shown = string(pad) + shown
		}
	}
	_, _ = f.Write([]byte(shown))
}
