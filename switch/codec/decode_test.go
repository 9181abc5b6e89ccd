package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/cardswitch/cardswitch/authz"
)

// TestMandatoryFields: contract §2 — 0100/0200/0120 need 2, 3, 4, 7, 11, 49; 0220/0400/0420 the
// same plus 90; 0800 needs 7, 11, 70. A request lacking one is a format error, answerable (field 39
// "30") when field 11 is there, dropped when field 11 itself is missing.
func TestMandatoryFields(t *testing.T) {
	mandatory := map[string][]int{
		"0100": {2, 3, 4, 7, 11, 49}, "0120": {2, 3, 4, 7, 11, 49}, "0200": {2, 3, 4, 7, 11, 49},
		"0220": {2, 3, 4, 7, 11, 49, 90}, "0400": {2, 3, 4, 7, 11, 49, 90},
		"0420": {2, 3, 4, 7, 11, 49, 90}, "0800": {7, 11, 70},
	}
	for _, mti := range requestMTIs {
		for _, id := range mandatory[BaseMTI(mti)] {
			r := sampleRequest(mti)
			clearField(r, id)
			_, err := Decode(mustBuild(t, r))
			fe := mustFormatError(t, err, id, ReasonMissing)
			if fe.Request == nil || fe.Request.MTI != mti || fe.Request.BaseMTI != BaseMTI(mti) {
				t.Fatalf("%s without %d: partial request %+v", mti, id, fe.Request)
			}
			if want := id != 11; fe.Answerable() != want {
				t.Errorf("%s without %d: Answerable %v, want %v", mti, id, fe.Answerable(), want)
			}
			if !fe.Answerable() {
				continue
			}
			out, err := EncodeFormatError(fe.Request)
			if err != nil {
				t.Fatalf("%s without %d: EncodeFormatError: %v", mti, id, err)
			}
			rm, err := DecodeResponse(out)
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if rm.MTI != ResponseMTI(mti) || rm.ResponseCode != "30" || rm.STAN != testSTAN {
				t.Errorf("%s without %d: answered %s 39=%s 11=%s", mti, id, rm.MTI, rm.ResponseCode, rm.STAN)
			}
		}
	}
}

func clearField(r *authz.Request, id int) {
	switch id {
	case 2:
		r.PAN = ""
	case 3:
		r.ProcessingCode = ""
	case 4:
		r.AmountMinor, r.HasAmount = 0, false
	case 7:
		r.F7 = ""
	case 11:
		r.STAN = ""
	case 49:
		r.CurrencyNum = ""
	case 70:
		r.NetworkCode = ""
	case 90:
		r.Original = nil
	default:
		panic(id)
	}
}

// TestNonNumericFields: contract §2 — a non-digit in a numeric field is a format error; the field is
// left out of the partial request (so the answer does not echo it) and the answer is 30.
func TestNonNumericFields(t *testing.T) {
	for _, tc := range []struct {
		id int
		v  string
	}{
		{2, "53511000000012X4"}, {3, "00000A"}, {4, "0000000012A4"}, {4, "        1234"},
		{4, "-00000001234"}, {7, "05271015 0"}, {12, "12153O"}, {14, "27-2"}, {22, "05 "},
		{32, "1234567+"}, {49, "EUR"},
	} {
		fields := sampleFields()
		fields[tc.id] = tc.v
		_, err := Decode(moovMessage(t, "0100", fields))
		fe := mustFormatError(t, err, tc.id, ReasonNotNumeric)
		if !fe.Answerable() {
			t.Errorf("field %d %q: not answerable", tc.id, tc.v)
		}
		if tc.id == 4 && (fe.Request.HasAmount || fe.Request.AmountMinor != 0) {
			t.Errorf("invalid amount kept in the partial request")
		}
		out, err := EncodeFormatError(fe.Request)
		if err != nil {
			t.Fatalf("EncodeFormatError: %v", err)
		}
		if v, ok := fieldOf(t, out, tc.id); ok {
			t.Errorf("field %d: invalid value echoed as %q", tc.id, v)
		}
	}
	// Field 11 itself not numeric: not readable, so the message is dropped.
	fields := sampleFields()
	fields[11] = "00471A"
	_, err := Decode(moovMessage(t, "0100", fields))
	if fe := mustFormatError(t, err, 11, ReasonNotNumeric); fe.Answerable() {
		t.Errorf("non-numeric STAN: answerable")
	}
}

