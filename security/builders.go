package security

// Client-side builders: what a card, a terminal and an acquirer produce, for the simulators, the
// bench and the tests. They use the same primitives and layouts as the Verifier, so data built
// here passes Verify, and any single changed bit or digit fails it.

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/config"
)

// Keys are a program's card keys in binary form, for the builders.
type Keys struct {
	Scheme string // "visa" or "mastercard"
	IMKAC  []byte // 16 bytes
	CVK    []byte // 16 bytes, CVK A || CVK B
	PVK    []byte // 16 bytes, PVK A || PVK B
	PVKI   int
}

// ProgramKeys decodes a configured program's keys.
func ProgramKeys(p *config.Program) (Keys, error) {
	if p == nil {
		return Keys{}, errors.New("security: no program")
	}
	prog, err := newProgram(p, "program "+p.Name)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Scheme: prog.scheme, IMKAC: prog.imkAC, CVK: prog.cvk, PVK: prog.pvk, PVKI: prog.pvki}, nil
}

// ZPK decodes the configured zone PIN key (security.zpk).
func ZPK(cfg *config.Config) ([]byte, error) { return key16("security.zpk", cfg.Security.ZPK) }

// DefaultCVN is the cryptogram version the builders use when none is asked for: Visa CVN 18 and
// Mastercard CVN 16 (M/Chip 4).
func DefaultCVN(scheme string) cardcrypto.CVN {
	if scheme == cardcrypto.SchemeVisa {
		return cardcrypto.VisaCVN18
	}
	return cardcrypto.MastercardCVN16
}

// ARQCOptions are the optional parts of a field 55. The zero value gives a plain purchase.
type ARQCOptions struct {
	CVN              cardcrypto.CVN // zero: DefaultCVN(scheme)
	AmountOtherMinor int64          // 9F03 (cashback), default 0
	TerminalCountry  string         // 9F1A, 3 digits, default "250"
	TxnDate          string         // 9A, YYMMDD, default "260101"
	TxnType          byte           // 9C, default 00 (purchase)
	TVR              []byte         // 95, 5 bytes, default 00 00 00 80 00
	AIP              []byte         // 82, 2 bytes, default 18 00
	CID              byte           // 9F27, default 80 (ARQC)
	IAD              []byte         // 9F10, default a sample IAD of the CVN (see defaultIAD)
	IncludePSN       bool           // add 5F34 with the PSN
	Omit             []tlv.Tag      // tags to leave out (tests of incomplete data)
}

// BuildARQCField55 produces a valid field 55 (BER-TLV bytes) for a card of the program, as a chip
// card answering GENERATE AC with an ARQC would, plus the terminal data the cryptogram covers:
// pan and psn are the card's (or the token's) PAN and PAN sequence number ("00"), atc the
// application transaction counter (must exceed the highest the switch has seen), amountMinor and
// currencyNum the amount and currency of fields 4 and 49, un the terminal's unpredictable number.
func BuildARQCField55(p *config.Program, pan, psn string, atc uint16, amountMinor int64, currencyNum string, un [4]byte, opts *ARQCOptions) ([]byte, error) {
	k, err := ProgramKeys(p)
	if err != nil {
		return nil, err
	}
	return BuildField55(k, pan, psn, atc, amountMinor, currencyNum, un, opts)
}

