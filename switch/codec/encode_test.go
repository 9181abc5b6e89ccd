package codec

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/specs"
)

// TestLayout0800: contract §2 byte layout. The bitmap is 16 upper-case hex characters when no field
// above 64 is present, and 32 with bit 1 set when field 70 is present.
func TestLayout0800(t *testing.T) {
	signOn := &authz.Request{MTI: "0800", F7: "0101120000", STAN: "000001", NetworkCode: "001"}
	got := mustBuild(t, signOn)
	want := "0800" + "8220000000000000" + "0400000000000000" + "0101120000" + "000001" + "001"
	if string(got) != want {
		t.Errorf("0800 with field 70:\n got %s\nwant %s", got, want)
	}

	noNetworkCode := &authz.Request{MTI: "0800", F7: "0101120000", STAN: "000001"}
	got = mustBuild(t, noNetworkCode)
	want = "0800" + "0220000000000000" + "0101120000" + "000001"
	if string(got) != want {
		t.Errorf("0800 without field 70:\n got %s\nwant %s", got, want)
	}

	req, err := Decode(mustBuild(t, signOn))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(req, authz.Response{Action: authz.Approved})
	if err != nil {
		t.Fatal(err)
	}
	want = "0810" + "8220000002000000" + "0400000000000000" + "0101120000" + "000001" + "00" + "001"
	if string(out) != want {
		t.Errorf("0810:\n got %s\nwant %s", out, want)
	}

	// moov, given the Spec, writes the same layout: the Spec itself declares the profile.
	for _, tc := range []struct {
		fields map[int]string
		want   string
	}{
		{map[int]string{7: "0101120000", 11: "000001", 70: "301"},
			"0800" + "8220000000000000" + "0400000000000000" + "0101120000" + "000001" + "301"},
		{map[int]string{7: "0101120000", 11: "000001"}, "0800" + "0220000000000000" + "0101120000" + "000001"},
	} {
		if got := moovMessage(t, "0800", tc.fields); string(got) != tc.want {
			t.Errorf("moov with Spec:\n got %s\nwant %s", got, tc.want)
		}
	}
}

// TestField52Layout: field 52 is 8 bytes written as 16 upper-case hex characters, no prefix.
func TestField52Layout(t *testing.T) {
	r := &authz.Request{MTI: "0100", STAN: "000001", PINBlock: []byte{0x04, 0x12, 0x34, 0xFE, 0xDC, 0xBA, 0x98, 0x76}}
	got := mustBuild(t, r)
	// bits 11 and 52: byte 1 = 0x20, byte 6 (bits 49–56) = 0x10.
	want := "0100" + "0020000000001000" + "000001" + "041234FEDCBA9876"
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if b, _ := moovUnpack(t, got).GetBytes(52); !bytes.Equal(b, r.PINBlock) {
		t.Errorf("moov reads field 52 as %X", b)
	}
	for _, pin := range [][]byte{{}, make([]byte, 7), make([]byte, 9)} {
		r.PINBlock = pin
		_, err := BuildRequest(r)
		var ee *EncodeError
		if !errors.As(err, &ee) || ee.Field != 52 || ee.Reason != ReasonWrongLength || !errors.Is(err, ErrEncode) {
			t.Errorf("PIN block of %d bytes: %v", len(pin), err)
		}
	}
}

// TestField55CountsHexCharacters: field 55 is LLL hex text; the prefix counts characters (as
// Spec87ASCII and Wireshark's dissector do), so 499 bytes is the most it can carry.
func TestField55CountsHexCharacters(t *testing.T) {
	r := &authz.Request{MTI: "0100", STAN: "000001", ICC: []byte{0x9F, 0x36, 0x02}}
	got := mustBuild(t, r)
	want := "0100" + "0020000000000200" + "000001" + "006" + "9F3602"
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	r.ICC = make([]byte, 499)
	if _, err := BuildRequest(r); err != nil {
		t.Errorf("499 bytes: %v", err)
	}
	r.ICC = make([]byte, 500)
	var ee *EncodeError
	if _, err := BuildRequest(r); !errors.As(err, &ee) || ee.Field != 55 || ee.Reason != ReasonTooLong {
		t.Errorf("500 bytes: %v", err)
	}
	// Lower-case hex is accepted on input.
	msg := []byte("0100" + "0020000000000200" + "000001" + "006" + "9f3602")
	var s scanned
	if f := scan(msg, &s); !f.ok() || checkContent(55, msg[s.spans[55].off:s.spans[55].end]) != "" {
		t.Errorf("lower-case hex refused")
	}
}

