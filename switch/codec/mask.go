package codec

import (
	"log/slog"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
)

// MaskPAN returns pan with all but the first 6 and the last 4 characters replaced by '*'
// ("535110******1234"), the most PCI DSS allows to display. A value shorter than 13 characters is
// not a PAN that can be truncated safely and is masked entirely.
func MaskPAN(pan string) string {
	if len(pan) < 13 {
		return strings.Repeat("*", len(pan))
	}
	var b strings.Builder
	b.Grow(len(pan))
	b.WriteString(pan[:6])
	for range len(pan) - 10 {
		b.WriteByte('*')
	}
	b.WriteString(pan[len(pan)-4:])
	return b.String()
}

// LogAttrs returns the attributes under which a request may be logged: MTI, kind, STAN, RRN,
// masked PAN, amount in minor units and currency, each only when present. Nothing secret is
// included: no clear PAN, track 2, CVC2, PIN block, ICC data or stored-credential data.
func LogAttrs(req *authz.Request) []slog.Attr {
	if req == nil {
		return nil
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("mti", req.MTI))
	if req.Kind != authz.KindUnknown {
		attrs = append(attrs, slog.String("kind", req.Kind.String()))
	}
	if req.STAN != "" {
		attrs = append(attrs, slog.String("stan", req.STAN))
	}
	if req.RRN != "" {
		attrs = append(attrs, slog.String("rrn", req.RRN))
	}
	if req.PAN != "" {
		attrs = append(attrs, slog.String("pan_masked", MaskPAN(req.PAN)))
	}
	if req.HasAmount {
		attrs = append(attrs, slog.Int64("amount_minor", req.AmountMinor))
	}
	if req.CurrencyNum != "" {
		attrs = append(attrs, slog.String("currency", req.CurrencyNum))
	}
	return attrs
}
