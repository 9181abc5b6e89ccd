package tsh

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The seed's request fields as data (seeds/notes/tsh.md §3–§4): type, length bounds in
// characters, enumeration, and per operation whether required. validate checks a body against
// an operation's list before anything is decoded into Go values, so every refusal names the
// field the seed constrains.

type fieldType uint8

const (
	tString fieldType = iota + 1
	tBool
	tNumber
)

// field is one request field of the seed.
type field struct {
	name     string
	typ      fieldType
	min, max int // characters (strings); max 0: no bound
	enum     []string
}

// Enumerations of the seed (notes §6), exact spelling.
var (
	walletProviderIDs = []string{"APPLE_PAY", "SPAYHCE", "ANDROID_PAY", "WALLET", "ECOM"}
	captureMethods    = []string{"CAMERA", "MANUAL", "BANK_APP", "ON-FILE", "READER_MODE", "TOKEN", "CHIP_DIP", "WEB_BROWSER", "UNKNOWN"}
	idnvPurposes      = []string{"ENROLMENT", "DEVICE_BINDING", "CARDHOLDER_STEPUP"}
	vcardActions      = []string{"ACTIVATE", "SUSPEND", "RESUME", "DELETE", "DELETE_FROM_APP", "UPDATE", "RENEW", "ERASE",
		"DEVICE_BOUND", "DEVICE_UNBOUND", "CARDHOLDER_STEPUP_OTP", "CARDHOLDER_STEPUP_ISSUER_APP",
		"CARDHOLDER_STEPUP_CALL_CENTER", "CARDHOLDER_STEPUP_APPROVED"}
	tokenTypes      = []string{"SE", "HCE", "COF", "ECOM", "QRC"}
	assuranceLevels = []string{"00", "10", "11", "12", "13", "14"}
	sources         = []string{"WALLET", "TSP", "ISSUER"}
	enrollmentSteps = []string{"NEW_SESSION", "CARD_ELIGIBILITY_IN_PROGRESS", "CARD_ELEGIBILITY_DONE",
		"CARD_DIGITIZATION_IN_PROGRESS", "CARD_DIGITIZATION_DONE", "SEND_OTP_IN_PROGRESS", "SEND_OTP_DONE",
		"NOTIFY_CARD_STATUS_IN_PROGRESS", "NOTIFY_CARD_STATUS_DONE"}
	tokenStates = []string{"SUSPENDED", "RESUMED", "DELETED", "UPDATED", "INACTIVE"}
)

// The field dictionary (notes §3).
var (
	fCipheredCardInfo       = field{name: "cipheredCardInfo", typ: tString, min: 1, max: 8196}
	fPublicKeyIdentifier    = field{name: "publicKeyIdentifier", typ: tString, min: 1, max: 32}
	fIssuerCardRefID        = field{name: "issuerCardRefId", typ: tString, min: 1, max: 48}
	fWalletProviderID       = field{name: "walletProviderId", typ: tString, min: 1, max: 128, enum: walletProviderIDs}
	fWalletCardRefID        = field{name: "walletCardRefId", typ: tString, min: 1, max: 128}
	fWalletVirtualCardID    = field{name: "walletVirtualCardId", typ: tString, min: 1, max: 128}
	fVirtualCardID          = field{name: "virtualCardId", typ: tString, min: 1, max: 64}
	fTokenStorageID         = field{name: "tokenStorageId", typ: tString, min: 1, max: 128}
	fIsPrimary              = field{name: "isPrimary", typ: tBool}
	fCaptureMethod          = field{name: "captureMethod", typ: tString, max: 64, enum: captureMethods}
	fAuthenticationValue    = field{name: "authenticationValue", typ: tString, min: 1, max: 8196}
	fTncStatus              = field{name: "tncStatus", typ: tBool}
	fTncAcceptedDate        = field{name: "tncAcceptedDate", typ: tString, max: 64}
	fCvvValidated           = field{name: "cvvValidated", typ: tBool}
	fTokenType              = field{name: "tokenType", typ: tString, max: 16, enum: tokenTypes}
	fPurpose                = field{name: "purpose", typ: tString, enum: idnvPurposes}
	fDeviceBindingReference = field{name: "deviceBindingReference", typ: tString, min: 1, max: 64}
	fAction                 = field{name: "action", typ: tString, max: 128, enum: vcardActions}
	fTokenInfo              = field{name: "tokenInfo", typ: tString, min: 1, max: 8196}
	fErrorCode              = field{name: "errorCode", typ: tNumber}
	fSource                 = field{name: "source", typ: tString, max: 32, enum: sources}
	fTokenAssuranceLevel    = field{name: "tokenAssuranceLevel", typ: tString, max: 2, enum: assuranceLevels}
	fOtpValue               = field{name: "otpValue", typ: tString, min: 4, max: 10}
	fExpirationDate         = field{name: "expirationDate", typ: tString, min: 4, max: 32}
	fOtpMethodID            = field{name: "otpMethodId", typ: tString, min: 1, max: 32}
	fEnrollmentStep         = field{name: "enrollmentStep", typ: tString, max: 128, enum: enrollmentSteps}
	fStatus                 = field{name: "status", typ: tString, max: 32, enum: tokenStates}
)

