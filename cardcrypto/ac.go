package cardcrypto

import (
	"crypto/subtle"
	"fmt"
	"strings"
)

// CVN identifies a cryptogram version: the scheme plus the scheme's cryptogram version number,
// which together fix the ICC master key derivation, the session key, the AC input data, the
// padding and the ARPC method (see the table in doc.go). The zero value is CVNUnknown.
type CVN int

// Supported cryptogram versions. The numbers in the names are the schemes' usual names; the byte
// carried in 9F10 is CVN.Byte() (Visa "CVN 22" is the byte 0x22, while "CVN 10" and "CVN 18" are
// 0x0A and 0x12).
const (
	CVNUnknown CVN = iota
	// VisaCVN10: Option A, AC key = ICC MK, 33 bytes + CVR (IAD bytes 4-7), padding 1, ARPC method 1 under the ICC MK.
	VisaCVN10
	// VisaCVN18: Option A/B, EMV CSK, 33 bytes + whole IAD, padding 2, ARPC method 2 under the SK.
	VisaCVN18
	// VisaCVN22: as VisaCVN18 (IAD format 2, 32 bytes).
	VisaCVN22
	// MastercardCVN16: Option A, Mastercard SKD, 33 bytes + CVR (IAD bytes 3-8), padding 2, ARPC method 1 under the ICC MK.
	MastercardCVN16
	// MastercardCVN17: as MastercardCVN16 plus the plaintext counters (IAD bytes 11-18).
	MastercardCVN17
	// MastercardCVN20: Option A, EMV CSK, 33 bytes + CVR, padding 2, ARPC method 1 under the SK.
	MastercardCVN20
	// MastercardCVN21: as MastercardCVN20 plus the plaintext counters.
	MastercardCVN21
)

// Scheme names accepted by CVNFromIAD (case-insensitive), the same words as the program
// configuration's "scheme" key.
const (
	SchemeVisa       = "visa"
	SchemeMastercard = "mastercard"
)

type mkdMethod uint8

const (
	mkdOptionA    mkdMethod = iota + 1
	mkdOptionAOrB           // Option A up to 16 PAN digits, Option B above
)

type skdMethod uint8

const (
	skdNone       skdMethod = iota + 1 // AC key is the ICC MK itself
	skdCommon                          // EMV CSK, R = ATC || 00*6
	skdMastercard                      // Mastercard SKD, R = ATC || 0000 || UN
)

type acSuffix uint8

const (
	suffixVisaCVR       acSuffix = iota + 1 // IAD bytes 4-7 (format 0/1/3 CVR, incl. its length byte)
	suffixWholeIAD                          // every IAD byte as received
	suffixMCCVR                             // IAD bytes 3-8
	suffixMCCVRCounters                     // IAD bytes 3-8 || counters (bytes 11-18, or 11-26 for 26+ byte IADs)
)

type cvnSpec struct {
	name       string
	scheme     string
	b          byte
	mkd        mkdMethod
	skd        skdMethod
	suffix     acSuffix
	padding    int
	arpcMethod int
	arpcWithSK bool // ARPC key: the AC session key (true) or the ICC MK (false)
}

var cvnSpecs = [...]cvnSpec{
	VisaCVN10:       {"Visa CVN 10", SchemeVisa, 0x0A, mkdOptionA, skdNone, suffixVisaCVR, PaddingMethod1, 1, false},
	VisaCVN18:       {"Visa CVN 18", SchemeVisa, 0x12, mkdOptionAOrB, skdCommon, suffixWholeIAD, PaddingMethod2, 2, true},
	VisaCVN22:       {"Visa CVN 22", SchemeVisa, 0x22, mkdOptionAOrB, skdCommon, suffixWholeIAD, PaddingMethod2, 2, true},
	MastercardCVN16: {"Mastercard CVN 16", SchemeMastercard, 0x10, mkdOptionA, skdMastercard, suffixMCCVR, PaddingMethod2, 1, false},
	MastercardCVN17: {"Mastercard CVN 17", SchemeMastercard, 0x11, mkdOptionA, skdMastercard, suffixMCCVRCounters, PaddingMethod2, 1, false},
	MastercardCVN20: {"Mastercard CVN 20", SchemeMastercard, 0x14, mkdOptionA, skdCommon, suffixMCCVR, PaddingMethod2, 1, true},
	MastercardCVN21: {"Mastercard CVN 21", SchemeMastercard, 0x15, mkdOptionA, skdCommon, suffixMCCVRCounters, PaddingMethod2, 1, true},
}

func (c CVN) spec() (*cvnSpec, error) {
	if c <= CVNUnknown || int(c) >= len(cvnSpecs) {
		return nil, ErrUnknownCVN
	}
	return &cvnSpecs[c], nil
}

// String returns a name such as "Visa CVN 18", safe for logs.
func (c CVN) String() string {
	s, err := c.spec()
	if err != nil {
		return fmt.Sprintf("CVN(%d)", int(c))
	}
	return s.name
}

