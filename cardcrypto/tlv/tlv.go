// Package tlv parses and builds the BER-TLV data objects of EMV ICC data (ISO 8583 field 55,
// EMV Book 3 Annex B): multi-byte tags, short and long-form lengths, constructed tags.
//
// Parsing is bounded (input size, element count, nesting depth; see Limits) and strict: an
// indefinite length, a length running past its container, a malformed tag or the same tag twice
// in one template is an error. Errors name the offset and, when known, the tag, never a value.
// Parsed values alias the input; copy them if the input buffer is reused.
package tlv

import (
	"errors"
	"fmt"
)

// Tag is a BER-TLV tag held as its big-endian bytes, so EMV tag 9F02 is Tag(0x9F02).
type Tag uint32

// Common EMV tags used by the authorization path.
const (
	TagAIP                       Tag = 0x82
	TagIssuerAuthenticationData  Tag = 0x91 // ARPC || ARC (method 1) or ARPC || CSU || PAD (method 2)
	TagTVR                       Tag = 0x95
	TagTransactionDate           Tag = 0x9A
	TagTransactionType           Tag = 0x9C
	TagPANSequenceNumber         Tag = 0x5F34
	TagTransactionCurrencyCode   Tag = 0x5F2A
	TagAmountAuthorised          Tag = 0x9F02
	TagAmountOther               Tag = 0x9F03
	TagIssuerApplicationData     Tag = 0x9F10
	TagTerminalCountryCode       Tag = 0x9F1A
	TagApplicationCryptogram     Tag = 0x9F26
	TagCryptogramInformationData Tag = 0x9F27
	TagATC                       Tag = 0x9F36
	TagUnpredictableNumber       Tag = 0x9F37
)

// Sentinel errors, wrapped in a *ParseError by the parser.
var (
	ErrTooLarge         = errors.New("input exceeds the byte limit")
	ErrTooManyElements  = errors.New("too many data objects")
	ErrTooDeep          = errors.New("constructed data objects nested too deep")
	ErrInvalidTag       = errors.New("invalid tag")
	ErrTruncated        = errors.New("truncated")
	ErrIndefiniteLength = errors.New("indefinite length not allowed")
	ErrLengthTooLong    = errors.New("length field longer than 4 bytes")
	ErrDuplicateTag     = errors.New("tag repeated in the same template")
	ErrValueTooLong     = errors.New("value longer than 65535 bytes")
)

// ParseError tells where parsing failed: the offset of the data object's first byte in the input
// and its tag when it could be read (0 otherwise). It never includes a value.
type ParseError struct {
	Offset int
	Tag    Tag
	Err    error
}

