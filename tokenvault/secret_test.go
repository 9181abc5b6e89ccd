package tokenvault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsNeverShow: no way of printing, logging or marshalling a secret shows its clear
// value; a PAN shows at most its first six and last four digits.
func TestSecretsNeverShow(t *testing.T) {
	const clearPAN, clearCVC2, clearPVV, clearPIN = "5351109876543210", "731", "4821", "918273"
	// The middle of the PAN is what masking hides: it must not show anywhere.
	hiddenPAN := clearPAN[6:12]
	type card struct {
		PAN  PAN
		CVC2 CVC2
		PVV  PVV
		PIN  PIN
	}
	c := card{PAN(clearPAN), CVC2(clearCVC2), PVV(clearPVV), PIN(clearPIN)}
	values := []any{c.PAN, c.CVC2, c.PVV, c.PIN, c, &c, []any{c.PAN, c.CVC2}, map[string]any{"pan": c.PAN}}

	var outs []string
	for _, v := range values {
		for _, f := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10v", "%-20s"} {
			outs = append(outs, fmt.Sprintf(f, v))
		}
		outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v), errors.New(fmt.Sprint(v)).Error(),
			fmt.Errorf("issue: %v", v).Error())
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		outs = append(outs, string(j))
		// Without the time: its digits could hold a secret's digits by chance.
		noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, noTime) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) },
		} {
			var b bytes.Buffer
			l := slog.New(h(&b))
			l.Info("card", "value", v)
			l.Info("card", slog.Any("value", v), slog.Group("g", "value", v))
			outs = append(outs, b.String())
		}
	}
	j, _ := json.Marshal(map[string]CVC2{"cvc2": c.CVC2})
	outs = append(outs, string(j))

	for _, out := range outs {
		for _, secret := range []string{hiddenPAN, clearCVC2, clearPVV, clearPIN, clearPAN} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows a clear value", out)
			}
		}
	}
	if got := fmt.Sprint(c.PAN); got != "535110******3210" {
		t.Errorf("PAN shows as %q, want the first six and last four digits", got)
	}
	if c.PAN.Reveal() != clearPAN || c.CVC2.Reveal() != clearCVC2 || c.PVV.Reveal() != clearPVV {
		t.Error("Reveal does not give the clear value")
	}
	if got := fmt.Sprintf("%#v", c.CVC2); !strings.Contains(got, "redacted") {
		t.Errorf("%%#v of a CVC2 = %q", got)
	}
}

func TestICCSessionNeverShowsKeys(t *testing.T) {
	s := ICCSession{ARQC: [8]byte{0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4}, Method: 1}
	for _, out := range []string{fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s),
		fmt.Sprintf("%x", s), fmt.Sprint(&s)} {
		if strings.Contains(strings.ToLower(out), "dead") || strings.Contains(out, "222") {
			t.Errorf("%q shows the session", out)
		}
	}
	if !s.Ready() || (ICCSession{}).Ready() {
		t.Error("Ready: want true with a method, false for the zero session")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"5351109876543210":    "535110******3210",
		"4234560000000000017": "423456*********0017",
		"1234567890":          "****",
		"":                    "****",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%s) = %s, want %s", in, got, want)
		}
	}
}
