package codec

import (
	"github.com/cardswitch/cardswitch/authz"
	"math/bits"
)

// requestMTIOfKind is the base MTI BuildRequest uses when Request.MTI is empty.
func requestMTIOfKind(k authz.Kind) string {
	switch k {
	case authz.KindAuthorization, authz.KindBalanceInquiry:
		return mti0100
	case authz.KindFinancial, authz.KindRefund:
		return mti0200
	case authz.KindAuthAdvice:
		return mti0120
	case authz.KindCompletion:
		return mti0220
	case authz.KindReversal:
		return mti0400
	case authz.KindReversalAdvice:
		return mti0420
	case authz.KindNetworkMgmt:
		return mti0800
	}
	return ""
}

// BuildRequest packs a request message from r, for clients of the switch (simulators, bench,
// tests). r.MTI is used as given (any 4 digits, so that a test can send an unknown MTI); when
// empty, the base MTI of r.Kind is used. A string field is written when not empty, field 4 when
// r.HasAmount or r.AmountMinor is not zero, field 48 from r.CVC2 and r.StoredCredential
// (subelements 20, 21, 22, 92), field 52 from r.PINBlock (8 bytes), field 55 from r.ICC (upper-case
// hex), field 90 from r.Original (forwarding ID 11 zeros) and field 95 from the replacement amount
// followed by 30 zeros. Mandatory fields are not enforced, so that tests can omit them; values that
// the profile cannot carry are an *EncodeError. The result has no frame prefix.
func BuildRequest(r *authz.Request) ([]byte, error) {
	return AppendRequest(nil, r)
}

// AppendRequest is BuildRequest appending to dst (which may be nil); dst is grown at most once.
func AppendRequest(dst []byte, r *authz.Request) ([]byte, error) {
	mti := r.MTI
	if mti == "" {
		mti = requestMTIOfKind(r.Kind)
	}
	if len(mti) != 4 || !isDigits(mti) {
		return dst, &EncodeError{Field: FieldMTI, Reason: ReasonBadMTI}
	}
	var f48buf [200]byte
	f48, err := append48(f48buf[:0], r)
	if err != nil {
		return dst, err
	}
	var f90buf [42]byte
	var f90 []byte
	if r.Original != nil {
		if f90, err = appendOriginal(f90buf[:0], r.Original); err != nil {
			return dst, err
		}
	}
	var f95buf [42]byte
	var f95 []byte
	if r.HasReplacement || r.ReplacementAmountMinor != 0 {
		if r.ReplacementAmountMinor < 0 || r.ReplacementAmountMinor > maxAmount12 {
			return dst, &EncodeError{Field: 95, Reason: ReasonOutOfRange}
		}
		f95 = appendAmount12(f95buf[:0], r.ReplacementAmountMinor)
		f95 = append(f95, "000000000000000000000000000000"...)
	}

	var w writer
	emitRequest(&w, r, f48, f90, f95)
	if w.err != nil {
		return dst, w.err
	}
	w.start(dst, mti)
	emitRequest(&w, r, f48, f90, f95)
	return w.buf, nil
}

func emitRequest(w *writer, r *authz.Request, f48, f90, f95 []byte) {
	opt(w, 2, r.PAN)
	opt(w, 3, r.ProcessingCode)
	if r.HasAmount || r.AmountMinor != 0 {
		w.putAmount(4, r.AmountMinor)
	}
	opt(w, 7, r.F7)
	opt(w, 11, r.STAN)
	opt(w, 12, r.LocalTime)
	opt(w, 13, r.LocalDate)
	opt(w, 14, r.ExpiryYYMM)
	opt(w, 18, r.MCC)
	opt(w, 22, r.POSEntryMode)
	opt(w, 23, r.CardSeq)
	opt(w, 32, r.AcquirerID)
	opt(w, 35, r.Track2)
	opt(w, 37, r.RRN)
	opt(w, 41, r.TerminalID)
	opt(w, 42, r.MerchantID)
	opt(w, 43, r.MerchantName)
	if len(f48) > 0 {
		put(w, 48, f48)
	}
	opt(w, 49, r.CurrencyNum)
	if r.PINBlock != nil {
		w.putHex(52, r.PINBlock)
	}
	if len(r.ICC) > 0 {
		w.putHex(55, r.ICC)
	}
	opt(w, 70, r.NetworkCode)
	if f90 != nil {
		put(w, 90, f90)
	}
	if f95 != nil {
		put(w, 95, f95)
	}
}

// append48 builds field 48 from the stored-credential data and the CVC2, subelements in ascending
// order, and checks the result with the decoder's rules.
func append48(dst []byte, r *authz.Request) ([]byte, *EncodeError) {
	start := len(dst)
	for _, se := range [...]struct{ id, v string }{
		{sub48Indicator, r.StoredCredential.Indicator},
		{sub48Agreement, r.StoredCredential.Agreement},
		{sub48Terms, r.StoredCredential.Terms},
		{sub48CVC2, r.CVC2},
	} {
		if se.v == "" {
			continue
		}
		if len(se.v) > 99 {
			return nil, &EncodeError{Field: 48, Reason: ReasonMalformed}
		}
		dst = append(dst, se.id...)
		dst = appendLength(dst, 2, len(se.v))
		dst = append(dst, se.v...)
	}
	if _, f := parse48(dst, span{int32(start), int32(len(dst))}); !f.ok() {
		return nil, &EncodeError{Field: 48, Reason: ReasonMalformed}
	}
	return dst[start:], nil
}

