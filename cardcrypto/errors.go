package cardcrypto

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them, so callers match with
// errors.Is. No error string ever carries key, PIN, PAN or cryptogram material: at most a field
// name, a tag, a length or an offset.
var (
	// ErrKeyLength: a key has the wrong length for the algorithm (for example a CVK that is not
	// 16 bytes). This is a configuration problem, not a business outcome.
	ErrKeyLength = errors.New("cardcrypto: invalid key length")
	// ErrDataLength: a block, cryptogram or data field has the wrong length.
	ErrDataLength = errors.New("cardcrypto: invalid data length")
	// ErrPadding: an unknown ISO/IEC 9797-1 padding method was requested.
	ErrPadding = errors.New("cardcrypto: unknown padding method")
	// ErrPAN: the PAN is not 1 to 19 ASCII digits (or too short for the algorithm).
	ErrPAN = errors.New("cardcrypto: invalid PAN")
	// ErrPSN: the PAN sequence number is not 0 to 2 digits (or 3 digits with a leading 0).
	ErrPSN = errors.New("cardcrypto: invalid PAN sequence number")
	// ErrExpiry: the expiry date is not 4 ASCII digits.
	ErrExpiry = errors.New("cardcrypto: invalid expiry date")
	// ErrServiceCode: the service code is not 3 ASCII digits.
	ErrServiceCode = errors.New("cardcrypto: invalid service code")
	// ErrPIN: a PIN given to an encoder or to PVV is not 4 to 12 ASCII digits.
	ErrPIN = errors.New("cardcrypto: invalid PIN")
	// ErrPVKI: the PIN verification key index is not a single digit 0 to 9.
	ErrPVKI = errors.New("cardcrypto: invalid PVKI")
	// ErrDecimalizationTable: an IBM 3624 decimalisation table is not 16 ASCII digits, or the
	// validation data is not 16 hex digits.
	ErrDecimalizationTable = errors.New("cardcrypto: invalid decimalization table or validation data")

	// ErrPINBlockFormat is wrapped by every PIN block decoding failure. After decryption it
	// usually means a wrong key, a wrong PAN or a block in another format; the more precise
	// cause (ErrPINBlockControl, ErrPINBlockLength, ErrPINBlockFill, ErrPINBlockDigit) is wrapped
	// alongside it.
	ErrPINBlockFormat = errors.New("cardcrypto: PIN block format error")
	// ErrPINBlockControl: the control nibble is not the format's (0 for ISO 0, 4 for ISO 4).
	ErrPINBlockControl = errors.New("control field mismatch")
	// ErrPINBlockLength: the PIN length nibble is outside 4..12.
	ErrPINBlockLength = errors.New("PIN length out of range")
	// ErrPINBlockFill: a fill nibble is not F (ISO 0) or A (ISO 4).
	ErrPINBlockFill = errors.New("bad fill")
	// ErrPINBlockDigit: a PIN nibble is not a decimal digit.
	ErrPINBlockDigit = errors.New("PIN digit not decimal")

	// ErrUnknownCVN: the cryptogram version number is not one this package implements.
	ErrUnknownCVN = errors.New("cardcrypto: unknown or unsupported cryptogram version number")
	// ErrUnknownScheme: the scheme given to CVNFromIAD is neither "visa" nor "mastercard".
	ErrUnknownScheme = errors.New("cardcrypto: unknown scheme")
	// ErrIAD: the issuer application data (9F10) is too short or malformed for the CVN.
	ErrIAD = errors.New("cardcrypto: malformed issuer application data")
	// ErrMissingTag: a tag required to rebuild the cryptogram input is absent from the ICC data.
	ErrMissingTag = errors.New("cardcrypto: required tag missing")
)

// FieldError names the input field (an EMV tag such as "9F02" or a name such as "ARC") that made
// an operation fail. It never carries the field's value.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("cardcrypto: field %s: %v", e.Field, e.Err) }

func (e *FieldError) Unwrap() error { return e.Err }

// pinBlockError wraps both ErrPINBlockFormat and the precise cause.
func pinBlockError(cause error) error {
	return fmt.Errorf("%w: %w", ErrPINBlockFormat, cause)
}

func fieldLenError(field string, want, got int) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: want %d bytes, got %d", ErrDataLength, want, got)}
}
