package rowstore

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// Record encoding: fixed-size fields little-endian at fixed offsets (the header), then strings
// as uvarint(len<<1) and the bytes. In place of a string a field may hold a number, written as
// uvarint(n<<1|1): the row of another table that the string names (RefTo), the length of the
// suffix of another field it is (Last4 of a PAN), the count of a map (card labels).

// Enc appends a record's fields to B.
type Enc struct{ B []byte }

// Reset empties the encoder, keeping its array.
func (e *Enc) Reset() { e.B = e.B[:0] }

func (e *Enc) U8(v uint8)   { e.B = append(e.B, v) }
func (e *Enc) U16(v uint16) { e.B = binary.LittleEndian.AppendUint16(e.B, v) }
func (e *Enc) U32(v uint32) { e.B = binary.LittleEndian.AppendUint32(e.B, v) }
func (e *Enc) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }
func (e *Enc) I64(v int64)  { e.U64(uint64(v)) }

// Str writes a string field.
func (e *Enc) Str(s string) {
	e.B = binary.AppendUvarint(e.B, uint64(len(s))<<1)
	e.B = append(e.B, s...)
}

// Num writes a number in place of a string field.
func (e *Enc) Num(n uint32) { e.B = binary.AppendUvarint(e.B, uint64(n)<<1|1) }

// Dec reads a record from a string that views its bytes: the strings it returns alias them.
type Dec struct {
	s string
	i int
}

// NewDec reads rec from offset at (0: the header; the header's length: the strings).
func NewDec(rec []byte, at int) Dec { return Dec{s: View(rec), i: at} }

func (d *Dec) U8() uint8 { v := d.s[d.i]; d.i++; return v }
func (d *Dec) U16() uint16 {
	v := uint16(d.s[d.i]) | uint16(d.s[d.i+1])<<8
	d.i += 2
	return v
}
func (d *Dec) U32() uint32 {
	v := uint32(d.U16())
	return v | uint32(d.U16())<<16
}
func (d *Dec) U64() uint64 {
	v := uint64(d.U32())
	return v | uint64(d.U32())<<32
}
func (d *Dec) I64() int64 { return int64(d.U64()) }

func (d *Dec) uvarint() uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

// Field reads a string, or the number written in its place (isNum).
func (d *Dec) Field() (s string, n uint32, isNum bool) {
	v := d.uvarint()
	if v&1 == 1 {
		return "", uint32(v >> 1), true
	}
	end := d.i + int(v>>1)
	s = d.s[d.i:end]
	d.i = end
	return s, 0, false
}

// Str reads a field that is always a string.
func (d *Dec) Str() string {
	s, _, _ := d.Field()
	return s
}

// View returns b as a string without copying. Only for bytes that are never overwritten while
// the string lives: a record's strings, or a comparison made at once.
func View(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Suffix writes s as "the last len(s) bytes of whole" when it is (Last4 of a PAN), else as s.
func Suffix(e *Enc, s, whole string) {
	if s != "" && strings.HasSuffix(whole, s) {
		e.Num(uint32(len(s)))
		return
	}
	e.Str(s)
}

// SuffixField reads a field written by Suffix with the same whole.
func SuffixField(d *Dec, whole string) string {
	s, n, isSuffix := d.Field()
	if isSuffix {
		return whole[len(whole)-int(n):]
	}
	return s
}
