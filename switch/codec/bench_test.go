package codec

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/moov-io/iso8583"
)

// benchRequest is a chip 0100 with every field the profile uses (PAN, track 2, field 48, PIN
// block, 23 bytes of ICC data): the heavy end of the traffic.
func benchRequest(b *testing.B) []byte { return mustBuild(b, sampleRequest("0100")) }

// benchEcomRequest is a card-not-present 0100: PAN, expiry, CVC2 in field 48, no track, PIN or ICC.
func benchEcomRequest(b *testing.B) []byte {
	r := sampleRequest("0100")
	r.Track2, r.PINBlock, r.ICC, r.CardSeq, r.POSEntryMode = "", nil, nil, "", "010"
	r.StoredCredential = authz.StoredCredential{}
	return mustBuild(b, r)
}

var benchResponse = authz.Response{Action: authz.Approved, AuthCode: "A1B2C3", HasBalance: true,
	AvailableMinor: 987654, CurrencyNum: "978", ICCResponse: testARPC}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  func(*testing.B) []byte
	}{{"chip", benchRequest}, {"ecom", benchEcomRequest}} {
		b.Run(bc.name, func(b *testing.B) {
			msg := bc.msg(b)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := Decode(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	req, err := Decode(benchRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(req, benchResponse); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEncode reuses the output buffer, as a connection writer with a pool could.
func BenchmarkAppendEncode(b *testing.B) {
	req, err := Decode(benchRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEncode(buf[:0], req, benchResponse); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFormatError(b *testing.B) {
	fields := sampleFields()
	fields[4] = "00000000012X"
	msg := moovMessage(b, "0100", fields)
	b.ReportAllocs()
	for b.Loop() {
		_, err := Decode(msg)
		fe := err.(*FormatError)
		if _, err := EncodeFormatError(fe.Request); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	r := sampleRequest("0100")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	req, _ := Decode(benchRequest(b))
	out, err := Encode(req, benchResponse)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMoovMessage is the alternative the codec does not use on the hot path: moov's
// Message API with the same Spec, unpacking and reading the fields Decode reads (without field 48
// and 90 parsing). Kept to show why.
func BenchmarkDecodeMoovMessage(b *testing.B) {
	msg := benchRequest(b)
	ids := []int{2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 32, 35, 37, 41, 42, 43, 48, 49, 55}
	b.ReportAllocs()
	for b.Loop() {
		m := iso8583.NewMessage(Spec)
		if err := m.Unpack(msg); err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			if _, err := m.GetString(id); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := m.GetBytes(52); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeMoovMessage packs the same response as BenchmarkEncode with moov's Message API.
func BenchmarkEncodeMoovMessage(b *testing.B) {
	req, _ := Decode(benchRequest(b))
	b.ReportAllocs()
	for b.Loop() {
		m := iso8583.NewMessage(Spec)
		m.MTI("0110")
		for id, v := range map[int]string{2: req.PAN, 3: req.ProcessingCode, 4: "000000012345",
			7: req.F7, 11: req.STAN, 12: req.LocalTime, 13: req.LocalDate, 32: req.AcquirerID,
			37: req.RRN, 38: "A1B2C3", 39: "00", 41: req.TerminalID, 42: req.MerchantID,
			49: req.CurrencyNum, 54: "0002978C000000987654", 55: "910ADEADBEEF010203043030"} {
			if err := m.Field(id, v); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := m.Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogAttrs(b *testing.B) {
	req, _ := Decode(benchRequest(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = LogAttrs(req)
	}
}
