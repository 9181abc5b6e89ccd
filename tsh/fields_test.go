package tsh

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// validValue is a value inside f's constraints.
func validValue(f field) any {
	switch f.typ {
	case tBool:
		return true
	case tNumber:
		return 911
	}
	if f.enum != nil {
		return f.enum[len(f.enum)-1]
	}
	return strings.Repeat("x", max(f.min, 1))
}

func body(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var operationFields = map[string][]use{
	"checkCardEligibility": checkCardEligibilityFields, "requestCardDigitization": requestCardDigitizationFields,
	"getIDnVMethodList": getIDnVMethodListFields, "requestDeviceBinding": requestDeviceBindingFields,
	"notifyVirtualCardChange": notifyVirtualCardChangeFields, "sendOTP": sendOTPFields,
	"notifyStandInProcess": notifyStandInProcessFields,
}

// Every field of every operation outside its constraints (required, type, length, enumeration)
// is refused naming the field; the same body with the field right is accepted.
func TestValidateEveryField(t *testing.T) {
	for op, fields := range operationFields {
		full := map[string]any{}
		for _, u := range fields {
			full[u.f.name] = validValue(u.f)
		}
		if _, err := validate(body(t, full), fields, nil); err != nil {
			t.Fatalf("%s: valid body refused: %v", op, err)
		}
		for _, u := range fields {
			f := u.f
			mutate := func(name string, v any, wantErr bool) {
				t.Helper()
				m := map[string]any{}
				for k, x := range full {
					m[k] = x
				}
				if v == nil {
					delete(m, f.name)
				} else {
					m[f.name] = v
				}
				_, err := validate(body(t, m), fields, nil)
				var fe *FieldError
				switch {
				case wantErr && (!errors.As(err, &fe) || fe.Field != f.name):
					t.Errorf("%s.%s %s: err %v, want INVALID_FIELD %s", op, f.name, name, err, f.name)
				case !wantErr && err != nil:
					t.Errorf("%s.%s %s: refused: %v", op, f.name, name, err)
				}
			}
			mutate("absent", nil, u.required)
			switch f.typ {
			case tBool:
				mutate("string", "true", true)
				mutate("number", 1, true)
			case tNumber:
				mutate("string", "911", true)
				mutate("fraction", 9.5, true)
				mutate("unlisted code", 999, false) // a generic error, recorded
			case tString:
				mutate("number", 5, true)
				mutate("bool", false, true)
				if f.enum != nil {
					mutate("outside the enumeration", "NOT_IN_SEED", true)
					mutate("lowercase", strings.ToLower(f.enum[0]), strings.ToLower(f.enum[0]) != f.enum[0])
					for _, e := range f.enum {
						mutate("value "+e, e, false)
					}
				} else {
					if f.max > 0 {
						mutate("at max", strings.Repeat("é", f.max), false) // characters, not bytes
						mutate("over max", strings.Repeat("x", f.max+1), true)
					}
					if f.min > 0 {
						mutate("under min", strings.Repeat("x", f.min-1), true)
					}
				}
			}
		}
	}
}

func TestValidateBody(t *testing.T) {
	for _, b := range []string{``, `[]`, `"x"`, `{"walletProviderId":"ECOM"} {}`, `{`, `null`} {
		if _, err := validate([]byte(b), checkCardEligibilityFields, nil); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	// null is absent; unknown fields are ignored.
	m, err := validate([]byte(`{"walletProviderId":"ECOM","captureMethod":null,"newField":1,"tokenType":7}`), checkCardEligibilityFields, nil)
	if _, kept := m["tokenType"]; err != nil || str(m, fCaptureMethod) != "" || kept {
		t.Fatalf("%v %v", m, err)
	}
}

func TestParseCardInfo(t *testing.T) {
	good := []string{
		`{"fpan":"5351100000000018"}`,
		`{"fpan":"5351100000000018","exp":"1230","cvv":"123"}`,
		`{"fpan":"5351100000000018","exp":"1230","cvv":"1234","additionalCardInfos":{"archiveReference":"90217095220928"}}`,
		`{"fpan":"5351100000000018","exp":"1218","additionalCardInfos":{"pin":"06123456FFFFFFFF"}}`,
		`{"fpan":"1234567891234567","exp":"1218","cvv":"765","originalToken":"4532111111111112","originalTokenReferenceID":"DNITHE381835220225004085","originalTokenAssuranceLevel":""}`,
	}
	for _, g := range good {
		if _, err := ParseCardInfo([]byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	ci, _ := ParseCardInfo([]byte(good[1]))
	if ci.FPAN.Reveal() != "5351100000000018" || ci.Exp != "1230" || ci.CVV.Reveal() != "123" {
		t.Fatalf("%+v", ci)
	}
	bad := []string{
		``, `not json`, `[]`, `{}`, `{"exp":"1230"}`,
		`{"fpan":"5351"}`, `{"fpan":"53511000000000181234"}`, `{"fpan":"535110000000001X"}`, `{"fpan":5351100000000018}`,
		`{"fpan":"5351100000000018","exp":"1330"}`, `{"fpan":"5351100000000018","exp":"123"}`, `{"fpan":"5351100000000018","exp":"0030"}`,
		`{"fpan":"5351100000000018","cvv":"12"}`, `{"fpan":"5351100000000018","cvv":"12345"}`, `{"fpan":"5351100000000018","cvv":"12a"}`,
		`{"fpan":"5351100000000018","additionalCardInfos":"text"}`,
		`{"fpan":"5351100000000018","additionalCardInfos":{"a":"` + strings.Repeat("x", 8177) + `"}}`,
		`{"fpan":"5351100000000018","originalToken":"` + strings.Repeat("1", 20) + `"}`,
		`{"fpan":"5351100000000018","originalTokenAssuranceLevel":"123"}`,
		`{"fpan":"1234567891234567","exp":"1218",}`,               // the seed's example 1, as printed
		"{\"fpan\":\"1234567891234567\",\u201ccvv\":\"765\u201d}", // the seed's curly quotes
		`{"fpan":"5351100000000018"} trailing`,
	}
	for _, b := range bad {
		if _, err := ParseCardInfo([]byte(b)); !errors.Is(err, ErrCardInfo) {
			t.Errorf("%.60s: %v", b, err)
		}
	}
}

func TestParseTokenInfoAndAuthValue(t *testing.T) {
	if ti, err := ParseTokenInfo([]byte(`{"pan":"5351109999999990","exp":"0931"}`)); err != nil || ti.Exp != "0931" {
		t.Fatalf("%+v %v", ti, err)
	}
	if _, err := ParseTokenInfo([]byte(`{"pan":"5351109999999990"}`)); err != nil { // UPI: no exp
		t.Fatal(err)
	}
	for _, b := range []string{`{}`, `{"pan":"12"}`, `{"pan":"5351109999999990","exp":"9999"}`, `x`} {
		if _, err := ParseTokenInfo([]byte(b)); !errors.Is(err, ErrCardInfo) {
			t.Errorf("%s: %v", b, err)
		}
	}
	if c, err := ParseAuthenticationValue([]byte(`{"cvv":"123"}`)); err != nil || c.Reveal() != "123" {
		t.Fatal(err)
	}
	for _, b := range []string{`{}`, `{"cvv":123}`, `{"cvv":"1"}`, `[]`} {
		if _, err := ParseAuthenticationValue([]byte(b)); !errors.Is(err, ErrCardInfo) {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// FuzzParseCardInfo: any plaintext gives a card info or ErrCardInfo, never a panic, and an
// accepted fpan is digits only.
func FuzzParseCardInfo(f *testing.F) {
	f.Add([]byte(`{"fpan":"5351100000000018","exp":"1230","cvv":"123"}`))
	f.Add([]byte(`{"fpan":"5351100000000018","additionalCardInfos":{"pin":"06123456FFFFFFFF"}}`))
	f.Add([]byte(`{"fpan":"1","exp":"","cvv":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := ParseCardInfo(b)
		if err != nil {
			if !errors.Is(err, ErrCardInfo) {
				t.Fatal(err)
			}
			return
		}
		if !digits(ci.FPAN.Reveal(), panMin, panMax) {
			t.Fatalf("accepted fpan %q", ci.FPAN.Reveal())
		}
		ParseTokenInfo(b)
		ParseAuthenticationValue(b)
	})
}

// Wallet provider ids agreed at onboarding extend the seed's five.
func TestValidateExtraWalletProviderIDs(t *testing.T) {
	b := []byte(`{"walletProviderId":"TRID_40010030273"}`)
	if _, err := validate(b, checkCardEligibilityFields, nil); err == nil {
		t.Fatal("an unknown wallet accepted")
	}
	also := map[string][]string{"walletProviderId": {"TRID_40010030273"}}
	if _, err := validate(b, checkCardEligibilityFields, also); err != nil {
		t.Fatal(err)
	}
	if _, err := validate([]byte(`{"walletProviderId":"ECOM"}`), checkCardEligibilityFields, also); err != nil {
		t.Fatal(err)
	}
	if len(walletProviderIDs) != 5 {
		t.Fatal("the seed's list was changed")
	}
}