// TestField54: contract §2, "00" + "02" + currency n3 + C/D + 12 digits.
func TestField54(t *testing.T) {
	req, err := Decode(mustBuild(t, sampleRequest("0100")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		available int64
		want      string
	}{
		{123456, "0002978C000000123456"},
		{0, "0002978C000000000000"},
		{-250, "0002978D000000000250"},
		{999_999_999_999, "0002978C999999999999"},
		{-999_999_999_999, "0002978D999999999999"},
	} {
		out, err := Encode(req, authz.Response{Action: authz.Approved, HasBalance: true,
			AvailableMinor: tc.available, CurrencyNum: "978"})
		if err != nil {
			t.Fatalf("%d: %v", tc.available, err)
		}
		rm, err := DecodeResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		if f54, _ := rm.Field(54); f54 != tc.want {
			t.Errorf("%d: field 54 %q, want %q", tc.available, f54, tc.want)
		}
		if !rm.HasBalance || rm.AvailableMinor != tc.available || rm.BalanceCurrencyNum != "978" {
			t.Errorf("%d: decoded %v %d %s", tc.available, rm.HasBalance, rm.AvailableMinor, rm.BalanceCurrencyNum)
		}
	}
	for _, tc := range []struct {
		resp   authz.Response
		reason Reason
	}{
		{authz.Response{HasBalance: true, CurrencyNum: "EUR"}, ReasonMalformed},
		{authz.Response{HasBalance: true, CurrencyNum: ""}, ReasonMalformed},
		{authz.Response{HasBalance: true, CurrencyNum: "978", AvailableMinor: 1_000_000_000_000}, ReasonOutOfRange},
		{authz.Response{HasBalance: true, CurrencyNum: "978", AvailableMinor: -1 << 63}, ReasonOutOfRange},
	} {
		_, err := Encode(req, tc.resp)
		var ee *EncodeError
		if !errors.As(err, &ee) || ee.Field != 54 || ee.Reason != tc.reason {
			t.Errorf("%+v: %v", tc.resp, err)
		}
	}
	// A client rejects a field 54 that does not follow the format.
	for _, f54 := range []string{"0002978X000000000001", "0002978C00000000001", "00029780000000000001C", ""} {
		msg := moovMessage(t, "0110", map[int]string{11: "000001", 39: "00", 54: f54})
		_, err := DecodeResponse(msg)
		mustFormatError(t, err, 54, ReasonMalformed)
	}
	// Several amounts: the available balance (type 02) is picked.
	msg := moovMessage(t, "0110", map[int]string{11: "000001", 39: "00",
		54: "0001978C000000000500" + "0002978D000000000042"})
	if rm, err := DecodeResponse(msg); err != nil || !rm.HasBalance || rm.AvailableMinor != -42 {
		t.Errorf("two amounts: %+v %v", rm, err)
	}
}

// TestEncodeErrors: values the profile cannot carry are refused, naming the field.
func TestEncodeErrors(t *testing.T) {
	req := sampleRequest("0100")
	for _, tc := range []struct {
		name   string
		req    *authz.Request
		resp   authz.Response
		field  int
		reason Reason
	}{
		{"nil request", nil, authz.Response{}, FieldMTI, ReasonUnknownMTI},
		{"response MTI", &authz.Request{MTI: "0110", STAN: "000001"}, authz.Response{}, FieldMTI, ReasonUnknownMTI},
		{"auth code 5 chars", req, authz.Response{AuthCode: "A1B2C"}, 38, ReasonWrongLength},
		{"auth code not alnum", req, authz.Response{AuthCode: "A1 2C3"}, 38, ReasonNotAlnum},
		{"ICC too long", req, authz.Response{ICCResponse: make([]byte, 500)}, 55, ReasonTooLong},
		{"STAN 5 digits", &authz.Request{MTI: "0800", STAN: "00001", F7: testF7, NetworkCode: "301"},
			authz.Response{}, 11, ReasonWrongLength},
		{"amount negative", &authz.Request{MTI: "0100", STAN: "000001", HasAmount: true, AmountMinor: -1},
			authz.Response{}, 4, ReasonOutOfRange},
		{"original incomplete", &authz.Request{MTI: "0400", STAN: "000001",
			Original: &authz.OriginalData{MTI: "0100", STAN: "1", F7: testF7}}, authz.Response{}, 90, ReasonWrongLength},
	} {
		_, err := Encode(tc.req, tc.resp)
		var ee *EncodeError
		if !errors.As(err, &ee) || ee.Field != tc.field || ee.Reason != tc.reason {
			t.Errorf("%s: %v, want field %d %q", tc.name, err, tc.field, tc.reason)
		}
	}
	for _, tc := range []struct {
		name  string
		req   *authz.Request
		field int
	}{
		{"MTI", &authz.Request{MTI: "01X0"}, FieldMTI},
		{"no MTI, no kind", &authz.Request{}, FieldMTI},
		{"CVC2 4 digits", &authz.Request{MTI: "0100", CVC2: "1234"}, 48},
		{"agreement 33 chars", &authz.Request{MTI: "0100",
			StoredCredential: authz.StoredCredential{Agreement: strings.Repeat("A", 33)}}, 48},
		{"terms", &authz.Request{MTI: "0100", StoredCredential: authz.StoredCredential{Terms: "5|6|7|8"}}, 48},
		{"replacement", &authz.Request{MTI: "0400", ReplacementAmountMinor: -5}, 95},
		{"PAN 20 digits", &authz.Request{MTI: "0100", PAN: strings.Repeat("4", 20)}, 2},
		{"PAN letters", &authz.Request{MTI: "0100", PAN: "4000ABCD00001234"}, 2},
	} {
		_, err := BuildRequest(tc.req)
		var ee *EncodeError
		if !errors.As(err, &ee) || ee.Field != tc.field {
			t.Errorf("BuildRequest %s: %v, want field %d", tc.name, err, tc.field)
		}
	}
}

// TestOriginalEchoOnlyOnReversalsAndCompletions: field 90 is echoed on 0230, 0410 and 0430 only.
func TestOriginalEchoOnlyOnReversalsAndCompletions(t *testing.T) {
	orig := &authz.OriginalData{MTI: "0100", STAN: "000001", F7: testF7, AcquirerID: "123"}
	for mti, want := range map[string]bool{"0100": false, "0200": false, "0120": false,
		"0220": true, "0221": true, "0400": true, "0420": true} {
		out, err := Encode(&authz.Request{MTI: mti, STAN: "000002", Original: orig}, authz.Response{})
		if err != nil {
			t.Fatal(err)
		}
		f90, ok := fieldOf(t, out, 90)
		if ok != want {
			t.Errorf("%s: field 90 present %v, want %v", mti, ok, want)
		}
		if ok && f90 != "0100"+"000001"+testF7+"00000000123"+"00000000000" {
			t.Errorf("%s: field 90 %q", mti, f90)
		}
	}
}

// TestBuildRequestMTIFromKind: an empty MTI takes the base MTI of the kind.
func TestBuildRequestMTIFromKind(t *testing.T) {
	for k, want := range map[authz.Kind]string{authz.KindBalanceInquiry: "0100", authz.KindRefund: "0200",
		authz.KindAuthAdvice: "0120", authz.KindCompletion: "0220", authz.KindReversalAdvice: "0420",
		authz.KindNetworkMgmt: "0800"} {
		b, err := BuildRequest(&authz.Request{Kind: k, STAN: "000001"})
		if err != nil || string(b[:4]) != want {
			t.Errorf("%v: %q %v", k, b, err)
		}
	}
}

// TestSpecSizedAsSpec87ASCII: contract §2, fields 2–64 and 90 sized as specs.Spec87ASCII, field 1 a
// hex bitmap of 8 bytes, 52 and 64 binary, 70 n3 and 95 an42 fixed.
func TestSpecSizedAsSpec87ASCII(t *testing.T) {
	for id := 2; id <= 64; id++ {
		compareWithSpec87(t, id)
	}
	compareWithSpec87(t, 90)
	if s := Spec.Fields[1].Spec(); s.Length != 8 || s.DisableAutoExpand {
		t.Errorf("field 1: %+v", s)
	}
	for id, want := range map[int]wireField{
		52: {defined: true, max: 8, class: classBinary, secret: true},
		64: {defined: true, max: 8, class: classBinary},
		55: {defined: true, lenDigits: 3, max: 999, class: classHexText, secret: true},
		70: {defined: true, max: 3, class: classN},
		95: {defined: true, max: 42, class: classANS},
		90: {defined: true, max: 42, class: classN},
		2:  {defined: true, lenDigits: 2, max: 19, class: classN, secret: true},
		48: {defined: true, lenDigits: 3, max: 999, class: classANS},
		54: {defined: true, lenDigits: 3, max: 120, class: classANS},
	} {
		if profile[id] != want {
			t.Errorf("field %d compiled as %+v, want %+v", id, profile[id], want)
		}
	}
	for id := 65; id <= maxField; id++ {
		if profile[id].defined != (id == 70 || id == 90 || id == 95) {
			t.Errorf("field %d defined %v", id, profile[id].defined)
		}
	}
}

func compareWithSpec87(t *testing.T, id int) {
	t.Helper()
	ours, theirs := Spec.Fields[id].Spec(), specs.Spec87ASCII.Fields[id].Spec()
	if ours.Length != theirs.Length {
		t.Errorf("field %d: length %d, Spec87ASCII %d", id, ours.Length, theirs.Length)
	}
	if id != 52 && id != 64 && ours.Pref.Inspect() != theirs.Pref.Inspect() {
		t.Errorf("field %d: prefix %s, Spec87ASCII %s", id, ours.Pref.Inspect(), theirs.Pref.Inspect())
	}
	if ours.Pad != nil {
		t.Errorf("field %d: padded", id)
	}
}

// TestMoovUnpacksWhatSpec87ASCIICannot documents why the Spec departs from Spec87ASCII: with
// Spec87ASCII a field-70 message is not the profile's layout and field 52 is hex-encoded twice.
func TestMoovUnpacksWhatSpec87ASCIICannot(t *testing.T) {
	m := iso8583.NewMessage(specs.Spec87ASCII)
	m.MTI("0800")
	_ = m.Field(11, "000001")
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4+32+6 {
		t.Errorf("Spec87ASCII bitmap is not 32 characters any more: %s (revisit the Spec comment)", b)
	}
}

// TestMaskPAN: first 6 and last 4 only.
func TestMaskPAN(t *testing.T) {
	for pan, want := range map[string]string{
		"5351100000001234":    "535110******1234",
		"4234560000000000005": "423456*********0005",
		"4234561234567":       "423456***4567",
		"123456789012":        "************",
		"":                    "",
	} {
		if got := MaskPAN(pan); got != want {
			t.Errorf("MaskPAN(%q) = %q, want %q", pan, got, want)
		}
	}
}

// TestLogAttrs: MTI, STAN, RRN, masked PAN, amount and currency; nothing secret.
func TestLogAttrs(t *testing.T) {
	r := sampleRequest("0100")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).LogAttrs(t.Context(), slog.LevelInfo, "authorization", LogAttrs(r)...)
	line := buf.String()
	for _, want := range []string{"mti=0100", "stan=" + testSTAN, "rrn=" + testRRN,
		"pan_masked=535110******1234", "amount_minor=12345", "currency=978", "kind=authorization"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	for _, secret := range []string{testPAN, testTrack2, "=2712", "041234", "9F26", "AGR-2027",
		"5.00|49.99", "cvc", "pin", "icc", "track"} {
		if strings.Contains(strings.ToLower(line), strings.ToLower(secret)) {
			t.Errorf("log line holds %q: %s", secret, line)
		}
	}
	if LogAttrs(nil) != nil {
		t.Errorf("LogAttrs(nil) not nil")
	}
}