// Scheme returns SchemeVisa or SchemeMastercard, or "" for an unknown CVN.
func (c CVN) Scheme() string {
	s, err := c.spec()
	if err != nil {
		return ""
	}
	return s.scheme
}

// Byte returns the CVN byte as carried in the issuer application data (0 for an unknown CVN).
func (c CVN) Byte() byte {
	s, err := c.spec()
	if err != nil {
		return 0
	}
	return s.b
}

// ARPCMethod returns 1 or 2, the EMV Book 2 §8.2 ARPC method the CVN uses (0 if unknown).
func (c CVN) ARPCMethod() int {
	s, err := c.spec()
	if err != nil {
		return 0
	}
	return s.arpcMethod
}

// CVNFromIAD reads the cryptogram version from the issuer application data (tag 9F10 value) of
// the given scheme ("visa" or "mastercard", case-insensitive):
//
//   - Visa, IAD formats 0/1/3 (first byte = 06, the length of the Visa discretionary data): byte 1
//     DKI, byte 2 CVN, bytes 3-6 CVR (zero-based).
//   - Visa, IAD formats 2/4 (32 bytes, first byte 1F): byte 1 CVN, byte 2 DKI, bytes 3-7 CVR.
//   - Mastercard M/Chip 4 and M/Chip Advance (18, 20, 26 or 28 bytes): byte 0 key derivation
//     index, byte 1 CVN, bytes 2-7 CVR, bytes 8-9 DAC/IDN, then the counters.
//
// An IAD too short to hold the CVN gives ErrIAD; a CVN this package does not implement gives
// ErrUnknownCVN (the error names the CVN byte, which is not secret).
func CVNFromIAD(iad []byte, scheme string) (CVN, error) {
	var b byte
	switch {
	case strings.EqualFold(scheme, SchemeVisa):
		switch {
		case len(iad) == 32 && iad[0] == 0x1F:
			b = iad[1]
		case len(iad) >= 7 && iad[0] == 0x06:
			b = iad[2]
		default:
			return CVNUnknown, fmt.Errorf("%w: Visa IAD format not recognised (length %d)", ErrIAD, len(iad))
		}
		switch b {
		case 0x0A:
			return VisaCVN10, nil
		case 0x12:
			return VisaCVN18, nil
		case 0x22:
			return VisaCVN22, nil
		}
	case strings.EqualFold(scheme, SchemeMastercard):
		if len(iad) < 8 {
			return CVNUnknown, fmt.Errorf("%w: Mastercard IAD length %d", ErrIAD, len(iad))
		}
		b = iad[1]
		switch b {
		case 0x10:
			return MastercardCVN16, nil
		case 0x11:
			return MastercardCVN17, nil
		case 0x14:
			return MastercardCVN20, nil
		case 0x15:
			return MastercardCVN21, nil
		}
	default:
		return CVNUnknown, ErrUnknownScheme
	}
	return CVNUnknown, fmt.Errorf("%w: %s CVN byte %02X", ErrUnknownCVN, strings.ToLower(scheme), b)
}

// ACInput is what an issuer needs to recompute an application cryptogram (ARQC, TC or AAC).
// The tag fields are raw values from field 55 (no tag, no length). ACInputFromTLV fills them from
// parsed ICC data.
type ACInput struct {
	PAN string // application PAN, 1-19 digits
	PSN string // PAN sequence number (5F34): "" = absent = "00", "01", or ISO 8583 field 23 "001"

	AmountAuthorised []byte // 9F02, 6 bytes n12
	AmountOther      []byte // 9F03, 6 bytes n12; nil means zero
	TerminalCountry  []byte // 9F1A, 2 bytes
	TVR              []byte // 95, 5 bytes
	TxnCurrency      []byte // 5F2A, 2 bytes
	TxnDate          []byte // 9A, 3 bytes YYMMDD
	TxnType          []byte // 9C, 1 byte
	UN               []byte // 9F37, 4 bytes (also the Mastercard SKD diversifier)
	AIP              []byte // 82, 2 bytes
	ATC              []byte // 9F36, 2 bytes (also the session key diversifier)
	IAD              []byte // 9F10, as received; the CVN decides which bytes enter the AC

	// RawData, when not nil, replaces the whole unpadded MAC input built from the fields above
	// (for cards whose CDOL1 asks for more or other data). ATC and, for the Mastercard SKD, UN
	// are still required for the session key.
	RawData []byte
}

// ACData returns the unpadded data the CVN's cryptogram is computed over: RawData if set,
// otherwise the 33 bytes of the EMV Book 2 §8.1.1 minimum set (9F02 9F03 9F1A 95 5F2A 9A 9C
// 9F37 82 9F36) followed by the part of the IAD the CVN takes.
func ACData(cvn CVN, in ACInput) ([]byte, error) {
	s, err := cvn.spec()
	if err != nil {
		return nil, err
	}
	return acData(s, &in)
}

