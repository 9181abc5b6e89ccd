package codec

import (
	"errors"
	"strconv"

	"github.com/cardswitch/cardswitch/authz"
)

// Field numbers a FormatError or an EncodeError can name besides the data elements 2–128.
const (
	FieldMessage = -1 // the message as a whole (e.g. bytes after the last field)
	FieldMTI     = 0
	FieldBitmap  = 1
)

// Reason says why a message or a value does not conform to the iso87 profile. The set is closed
// and small, so it can label a metric.
type Reason string

// The reasons of FormatError and EncodeError.
const (
	ReasonTruncated    Reason = "truncated"                        // the message ends inside this field
	ReasonBadMTI       Reason = "MTI not 4 digits"                 // field 0
	ReasonUnknownMTI   Reason = "MTI not a request of the profile" // field 0
	ReasonBadBitmap    Reason = "bitmap not hex"                   // field 1
	ReasonThirdBitmap  Reason = "bit 65 set (third bitmap)"        // not part of the profile
	ReasonUndefined    Reason = "field not in the iso87 profile"   // its length is unknown
	ReasonBadLength    Reason = "length prefix not digits"         // LL or LLL
	ReasonTooLong      Reason = "length over the maximum"          // LL or LLL, or an encoded value
	ReasonWrongLength  Reason = "length differs from the fixed length"
	ReasonNotNumeric   Reason = "not numeric"              // a non-digit in an n field
	ReasonNotASCII     Reason = "not ASCII"                // a byte above 0x7F
	ReasonNotHex       Reason = "not hex"                  // a non-hex character in 52, 55, 64
	ReasonOddHex       Reason = "odd number of hex digits" // field 55
	ReasonMalformed    Reason = "malformed"                // structure inside the field (48, 54, 95)
	ReasonMissing      Reason = "mandatory field missing"  // contract §2 mandatory fields
	ReasonTrailingData Reason = "bytes after the last field"
	ReasonNotAlnum     Reason = "not alphanumeric"    // field 38 on encode
	ReasonOutOfRange   Reason = "amount out of range" // negative, or more than 12 digits
)

// ErrFormat is matched (errors.Is) by every *FormatError.
var ErrFormat = errors.New("codec: message does not conform to the iso87 profile")

// FormatError reports a message that cannot be parsed, has a non-numeric value in a numeric field,
// or lacks a mandatory field (contract §2). It names the field and the reason, never the field's
// value (which may be a PAN).
type FormatError struct {
	Field  int    // data element; FieldMTI, FieldBitmap or FieldMessage for the message as a whole
	Offset int    // byte offset in the message where the problem was found
	Reason Reason // why

	// Request is what could be decoded before and around the fault: at least MTI (when it was 4
	// digits), BaseMTI and STAN when readable, and every other field that parsed and passed its
	// checks. Fields that failed are left empty, so an answer echoes only valid values. Nil when
	// the MTI was not readable.
	Request *authz.Request
}

func (e *FormatError) Error() string {
	return "codec: iso87 format error in field " + strconv.Itoa(e.Field) + " at byte " +
		strconv.Itoa(e.Offset) + ": " + string(e.Reason)
}

// Is lets errors.Is(err, ErrFormat) match.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

// Answerable reports whether the message deserves an answer with field 39 "30" (contract §2): its
// MTI is a request MTI of the profile and field 11 was readable (6 digits). Otherwise the caller
// drops the message and counts it.
func (e *FormatError) Answerable() bool {
	if e == nil || e.Request == nil {
		return false
	}
	_, ok := baseMTI(e.Request.MTI)
	return ok && len(e.Request.STAN) == 6 && isDigits(e.Request.STAN)
}

// ErrEncode is matched (errors.Is) by every *EncodeError.
var ErrEncode = errors.New("codec: value cannot be encoded in the iso87 profile")

// EncodeError reports a value that Encode or BuildRequest cannot write: the field and the reason,
// never the value.
type EncodeError struct {
	Field  int
	Reason Reason
}

func (e *EncodeError) Error() string {
	return "codec: cannot encode field " + strconv.Itoa(e.Field) + ": " + string(e.Reason)
}

// Is lets errors.Is(err, ErrEncode) match.
func (e *EncodeError) Is(target error) bool { return target == ErrEncode }