// use is a field of an operation's request: required or optional there.
type use struct {
	f        field
	required bool
}

func req(f field) use { return use{f, true} }
func opt(f field) use { return use{f, false} }

// The request fields of each operation, in the seed's order (notes §4).
var (
	checkCardEligibilityFields = []use{opt(fCipheredCardInfo), opt(fPublicKeyIdentifier), opt(fIssuerCardRefID),
		req(fWalletProviderID), opt(fCaptureMethod)}
	requestCardDigitizationFields = []use{opt(fCipheredCardInfo), opt(fIssuerCardRefID), req(fWalletProviderID),
		opt(fWalletCardRefID), opt(fAuthenticationValue), opt(fPublicKeyIdentifier), opt(fTncStatus),
		opt(fTncAcceptedDate), opt(fCvvValidated), opt(fTokenType)}
	getIDnVMethodListFields = []use{req(fWalletProviderID), opt(fIssuerCardRefID), opt(fVirtualCardID), opt(fPurpose),
		opt(fDeviceBindingReference)}
	requestDeviceBindingFields = []use{req(fDeviceBindingReference), req(fVirtualCardID), req(fWalletProviderID),
		req(fIssuerCardRefID)}
	notifyVirtualCardChangeFields = []use{req(fIssuerCardRefID), req(fVirtualCardID), opt(fWalletCardRefID),
		opt(fWalletVirtualCardID), req(fWalletProviderID), opt(fTokenStorageID), req(fIsPrimary), opt(fAction),
		opt(fDeviceBindingReference), opt(fTokenInfo), opt(fPublicKeyIdentifier), opt(fErrorCode), opt(fSource),
		opt(fTokenType), opt(fTokenAssuranceLevel)}
	sendOTPFields = []use{req(fWalletProviderID), req(fIssuerCardRefID), opt(fDeviceBindingReference), opt(fOtpValue),
		opt(fExpirationDate), opt(fOtpMethodID)}
	notifyStandInProcessFields = []use{req(fCipheredCardInfo), req(fVirtualCardID), opt(fTokenStorageID), req(fIsPrimary),
		req(fEnrollmentStep), opt(fStatus), opt(fTokenInfo), opt(fPublicKeyIdentifier), req(fWalletProviderID),
		opt(fWalletCardRefID), req(fSource), opt(fCvvValidated), opt(fTokenAssuranceLevel)}
)

// FieldError is a request field outside the seed's constraints (400 INVALID_FIELD).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// validate checks body (a JSON object) against an operation's fields. Fields the seed does not
// list for the operation are dropped: the hub may send fields of a newer version of its API, and
// nothing unchecked reaches the handler. A JSON null counts as absent.
//
// also adds values to a field's enumeration (walletProviderId: the ids agreed with the hub at
// onboarding, tsh.walletProviderIds); nil adds none.
func validate(body []byte, fields []use, also map[string][]string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, &FieldError{Field: "body", Reason: "not a JSON object"}
	}
	listed := make(map[string]bool, len(fields))
	for _, u := range fields {
		listed[u.f.name] = true
	}
	for k, v := range m {
		if string(v) == "null" || !listed[k] {
			delete(m, k)
		}
	}
	for _, u := range fields {
		raw, ok := m[u.f.name]
		if !ok {
			if u.required {
				return nil, &FieldError{Field: u.f.name, Reason: "required"}
			}
			continue
		}
		f := u.f
		if extra := also[f.name]; len(extra) > 0 && f.enum != nil {
			f.enum = append(append([]string(nil), f.enum...), extra...)
		}
		if err := f.check(raw); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// check validates one present value.
func (f *field) check(raw json.RawMessage) error {
	bad := func(why string) error { return &FieldError{Field: f.name, Reason: why} }
	switch f.typ {
	case tBool:
		if s := string(raw); s != "true" && s != "false" {
			return bad("must be a JSON boolean")
		}
	case tNumber:
		var n json.Number
		if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return bad("must be a JSON number")
		}
		if _, err := n.Int64(); err != nil {
			return bad("must be an integer")
		}
	case tString:
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return bad("must be a JSON string")
		}
		n := utf8.RuneCountInString(s)
		if n < f.min || (f.max > 0 && n > f.max) {
			if f.max > 0 {
				return bad(fmt.Sprintf("must be %d to %d characters", f.min, f.max))
			}
			return bad(fmt.Sprintf("must be at least %d characters", f.min))
		}
		if f.enum != nil && !contains(f.enum, s) {
			return bad("must be one of the seed's values")
		}
	}
	return nil
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

// str, flag and num read validated fields ("" / nil / 0 when absent).
func str(m map[string]json.RawMessage, f field) string {
	var s string
	if raw, ok := m[f.name]; ok {
		_ = json.Unmarshal(raw, &s) // validated: a string
	}
	return s
}

func flag(m map[string]json.RawMessage, f field) *bool {
	raw, ok := m[f.name]
	if !ok {
		return nil
	}
	b := string(raw) == "true"
	return &b
}

func num(m map[string]json.RawMessage, f field) (int64, bool) {
	raw, ok := m[f.name]
	if !ok {
		return 0, false
	}
	n, _ := json.Number(raw).Int64() // validated: an integer
	return n, true
}
