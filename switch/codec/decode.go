package codec

import (
	"strings"

	"github.com/cardswitch/cardswitch/authz"
)

// The base MTIs of contract §2 and their response MTIs.
const (
	mti0100 = "0100"
	mti0120 = "0120"
	mti0200 = "0200"
	mti0220 = "0220"
	mti0400 = "0400"
	mti0420 = "0420"
	mti0800 = "0800"
)

// baseMTI folds a repeat MTI (0101, 0121, 0201, 0221, 0401, 0421) into its base MTI and reports
// whether mti is a request MTI of the profile at all.
func baseMTI(mti string) (string, bool) {
	switch mti {
	case "0100", "0101":
		return mti0100, true
	case "0120", "0121":
		return mti0120, true
	case "0200", "0201":
		return mti0200, true
	case "0220", "0221":
		return mti0220, true
	case "0400", "0401":
		return mti0400, true
	case "0420", "0421":
		return mti0420, true
	case "0800":
		return mti0800, true
	}
	return "", false
}

// BaseMTI returns the base MTI of a request MTI of the profile, folding repeats ("0101" → "0100"),
// or "" when mti is not a request MTI of the profile.
func BaseMTI(mti string) string {
	b, _ := baseMTI(mti)
	return b
}

// ResponseMTI returns the response MTI for a request MTI of the profile; a repeat is answered with
// its base response MTI (0101 → 0110). It returns "" for any other MTI.
func ResponseMTI(mti string) string {
	switch mti {
	case "0100", "0101":
		return "0110"
	case "0120", "0121":
		return "0130"
	case "0200", "0201":
		return "0210"
	case "0220", "0221":
		return "0230"
	case "0400", "0401":
		return "0410"
	case "0420", "0421":
		return "0430"
	case "0800":
		return "0810"
	}
	return ""
}

// kindOf derives the kind of request from the base MTI and the processing code (contract §2).
func kindOf(base, processingCode string) authz.Kind {
	switch base {
	case mti0100:
		if strings.HasPrefix(processingCode, "30") || strings.HasPrefix(processingCode, "31") {
			return authz.KindBalanceInquiry
		}
		return authz.KindAuthorization
	case mti0200:
		if strings.HasPrefix(processingCode, "20") {
			return authz.KindRefund
		}
		return authz.KindFinancial
	case mti0120:
		return authz.KindAuthAdvice
	case mti0220:
		return authz.KindCompletion
	case mti0400:
		return authz.KindReversal
	case mti0420:
		return authz.KindReversalAdvice
	case mti0800:
		return authz.KindNetworkMgmt
	}
	return authz.KindUnknown
}

