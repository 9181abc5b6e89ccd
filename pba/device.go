package pba

import (
	"encoding/hex"
	"errors"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
)

// The device's side of a contactless payment with a device token, for the phone simulator and
// the tests: the cryptogram (ARQC) is computed with the session key of one delivered ATC, over
// the same terminal data a card covers (security.BuildField55 is the card's equivalent, which
// holds the issuer master key instead).

// deviceIAD is the issuer application data of a device token's cryptogram: M/Chip format (key
// derivation index, CVN, CVR, DAC, counters), 18 bytes.
func deviceIAD() []byte {
	return []byte{0x01, DeviceCVN.Byte(), 0xA0, 0x00, 0x03, 0x22, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x22, 0xFF}
}

// BuildDeviceField55 builds field 55 of a contactless purchase with a device token: ATC atc
// (its credential's), amount and currency (fields 4 and 49), the terminal's unpredictable
// number un, and the ARQC under the credential's session key (hex).
func BuildDeviceField55(sessionKeyHex, tokenPAN string, atc int, amountMinor int64, currencyNum string, un [4]byte) ([]byte, error) {
	sk, err := hex.DecodeString(sessionKeyHex)
	if err != nil || len(sk) != 16 {
		return nil, errors.New("pba: session key: want 32 hex characters")
	}
	defer clear(sk)
	amount, err := cardcrypto.AmountN12(amountMinor)
	if err != nil {
		return nil, err
	}
	other, _ := cardcrypto.AmountN12(0)
	cur, err := cardcrypto.NumericN3(currencyNum)
	if err != nil {
		return nil, err
	}
	ctry, _ := cardcrypto.NumericN3("250")
	date := []byte{0x26, 0x01, 0x01}
	tvr := []byte{0x00, 0x00, 0x00, 0x80, 0x00}
	aip := []byte{0x18, 0x00}
	atcB := []byte{byte(atc >> 8), byte(atc)}
	iad := deviceIAD()
	in := cardcrypto.ACInput{PAN: tokenPAN, PSN: "00", AmountAuthorised: amount[:], AmountOther: other[:],
		TerminalCountry: ctry[:], TVR: tvr, TxnCurrency: cur[:], TxnDate: date, TxnType: []byte{0x00}, UN: un[:],
		AIP: aip, ATC: atcB, IAD: iad}
	data, err := cardcrypto.ACData(DeviceCVN, in)
	if err != nil {
		return nil, err
	}
	ac, err := cardcrypto.MACAlg3(sk, data, cardcrypto.PaddingMethod2)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 128)
	for _, e := range []tlv.TLV{
		{Tag: tlv.TagApplicationCryptogram, Value: ac},
		{Tag: tlv.TagCryptogramInformationData, Value: []byte{0x80}},
		{Tag: tlv.TagIssuerApplicationData, Value: iad},
		{Tag: tlv.TagUnpredictableNumber, Value: un[:]},
		{Tag: tlv.TagATC, Value: atcB},
		{Tag: tlv.TagTVR, Value: tvr},
		{Tag: tlv.TagTransactionDate, Value: date},
		{Tag: tlv.TagTransactionType, Value: []byte{0x00}},
		{Tag: tlv.TagAmountAuthorised, Value: amount[:]},
		{Tag: tlv.TagTransactionCurrencyCode, Value: cur[:]},
		{Tag: tlv.TagAIP, Value: aip},
		{Tag: tlv.TagTerminalCountryCode, Value: ctry[:]},
		{Tag: tlv.TagAmountOther, Value: other[:]},
	} {
		if out, err = tlv.Append(out, e.Tag, e.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}