// BuildField55 is BuildARQCField55 with the keys given directly.
func BuildField55(k Keys, pan, psn string, atc uint16, amountMinor int64, currencyNum string, un [4]byte, opts *ARQCOptions) ([]byte, error) {
	var o ARQCOptions
	if opts != nil {
		o = *opts
	}
	cvn := o.CVN
	if cvn == cardcrypto.CVNUnknown {
		cvn = DefaultCVN(k.Scheme)
	}
	if cvn.Scheme() != k.Scheme {
		return nil, fmt.Errorf("security: %s is not a %s cryptogram version", cvn, k.Scheme)
	}
	amount, err := cardcrypto.AmountN12(amountMinor)
	if err != nil {
		return nil, err
	}
	other, err := cardcrypto.AmountN12(o.AmountOtherMinor)
	if err != nil {
		return nil, err
	}
	cur, err := cardcrypto.NumericN3(currencyNum)
	if err != nil {
		return nil, err
	}
	country := o.TerminalCountry
	if country == "" {
		country = "250"
	}
	ctry, err := cardcrypto.NumericN3(country)
	if err != nil {
		return nil, err
	}
	date := o.TxnDate
	if date == "" {
		date = "260101"
	}
	if len(date) != 6 || !cardcrypto.IsDigits(date) {
		return nil, errors.New("security: TxnDate: want YYMMDD")
	}
	var dateBCD [3]byte
	for i := range dateBCD {
		dateBCD[i] = (date[2*i]-'0')<<4 | (date[2*i+1] - '0')
	}
	tvr := o.TVR
	if tvr == nil {
		tvr = []byte{0x00, 0x00, 0x00, 0x80, 0x00}
	}
	aip := o.AIP
	if aip == nil {
		aip = []byte{0x18, 0x00}
	}
	cid := o.CID
	if cid == 0 {
		cid = 0x80
	}
	iad := o.IAD
	if iad == nil {
		iad = defaultIAD(cvn)
	}
	atcB := []byte{byte(atc >> 8), byte(atc)}
	in := cardcrypto.ACInput{
		PAN: pan, PSN: psn,
		AmountAuthorised: amount[:], AmountOther: other[:], TerminalCountry: ctry[:], TVR: tvr,
		TxnCurrency: cur[:], TxnDate: dateBCD[:], TxnType: []byte{o.TxnType}, UN: un[:], AIP: aip,
		ATC: atcB, IAD: iad,
	}
	ac, err := cardcrypto.GenerateAC(cvn, k.IMKAC, in)
	if err != nil {
		return nil, err
	}
	elems := tlv.List{
		{Tag: tlv.TagApplicationCryptogram, Value: ac},
		{Tag: tlv.TagCryptogramInformationData, Value: []byte{cid}},
		{Tag: tlv.TagIssuerApplicationData, Value: iad},
		{Tag: tlv.TagUnpredictableNumber, Value: un[:]},
		{Tag: tlv.TagATC, Value: atcB},
		{Tag: tlv.TagTVR, Value: tvr},
		{Tag: tlv.TagTransactionDate, Value: dateBCD[:]},
		{Tag: tlv.TagTransactionType, Value: []byte{o.TxnType}},
		{Tag: tlv.TagAmountAuthorised, Value: amount[:]},
		{Tag: tlv.TagTransactionCurrencyCode, Value: cur[:]},
		{Tag: tlv.TagAIP, Value: aip},
		{Tag: tlv.TagTerminalCountryCode, Value: ctry[:]},
		{Tag: tlv.TagAmountOther, Value: other[:]},
	}
	if o.IncludePSN {
		p := psn
		if len(p) == 3 {
			p = p[1:]
		}
		if len(p) != 2 || !cardcrypto.IsDigits(p) {
			return nil, errors.New("security: psn: want 2 digits")
		}
		elems = append(elems, tlv.TLV{Tag: tlv.TagPANSequenceNumber, Value: []byte{(p[0]-'0')<<4 | (p[1] - '0')}})
	}
	out := make([]byte, 0, 128)
	for _, e := range elems {
		if omitted(o.Omit, e.Tag) {
			continue
		}
		if out, err = tlv.Append(out, e.Tag, e.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func omitted(list []tlv.Tag, t tlv.Tag) bool {
	for _, o := range list {
		if o == t {
			return true
		}
	}
	return false
}

// defaultIAD returns a sample issuer application data of the CVN, in the layout CVNFromIAD
// reads: Visa format 0/1/3 (06 DKI CVN CVR(4)), Visa format 2 (1F CVN DKI CVR(5), 32 bytes),
// M/Chip 4 (KDI CVN CVR(6) DAC(2) counters(8), 18 bytes). CVR values are those of the pyemv
// vectors.
func defaultIAD(cvn cardcrypto.CVN) []byte {
	switch cvn {
	case cardcrypto.VisaCVN10, cardcrypto.VisaCVN18:
		return []byte{0x06, 0x01, cvn.Byte(), 0x03, 0xA0, 0xB8, 0x00}
	case cardcrypto.VisaCVN22:
		iad := make([]byte, 32)
		iad[0], iad[1], iad[2] = 0x1F, cvn.Byte(), 0x01
		copy(iad[3:], []byte{0x03, 0xA0, 0xB8, 0x00, 0x00})
		return iad
	}
	return []byte{0x01, cvn.Byte(), 0xA0, 0x00, 0x03, 0x22, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x22, 0xFF}
}

// CheckIssuerResponse does what the card does with the issuer's answer (EXTERNAL AUTHENTICATE):
// it verifies tag 91 of the response field 55 against the request field 55 and returns the ARC
// (method 1, two bytes, e.g. "00") or the CSU (method 2, four bytes). An ARPC that does not
// verify is ErrARPCMismatch.
func CheckIssuerResponse(p *config.Program, pan, psn string, requestICC, responseICC []byte) ([]byte, error) {
	k, err := ProgramKeys(p)
	if err != nil {
		return nil, err
	}
	reqList, err := tlv.Parse(requestICC)
	if err != nil {
		return nil, fmt.Errorf("security: request field 55: %w", err)
	}
	respList, err := tlv.Parse(responseICC)
	if err != nil {
		return nil, fmt.Errorf("security: response field 55: %w", err)
	}
	tag91, ok := respList.Get(tlv.TagIssuerAuthenticationData)
	if !ok {
		return nil, errors.New("security: response field 55 has no tag 91")
	}
	arqc, _ := reqList.Get(tlv.TagApplicationCryptogram)
	atc, _ := reqList.Get(tlv.TagATC)
	un, _ := reqList.Get(tlv.TagUnpredictableNumber)
	iad, _ := reqList.Get(tlv.TagIssuerApplicationData)
	cvn, err := cardcrypto.CVNFromIAD(iad, k.Scheme)
	if err != nil {
		return nil, err
	}
	in := cardcrypto.ARPCInput{PAN: pan, PSN: psn, ATC: atc, UN: un, ARQC: arqc}
	var arpc, status []byte
	if cvn.ARPCMethod() == 2 {
		if len(tag91) < 8 {
			return nil, errors.New("security: tag 91 too short for method 2")
		}
		arpc, status = tag91[:4], tag91[4:8]
		in.CSU, in.ProprietaryAuthData = status, tag91[8:]
	} else {
		if len(tag91) != 10 {
			return nil, errors.New("security: tag 91 of method 1 must be 10 bytes")
		}
		arpc, status = tag91[:8], tag91[8:]
		in.ARC = status
	}
	want, err := cardcrypto.GenerateARPC(cvn, k.IMKAC, in)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(want, arpc) != 1 {
		return nil, ErrARPCMismatch
	}
	return append([]byte(nil), status...), nil
}

// ErrARPCMismatch: the issuer's ARPC does not verify (the card would refuse the issuer).
var ErrARPCMismatch = errors.New("security: ARPC does not verify")

// BuildPINBlock enciphers an ISO 9564 format 0 PIN block for field 52 under the ZPK; pan is the
// PAN of field 2 (the token PAN when paying with a token).
func BuildPINBlock(zpk []byte, pan, pin string) ([]byte, error) {
	return cardcrypto.EncryptPINBlockISO0(zpk, pin, pan)
}

// CVC2 computes the CVC2/CVV2 printed on the card (service code 000, expiry YYMM).
func CVC2(cvk []byte, pan, expiryYYMM string) (string, error) {
	return cardcrypto.CVV2(cvk, pan, expiryYYMM)
}

// PVV computes the Visa PVV of pin for pan under the PVK and PVKI.
func PVV(pvk []byte, pvki int, pan, pin string) (string, error) {
	return cardcrypto.PVV(pvk, pan, pvki, pin)
}

// BuildTrack2 builds the magnetic-stripe track 2 of field 35 (POS entry mode 90x):
// PAN '=' YYMM service code, then discretionary data CVV(3) || "00000", the CVV computed over
// PAN, expiry and the track's service code.
func BuildTrack2(cvk []byte, pan, expiryYYMM, serviceCode string) (string, error) {
	return buildTrack2(cvk, pan, expiryYYMM, serviceCode, serviceCode)
}

// BuildChipTrack2 builds the chip's track 2 equivalent data (tag 57, sent in field 35 with POS
// entry mode 05x/07x): the same layout, with the iCVV (CVV over service code 999) in place of the
// CVV; the track's own service code field keeps serviceCode (e.g. 201).
func BuildChipTrack2(cvk []byte, pan, expiryYYMM, serviceCode string) (string, error) {
	return buildTrack2(cvk, pan, expiryYYMM, serviceCode, cardcrypto.ServiceCodeICVV)
}

func buildTrack2(cvk []byte, pan, expiry, serviceCode, cvvServiceCode string) (string, error) {
	if len(pan) < 12 || len(pan) > 19 || !cardcrypto.IsDigits(pan) {
		return "", cardcrypto.ErrPAN
	}
	if len(serviceCode) != 3 || !cardcrypto.IsDigits(serviceCode) {
		return "", cardcrypto.ErrServiceCode
	}
	cvv, err := cardcrypto.CVV(cvk, pan, expiry, cvvServiceCode)
	if err != nil {
		return "", err
	}
	t := pan + "=" + expiry + serviceCode + cvv + track2Filler
	if len(t) > track2MaxLen {
		t = t[:track2MaxLen]
	}
	return t, nil
}