func acData(s *cvnSpec, in *ACInput) ([]byte, error) {
	if in.RawData != nil {
		return in.RawData, nil
	}
	var zeroAmount [6]byte
	amountOther := in.AmountOther
	if amountOther == nil {
		amountOther = zeroAmount[:]
	}
	fields := [...]struct {
		tag string
		v   []byte
		n   int
	}{
		{"9F02", in.AmountAuthorised, 6},
		{"9F03", amountOther, 6},
		{"9F1A", in.TerminalCountry, 2},
		{"95", in.TVR, 5},
		{"5F2A", in.TxnCurrency, 2},
		{"9A", in.TxnDate, 3},
		{"9C", in.TxnType, 1},
		{"9F37", in.UN, 4},
		{"82", in.AIP, 2},
		{"9F36", in.ATC, 2},
	}
	suffix, err := iadPart(s.suffix, in.IAD)
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, 33+len(suffix))
	for _, f := range fields {
		if len(f.v) != f.n {
			return nil, fieldLenError(f.tag, f.n, len(f.v))
		}
		data = append(data, f.v...)
	}
	return append(data, suffix...), nil
}

// iadPart returns the bytes of the IAD that follow the 33 common bytes for the CVN. The returned
// slice aliases iad except for the Mastercard CVR||counters case, which is not contiguous.
func iadPart(kind acSuffix, iad []byte) ([]byte, error) {
	switch kind {
	case suffixVisaCVR:
		if len(iad) < 7 || iad[0] != 0x06 {
			return nil, &FieldError{Field: "9F10", Err: fmt.Errorf("%w: Visa format 0/1/3 IAD needed, length %d", ErrIAD, len(iad))}
		}
		return iad[3:7], nil
	case suffixWholeIAD:
		if len(iad) == 0 {
			return nil, &FieldError{Field: "9F10", Err: ErrMissingTag}
		}
		return iad, nil
	case suffixMCCVR:
		if len(iad) < 8 {
			return nil, &FieldError{Field: "9F10", Err: fmt.Errorf("%w: length %d, CVR needs 8", ErrIAD, len(iad))}
		}
		return iad[2:8], nil
	case suffixMCCVRCounters:
		n := 8 // M/Chip 4, M/Chip Advance with 18/20-byte IAD
		if len(iad) >= 26 {
			n = 16 // M/Chip Advance 26/28-byte IAD carries 16 bytes of counters
		}
		if len(iad) < 10+n {
			return nil, &FieldError{Field: "9F10", Err: fmt.Errorf("%w: length %d, counters need %d", ErrIAD, len(iad), 10+n)}
		}
		out := make([]byte, 0, 6+n)
		out = append(out, iad[2:8]...)
		return append(out, iad[10:10+n]...), nil
	}
	return nil, ErrUnknownCVN
}

// acKeys derives the ICC master key and the AC key for the CVN. For CVNs without a session key
// both are the same slice.
func acKeys(s *cvnSpec, imk []byte, pan, psn string, atc, un []byte) (mk, sk []byte, err error) {
	switch s.mkd {
	case mkdOptionA:
		mk, err = DeriveICCMasterKeyOptionA(imk, pan, psn)
	default:
		mk, err = DeriveICCMasterKey(imk, pan, psn)
	}
	if err != nil {
		return nil, nil, err
	}
	switch s.skd {
	case skdCommon:
		sk, err = DeriveCommonSessionKey(mk, atc)
	case skdMastercard:
		sk, err = DeriveMastercardSessionKey(mk, atc, un)
	default:
		sk = mk
	}
	if err != nil {
		clear(mk)
		return nil, nil, err
	}
	return mk, sk, nil
}

func wipeKeys(mk, sk []byte) {
	clear(mk)
	clear(sk)
}

// GenerateAC computes the 8-byte application cryptogram (ARQC, TC or AAC) for the CVN: the ICC
// master key is derived from the issuer master key imk (double length) and in.PAN/in.PSN, the
// AC key from it as the CVN says, and the cryptogram is MACAlg3 over ACData with the CVN's
// padding. Card simulators use it to produce ARQCs; the issuer uses VerifyARQC.
func GenerateAC(cvn CVN, imk []byte, in ACInput) ([]byte, error) {
	s, err := cvn.spec()
	if err != nil {
		return nil, err
	}
	data, err := acData(s, &in)
	if err != nil {
		return nil, err
	}
	mk, sk, err := acKeys(s, imk, in.PAN, in.PSN, in.ATC, in.UN)
	if err != nil {
		return nil, err
	}
	defer wipeKeys(mk, sk)
	return MACAlg3(sk, data, s.padding)
}

// VerifyARQC recomputes the cryptogram for in and compares it with arqc (tag 9F26, 8 bytes) in
// constant time. false with a nil error is a cryptogram mismatch (a business decline, action
// 1029); an error means the input could not be evaluated (unknown CVN, malformed fields, bad key
// length) and is never a match.
func VerifyARQC(cvn CVN, imk []byte, in ACInput, arqc []byte) (bool, error) {
	if len(arqc) != 8 {
		return false, fieldLenError("9F26", 8, len(arqc))
	}
	want, err := GenerateAC(cvn, imk, in)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, arqc) == 1, nil
}
