package codec

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
)

// TestRoundTripEveryMTI: contract §2 MTI table. For every request MTI (repeats included): build →
// decode gives back the same request; encode the response → decode the response gives the response
// MTI, the echo of the request's fields, and the response fields. moov, with the same Spec, reads
// both messages identically.
func TestRoundTripEveryMTI(t *testing.T) {
	wantResponseMTI := map[string]string{
		"0100": "0110", "0101": "0110", "0120": "0130", "0121": "0130", "0200": "0210",
		"0201": "0210", "0220": "0230", "0221": "0230", "0400": "0410", "0401": "0410",
		"0420": "0430", "0421": "0430", "0800": "0810",
	}
	for _, mti := range requestMTIs {
		t.Run(mti, func(t *testing.T) {
			want := sampleRequest(mti)
			msg := mustBuild(t, want)
			assertMoovAgrees(t, msg)

			got, err := Decode(msg)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode:\n got %+v\nwant %+v", got, want)
			}

			resp := authz.Response{Action: authz.Approved}
			if got.Kind != authz.KindNetworkMgmt {
				resp = authz.Response{Action: authz.Approved, AuthCode: "A1B2C3", HasBalance: true,
					AvailableMinor: 987654, CurrencyNum: "978", ICCResponse: testARPC}
			}
			out, err := Encode(got, resp)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			assertMoovAgrees(t, out)
			rm, err := DecodeResponse(out)
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if rm.MTI != wantResponseMTI[mti] || rm.MTI != ResponseMTI(mti) {
				t.Errorf("response MTI %s, want %s", rm.MTI, wantResponseMTI[mti])
			}
			if rm.ResponseCode != "00" {
				t.Errorf("field 39 %q, want 00", rm.ResponseCode)
			}

			// The exact set of fields: the echo list of contract §2 plus the response fields.
			wantIDs := []int{7, 11, 39, 70}
			if got.Kind != authz.KindNetworkMgmt {
				wantIDs = []int{2, 3, 4, 7, 11, 12, 13, 32, 37, 38, 39, 41, 42, 49, 54, 55}
				if got.Original != nil {
					wantIDs = append(wantIDs, 90)
				}
			}
			if ids := rm.FieldIDs(); !slices.Equal(ids, wantIDs) {
				t.Errorf("response fields %v, want %v", ids, wantIDs)
			}
			// Echoed values are the request's values as received, byte for byte.
			for _, id := range wantIDs {
				if id == 38 || id == 39 || id == 54 || id == 55 {
					continue
				}
				reqVal, _ := fieldOf(t, msg, id)
				respVal, _ := rm.Field(id)
				if reqVal != respVal {
					t.Errorf("field %d echoed as %q, request had %q", id, respVal, reqVal)
				}
			}
			if got.Kind == authz.KindNetworkMgmt {
				return
			}
			if rm.AuthCode != "A1B2C3" {
				t.Errorf("field 38 %q", rm.AuthCode)
			}
			if !rm.HasBalance || rm.AvailableMinor != 987654 || rm.BalanceCurrencyNum != "978" {
				t.Errorf("field 54 decoded as %v %d %s", rm.HasBalance, rm.AvailableMinor, rm.BalanceCurrencyNum)
			}
			if !bytes.Equal(rm.ICC, testARPC) {
				t.Errorf("field 55 %X", rm.ICC)
			}
			if f55, _ := rm.Field(55); f55 != "910ADEADBEEF010203043030" {
				t.Errorf("field 55 text %q, want upper-case hex", f55)
			}
			if rm.PAN != testPAN || rm.STAN != testSTAN || rm.RRN != testRRN || rm.AmountMinor != 12345 {
				t.Errorf("echo: %+v", rm)
			}
			if got.Original != nil && !reflect.DeepEqual(rm.Original, got.Original) {
				t.Errorf("field 90 echo %+v, want %+v", rm.Original, got.Original)
			}
		})
	}
}