// Decode parses one iso87 request message (without its frame prefix) into an authz.Request.
//
// Every string of the Request is the field's value as received, so that a response can echo it.
// A message that does not conform returns a *FormatError (see FormatError.Answerable); the other
// error results are not possible. Decode never panics, whatever msg holds, and does not keep msg.
func Decode(msg []byte) (*authz.Request, error) {
	var s scanned
	structural := scan(msg, &s)
	if !s.mtiOK {
		return nil, &FormatError{Field: structural.field, Offset: structural.offset, Reason: structural.reason}
	}
	base, known := baseMTI(string(msg[:4]))
	if !known {
		return nil, &FormatError{Field: FieldMTI, Reason: ReasonUnknownMTI,
			Request: &authz.Request{MTI: string(msg[:4])}}
	}

	// Content rules, in wire order. A field that breaks one is left out of the request, so that a
	// format-error answer echoes only valid values; the first fault is reported.
	var first fault
	var sub sub48
	for id := s.next(1); id != 0; id = s.next(id) {
		sp := s.spans[id]
		v := msg[sp.off:sp.end]
		f := fault{id, int(sp.off), checkContent(id, v)}
		if f.ok() {
			switch id {
			case 48:
				sub, f = parse48(msg, sp)
			case 95: // an42, but characters 1–12 are the replacement amount
				if !isDigits(v[:12]) {
					f.reason = ReasonNotNumeric
				}
			}
		}
		if !f.ok() {
			first.firstOf(f)
			s.unset(id)
		}
	}
	first.firstOf(structural) // a structural fault lies after every field checked above

	shared := sharedText(msg, &s, sub.cvc2)
	r := &authz.Request{
		MTI:          shared[:4],
		BaseMTI:      base,
		STAN:         s.text(shared, 11),
		F7:           s.text(shared, 7),
		LocalTime:    s.text(shared, 12),
		LocalDate:    s.text(shared, 13),
		ExpiryYYMM:   s.text(shared, 14),
		MCC:          s.text(shared, 18),
		POSEntryMode: s.text(shared, 22),
		CardSeq:      s.text(shared, 23),
		AcquirerID:   s.text(shared, 32),
		RRN:          s.text(shared, 37),
		TerminalID:   s.text(shared, 41),
		MerchantID:   s.text(shared, 42),
		MerchantName: s.text(shared, 43),
		CurrencyNum:  s.text(shared, 49),
		NetworkCode:  s.text(shared, 70),

		ProcessingCode: s.text(shared, 3),
		PAN:            s.secret(msg, 2),
		Track2:         s.secret(msg, 35),
	}
	if s.has(4) {
		sp := s.spans[4]
		r.AmountMinor, r.HasAmount = parseDigits(msg[sp.off:sp.end]), true
	}
	if s.has(48) {
		if sub.cvc2.end != 0 {
			r.CVC2 = string(msg[sub.cvc2.off:sub.cvc2.end])
		}
		r.StoredCredential = authz.StoredCredential{
			Indicator: sub.indicator.in(shared),
			Agreement: sub.agreement.in(shared),
			Terms:     sub.terms.in(shared),
		}
	}
	if s.has(52) {
		sp := s.spans[52]
		r.PINBlock = decodeHex(msg[sp.off:sp.end])
	}
	if s.has(55) && s.spans[55].end > s.spans[55].off { // an empty field 55 carries no ICC data
		sp := s.spans[55]
		r.ICC = decodeHex(msg[sp.off:sp.end])
	}
	if s.has(90) {
		v := s.text(shared, 90)
		r.Original = &authz.OriginalData{MTI: v[0:4], STAN: v[4:10], F7: v[10:20], AcquirerID: v[20:31], ForwardingID: forwardingID(v[31:42])}
	}
	if s.has(95) {
		sp := s.spans[95]
		r.ReplacementAmountMinor, r.HasReplacement = parseDigits(msg[sp.off:sp.off+12]), true
	}
	r.Kind = kindOf(base, r.ProcessingCode)

	if first.ok() {
		if id := missingMandatory(r); id != 0 {
			first = fault{id, len(msg), ReasonMissing}
		}
	}
	if !first.ok() {
		return nil, &FormatError{Field: first.field, Offset: first.offset, Reason: first.reason, Request: r}
	}
	return r, nil
}

// missingMandatory returns the lowest mandatory field of contract §2 that r lacks, or 0. A present
// but empty variable-length field counts as missing.
func missingMandatory(r *authz.Request) int {
	switch r.BaseMTI {
	case mti0800:
		switch {
		case r.F7 == "":
			return 7
		case r.STAN == "":
			return 11
		case r.NetworkCode == "":
			return 70
		}
		return 0
	case mti0100, mti0120, mti0200, mti0220, mti0400, mti0420:
		switch {
		case r.PAN == "":
			return 2
		case r.ProcessingCode == "":
			return 3
		case !r.HasAmount:
			return 4
		case r.F7 == "":
			return 7
		case r.STAN == "":
			return 11
		case r.CurrencyNum == "":
			return 49
		}
		if r.Original == nil && (r.BaseMTI == mti0220 || r.BaseMTI == mti0400 || r.BaseMTI == mti0420) {
			return 90
		}
	}
	return 0
}

// text returns field id's value as a substring of shared, or "" when the field is absent.
func (s *scanned) text(shared string, id int) string {
	if !s.has(id) {
		return ""
	}
	sp := s.spans[id]
	return shared[sp.off:sp.end]
}

// secret returns field id's value in its own allocation, or "" when the field is absent.
func (s *scanned) secret(msg []byte, id int) string {
	if !s.has(id) {
		return ""
	}
	sp := s.spans[id]
	return string(msg[sp.off:sp.end])
}

func (sp span) in(shared string) string {
	if sp.end == 0 {
		return ""
	}
	return shared[sp.off:sp.end]
}

const stars = "****************************************************************"

