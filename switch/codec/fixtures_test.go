package codec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/field"
)

// Fixture values. The PAN is in the development Mastercard BIN of contract §1.
const (
	testPAN    = "5351100000001234"
	testTrack2 = "5351100000001234=27122011234567890"
	testCVC2   = "123"
	testSTAN   = "004711"
	testF7     = "0527101530"
	testRRN    = "514710004711"
)

var (
	testPINBlock = []byte{0x04, 0x12, 0x34, 0xFE, 0xDC, 0xBA, 0x98, 0x76}
	// A small BER-TLV: 9F26 (ARQC) 8 bytes, 9F36 (ATC) 2 bytes, 95 (TVR) 5 bytes.
	testICC = []byte{0x9F, 0x26, 0x08, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81,
		0x9F, 0x36, 0x02, 0x00, 0x2A, 0x95, 0x05, 0x00, 0x00, 0x00, 0x80, 0x00}
	// Tag 91: ARPC (8) + ARC (2).
	testARPC = []byte{0x91, 0x0A, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0x30, 0x30}
)

// requestMTIs are every request MTI of the contract §2 table, repeats included.
var requestMTIs = []string{"0100", "0101", "0120", "0121", "0200", "0201", "0220", "0221",
	"0400", "0401", "0420", "0421", "0800"}

// sampleRequest returns a complete, valid request for mti, with every field the profile uses for
// that kind of message. BaseMTI and Kind are set as Decode sets them.
func sampleRequest(mti string) *authz.Request {
	base := BaseMTI(mti)
	if base == mti0800 {
		return &authz.Request{MTI: mti, BaseMTI: base, Kind: authz.KindNetworkMgmt,
			F7: testF7, STAN: testSTAN, NetworkCode: "301"}
	}
	r := &authz.Request{
		MTI: mti, BaseMTI: base,
		PAN: testPAN, ProcessingCode: "000000", AmountMinor: 12345, HasAmount: true,
		F7: testF7, STAN: testSTAN, LocalTime: "121530", LocalDate: "0527", ExpiryYYMM: "2712",
		MCC: "5411", POSEntryMode: "051", CardSeq: "001", AcquirerID: "12345678",
		Track2: testTrack2, RRN: testRRN, TerminalID: "TERM0001", MerchantID: "MERCHANT0000001",
		MerchantName: "ACME GROCERIES           BERLIN       DE", // 40 characters
		CurrencyNum:  "978",
		CVC2:         testCVC2,
		StoredCredential: authz.StoredCredential{
			Indicator: "2", Agreement: "AGR-2027-0001", Terms: "5.00|49.99|30|31.12.2027"},
		PINBlock: testPINBlock,
		ICC:      testICC,
	}
	switch base {
	case mti0220, mti0400, mti0420:
		r.Original = &authz.OriginalData{MTI: "0100", STAN: "004700", F7: "0527101000",
			AcquirerID: "00012345678"}
	}
	if base == mti0400 {
		r.ReplacementAmountMinor, r.HasReplacement = 2000, true
	}
	r.Kind = kindOf(base, r.ProcessingCode)
	return r
}

func mustBuild(t testing.TB, r *authz.Request) []byte {
	t.Helper()
	b, err := BuildRequest(r)
	if err != nil {
		t.Fatalf("BuildRequest: %v", err)
	}
	return b
}

// mustFormatError asserts that err is a *FormatError for field with reason.
func mustFormatError(t *testing.T, err error, fieldID int, reason Reason) *FormatError {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want *FormatError", err)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("errors.Is(err, ErrFormat) = false")
	}
	if fe.Field != fieldID || fe.Reason != reason {
		t.Fatalf("FormatError field %d reason %q, want field %d reason %q", fe.Field, fe.Reason, fieldID, reason)
	}
	return fe
}

// moovUnpack unpacks msg with moov-io/iso8583 and the same Spec: the reference implementation.
func moovUnpack(t testing.TB, msg []byte) *iso8583.Message {
	t.Helper()
	m := iso8583.NewMessage(Spec)
	if err := m.Unpack(msg); err != nil {
		t.Fatalf("moov Unpack: %v", err)
	}
	return m
}

// moovMessage builds a message with the moov API and the Spec, field values given as wire text
// (field 52 and 64 as hex). It lets tests write messages the codec's own builder refuses to write.
func moovMessage(t testing.TB, mti string, fields map[int]string) []byte {
	t.Helper()
	m := iso8583.NewMessage(Spec)
	m.MTI(mti)
	for id, v := range fields {
		var err error
		if _, ok := Spec.Fields[id].(*field.Binary); ok {
			err = m.BinaryField(id, decodeHex([]byte(v)))
		} else {
			err = m.Field(id, v)
		}
		if err != nil {
			t.Fatalf("moov field %d: %v", id, err)
		}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("moov Pack: %v", err)
	}
	return b
}

// sampleFields is sampleRequest("0100") as wire text, for moovMessage.
func sampleFields() map[int]string {
	return map[int]string{
		2: testPAN, 3: "000000", 4: "000000012345", 7: testF7, 11: testSTAN, 12: "121530",
		13: "0527", 14: "2712", 22: "051", 32: "12345678", 37: testRRN, 41: "TERM0001",
		42: "MERCHANT0000001", 48: "9203" + testCVC2, 49: "978",
	}
}

// assertMoovAgrees checks that moov unpacks msg and finds, for every field present, the value the
// codec's scanner finds.
func assertMoovAgrees(t testing.TB, msg []byte) {
	t.Helper()
	m := moovUnpack(t, msg)
	var s scanned
	if f := scan(msg, &s); !f.ok() {
		t.Fatalf("scan: %+v", f)
	}
	if mti, _ := m.GetMTI(); mti != string(msg[:4]) {
		t.Errorf("moov MTI %q, codec %q", mti, msg[:4])
	}
	moovFields := m.GetFields()
	for id := 2; id <= maxField; id++ {
		_, inMoov := moovFields[id]
		if inMoov != s.has(id) {
			t.Errorf("field %d: present in moov %v, in codec %v", id, inMoov, s.has(id))
			continue
		}
		if !inMoov {
			continue
		}
		sp := s.spans[id]
		ours := msg[sp.off:sp.end]
		if profile[id].class == classBinary {
			got, _ := m.GetBytes(id)
			if !bytes.Equal(got, decodeHex(ours)) {
				t.Errorf("field %d: moov %X, codec %s", id, got, ours)
			}
			continue
		}
		got, _ := m.GetString(id)
		if got != string(ours) {
			t.Errorf("field %d: moov %q, codec %q", id, got, ours)
		}
	}
}
