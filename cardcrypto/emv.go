package cardcrypto

import (
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
)

// ACInputFromTLV builds an ACInput from parsed ICC data (field 55). pan and psn come from the
// card record (or fields 2 and 23); tag 5F34, when present in the ICC data, is not preferred over
// psn because the issuer's own record is authoritative. 9F03 may be absent (zero); every other
// tag of the Book 2 minimum set and 9F10 must be present, or the error names the missing tag.
// Value lengths are checked later by GenerateAC / VerifyARQC. The values alias icc.
func ACInputFromTLV(pan, psn string, icc tlv.List) (ACInput, error) {
	in := ACInput{PAN: pan, PSN: psn}
	required := [...]struct {
		tag tlv.Tag
		dst *[]byte
	}{
		{tlv.TagAmountAuthorised, &in.AmountAuthorised},
		{tlv.TagTerminalCountryCode, &in.TerminalCountry},
		{tlv.TagTVR, &in.TVR},
		{tlv.TagTransactionCurrencyCode, &in.TxnCurrency},
		{tlv.TagTransactionDate, &in.TxnDate},
		{tlv.TagTransactionType, &in.TxnType},
		{tlv.TagUnpredictableNumber, &in.UN},
		{tlv.TagAIP, &in.AIP},
		{tlv.TagATC, &in.ATC},
		{tlv.TagIssuerApplicationData, &in.IAD},
	}
	for _, r := range required {
		v, ok := icc.Get(r.tag)
		if !ok {
			return ACInput{}, &FieldError{Field: r.tag.String(), Err: ErrMissingTag}
		}
		*r.dst = v
	}
	if v, ok := icc.Get(tlv.TagAmountOther); ok {
		in.AmountOther = v
	}
	return in, nil
}
