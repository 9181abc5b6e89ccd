package bench

// Card-side cryptography of chip traffic: the ARQC a chip card computes for GENERATE AC. In real
// life the card does this, not the acquirer; here the generator must, on the same two CPUs as the
// switch. Two measures keep it off the switch's CPUs:
//
//   - chipBuilder builds field 55 as security.BuildField55 does, byte for byte, but with the
//     program's IMK scheduled once and each card's ICC master key derived and scheduled once
//     (per generator, bounded cache): a request then derives only its session key (two TDES
//     blocks under the cached MK, two single-DES schedules) and the MAC. Programs whose default
//     cryptogram version it does not know, or whose output differs from security.BuildField55 in
//     the self-check made when the builder is created, use security.BuildField55 itself.
//   - the generator builds the chip requests' cryptograms of a run before the run's clock starts
//     (prebuildChip, see generator.go), so in the measured window a chip request costs what an
//     e-commerce one costs.

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
)

// chipMKCacheMax bounds the ICC master key schedules a builder keeps (two DES schedules, ~300 B
// each entry): with 32 connections at most ~10 MB. A generator's cards are Count/connections (card
// i goes to connection i mod N), so with 10,000 cards every card of a connection stays cached.
const chipMKCacheMax = 1024

// chipBuilder builds field 55 of the chip requests of one generator (not safe for concurrent use).
type chipBuilder struct {
	keys  []security.Keys
	progs []*chipProgram          // per program; nil: security.BuildField55 for that program
	mk    map[int]cardcrypto.EDE2 // card index -> its ICC master key, scheduled
	// mkHits and mkMisses count the ICC master key cache (tests, diagnosis).
	mkHits, mkMisses int64
}

// chipProgram is what a program's field 55 holds besides the per-request values.
type chipProgram struct {
	imk      []byte
	cvn      cardcrypto.CVN
	optionA  bool // ICC MK derivation Option A only; else cardcrypto.DeriveICCMasterKey (A, or B over 16 digits)
	mcSKD    bool // Mastercard session key R = ATC || 0000 || UN; else EMV common R = ATC || 00*6
	template tlv.List
	// the constant data objects the cryptogram covers, from the template
	iad, tvr, aip, ctry, other, txnType []byte
}

// chipPSN is field 23 of the chip requests (the PAN sequence number the ARQC covers).
const chipPSN = "000"

// newChipBuilder prepares the programs of cards. Every program's fast path is checked against
// security.BuildField55 on two inputs; a program that fails it (or whose cryptogram version the
// fast path does not implement) is built by security.BuildField55.
func newChipBuilder(cards *Cards) *chipBuilder {
	b := &chipBuilder{keys: cards.Keys, progs: make([]*chipProgram, len(cards.Keys)), mk: map[int]cardcrypto.EDE2{}}
	for i := range cards.Keys {
		if i >= len(cards.Programs) {
			break
		}
		p, err := newChipProgram(cards.Keys[i])
		if err != nil {
			continue
		}
		prog := &cards.Programs[i]
		pan := provision.PAN(prog, i)
		ok := true
		for _, c := range []struct {
			atc    uint16
			amount int64
			un     [4]byte
			date   string
		}{{1, 1, [4]byte{0, 0, 0, 0}, "260101"}, {0xFFFF, amountMaxMinor, [4]byte{0xDE, 0xAD, 0xBE, 0xEF}, "991231"}} {
			want, err := security.BuildField55(cards.Keys[i], pan, chipPSN, c.atc, c.amount, prog.Currency.Numeric, c.un, &security.ARQCOptions{TxnDate: c.date})
			if err != nil {
				ok = false
				break
			}
			mk, err := p.deriveMK(pan, chipPSN)
			if err != nil {
				ok = false
				break
			}
			got, err := p.build(nil, mk, pan, chipPSN, c.atc, c.amount, prog.Currency.Numeric, c.un, c.date)
			if err != nil || !bytes.Equal(got, want) {
				ok = false
				break
			}
		}
		if ok {
			b.progs[i] = p
		}
	}
	return b
}

// newChipProgram reads the constant part of a program's field 55 from security.BuildField55's
// own output (so defaults such as the IAD, TVR and AIP are the builder's, not copies of them).
func newChipProgram(k security.Keys) (*chipProgram, error) {
	tpl, err := security.BuildField55(k, "4000000000000002", chipPSN, 1, 1, "978", [4]byte{}, &security.ARQCOptions{TxnDate: "260101"})
	if err != nil {
		return nil, err
	}
	l, err := tlv.Parse(tpl)
	if err != nil {
		return nil, err
	}
	p := &chipProgram{imk: k.IMKAC, template: l}
	get := func(t tlv.Tag) []byte { v, _ := l.Get(t); return v }
	p.iad, p.tvr, p.aip, p.ctry = get(tlv.TagIssuerApplicationData), get(tlv.TagTVR), get(tlv.TagAIP), get(tlv.TagTerminalCountryCode)
	p.other, p.txnType = get(tlv.TagAmountOther), get(tlv.TagTransactionType)
	if p.cvn, err = cardcrypto.CVNFromIAD(p.iad, k.Scheme); err != nil {
		return nil, err
	}
	switch p.cvn {
	case cardcrypto.VisaCVN18, cardcrypto.VisaCVN22:
	case cardcrypto.MastercardCVN16, cardcrypto.MastercardCVN17:
		p.optionA, p.mcSKD = true, true
	case cardcrypto.MastercardCVN20, cardcrypto.MastercardCVN21:
		p.optionA = true
	default:
		return nil, fmt.Errorf("bench: %s: no fast path", p.cvn)
	}
	return p, nil
}

