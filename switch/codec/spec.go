package codec

import (
	"fmt"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"
	"github.com/moov-io/iso8583/specs"
)

// ProfileName is the name of the wire profile of contract §2.
const ProfileName = "iso87"

// maxField is the highest data element number a primary and a secondary bitmap can announce.
const maxField = 128

// Spec is the iso87 profile as a moov-io/iso8583 message spec (contract §2):
//
//   - field 0: MTI, 4 ASCII digits;
//   - field 1: bitmap declared with Length 8 and hex encoding, so the primary bitmap is 16 hex
//     characters and the secondary one (16 more) is written only when a field above 64 is present
//     (specs.Spec87ASCII declares 16 bytes and always writes 32 characters);
//   - fields 2–64 and 90: the lengths, length prefixes and encodings of specs.Spec87ASCII, but every
//     one declared as a plain string without padding, so that a field's value is exactly its wire
//     text (Spec87ASCII strips leading zeros of fields 3–6 on unpack and keeps field 3 as an int,
//     which would break the echo of values as received);
//   - fields 52 and 64: 8 binary bytes written as 16 hex characters (field.Binary with
//     encoding.BytesToASCIIHex; the string field of Spec87ASCII hex-encodes the hex text again);
//   - field 55: ICC data as hex text, LLL; the length prefix counts hex characters, as
//     Spec87ASCII and Wireshark's ISO 8583 dissector (ISO_TANS, LLL) do: at most 999 characters,
//     that is 499 bytes of BER-TLV;
//   - field 70: n3 fixed; field 95: an42 fixed.
//
// Spec must not be modified: the codec compiles it once, at package initialisation.
var Spec = newSpec()