// fieldOf returns field id of msg as wire text.
func fieldOf(t *testing.T, msg []byte, id int) (string, bool) {
	t.Helper()
	var s scanned
	if f := scan(msg, &s); !f.ok() {
		t.Fatalf("scan: %+v", f)
	}
	if !s.has(id) {
		return "", false
	}
	return string(msg[s.spans[id].off:s.spans[id].end]), true
}

// TestDecodeMoovPackedRequest: a request packed by moov with the Spec (another implementation of
// the profile) decodes with the codec.
func TestDecodeMoovPackedRequest(t *testing.T) {
	fields := sampleFields()
	fields[52] = "041234FEDCBA9876"
	fields[55] = "9F2608" + "1A2B3C4D5E6F7081"
	fields[90] = "0100004700052710100000012345678" + "00000000000"
	msg := moovMessage(t, "0400", fields)
	r, err := Decode(msg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if r.PAN != testPAN || r.AmountMinor != 12345 || r.CVC2 != testCVC2 || r.STAN != testSTAN ||
		!bytes.Equal(r.PINBlock, testPINBlock) || len(r.ICC) != 11 || r.Kind != authz.KindReversal {
		t.Errorf("decoded %+v", r)
	}
	want := authz.OriginalData{MTI: "0100", STAN: "004700", F7: "0527101000", AcquirerID: "00012345678"}
	if r.Original == nil || *r.Original != want {
		t.Errorf("field 90 %+v, want %+v", r.Original, want)
	}
}

// TestKind: contract §2, kind from MTI and processing code.
func TestKind(t *testing.T) {
	for _, tc := range []struct {
		mti, pc string
		want    authz.Kind
	}{
		{"0100", "000000", authz.KindAuthorization},
		{"0101", "000000", authz.KindAuthorization},
		{"0100", "300000", authz.KindBalanceInquiry},
		{"0100", "310000", authz.KindBalanceInquiry},
		{"0100", "200000", authz.KindAuthorization},
		{"0200", "000000", authz.KindFinancial},
		{"0200", "200000", authz.KindRefund},
		{"0201", "200000", authz.KindRefund},
		{"0200", "300000", authz.KindFinancial},
		{"0120", "000000", authz.KindAuthAdvice},
		{"0220", "000000", authz.KindCompletion},
		{"0400", "000000", authz.KindReversal},
		{"0420", "000000", authz.KindReversalAdvice},
		{"0421", "000000", authz.KindReversalAdvice},
	} {
		r := sampleRequest(tc.mti)
		r.ProcessingCode = tc.pc
		got, err := Decode(mustBuild(t, r))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.mti, tc.pc, err)
		}
		if got.Kind != tc.want || got.MTI != tc.mti || got.BaseMTI != BaseMTI(tc.mti) {
			t.Errorf("%s %s: kind %v MTI %s base %s, want %v", tc.mti, tc.pc, got.Kind, got.MTI, got.BaseMTI, tc.want)
		}
	}
}

// TestResponseMTI: contract §2 MTI table, repeats answered with the base response MTI.
func TestResponseMTI(t *testing.T) {
	for mti, want := range map[string]string{
		"0100": "0110", "0101": "0110", "0120": "0130", "0121": "0130", "0200": "0210",
		"0201": "0210", "0220": "0230", "0221": "0230", "0400": "0410", "0401": "0410",
		"0420": "0430", "0421": "0430", "0800": "0810",
		"0110": "", "0801": "", "0300": "", "": "", "01000": "",
	} {
		if got := ResponseMTI(mti); got != want {
			t.Errorf("ResponseMTI(%q) = %q, want %q", mti, got, want)
		}
	}
	for mti, want := range map[string]string{"0101": "0100", "0421": "0420", "0800": "0800", "0110": ""} {
		if got := BaseMTI(mti); got != want {
			t.Errorf("BaseMTI(%q) = %q, want %q", mti, got, want)
		}
	}
}