// deriveMK derives and schedules the card's ICC master key.
func (p *chipProgram) deriveMK(pan, psn string) (cardcrypto.EDE2, error) {
	var mk []byte
	var err error
	if p.optionA {
		mk, err = cardcrypto.DeriveICCMasterKeyOptionA(p.imk, pan, psn)
	} else {
		mk, err = cardcrypto.DeriveICCMasterKey(p.imk, pan, psn)
	}
	if err != nil {
		return cardcrypto.EDE2{}, err
	}
	k, err := cardcrypto.NewEDE2(mk)
	clear(mk)
	return k, err
}

// build appends field 55 to dst: the template's data objects in its order, with the cryptogram,
// unpredictable number, ATC, date, amount and currency of this request.
func (p *chipProgram) build(dst []byte, mk cardcrypto.EDE2, pan, psn string, atc uint16, amountMinor int64, currencyNum string, un [4]byte, date string) ([]byte, error) {
	amount, err := cardcrypto.AmountN12(amountMinor)
	if err != nil {
		return dst, err
	}
	cur, err := cardcrypto.NumericN3(currencyNum)
	if err != nil {
		return dst, err
	}
	dateB, err := bcdDate(date)
	if err != nil {
		return dst, err
	}
	atcB := [2]byte{byte(atc >> 8), byte(atc)}
	in := cardcrypto.ACInput{PAN: pan, PSN: psn,
		AmountAuthorised: amount[:], AmountOther: p.other, TerminalCountry: p.ctry, TVR: p.tvr,
		TxnCurrency: cur[:], TxnDate: dateB[:], TxnType: p.txnType, UN: un[:], AIP: p.aip, ATC: atcB[:], IAD: p.iad}
	data, err := cardcrypto.ACData(p.cvn, in)
	if err != nil {
		return dst, err
	}
	// Session key (EMV common or Mastercard SKD) under the cached ICC MK, then MAC algorithm 3.
	var r [8]byte
	copy(r[:2], atcB[:])
	if p.mcSKD {
		copy(r[4:], un[:])
	}
	var sk [16]byte
	r[2] = 0xF0
	mk.Encrypt(sk[:8], r[:])
	r[2] = 0x0F
	mk.Encrypt(sk[8:], r[:])
	cardcrypto.AdjustOddParity(sk[:])
	skc, err := cardcrypto.NewEDE2(sk[:])
	if err != nil {
		return dst, err
	}
	var ac [8]byte
	skc.MAC3(ac[:], data, cardcrypto.PaddingMethod2)
	for _, e := range p.template {
		v := e.Value
		switch e.Tag {
		case tlv.TagApplicationCryptogram:
			v = ac[:]
		case tlv.TagUnpredictableNumber:
			v = un[:]
		case tlv.TagATC:
			v = atcB[:]
		case tlv.TagTransactionDate:
			v = dateB[:]
		case tlv.TagAmountAuthorised:
			v = amount[:]
		case tlv.TagTransactionCurrencyCode:
			v = cur[:]
		}
		if dst, err = tlv.Append(dst, e.Tag, v); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// build appends the field 55 of a chip request on card idx (PAN pan, its program's currency) to
// dst. Same bytes as security.BuildField55(keys, pan, chipPSN, atc, amount, currency, un,
// &ARQCOptions{TxnDate: date}).
func (b *chipBuilder) build(dst []byte, idx int, pan string, atc uint16, amountMinor int64, currencyNum string, un [4]byte, date string) ([]byte, error) {
	if len(b.keys) == 0 {
		return dst, errors.New("bench: no card keys")
	}
	pi := idx % len(b.keys)
	p := b.progs[pi]
	if p == nil {
		v, err := security.BuildField55(b.keys[pi], pan, chipPSN, atc, amountMinor, currencyNum, un, &security.ARQCOptions{TxnDate: date})
		if err != nil {
			return dst, err
		}
		return append(dst, v...), nil
	}
	mk, ok := b.mk[idx]
	if ok {
		b.mkHits++
	} else {
		b.mkMisses++
		var err error
		if mk, err = p.deriveMK(pan, chipPSN); err != nil {
			return dst, err
		}
		if len(b.mk) >= chipMKCacheMax {
			for k := range b.mk { // map order is random: a random entry leaves
				delete(b.mk, k)
				break
			}
		}
		b.mk[idx] = mk
	}
	return p.build(dst, mk, pan, chipPSN, atc, amountMinor, currencyNum, un, date)
}

// bcdDate is YYMMDD as 3 bytes BCD.
func bcdDate(s string) ([3]byte, error) {
	var b [3]byte
	if len(s) != 6 || !allDigits(s) {
		return b, errors.New("bench: date: want YYMMDD")
	}
	for i := range b {
		b[i] = (s[2*i]-'0')<<4 | (s[2*i+1] - '0')
	}
	return b, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
