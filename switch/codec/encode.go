package codec

import (
	"fmt"
	"slices"

	"github.com/cardswitch/cardswitch/authz"
)

// maxAmount12 is the largest amount an n12 field can carry.
const maxAmount12 = 999_999_999_999

// writer packs one message in two passes over the same sequence of put calls: the first measures
// and validates every value and collects the bitmap, the second appends to a buffer grown once.
type writer struct {
	writing bool
	bitmap  [2]uint64
	size    int // bytes of the data elements (prefixes and values), known after the first pass
	buf     []byte
	last    int
	err     *EncodeError
}

// field starts data element id: it checks that fields come in ascending order (a programmer error
// otherwise) and returns its compiled spec, or false when a previous value failed.
func (w *writer) field(id int) (*wireField, bool) {
	if w.err != nil {
		return nil, false
	}
	if id <= w.last || id < 2 || id > maxField || !profile[id].defined {
		panicOrder(id)
	}
	w.last = id
	return &profile[id], true
}

func panicOrder(id int) {
	panic(fmt.Sprintf("codec: writer: field %d out of order or not in the profile", id))
}

func (w *writer) fail(id int, reason Reason) {
	if w.err == nil {
		w.err = &EncodeError{Field: id, Reason: reason}
	}
}

// account records a field of n characters in the first pass.
func (w *writer) account(id int, f *wireField, n int) {
	w.bitmap[(id-1)/64] |= 1 << (63 - uint(id-1)%64)
	w.size += f.lenDigits + f.wireLen(n)
}

// put writes data element id with value v (text, not for binary fields).
func put[T string | []byte](w *writer, id int, v T) {
	f, ok := w.field(id)
	if !ok {
		return
	}
	if !w.writing {
		switch {
		case f.class == classBinary || f.class == classHexText:
			panic(fmt.Sprintf("codec: writer: field %d is hex, use putHex", id))
		case f.lenDigits == 0 && len(v) != f.max:
			w.fail(id, ReasonWrongLength)
		case len(v) > f.max:
			w.fail(id, ReasonTooLong)
		default:
			if r := checkContent(id, v); r != "" {
				w.fail(id, r)
			}
		}
		w.account(id, f, len(v))
		return
	}
	w.buf = appendLength(w.buf, f.lenDigits, len(v))
	w.buf = append(w.buf, v...)
}

// opt writes field id when v is not empty.
func opt(w *writer, id int, v string) {
	if v != "" {
		put(w, id, v)
	}
}

// putHex writes data element id from bytes: a binary field (52, 64) takes exactly its length in
// bytes; a hex-text field (55) takes up to half its maximum in characters.
func (w *writer) putHex(id int, b []byte) {
	f, ok := w.field(id)
	if !ok {
		return
	}
	n := 2 * len(b) // characters of hex text; for a binary field the spec counts bytes
	if f.class == classBinary {
		n = len(b)
	}
	if !w.writing {
		switch {
		case f.class != classBinary && f.class != classHexText:
			panic(fmt.Sprintf("codec: writer: field %d is not hex", id))
		case f.lenDigits == 0 && n != f.max:
			w.fail(id, ReasonWrongLength)
		case n > f.max:
			w.fail(id, ReasonTooLong)
		}
		w.account(id, f, n)
		return
	}
	w.buf = appendLength(w.buf, f.lenDigits, n)
	w.buf = appendUpperHex(w.buf, b)
}

// putAmount writes an n12 amount field.
func (w *writer) putAmount(id int, v int64) {
	var digits [12]byte
	if v < 0 || v > maxAmount12 {
		if _, ok := w.field(id); ok {
			w.fail(id, ReasonOutOfRange)
		}
		return
	}
	put(w, id, appendAmount12(digits[:0], v))
}

// start ends the measuring pass: it appends the MTI and the bitmap (the secondary one only when a
// field above 64 is present) to dst, grown once for the whole message.
func (w *writer) start(dst []byte, mti string) {
	w.writing = true
	w.last = 0
	primary := w.bitmap[0]
	total := 4 + 16 + w.size
	if w.bitmap[1] != 0 {
		primary |= 1 << 63
		total += 16
	}
	dst = slices.Grow(dst, total)
	dst = append(dst, mti...)
	dst = appendHex64(dst, primary)
	if w.bitmap[1] != 0 {
		dst = appendHex64(dst, w.bitmap[1])
	}
	w.buf = dst
}

// Encode packs the response to req: the response MTI of req.MTI (a repeat is answered with the base
// response MTI), the echo of fields 2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49 and 70 as received
// when present in req (and 90 on 0230, 0410 and 0430), field 39 from resp.Action, 38 when
// resp.AuthCode is set, 54 when resp.HasBalance and 55 when resp.ICCResponse is not empty
// (contract §2). The result has no frame prefix.
func Encode(req *authz.Request, resp authz.Response) ([]byte, error) {
	return AppendEncode(nil, req, resp)
}