// TestFirstFaultInWireOrder: several faults, the first in wire order is reported.
func TestFirstFaultInWireOrder(t *testing.T) {
	fields := sampleFields()
	fields[4] = "00000000001X"
	fields[49] = "EUR"
	delete(fields, 2)
	_, err := Decode(moovMessage(t, "0100", fields))
	mustFormatError(t, err, 4, ReasonNotNumeric)
}

// TestBadMessages: structure faults: MTI, bitmap, lengths, undefined fields, trailing bytes.
func TestBadMessages(t *testing.T) {
	valid := mustBuild(t, sampleRequest("0100"))

	for _, tc := range []struct {
		name       string
		msg        []byte
		field      int
		reason     Reason
		answerable bool
	}{
		{"empty", nil, FieldMTI, ReasonTruncated, false},
		{"short MTI", []byte("010"), FieldMTI, ReasonTruncated, false},
		{"MTI not digits", []byte("01A0" + strings.Repeat("0", 16)), FieldMTI, ReasonBadMTI, false},
		{"unknown MTI 0300", []byte("0300" + "0020000000000000" + testSTAN), FieldMTI, ReasonUnknownMTI, false},
		{"response MTI 0110", []byte("0110" + "0020000000000000" + testSTAN), FieldMTI, ReasonUnknownMTI, false},
		{"bitmap not hex", []byte("0100" + "00200000000000G0" + testSTAN), FieldBitmap, ReasonBadBitmap, false},
		{"bitmap short", []byte("0100" + "0020"), FieldBitmap, ReasonTruncated, false},
		{"secondary bitmap missing", []byte("0800" + "8220000000000000"), FieldBitmap, ReasonTruncated, false},
		{"third bitmap", []byte("0800" + "8220000000000000" + "8400000000000000" + testF7 + testSTAN + "301"),
			FieldBitmap, ReasonThirdBitmap, false},
		{"field not in profile (66)", []byte("0800" + "8220000000000000" + "4000000000000000" + testF7 + testSTAN + "1"),
			66, ReasonUndefined, true},
		{"LL prefix not digits", []byte("0100" + "4000000000000000" + "1X" + testPAN), 2, ReasonBadLength, false},
		{"LL over maximum", []byte("0100" + "4000000000000000" + "20" + testPAN + "0000"), 2, ReasonTooLong, false},
		{"trailing bytes", append(append([]byte{}, valid...), 'X'), FieldMessage, ReasonTrailingData, true},
		{"field 95 amount not numeric", replaceField(t, mustBuild(t, sampleRequest("0400")), 95,
			"00000000200X000000000000000000000000000000"), 95, ReasonNotNumeric, true},
		{"field 90 not numeric", replaceField(t, mustBuild(t, sampleRequest("0400")), 90,
			"0100004700052710100000012345678000000000X0"), 90, ReasonNotNumeric, true},
		{"field 52 not hex", replaceField(t, valid, 52, "041234FEDCBA987G"), 52, ReasonNotHex, true},
		{"field 55 not hex", replaceField(t, valid, 55, "9F2601ZZ"), 55, ReasonNotHex, true},
		{"field 55 odd", replaceField(t, valid, 55, "9F26011"), 55, ReasonOddHex, true},
		{"non-ASCII merchant name", replaceField(t, valid, 43, "CAF\xc9"+strings.Repeat(" ", 36)), 43, ReasonNotASCII, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.msg)
			fe := mustFormatError(t, err, tc.field, tc.reason)
			if fe.Answerable() != tc.answerable {
				t.Errorf("Answerable %v, want %v", fe.Answerable(), tc.answerable)
			}
			if fe.Answerable() {
				if _, err := EncodeFormatError(fe.Request); err != nil {
					t.Errorf("EncodeFormatError: %v", err)
				}
			}
		})
	}
}

