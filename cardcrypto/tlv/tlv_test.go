package tlv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// A field 55 as a terminal sends it for an ARQC (pyemv tests/test_cvn_hsm.py Mastercard data:
// 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 9F10 9F26 9F27), plus 5F34.
const field55 = "9F02060000000099999F03060000000000009F1A0201249505800000000" +
	"05F2A0201249A032099069C01009F3704ABCDEF1282021800" +
	"9F3602001C9F1012" + "0111A00003220000000000000000000322FF" +
	"9F260824CCF3DEE3158C709F2701805F340100"

func TestParseField55(t *testing.T) {
	l, err := Parse(h(field55))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		tag Tag
		val string
	}{
		{TagAmountAuthorised, "000000009999"}, {TagAmountOther, "000000000000"},
		{TagTerminalCountryCode, "0124"}, {TagTVR, "8000000000"},
		{TagTransactionCurrencyCode, "0124"}, {TagTransactionDate, "209906"},
		{TagTransactionType, "00"}, {TagUnpredictableNumber, "ABCDEF12"},
		{TagAIP, "1800"}, {TagATC, "001C"},
		{TagIssuerApplicationData, "0111A00003220000000000000000000322FF"},
		{TagApplicationCryptogram, "24CCF3DEE3158C70"}, {TagCryptogramInformationData, "80"},
		{TagPANSequenceNumber, "00"},
	}
	if len(l) != len(want) {
		t.Fatalf("%d elements, want %d", len(l), len(want))
	}
	for i, w := range want {
		if l[i].Tag != w.tag || strings.ToUpper(hex.EncodeToString(l[i].Value)) != w.val {
			t.Fatalf("element %d = %s %X, want %s %s", i, l[i].Tag, l[i].Value, w.tag, w.val)
		}
		v, ok := l.Get(w.tag)
		if !ok || !bytes.Equal(v, l[i].Value) {
			t.Fatalf("Get(%s)", w.tag)
		}
	}
	if l[0].Offset != 0 || l[1].Offset != 9 {
		t.Fatalf("offsets %d %d", l[0].Offset, l[1].Offset)
	}
	m := l.Map()
	if len(m) != len(want) || !bytes.Equal(m[TagATC], h("001C")) {
		t.Fatal("Map")
	}
	if _, ok := l.Get(0x9F4C); ok {
		t.Fatal("absent tag found")
	}
	// Re-encoding gives the input back.
	enc, err := AppendList(nil, l)
	if err != nil || !bytes.Equal(enc, h(field55)) {
		t.Fatalf("re-encode %X, %v", enc, err)
	}
}

func TestParseLengthsAndTags(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 200)
	cases := []struct {
		name string
		in   []byte
		tag  Tag
		vlen int
	}{
		{"short form", h("5A0841111111111111119000"), 0x5A, 8},
		{"long form 81", append(h("DF0181C8"), long...), 0xDF01, 200},
		{"long form 82", append(h("DF018200C8"), long...), 0xDF01, 200},
		{"3-byte tag", h("DF810102AABB"), 0xDF8101, 2},
		{"zero length", h("9F0300"), 0x9F03, 0},
		{"00 padding before and after", h("00009A0320990600"), 0x9A, 3},
	}
	for _, c := range cases {
		l, err := Parse(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if l[0].Tag != c.tag || len(l[0].Value) != c.vlen {
			t.Fatalf("%s: %s len %d", c.name, l[0].Tag, len(l[0].Value))
		}
	}
}

func TestParseConstructed(t *testing.T) {
	// 71 (issuer script template 1) holding 9F18 and 86; then a primitive 9F36.
	in := h("710C9F180400000001860384240000" + "9F36020001")
	l, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || !l[0].Tag.Constructed() || len(l[0].Children) != 2 || l[1].Tag.Constructed() {
		t.Fatalf("%+v", l)
	}
	if !bytes.Equal(l[0].Value, in[2:14]) {
		t.Fatal("constructed value must be kept raw")
	}
	if v, _ := l[0].Children.Get(0x86); !bytes.Equal(v, h("842400")) || l[0].Children[1].Offset != 9 {
		t.Fatalf("child 86 %X at %d", v, l[0].Children[1].Offset)
	}
	// Shallow leaves children unparsed, even malformed ones.
	bad := h("7003FFFFFF")
	if _, err := Parse(bad); err == nil {
		t.Fatal("malformed constructed value accepted")
	}
	l, err = ParseWithLimits(bad, Limits{Shallow: true})
	if err != nil || l[0].Children != nil || len(l[0].Value) != 3 {
		t.Fatalf("shallow: %v", err)
	}
	// Encode from Children when Value is nil.
	enc, err := Encode(TLV{Tag: 0x71, Children: List{{Tag: 0x86, Value: h("842400")}}})
	if err != nil || !bytes.Equal(enc, h("7105860384240000")[:7]) {
		t.Fatalf("encode constructed %X %v", enc, err)
	}
}