// ResponseMessage is a decoded response, for clients of the switch. The named fields are the ones
// clients usually look at; Field gives any field's value as received.
type ResponseMessage struct {
	MTI string

	PAN            string // 2
	ProcessingCode string // 3
	AmountMinor    int64  // 4
	HasAmount      bool
	F7             string // 7
	STAN           string // 11
	LocalTime      string // 12
	LocalDate      string // 13
	AcquirerID     string // 32
	RRN            string // 37
	AuthCode       string // 38
	ResponseCode   string // 39
	TerminalID     string // 41
	MerchantID     string // 42
	CurrencyNum    string // 49
	NetworkCode    string // 70
	Original       *authz.OriginalData
	ICC            []byte // 55, decoded from the hex text

	// Field 54: the available balance (amount type 02), when present.
	HasBalance         bool
	BalanceCurrencyNum string
	AvailableMinor     int64 // negative when the balance is a debit ("D")

	text string
	// spans holds the positions of the parsed fields only, in ascending field order (rank of the
	// field's bit in parsed): a full [maxField+1]span table made every decoded response 1 KB.
	spans  []span
	parsed [2]uint64
}

// rank is the index in spans of parsed field id.
func (m *ResponseMessage) rank(id int) int {
	w, b := (id-1)/64, uint(63-(id-1)%64)
	n := bits.OnesCount64(m.parsed[w] >> b >> 1)
	if w == 1 {
		n += bits.OnesCount64(m.parsed[0])
	}
	return n
}

// Field returns the value of data element id as received (hex text for 52, 55 and 64) and whether
// it was present.
func (m *ResponseMessage) Field(id int) (string, bool) {
	if id < 2 || id > maxField {
		return "", false
	}
	s := scanned{parsed: m.parsed}
	if !s.has(id) {
		return "", false
	}
	sp := m.spans[m.rank(id)]
	return m.text[sp.off:sp.end], true
}

// FieldIDs returns the numbers of the data elements present, in ascending order.
func (m *ResponseMessage) FieldIDs() []int {
	s := scanned{parsed: m.parsed}
	var ids []int
	for id := 2; id <= maxField; id++ {
		if s.has(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// DecodeResponse parses a response message (without its frame prefix), for clients of the switch.
// It applies the profile's structure and content rules, and checks field 54 against the format of
// contract §2; any fault is a *FormatError (with a nil Request). It does not check which fields a
// response must carry.
func DecodeResponse(msg []byte) (*ResponseMessage, error) {
	var s scanned
	if f := scan(msg, &s); !f.ok() {
		return nil, &FormatError{Field: f.field, Offset: f.offset, Reason: f.reason}
	}
	for id := s.next(1); id != 0; id = s.next(id) {
		sp := s.spans[id]
		if r := checkContent(id, msg[sp.off:sp.end]); r != "" {
			return nil, &FormatError{Field: id, Offset: int(sp.off), Reason: r}
		}
	}
	text := string(msg)
	m := &ResponseMessage{
		MTI:            text[:4],
		PAN:            s.text(text, 2),
		ProcessingCode: s.text(text, 3),
		F7:             s.text(text, 7),
		STAN:           s.text(text, 11),
		LocalTime:      s.text(text, 12),
		LocalDate:      s.text(text, 13),
		AcquirerID:     s.text(text, 32),
		RRN:            s.text(text, 37),
		AuthCode:       s.text(text, 38),
		ResponseCode:   s.text(text, 39),
		TerminalID:     s.text(text, 41),
		MerchantID:     s.text(text, 42),
		CurrencyNum:    s.text(text, 49),
		NetworkCode:    s.text(text, 70),
		text:           text,
		parsed:         s.parsed,
	}
	m.spans = make([]span, 0, bits.OnesCount64(s.parsed[0])+bits.OnesCount64(s.parsed[1]))
	for id := 1; id <= maxField; id++ {
		if s.has(id) {
			m.spans = append(m.spans, s.spans[id])
		}
	}
	if s.has(4) {
		m.AmountMinor, m.HasAmount = parseDigits(s.text(text, 4)), true
	}
	if s.has(54) {
		var ok bool
		m.BalanceCurrencyNum, m.AvailableMinor, m.HasBalance, ok = parseBalance(s.text(text, 54))
		if !ok {
			return nil, &FormatError{Field: 54, Offset: int(s.spans[54].off), Reason: ReasonMalformed}
		}
	}
	if s.has(55) {
		sp := s.spans[55]
		m.ICC = decodeHex(msg[sp.off:sp.end])
	}
	if s.has(90) {
		v := s.text(text, 90)
		m.Original = &authz.OriginalData{MTI: v[0:4], STAN: v[4:10], F7: v[10:20], AcquirerID: v[20:31], ForwardingID: forwardingID(v[31:42])}
	}
	return m, nil
}

// parseBalance reads field 54 as a sequence of 20-character amounts (account type n2, amount type
// n2, currency n3, sign C or D, amount n12) and returns the first available balance (amount type
// 02). ok is false when the field does not follow that format.
func parseBalance(v string) (currencyNum string, amountMinor int64, found, ok bool) {
	if len(v) == 0 || len(v)%20 != 0 {
		return "", 0, false, false
	}
	for i := 0; i < len(v); i += 20 {
		e := v[i : i+20]
		if !isDigits(e[0:7]) || (e[7] != 'C' && e[7] != 'D') || !isDigits(e[8:20]) {
			return "", 0, false, false
		}
		if found || e[2:4] != "02" {
			continue
		}
		currencyNum, amountMinor, found = e[4:7], parseDigits(e[8:20]), true
		if e[7] == 'D' {
			amountMinor = -amountMinor
		}
	}
	return currencyNum, amountMinor, found, true
}