// sharedText copies msg into one string, with the secret fields' values (and the CVC2 inside field
// 48, or the whole of a malformed field 48) overwritten by '*', for the non-secret fields of a
// Request to share. Secret fields are blanked whether or not their content was valid.
func sharedText(msg []byte, s *scanned, cvc2 span) string {
	var blanks [len(secretFields) + 1]span
	n := 0
	for _, id := range secretFields {
		if s.hasSpan(id) {
			blanks[n] = s.spans[id]
			n++
		}
	}
	switch {
	case s.hasSpan(48) && !s.has(48): // malformed: where a CVC2 may be is unknown
		blanks[n] = s.spans[48]
		n++
	case cvc2.end != 0:
		blanks[n] = cvc2
		n++
	}
	// Insertion sort by offset: at most eight spans, and they never overlap (the CVC2 lies inside
	// field 48, which is not secret).
	for i := 1; i < n; i++ {
		for j := i; j > 0 && blanks[j].off < blanks[j-1].off; j-- {
			blanks[j], blanks[j-1] = blanks[j-1], blanks[j]
		}
	}
	var b strings.Builder
	b.Grow(len(msg))
	prev := 0
	for _, sp := range blanks[:n] {
		b.Write(msg[prev:sp.off])
		for n := int(sp.end - sp.off); n > 0; n -= len(stars) {
			b.WriteString(stars[:min(n, len(stars))])
		}
		prev = int(sp.end)
	}
	b.Write(msg[prev:])
	return b.String()
}

// sub48 holds the positions (in the message) of the field 48 subelements the switch uses; a zero
// span means the subelement is absent.
type sub48 struct {
	cvc2, indicator, agreement, terms span
}

// Field 48 subelement identifiers (contract §2).
const (
	sub48Indicator = "20" // stored-credential indicator: 1, 2 or 3
	sub48Agreement = "21" // stored-credential agreement reference, up to 32 characters
	sub48Terms     = "22" // recurring terms MIN|MAX|DAYS|DD.MM.YYYY
	sub48CVC2      = "92" // CVC2/CVV2, 3 digits
)

// parse48 parses field 48 (at sp in msg) as a sequence of ID(2 digits) LENGTH(2 digits) VALUE
// subelements. Unknown subelements are skipped; a known one that is repeated or whose value breaks
// its rule makes the field malformed.
func parse48(msg []byte, sp span) (sub48, fault) {
	var sub sub48
	v := msg[sp.off:sp.end]
	for i := 0; i < len(v); {
		malformed := fault{48, int(sp.off) + i, ReasonMalformed}
		if len(v)-i < 4 || !isDigits(v[i:i+4]) {
			return sub48{}, malformed
		}
		id := v[i : i+2]
		n := int(v[i+2]-'0')*10 + int(v[i+3]-'0')
		if len(v)-i-4 < n {
			return sub48{}, malformed
		}
		val := v[i+4 : i+4+n]
		at := span{sp.off + int32(i+4), sp.off + int32(i+4+n)}
		var dst *span
		ok := true
		switch string(id) {
		case sub48CVC2:
			dst, ok = &sub.cvc2, n == 3 && isDigits(val)
		case sub48Indicator:
			dst, ok = &sub.indicator, n == 1 && val[0] >= '1' && val[0] <= '3'
		case sub48Agreement:
			dst, ok = &sub.agreement, n >= 1 && n <= 32
		case sub48Terms:
			dst, ok = &sub.terms, validTerms(val)
		}
		if dst != nil {
			if !ok || dst.end != 0 {
				return sub48{}, malformed
			}
			*dst = at
		}
		i += 4 + n
	}
	return sub, fault{}
}

// validTerms checks the grammar of subelement 22: MIN|MAX|DAYS|DD.MM.YYYY, amounts with two
// decimals (e.g. 5.00|49.99|30|31.12.2027). Whether the terms make sense is for authz.
func validTerms(v []byte) bool {
	var parts [4][]byte
	n := 0
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == '|' {
			if n == len(parts) {
				return false
			}
			parts[n] = v[start:i]
			n++
			start = i + 1
		}
	}
	if n != 4 {
		return false
	}
	return validDecimal2(parts[0]) && validDecimal2(parts[1]) &&
		len(parts[2]) > 0 && len(parts[2]) <= 4 && isDigits(parts[2]) && validDate(parts[3])
}

// validDecimal2 accepts 1 to 10 integer digits, a dot and exactly two decimals.
func validDecimal2(v []byte) bool {
	dot := len(v) - 3
	return dot >= 1 && dot <= 10 && v[dot] == '.' && isDigits(v[:dot]) && isDigits(v[dot+1:])
}

// validDate accepts DD.MM.YYYY with a day 01–31 and a month 01–12.
func validDate(v []byte) bool {
	if len(v) != 10 || v[2] != '.' || v[5] != '.' ||
		!isDigits(v[0:2]) || !isDigits(v[3:5]) || !isDigits(v[6:10]) {
		return false
	}
	day := parseDigits(v[0:2])
	month := parseDigits(v[3:5])
	return day >= 1 && day <= 31 && month >= 1 && month <= 12
}