func TestParseErrors(t *testing.T) {
	nested := h("010100") // depth 5: E1 E1 E1 E1 01
	for i := 0; i < 4; i++ {
		nested = append([]byte{0xE1, byte(len(nested))}, nested...)
	}
	cases := []struct {
		name   string
		in     []byte
		err    error
		offset int
		tag    Tag
	}{
		{"truncated value", h("9F020600000000"), ErrTruncated, 0, 0x9F02},
		{"truncated value after first", h("9A032099069F0206000000"), ErrTruncated, 5, 0x9F02},
		{"truncated tag", h("9F"), ErrTruncated, 0, 0},
		{"missing length", h("9F02"), ErrTruncated, 0, 0x9F02},
		{"truncated long length", h("9F0282"), ErrTruncated, 0, 0x9F02},
		{"indefinite length", h("9F0280"), ErrIndefiniteLength, 0, 0x9F02},
		{"5-byte length", h("9F02850000000001"), ErrLengthTooLong, 0, 0x9F02},
		{"huge length", h("9F0284FFFFFFFF00"), ErrTruncated, 0, 0x9F02},
		{"FF tag", h("FF0100"), ErrInvalidTag, 0, 0},
		{"5-byte tag", h("DF8181818101AA"), ErrInvalidTag, 0, 0},
		{"duplicate tag", h("9A032099069A03209907"), ErrDuplicateTag, 5, 0x9A},
		{"too deep", nested, ErrTooDeep, 8, 0},
		{"inner error offset", h("9A03209906" + "7005" + "9F02050000"), ErrTruncated, 7, 0x9F02},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, c.err) || pe.Offset != c.offset || pe.Tag != c.tag {
			t.Errorf("%s: %v (want %v at offset %d tag %s)", c.name, err, c.err, c.offset, c.tag)
		}
	}
	// Limits.
	if _, err := Parse(make([]byte, 1025)); !errors.Is(err, ErrTooLarge) {
		t.Error(err)
	}
	many := bytes.Repeat(h("0100"), 3)
	many[0], many[2], many[4] = 0x81, 0x82, 0x83
	if _, err := ParseWithLimits(many, Limits{MaxElements: 2}); !errors.Is(err, ErrTooManyElements) {
		t.Error(err)
	}
	if _, err := ParseWithLimits(nested, Limits{MaxDepth: 5}); err != nil {
		t.Error(err)
	}
	// The error text names the tag and offset, never the value.
	_, err := Parse(h("5A0A411111111111111190"))
	if err == nil || strings.Contains(err.Error(), "4111") || !strings.Contains(err.Error(), "5A") || !strings.Contains(err.Error(), "offset 0") {
		t.Errorf("error text: %v", err)
	}
	// Empty input is an empty list.
	if l, err := Parse(nil); err != nil || len(l) != 0 {
		t.Error(l, err)
	}
}

func TestAppend(t *testing.T) {
	arpc := h("29CF11FBDB9CA6500010")
	got, err := Append(nil, TagIssuerAuthenticationData, arpc)
	if err != nil || !bytes.Equal(got, append(h("910A"), arpc...)) {
		t.Fatalf("%X %v", got, err)
	}
	for _, c := range []struct {
		n    int
		head string
	}{{127, "DF017F"}, {128, "DF018180"}, {255, "DF0181FF"}, {256, "DF01820100"}} {
		got, _ := Append(nil, 0xDF01, make([]byte, c.n))
		if !bytes.HasPrefix(got, h(c.head)) || len(got) != len(h(c.head))+c.n {
			t.Errorf("length %d: head %X", c.n, got[:4])
		}
	}
	for _, bad := range []Tag{0, 0xFF, 0x9F, 0x1F, 0x9F82, 0x5A01, 0xDF818181} {
		if _, err := Append(nil, bad, nil); !errors.Is(err, ErrInvalidTag) {
			t.Errorf("tag %s: %v", bad, err)
		}
	}
	if _, err := Append(nil, 0x9A, make([]byte, 0x10000)); !errors.Is(err, ErrValueTooLong) {
		t.Error(err)
	}
	if Tag(0x9F02).String() != "9F02" || Tag(0x5A).String() != "5A" || Tag(0xDF8101).String() != "DF8101" {
		t.Error("String")
	}
}

// FuzzTLVParse: parsing never panics and respects its limits; whatever parses re-encodes to
// bytes that parse to the same tags and values (the encoding may differ from the input only by
// 00 padding and non-minimal long-form lengths).
func FuzzTLVParse(f *testing.F) {
	f.Add(h(field55))
	f.Add(h("710C9F180400000001860384240000"))
	f.Add(h("00009A0320990600"))
	f.Add(h("DF018200C8"))
	f.Add(h("9F0280"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(data) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Every tag Parse accepts is one Append accepts, and values are far below 65535 bytes
		// within the default limits, so encoding cannot fail.
		enc, err := AppendList(nil, l)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		l2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !sameList(l, l2) {
			t.Fatal("round trip changed the data")
		}
	})
}

func sameList(a, b List) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Tag != b[i].Tag || !bytes.Equal(a[i].Value, b[i].Value) || !sameList(a[i].Children, b[i].Children) {
			return false
		}
	}
	return true
}

func BenchmarkParseField55(b *testing.B) {
	data := h(field55)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