// replaceField returns msg with field id's wire value (after its length prefix) replaced by v, and
// the length prefix adjusted for a variable field.
func replaceField(t *testing.T, msg []byte, id int, v string) []byte {
	t.Helper()
	var s scanned
	if f := scan(msg, &s); !f.ok() {
		t.Fatalf("scan: %+v", f)
	}
	sp := s.spans[id]
	f := profile[id]
	start := int(sp.off) - f.lenDigits
	out := append([]byte{}, msg[:start]...)
	out = appendLength(out, f.lenDigits, len(v))
	out = append(out, v...)
	return append(out, msg[sp.end:]...)
}

// TestTruncated: every truncation of a valid message is a format error, never a panic; it is
// answerable exactly when field 11 was complete.
func TestTruncated(t *testing.T) {
	for _, mti := range []string{"0100", "0400", "0800"} {
		msg := mustBuild(t, sampleRequest(mti))
		var s scanned
		scan(msg, &s)
		end11 := int(s.spans[11].end)
		for n := 0; n < len(msg); n++ {
			_, err := Decode(msg[:n])
			var fe *FormatError
			if !asFormatError(err, &fe) {
				t.Fatalf("%s cut at %d: error %v", mti, n, err)
			}
			if want := n >= end11 && n >= 4; fe.Answerable() != want {
				t.Errorf("%s cut at %d (field %d, %s): Answerable %v, want %v", mti, n, fe.Field, fe.Reason, fe.Answerable(), want)
			}
		}
	}
}

// TestField48: contract §2 subelements ID(2) LEN(2) VALUE; 92 CVC2 3 digits, 20 indicator 1–3, 21
// agreement up to 32, 22 MIN|MAX|DAYS|DD.MM.YYYY. Unknown subelements are skipped.
func TestField48(t *testing.T) {
	valid := []struct {
		f48  string
		cvc2 string
		sc   authz.StoredCredential
	}{
		{"", "", authz.StoredCredential{}},
		{"9203123", "123", authz.StoredCredential{}},
		{"2001192030072110AGREEMENT1", "007", authz.StoredCredential{Indicator: "1", Agreement: "AGREEMENT1"}},
		{"200132224" + "5.00|49.99|30|31.12.2027", "", authz.StoredCredential{Indicator: "3", Terms: "5.00|49.99|30|31.12.2027"}},
		{"4003ABC9203999", "999", authz.StoredCredential{}}, // unknown subelement 40 skipped
		{"2132" + strings.Repeat("A", 32), "", authz.StoredCredential{Agreement: strings.Repeat("A", 32)}},
		{"9900", "", authz.StoredCredential{}}, // empty unknown subelement
	}
	for _, tc := range valid {
		fields := sampleFields()
		fields[48] = tc.f48
		r, err := Decode(moovMessage(t, "0100", fields))
		if err != nil {
			t.Errorf("48=%q: %v", tc.f48, err)
			continue
		}
		if r.CVC2 != tc.cvc2 || r.StoredCredential != tc.sc {
			t.Errorf("48=%q: CVC2 %q SC %+v", tc.f48, r.CVC2, r.StoredCredential)
		}
	}
	malformed := []string{
		"9", "920", "9203", "920312", "92031234", "9203ABC", "9204123 ", "9202123",
		"920312392031234", // subelement repeated (second one too long, too)
		"92031239203123",  // subelement repeated
		"2001" + "4", "2002" + "11", "2000", "2100", "2133" + strings.Repeat("A", 33),
		"2224" + "5.0|49.99|30|31.12.2027", "2223" + "5.00|49.99|30|31.12.27",
		"2224" + "5.00|49.99|30|32.12.2027", "2224" + "5.00|49.99|30|31.13.2027",
		"2219" + "5.00|49.99|31.12.2027", "2227" + "5.00|49.99|30|31.12.2027|1",
		"2224" + "5,00|49.99|30|31.12.2027", "2223" + "5.00|49.99||31.12.2027",
		"A203123", "92A3123",
	}
	for _, f48 := range malformed {
		fields := sampleFields()
		fields[48] = f48
		_, err := Decode(moovMessage(t, "0100", fields))
		fe := mustFormatError(t, err, 48, ReasonMalformed)
		if !fe.Answerable() || fe.Request.CVC2 != "" || fe.Request.STAN != testSTAN {
			t.Errorf("48=%q: answerable %v, partial %+v", f48, fe.Answerable(), fe.Request)
		}
	}
}

