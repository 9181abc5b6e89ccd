package codec

import (
	"errors"
	"testing"

	"github.com/moov-io/iso8583"
)

// FuzzField48 puts arbitrary field 48 contents into an otherwise valid 0100 and checks the
// subelement parser (contract §2, docs/wire-profile.md §3): Decode never panics; it accepts the
// field exactly when parse48 does; what it accepts has a 3-digit CVC2 (or none), an indicator
// 1–3 (or none), an agreement of at most 32 characters, and survives BuildRequest → Decode
// unchanged; what it refuses is a format error on field 48 that is answerable (30), since the
// rest of the message is valid.
func FuzzField48(f *testing.F) {
	for _, s := range []string{
		"9203123",
		"200122113AGR-2027-00019203123",
		"2224" + "5.00|49.99|30|31.12.2027",
		"2001" + "3",
		"9999" + "unknown subelement, skipped" + "9203000",
		"92031", "920312", "9X03123", "92AB123", "9203AB1", "92031239203123", "20019", "2205abcde",
		"2133AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "2222" + "5.0|49.99|30|31.12.2027",
		"2224" + "5.00|49.99|30|32.12.2027", "9", "", "0000", "2100", "9200",
	} {
		f.Add(s)
	}
	base := sampleRequest("0100")
	base.CVC2, base.StoredCredential.Indicator, base.StoredCredential.Agreement, base.StoredCredential.Terms = "", "", "", ""
	baseMsg := mustBuild(f, base)
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) == 0 || len(v) > 999 {
			t.Skip() // LLL; an empty field 48 is the absent field
		}
		m := iso8583.NewMessage(Spec)
		if err := m.Unpack(baseMsg); err != nil {
			t.Fatal(err)
		}
		if err := m.Field(48, v); err != nil {
			t.Skip()
		}
		msg, err := m.Pack()
		if err != nil {
			t.Skip()
		}
		_, fault := parse48([]byte(v), span{0, int32(len(v))})
		req, err := Decode(msg)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if fe.Field != 48 {
				// Only a non-ASCII byte may fail field 48 before the subelements are read.
				if fe.Reason != ReasonNotASCII {
					t.Fatalf("field 48 %q: error on field %d (%s), want 48", v, fe.Field, fe.Reason)
				}
			}
			if fault.ok() && fe.Reason == ReasonMalformed {
				t.Fatalf("field 48 %q: parse48 accepts, Decode says malformed", v)
			}
			if !fe.Answerable() {
				t.Fatalf("field 48 %q: format error not answerable although field 11 is valid", v)
			}
			if fe.Request.CVC2 != "" {
				t.Fatalf("field 48 %q: a refused request carries a CVC2", v)
			}
			return
		}
		if !fault.ok() {
			t.Fatalf("field 48 %q: Decode accepts, parse48 refuses (%s)", v, fault.reason)
		}
		if c := req.CVC2; c != "" && (len(c) != 3 || !isDigits([]byte(c))) {
			t.Fatalf("field 48 %q: CVC2 %q", v, c)
		}
		sc := req.StoredCredential
		if i := sc.Indicator; i != "" && (len(i) != 1 || i[0] < '1' || i[0] > '3') {
			t.Fatalf("field 48 %q: indicator %q", v, i)
		}
		if len(sc.Agreement) > 32 {
			t.Fatalf("field 48 %q: agreement of %d characters", v, len(sc.Agreement))
		}
		if sc.Terms != "" && !validTerms([]byte(sc.Terms)) {
			t.Fatalf("field 48 %q: terms %q", v, sc.Terms)
		}
		rebuilt, err := BuildRequest(req)
		if err != nil {
			t.Fatalf("field 48 %q: BuildRequest(Decode()): %v", v, err)
		}
		again, err := Decode(rebuilt)
		if err != nil {
			t.Fatalf("field 48 %q: Decode(BuildRequest(Decode())): %v", v, err)
		}
		if again.CVC2 != req.CVC2 || again.StoredCredential != req.StoredCredential {
			t.Fatalf("field 48 %q: rebuild changed %+v/%s into %+v/%s", v, req.StoredCredential, req.CVC2, again.StoredCredential, again.CVC2)
		}
	})
}