func (e *ParseError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("tlv: tag %s at offset %d: %v", e.Tag, e.Offset, e.Err)
	}
	return fmt.Sprintf("tlv: offset %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// String returns the tag as upper-case hex, for example "9F02".
func (t Tag) String() string { return fmt.Sprintf("%0*X", 2*t.byteLen(), uint32(t)) }

func (t Tag) byteLen() int {
	switch {
	case t == 0:
		return 1
	case t <= 0xFF:
		return 1
	case t <= 0xFFFF:
		return 2
	case t <= 0xFFFFFF:
		return 3
	}
	return 4
}

// Constructed reports whether the tag's first byte has the constructed bit (b6) set.
func (t Tag) Constructed() bool {
	first := byte(t >> (8 * uint(t.byteLen()-1)))
	return first&0x20 != 0
}

// Valid reports whether t is a well-formed BER tag as EMV uses them: a first byte other than 00
// and FF; more bytes exactly when the first byte's low five bits are all 1; every byte after the
// first but the last with b8 set, the last with b8 clear.
func (t Tag) Valid() bool {
	if t == 0 {
		return false
	}
	n := t.byteLen()
	var b [4]byte
	for i := 0; i < n; i++ {
		b[i] = byte(t >> (8 * uint(n-1-i)))
	}
	if b[0] == 0xFF {
		return false
	}
	if n == 1 {
		return b[0]&0x1F != 0x1F
	}
	if b[0]&0x1F != 0x1F {
		return false
	}
	for i := 1; i < n-1; i++ {
		if b[i]&0x80 == 0 {
			return false
		}
	}
	return b[n-1]&0x80 == 0
}

// TLV is one data object.
type TLV struct {
	Tag Tag
	// Value is the raw value. For a constructed tag it is the encoding of its children, kept as
	// received.
	Value []byte
	// Children are the parsed data objects inside a constructed tag (nil for a primitive tag or
	// when Limits.Shallow is set).
	Children List
	// Offset is the position of the tag's first byte in the parsed input.
	Offset int
}

// List is an ordered sequence of data objects, as they appeared.
type List []TLV

// Get returns the value of the first data object with the tag at this level (no descent into
// constructed objects). A linear scan is faster than a map for the 10-30 objects of a field 55.
func (l List) Get(tag Tag) ([]byte, bool) {
	for i := range l {
		if l[i].Tag == tag {
			return l[i].Value, true
		}
	}
	return nil, false
}

// Find returns the first data object with the tag at this level.
func (l List) Find(tag Tag) (TLV, bool) {
	for i := range l {
		if l[i].Tag == tag {
			return l[i], true
		}
	}
	return TLV{}, false
}

// Map returns the values of this level keyed by tag.
func (l List) Map() map[Tag][]byte {
	m := make(map[Tag][]byte, len(l))
	for i := range l {
		if _, ok := m[l[i].Tag]; !ok {
			m[l[i].Tag] = l[i].Value
		}
	}
	return m
}

// Default parser bounds, used for zero Limits fields and by Parse.
const (
	// DefaultMaxBytes: an ISO 8583 field 55 holds at most 999 hex characters, about 500 bytes.
	DefaultMaxBytes = 1024
	// DefaultMaxElements counts data objects at every level; a field 55 has 10 to 30.
	DefaultMaxElements = 128
	// DefaultMaxDepth: the top level is depth 1; EMV templates nest two or three deep.
	DefaultMaxDepth = 4
)

// Limits bound the parser. A zero field takes its Default constant.
type Limits struct {
	// MaxBytes is the largest input accepted (ErrTooLarge above it).
	MaxBytes int
	// MaxElements is the largest number of data objects, counted at every level
	// (ErrTooManyElements above it).
	MaxElements int
	// MaxDepth is the deepest nesting of constructed objects parsed; the top level is depth 1.
	// Deeper nesting is an error (ErrTooDeep).
	MaxDepth int
	// Shallow, when set, leaves constructed values unparsed (raw Value, nil Children) and so
	// does not check them.
	Shallow bool
}

func (lim Limits) withDefaults() Limits {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	if lim.MaxElements <= 0 {
		lim.MaxElements = DefaultMaxElements
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	return lim
}

// Parse parses BER-TLV data within the default limits.
func Parse(data []byte) (List, error) { return ParseWithLimits(data, Limits{}) }

// ParseWithLimits parses BER-TLV data within lim. 00 bytes before, between and after data
// objects are skipped, as EMV Book 3 Annex B allows.
func ParseWithLimits(data []byte, lim Limits) (List, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, &ParseError{Offset: lim.MaxBytes, Err: ErrTooLarge}
	}
	p := parser{lim: lim}
	return p.parse(data, 0, 1)
}

type parser struct {
	lim      Limits
	elements int
}

func (p *parser) parse(data []byte, base int, depth int) (List, error) {
	if depth > p.lim.MaxDepth {
		return nil, &ParseError{Offset: base, Err: ErrTooDeep}
	}
	var out List
	i := 0
	for i < len(data) {
		if data[i] == 0x00 {
			i++
			continue
		}
		start := i
		tag, n, err := readTag(data[i:])
		if err != nil {
			return nil, &ParseError{Offset: base + start, Err: err}
		}
		i += n
		length, n, err := readLength(data[i:])
		if err != nil {
			return nil, &ParseError{Offset: base + start, Tag: tag, Err: err}
		}
		i += n
		if length > len(data)-i {
			return nil, &ParseError{Offset: base + start, Tag: tag, Err: fmt.Errorf("%w: value needs %d bytes, %d left", ErrTruncated, length, len(data)-i)}
		}
		p.elements++
		if p.elements > p.lim.MaxElements {
			return nil, &ParseError{Offset: base + start, Tag: tag, Err: ErrTooManyElements}
		}
		if _, dup := out.Find(tag); dup {
			return nil, &ParseError{Offset: base + start, Tag: tag, Err: ErrDuplicateTag}
		}
		e := TLV{Tag: tag, Value: data[i : i+length : i+length], Offset: base + start}
		if tag.Constructed() && !p.lim.Shallow {
			kids, err := p.parse(e.Value, base+i, depth+1)
			if err != nil {
				return nil, err
			}
			e.Children = kids
		}
		if out == nil {
			out = make(List, 0, 16)
		}
		out = append(out, e)
		i += length
	}
	return out, nil
}

// readTag reads a tag of at most 4 bytes.
func readTag(b []byte) (Tag, int, error) {
	first := b[0]
	if first == 0xFF {
		return 0, 0, ErrInvalidTag
	}
	t := Tag(first)
	if first&0x1F != 0x1F {
		return t, 1, nil
	}
	for n := 1; ; n++ {
		if n >= len(b) {
			return 0, 0, fmt.Errorf("%w: tag", ErrTruncated)
		}
		if n >= 4 {
			return 0, 0, fmt.Errorf("%w: longer than 4 bytes", ErrInvalidTag)
		}
		t = t<<8 | Tag(b[n])
		if b[n]&0x80 == 0 {
			return t, n + 1, nil
		}
	}
}

// readLength reads a short-form length or a long-form length of 1 to 4 bytes.
func readLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: length", ErrTruncated)
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	if first == 0x80 {
		return 0, 0, ErrIndefiniteLength
	}
	n := int(first & 0x7F)
	if n > 4 {
		return 0, 0, ErrLengthTooLong
	}
	if len(b) < 1+n {
		return 0, 0, fmt.Errorf("%w: length", ErrTruncated)
	}
	length := 0
	for _, c := range b[1 : 1+n] {
		length = length<<8 | int(c)
	}
	if length < 0 {
		return 0, 0, ErrLengthTooLong
	}
	return length, 1 + n, nil
}