// TestDecodeKeepsNoSecretInSharedText: the non-secret strings of a Request share one copy of the
// message in which PAN, track 2, CVC2, PIN block and ICC data are overwritten.
func TestDecodeKeepsNoSecretInSharedText(t *testing.T) {
	msg := mustBuild(t, sampleRequest("0100"))
	r, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	shared := sharedTextOf(r, len(msg))
	for _, secret := range []string{testPAN, testTrack2, "9203" + testCVC2, "041234FEDCBA9876",
		"9F2608", "5351100000"} {
		if strings.Contains(shared, secret) {
			t.Errorf("shared text holds %q", secret)
		}
	}
	if !strings.Contains(shared, testRRN) || !strings.Contains(shared, "AGR-2027-0001") {
		t.Errorf("shared text lost non-secret fields: %q", shared)
	}
	if len(shared) != len(msg) {
		t.Fatalf("len")
	}
	// Only the secret positions differ from the message.
	for i := range msg {
		if shared[i] != msg[i] && shared[i] != '*' {
			t.Fatalf("byte %d changed to %q", i, shared[i])
		}
	}
	// msg is not kept: changing it does not change the request.
	before := r.RRN
	for i := range msg {
		msg[i] = 'x'
	}
	if r.RRN != before || r.PAN != testPAN || !bytes.Equal(r.PINBlock, testPINBlock) {
		t.Errorf("request aliases the message buffer")
	}
}

func asFormatError(err error, fe **FormatError) bool { return errors.As(err, fe) }

// sharedTextOf returns the string that the non-secret fields of r share: r.MTI is its first four
// bytes (test-only use of unsafe, to look at memory the API does not expose).
func sharedTextOf(r *authz.Request, n int) string {
	return unsafe.String(unsafe.StringData(r.MTI), n)
}

// TestScannedNext: iterating with next visits exactly the parsed fields, in order.
func TestScannedNext(t *testing.T) {
	for _, parsed := range [][2]uint64{{0, 0}, {1 << 63, 0}, {0x7FFF_FFFF_FFFF_FFFF, ^uint64(0)},
		{1, 1}, {0x4000_0000_0000_0001, 0x8000_0000_0000_0000}, {0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210}} {
		s := scanned{parsed: parsed}
		var got, want []int
		for id := s.next(1); id != 0; id = s.next(id) {
			got = append(got, id)
		}
		for id := 2; id <= maxField; id++ {
			if s.has(id) {
				want = append(want, id)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%X: next %v, has %v", parsed, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%X: next %v, has %v", parsed, got, want)
			}
		}
	}
}

// TestDecodeBlanksInvalidSecrets: a secret field that fails its checks, and a malformed field 48
// (which may hold a CVC2), are blanked in the shared text too.
func TestDecodeBlanksInvalidSecrets(t *testing.T) {
	fields := sampleFields()
	fields[2] = "53511000000012X4"
	fields[35] = testTrack2
	_, err := Decode(moovMessage(t, "0100", fields))
	fe := mustFormatError(t, err, 2, ReasonNotNumeric)
	shared := sharedTextOf(fe.Request, len(moovMessage(t, "0100", fields)))
	if strings.Contains(shared, "5351100000") || strings.Contains(shared, "=2712") {
		t.Errorf("invalid PAN or track 2 kept in shared text: %q", shared)
	}

	fields = sampleFields()
	fields[48] = "9203999" + "2001X"
	msg := moovMessage(t, "0100", fields)
	_, err = Decode(msg)
	fe = mustFormatError(t, err, 48, ReasonMalformed)
	if shared := sharedTextOf(fe.Request, len(msg)); strings.Contains(shared, "9203999") {
		t.Errorf("malformed field 48 kept in shared text: %q", shared)
	}
}