func newSpec() *iso8583.MessageSpec {
	fields := map[int]field.Field{
		0: field.NewString(&field.Spec{
			Length:      4,
			Description: "Message Type Indicator",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		1: field.NewBitmap(&field.Spec{
			Length:      8, // bytes per bitmap: 16 hex characters, auto-expanding
			Description: "Bitmap",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.Hex.Fixed,
		}),
	}
	for id := 2; id <= 64; id++ {
		fields[id] = sizedAsSpec87ASCII(id)
	}
	fields[90] = sizedAsSpec87ASCII(90)
	for _, id := range []int{52, 64} {
		fields[id] = field.NewBinary(&field.Spec{
			Length:      8, // bytes; 16 hex characters on the wire
			Description: specs.Spec87ASCII.Fields[id].Spec().Description,
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.ASCII.Fixed,
		})
	}
	fields[55] = field.NewString(&field.Spec{
		Length:      999, // hex characters
		Description: "ICC Data (BER-TLV as upper-case hex text)",
		Enc:         encoding.ASCII,
		Pref:        prefix.ASCII.LLL,
	})
	fields[70] = field.NewString(&field.Spec{
		Length:      3,
		Description: "Network Management Information Code",
		Enc:         encoding.ASCII,
		Pref:        prefix.ASCII.Fixed,
	})
	fields[95] = field.NewString(&field.Spec{
		Length:      42,
		Description: "Replacement Amounts",
		Enc:         encoding.ASCII,
		Pref:        prefix.ASCII.Fixed,
	})
	return &iso8583.MessageSpec{Name: "cardswitch iso87 (ISO 8583:1987 ASCII)", Fields: fields}
}

// sizedAsSpec87ASCII declares field id with the length, prefix and encoding of specs.Spec87ASCII,
// as a string without padding.
func sizedAsSpec87ASCII(id int) field.Field {
	s := specs.Spec87ASCII.Fields[id].Spec()
	return field.NewString(&field.Spec{
		Length:      s.Length,
		Description: s.Description,
		Enc:         s.Enc,
		Pref:        s.Pref,
	})
}

// class is the content rule of a data element in the iso87 profile. moov's string fields accept
// any ASCII byte; the profile is stricter for the fields whose content the switch uses.
type class uint8

const (
	classANS     class = iota // any ASCII byte (0x00–0x7F), as moov's ASCII encoder
	classN                    // ASCII digits only
	classBinary               // bytes written as hex characters (52, 64)
	classHexText              // an even number of hex characters holding bytes (55)
)

// numericFields are the data elements used by the switch that ISO 8583:1987 types as n: a
// non-digit in them is a format error (contract §2). Field 95 is an42; its first 12 characters
// (the replacement amount) are checked where it is parsed.
var numericFields = [...]int{2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 32, 49, 70, 90}

// secretFields are the data elements whose values never share memory with the other fields of a
// decoded Request (see the package documentation). The CVC2 inside field 48 is handled apart.
var secretFields = [...]int{2, 34, 35, 36, 45, 52, 55}

// wireField is the compiled form of one data element of Spec.
type wireField struct {
	defined   bool
	lenDigits int   // 0 fixed length, 2 LLVAR, 3 LLLVAR
	max       int   // fixed length or maximum length: characters, or bytes for classBinary
	class     class // content rule
	secret    bool  // value gets its own allocation on decode
}

// profile is Spec compiled, indexed by data element number. Entries 0 and 1 are unused: the MTI and
// the bitmap have fixed layouts.
var profile = mustCompile(Spec)

// mustCompile turns a message spec into the table the scanner and the writer use. It panics on a
// field shape the codec does not implement: Spec is static, so that is a programmer error caught by
// any test run.
func mustCompile(spec *iso8583.MessageSpec) [maxField + 1]wireField {
	var p [maxField + 1]wireField
	mti, ok := spec.Fields[0].(*field.String)
	if !ok || mti.Spec().Length != 4 || mti.Spec().Enc != encoding.ASCII ||
		mti.Spec().Pref.Inspect() != "ASCII.Fixed" {
		panic("codec: Spec field 0 must be a 4-character ASCII string")
	}
	bm, ok := spec.Fields[1].(*field.Bitmap)
	if !ok || bm.Spec().Length != 8 || bm.Spec().Enc != encoding.BytesToASCIIHex ||
		bm.Spec().DisableAutoExpand {
		panic("codec: Spec field 1 must be an auto-expanding 8-byte hex bitmap")
	}
	for id := 2; id <= maxField; id++ {
		f, ok := spec.Fields[id]
		if !ok {
			continue
		}
		if id == 65 {
			panic("codec: Spec field 65 is the tertiary bitmap indicator and cannot be a data element")
		}
		s := f.Spec()
		wf := wireField{defined: true, max: s.Length}
		switch pref := s.Pref.Inspect(); pref {
		case "ASCII.Fixed":
		case "ASCII.LL":
			wf.lenDigits = 2
		case "ASCII.LLL":
			wf.lenDigits = 3
		default:
			panic(fmt.Sprintf("codec: Spec field %d: prefixer %s not supported", id, pref))
		}
		if s.Pad != nil || s.Packer != nil || s.Unpacker != nil {
			panic(fmt.Sprintf("codec: Spec field %d: padding and custom packers not supported", id))
		}
		switch f.(type) {
		case *field.String:
			if s.Enc != encoding.ASCII {
				panic(fmt.Sprintf("codec: Spec field %d: string fields must be ASCII", id))
			}
		case *field.Binary:
			if s.Enc != encoding.BytesToASCIIHex || wf.lenDigits != 0 {
				panic(fmt.Sprintf("codec: Spec field %d: binary fields must be fixed and hex-encoded", id))
			}
			wf.class = classBinary
		default:
			panic(fmt.Sprintf("codec: Spec field %d: type %T not supported", id, f))
		}
		if wf.max <= 0 || (wf.lenDigits == 2 && wf.max > 99) || (wf.lenDigits == 3 && wf.max > 999) {
			panic(fmt.Sprintf("codec: Spec field %d: length %d does not fit its prefix", id, wf.max))
		}
		p[id] = wf
	}
	for _, id := range numericFields {
		mustBeDefined(&p, id)
		p[id].class = classN
	}
	mustBeDefined(&p, 55)
	p[55].class = classHexText
	for _, id := range secretFields {
		mustBeDefined(&p, id)
		p[id].secret = true
	}
	return p
}

func mustBeDefined(p *[maxField + 1]wireField, id int) {
	if !p[id].defined {
		panic(fmt.Sprintf("codec: Spec lacks field %d", id))
	}
}

// wireLen is the number of message bytes a value of n (characters, or bytes for classBinary)
// occupies, without the length prefix.
func (f wireField) wireLen(n int) int {
	if f.class == classBinary {
		return 2 * n
	}
	return n
}
