package codec

import "math/bits"

// span is the position of a field's value in the message: msg[off:end]. For a binary field it is
// the hex text.
type span struct{ off, end int32 }

// fault is a FormatError without its Request; the zero value (Reason "") means no fault. It lets
// the scanner report a problem without allocating.
type fault struct {
	field  int
	offset int
	reason Reason
}

func (f fault) ok() bool { return f.reason == "" }

// firstOf keeps the first fault found (in wire order).
func (f *fault) firstOf(g fault) {
	if f.ok() {
		*f = g
	}
}

// scanned is the structure of one message: the bitmap and where each present field's value is.
type scanned struct {
	mtiOK  bool      // the message starts with 4 ASCII digits
	bitmap [2]uint64 // primary, secondary; bit 1 of the profile is the top bit of bitmap[0]
	// spanned has bit (63 - (id-1)%64) of word (id-1)/64 set for every field id whose position
	// is known (a field announced after a structural fault is not); parsed starts equal and loses
	// the fields whose content is then found invalid.
	spanned [2]uint64
	parsed  [2]uint64
	spans   [maxField + 1]span
}

// has reports whether field id was parsed (present, structurally sound, content not rejected).
func (s *scanned) has(id int) bool {
	return s.parsed[(id-1)/64]&(1<<(63-uint(id-1)%64)) != 0
}

// hasSpan reports whether field id's position in the message is known, valid content or not.
func (s *scanned) hasSpan(id int) bool {
	return s.spanned[(id-1)/64]&(1<<(63-uint(id-1)%64)) != 0
}

// next returns the lowest parsed field number above after (use after = 1 to start), or 0 when there
// is none.
func (s *scanned) next(after int) int {
	for w := after / 64; w < 2; w++ {
		word := s.parsed[w]
		if w == after/64 {
			word &= ^uint64(0) >> uint(after%64) // keep the bits of fields after `after`
		}
		if word != 0 {
			return w*64 + bits.LeadingZeros64(word) + 1
		}
	}
	return 0
}

func (s *scanned) unset(id int) {
	s.parsed[(id-1)/64] &^= 1 << (63 - uint(id-1)%64)
}

// scan parses the layout of msg: MTI, bitmaps, and the position of every announced field, using the
// compiled profile. It checks structure only (digits of the MTI and of the length prefixes, hex
// bitmap, lengths against the spec, fields known to the profile, nothing left over); content rules
// are checked by checkContent. It stops at the first structural fault, which it returns; the fields
// before it are parsed.
func scan(msg []byte, s *scanned) fault {
	if len(msg) > 1<<30 {
		return fault{FieldMessage, 0, ReasonTooLong} // spans are int32; frames are at most 64 KiB
	}
	if len(msg) < 4 {
		return fault{FieldMTI, 0, ReasonTruncated}
	}
	if !isDigits(msg[:4]) {
		return fault{FieldMTI, 0, ReasonBadMTI}
	}
	s.mtiOK = true
	off := 4
	primary, ok := parseBitmapWord(msg, off)
	if !ok {
		return bitmapFault(msg, off)
	}
	s.bitmap[0] = primary
	off += 16
	if primary&(1<<63) != 0 {
		secondary, ok := parseBitmapWord(msg, off)
		if !ok {
			return bitmapFault(msg, off)
		}
		if secondary&(1<<63) != 0 {
			return fault{FieldBitmap, off, ReasonThirdBitmap}
		}
		s.bitmap[1] = secondary
		off += 16
	}
	for w := 0; w < 2; w++ {
		word := s.bitmap[w]
		if w == 0 {
			word &^= 1 << 63 // bit 1 announces the secondary bitmap, not a field
		}
		for word != 0 {
			lz := bits.LeadingZeros64(word)
			word &^= 1 << (63 - uint(lz))
			id := w*64 + lz + 1
			f := profile[id]
			if !f.defined {
				return fault{id, off, ReasonUndefined}
			}
			n := f.max
			if f.lenDigits > 0 {
				if len(msg)-off < f.lenDigits {
					return fault{id, off, ReasonTruncated}
				}
				n = 0
				for _, c := range msg[off : off+f.lenDigits] {
					if c < '0' || c > '9' {
						return fault{id, off, ReasonBadLength}
					}
					n = n*10 + int(c-'0')
				}
				if n > f.max {
					return fault{id, off, ReasonTooLong}
				}
				off += f.lenDigits
			}
			wire := f.wireLen(n)
			if len(msg)-off < wire {
				return fault{id, off, ReasonTruncated}
			}
			s.spans[id] = span{int32(off), int32(off + wire)}
			s.spanned[w] |= 1 << (63 - uint(lz))
			s.parsed[w] |= 1 << (63 - uint(lz))
			off += wire
		}
	}
	if off != len(msg) {
		return fault{FieldMessage, off, ReasonTrailingData}
	}
	return fault{}
}

func bitmapFault(msg []byte, off int) fault {
	if len(msg)-off < 16 {
		return fault{FieldBitmap, off, ReasonTruncated}
	}
	return fault{FieldBitmap, off, ReasonBadBitmap}
}

// parseBitmapWord reads 16 hex characters at msg[off:]. Lower-case hex is accepted on input; the
// codec writes upper case.
func parseBitmapWord(msg []byte, off int) (uint64, bool) {
	if len(msg)-off < 16 {
		return 0, false
	}
	var v uint64
	for _, c := range msg[off : off+16] {
		d, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// checkContent applies the profile's content rule of field id to its value.
func checkContent[T string | []byte](id int, v T) Reason {
	switch profile[id].class {
	case classN:
		if !isDigits(v) {
			return ReasonNotNumeric
		}
	case classBinary:
		if !isHex(v) {
			return ReasonNotHex
		}
	case classHexText:
		if !isHex(v) {
			return ReasonNotHex
		}
		if len(v)%2 != 0 {
			return ReasonOddHex
		}
	default:
		for i := 0; i < len(v); i++ {
			if v[i] > 0x7F {
				return ReasonNotASCII
			}
		}
	}
	return ""
}

func isDigits[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func isHex[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if _, ok := hexValue(v[i]); !ok {
			return false
		}
	}
	return true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeHex turns hex text (already checked by checkContent) into a new byte slice.
func decodeHex(v []byte) []byte {
	out := make([]byte, len(v)/2)
	for i := range out {
		hi, _ := hexValue(v[2*i])
		lo, _ := hexValue(v[2*i+1])
		out[i] = hi<<4 | lo
	}
	return out
}

// parseDigits converts a string of at most 18 ASCII digits (already checked) to an int64.
func parseDigits[T string | []byte](v T) int64 {
	var n int64
	for i := 0; i < len(v); i++ {
		n = n*10 + int64(v[i]-'0')
	}
	return n
}