// Append appends the encoding of one data object (tag, minimal BER length, value) to dst. The tag
// must be Valid and the value at most 65535 bytes.
func Append(dst []byte, tag Tag, value []byte) ([]byte, error) {
	if !tag.Valid() {
		return dst, fmt.Errorf("tlv: tag %s: %w", tag, ErrInvalidTag)
	}
	if len(value) > 0xFFFF {
		return dst, fmt.Errorf("tlv: tag %s: %w", tag, ErrValueTooLong)
	}
	for i := tag.byteLen() - 1; i >= 0; i-- {
		dst = append(dst, byte(tag>>(8*uint(i))))
	}
	switch n := len(value); {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xFF:
		dst = append(dst, 0x81, byte(n))
	default:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, value...), nil
}

// Encode returns the encoding of the data objects in order. A constructed object with a nil
// Value is encoded from its Children; otherwise Value is written as it is.
func Encode(elems ...TLV) ([]byte, error) { return AppendList(nil, elems) }

// AppendList appends the encoding of l to dst (see Encode).
func AppendList(dst []byte, l List) ([]byte, error) {
	var err error
	for i := range l {
		v := l[i].Value
		if v == nil && l[i].Children != nil {
			if v, err = AppendList(nil, l[i].Children); err != nil {
				return dst, err
			}
		}
		if dst, err = Append(dst, l[i].Tag, v); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