// AppendEncode is Encode appending to dst (which may be nil), so that a caller can reuse a buffer or
// reserve room for the frame prefix. dst is grown at most once.
func AppendEncode(dst []byte, req *authz.Request, resp authz.Response) ([]byte, error) {
	if req == nil {
		return dst, &EncodeError{Field: FieldMTI, Reason: ReasonUnknownMTI}
	}
	respMTI := ResponseMTI(req.MTI)
	if respMTI == "" {
		return dst, &EncodeError{Field: FieldMTI, Reason: ReasonUnknownMTI}
	}
	var f54buf [20]byte
	var f54 []byte
	if resp.HasBalance {
		var err *EncodeError
		if f54, err = appendBalance(f54buf[:0], resp.CurrencyNum, resp.AvailableMinor); err != nil {
			return dst, err
		}
	}
	var f90buf [42]byte
	var f90 []byte
	switch respMTI {
	case "0230", "0410", "0430":
		if req.Original != nil {
			var err *EncodeError
			if f90, err = appendOriginal(f90buf[:0], req.Original); err != nil {
				return dst, err
			}
		}
	}
	field39 := resp.Action.Field39()
	if resp.AuthCode != "" && !isAlnum(resp.AuthCode) {
		return dst, &EncodeError{Field: 38, Reason: ReasonNotAlnum}
	}

	var w writer
	emitResponse(&w, req, &resp, field39, f54, f90)
	if w.err != nil {
		return dst, w.err
	}
	w.start(dst, respMTI)
	emitResponse(&w, req, &resp, field39, f54, f90)
	return w.buf, nil
}

func emitResponse(w *writer, req *authz.Request, resp *authz.Response, field39 string, f54, f90 []byte) {
	opt(w, 2, req.PAN)
	opt(w, 3, req.ProcessingCode)
	if req.HasAmount {
		w.putAmount(4, req.AmountMinor)
	}
	opt(w, 7, req.F7)
	opt(w, 11, req.STAN)
	opt(w, 12, req.LocalTime)
	opt(w, 13, req.LocalDate)
	opt(w, 32, req.AcquirerID)
	opt(w, 37, req.RRN)
	opt(w, 38, resp.AuthCode)
	put(w, 39, field39)
	opt(w, 41, req.TerminalID)
	opt(w, 42, req.MerchantID)
	opt(w, 49, req.CurrencyNum)
	if f54 != nil {
		put(w, 54, f54)
	}
	if len(resp.ICCResponse) > 0 {
		w.putHex(55, resp.ICCResponse)
	}
	opt(w, 70, req.NetworkCode)
	if f90 != nil {
		put(w, 90, f90)
	}
}

// EncodeFormatError packs the answer with field 39 "30" (action 9100) to a request that failed to
// decode; req is FormatError.Request of an answerable FormatError. Only the fields that decoded
// and passed their checks are echoed.
func EncodeFormatError(req *authz.Request) ([]byte, error) {
	return Encode(req, authz.Response{Action: authz.FormatError})
}

// appendBalance appends the field 54 amount of contract §2: account type "00", amount type "02"
// (available balance), currency n3, "C" (credit, zero or positive) or "D" (debit, negative) and the
// absolute amount as 12 digits.
func appendBalance(dst []byte, currencyNum string, availableMinor int64) ([]byte, *EncodeError) {
	if len(currencyNum) != 3 || !isDigits(currencyNum) {
		return nil, &EncodeError{Field: 54, Reason: ReasonMalformed}
	}
	if availableMinor < -maxAmount12 || availableMinor > maxAmount12 {
		return nil, &EncodeError{Field: 54, Reason: ReasonOutOfRange}
	}
	sign := byte('C')
	if availableMinor < 0 {
		sign, availableMinor = 'D', -availableMinor
	}
	dst = append(dst, "0002"...)
	dst = append(dst, currencyNum...)
	dst = append(dst, sign)
	return appendAmount12(dst, availableMinor), nil
}

// appendOriginal appends field 90 (contract §2): original MTI (4), STAN (6), field 7 (10),
// acquirer ID (11, zero-padded on the left) and the forwarding institution ID (as received, 11
// zeros when absent), so 0230/0410/0430 echo field 90 byte for byte.
func appendOriginal(dst []byte, o *authz.OriginalData) ([]byte, *EncodeError) {
	if len(o.MTI) != 4 || len(o.STAN) != 6 || len(o.F7) != 10 || len(o.AcquirerID) > 11 ||
		(o.ForwardingID != "" && len(o.ForwardingID) != 11) {
		return nil, &EncodeError{Field: 90, Reason: ReasonWrongLength}
	}
	dst = append(dst, o.MTI...)
	dst = append(dst, o.STAN...)
	dst = append(dst, o.F7...)
	for range 11 - len(o.AcquirerID) {
		dst = append(dst, '0')
	}
	dst = append(dst, o.AcquirerID...)
	if o.ForwardingID != "" {
		return append(dst, o.ForwardingID...), nil
	}
	return append(dst, "00000000000"...), nil
}

// appendAmount12 appends v (0 ≤ v ≤ maxAmount12) as 12 digits.
func appendAmount12(dst []byte, v int64) []byte {
	var d [12]byte
	for i := 11; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, d[:]...)
}

// appendLength appends an ASCII LL or LLL length prefix (nothing for a fixed field).
func appendLength(dst []byte, digits, n int) []byte {
	switch digits {
	case 2:
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	case 3:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

func appendUpperHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, upperHex[c>>4], upperHex[c&0x0F])
	}
	return dst
}

func appendHex64(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, upperHex[v>>uint(shift)&0x0F])
	}
	return dst
}

func isAlnum(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// forwardingID is the forwarding institution ID of field 90; all zeros (none) is "".
func forwardingID(v string) string {
	if v == "00000000000" {
		return ""
	}
	return v
}
