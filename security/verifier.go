// Package security runs the issuer's card-security checks in the authorization path: CVC2/CVV2,
// CVV and iCVV from track 2, the PIN (ISO 9564 format 0 under the ZPK, Visa PVV) and the EMV
// application cryptogram (ARQC) with its answer (tag 91, ARPC). It implements ledger.Verifier
// over the pure primitives of cardcrypto and cardcrypto/tlv, and holds the client-side builders
// the simulators, the bench and the tests use to produce valid card data (builders.go).
//
// A Verifier is pure in the sense of ledger.Verifier: it reads only its own keys and its
// arguments, keeps no state between calls, does no I/O and never logs. Business outcomes are
// authz.CheckResult values; nothing here returns or logs a PIN, a CVC2/CVV, a key or a clear PAN.
// See docs/security.md for which check runs when.
package security

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Verifier implements ledger.Verifier with the switch's ZPK and each program's card keys.
// It is immutable after New and safe for concurrent use: the keys a cryptogram check derives
// reach the answer of the same request in the check results (Checks.ICC), not through the
// Verifier.
type Verifier struct {
	zpkC     cipher.Block // the ZPK, scheduled once
	programs map[string]*program
}

// Config is what the Verifier needs: the zone PIN key and the card programs' keys and ARQC
// policy, as configured (hex keys; errors name the configuration key).
type Config struct {
	ZPK      string // security.zpk
	Programs []config.Program
}

// ConfigOf takes the Verifier's part of the switch configuration.
func ConfigOf(cfg *config.Config) Config {
	return Config{ZPK: cfg.Security.ZPK, Programs: cfg.Programs}
}

// program is one card program's keys and policy, decoded once at start.
type program struct {
	name      string
	scheme    string // cardcrypto.SchemeVisa or cardcrypto.SchemeMastercard
	imkAC     []byte // issuer master key for application cryptograms
	cvk       []byte // CVK A || CVK B
	pvk       []byte // PVK A || PVK B
	pvki      int
	unchecked bool // AllowUncheckedARQC
	s         scheduled
}

var _ ledger.Verifier = (*Verifier)(nil)

// New builds the Verifier: the ZPK of security.zpk and, per program, keys.imkAc, keys.cvk,
// keys.pvk, keys.pvki, the scheme and allowUncheckedArqc. Errors name the configuration key,
// never its value.
func New(cfg Config) (*Verifier, error) {
	zpk, err := key16("security.zpk", cfg.ZPK)
	if err != nil {
		return nil, err
	}
	zpkC, err := newTDES(zpk)
	if err != nil {
		return nil, fmt.Errorf("security: security.zpk: %w", err)
	}
	clear(zpk)
	v := &Verifier{zpkC: zpkC, programs: make(map[string]*program, len(cfg.Programs))}
	for i := range cfg.Programs {
		p, err := newProgram(&cfg.Programs[i], fmt.Sprintf("programs[%d]", i))
		if err != nil {
			return nil, err
		}
		if _, dup := v.programs[p.name]; dup {
			return nil, fmt.Errorf("security: programs[%d].name: repeated", i)
		}
		v.programs[p.name] = p
	}
	return v, nil
}

func newProgram(c *config.Program, at string) (*program, error) {
	p := &program{name: c.Name, pvki: c.Keys.PVKI, unchecked: c.AllowUncheckedARQC}
	switch strings.ToLower(c.Scheme) {
	case cardcrypto.SchemeVisa:
		p.scheme = cardcrypto.SchemeVisa
	case cardcrypto.SchemeMastercard:
		p.scheme = cardcrypto.SchemeMastercard
	default:
		return nil, fmt.Errorf("security: %s.scheme: want visa or mastercard", at)
	}
	var err error
	if p.imkAC, err = key16(at+".keys.imkAc", c.Keys.IMKAC); err != nil {
		return nil, err
	}
	if p.cvk, err = key16(at+".keys.cvk", c.Keys.CVK); err != nil {
		return nil, err
	}
	if p.pvk, err = key16(at+".keys.pvk", c.Keys.PVK); err != nil {
		return nil, err
	}
	if p.pvki < 0 || p.pvki > 9 {
		return nil, fmt.Errorf("security: %s.keys.pvki: want one digit", at)
	}
	if p.s, err = schedule(p); err != nil {
		return nil, fmt.Errorf("security: %s.keys: %w", at, err)
	}
	return p, nil
}

// key16 decodes a double-length TDES key from hex.
func key16(name, h string) ([]byte, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("security: %s: want 32 hex characters", name)
	}
	return b, nil
}

// Verify runs every check whose data the request carries (contract §2: a check applies only when
// its data is present) and returns the results. The ledger then applies ATC freshness, PIN try
// counting and the decision precedence.
func (v *Verifier) Verify(req *authz.Request, card *ledger.Card, token *ledger.Token) ledger.Checks {
	var out ledger.Checks
	if req == nil || card == nil {
		return out
	}
	p := v.programs[card.Program]
	if p == nil {
		// The card belongs to a program this switch holds no keys for: whatever security data
		// the request carries cannot be right.
		if req.CVC2 != "" || req.Track2 != "" {
			out.CardData = authz.CheckFailed
		}
		if req.PINBlock != nil {
			out.PIN = authz.CheckFailed
		}
		if len(req.ICC) > 0 {
			out.Cryptogram = authz.CheckFailed
		}
		return out
	}
	out.CardData = p.cardData(req, card, token)
	if req.PINBlock != nil {
		out.PIN = v.pin(p, req, card)
	}
	if len(req.ICC) > 0 {
		r := p.arqc(req, card, token)
		out.Cryptogram, out.ATC, out.ARQCSeen, out.ICC = r.result, r.atc, r.session.Ready(), r.session
	}
	return out
}

// combine merges two card-data results: any failure fails, otherwise any pass passes.
func combine(a, b authz.CheckResult) authz.CheckResult {
	if a == authz.CheckFailed || b == authz.CheckFailed {
		return authz.CheckFailed
	}
	if a == authz.CheckPassed || b == authz.CheckPassed {
		return authz.CheckPassed
	}
	return authz.CheckNotPresent
}

// cardData checks the CVC2 (field 48 subelement 92) and the CVV or iCVV of track 2 (field 35).
func (p *program) cardData(req *authz.Request, card *ledger.Card, token *ledger.Token) authz.CheckResult {
	res := authz.CheckNotPresent
	if req.CVC2 != "" {
		res = combine(res, checkCVC2(req.CVC2, tokenvault.CVC2(card.CVC2)))
	}
	if req.Track2 != "" {
		res = combine(res, p.checkTrack2(req, card, token))
	}
	return res
}

// checkCVC2 compares the CVC2 the cardholder gave with the card's stored value (a CVC2 reset
// changes the stored value), in constant time. A card without a stored CVC2 fails.
func checkCVC2(got string, stored tokenvault.CVC2) authz.CheckResult {
	if len(got) != 3 || len(stored) != 3 || !cardcrypto.IsDigits(got) {
		return authz.CheckFailed
	}
	var g, s [3]byte
	copy(g[:], got)
	copy(s[:], stored.Reveal())
	if subtle.ConstantTimeCompare(g[:], s[:]) != 1 {
		return authz.CheckFailed
	}
	return authz.CheckPassed
}

// chipEntry reports whether field 22 says the card data was read from the chip, contact (05x) or
// contactless (07x): track 2 is then the chip's track 2 equivalent data and carries the iCVV.
func chipEntry(posEntryMode string) bool {
	return len(posEntryMode) >= 2 && posEntryMode[0] == '0' && (posEntryMode[1] == '5' || posEntryMode[1] == '7')
}

// checkTrack2 checks track 2: its PAN must be field 2, its expiry the card's (or the token's),
// and its CVV (first 3 digits of the discretionary data) the CVV of the program's CVK over PAN,
// expiry and the service code: the track's own service code for a magnetic-stripe read, 999
// (iCVV) for chip and contactless reads. A token's track carries the token PAN and expiry.
func (p *program) checkTrack2(req *authz.Request, card *ledger.Card, token *ledger.Token) authz.CheckResult {
	t, ok := parseTrack2(req.Track2)
	if !ok || t.pan != req.PAN {
		return authz.CheckFailed
	}
	expiry := card.ExpiryYYMM
	if token != nil {
		expiry = token.ExpiryYYMM
	}
	if t.expiry != expiry {
		return authz.CheckFailed
	}
	sc := t.serviceCode
	if chipEntry(req.POSEntryMode) {
		sc = cardcrypto.ServiceCodeICVV
	}
	if !p.s.verifyCVV(t.pan, t.expiry, sc, t.cvv) {
		return authz.CheckFailed
	}
	return authz.CheckPassed
}

// pin deciphers the format 0 PIN block under the ZPK with the PAN of field 2 (the PAN the
// terminal formed the block with, a token PAN for a token), computes the Visa PVV over the
// card's PAN and compares it with the card's PVV. A malformed block, a card with no PVV or a
// PVV that cannot be computed all fail; the PIN never leaves this function.
func (v *Verifier) pin(p *program, req *authz.Request, card *ledger.Card) authz.CheckResult {
	if len(req.PINBlock) != 8 || len(card.PVV) != 4 {
		return authz.CheckFailed
	}
	var pin [12]byte
	defer clear(pin[:])
	n := pinFromBlock(v.zpkC, req.PINBlock, req.PAN, &pin)
	if n == 0 || !p.s.verifyPVV(tokenvault.PAN(card.PAN).Reveal(), p.pvki, pin[:n], tokenvault.PVV(card.PVV).Reveal()) {
		return authz.CheckFailed
	}
	return authz.CheckPassed
}

// arqcResult is the outcome of the cryptogram check.
type arqcResult struct {
	result  authz.CheckResult
	atc     int
	session tokenvault.ICCSession // set when an ARQC was evaluated: the response carries tag 91
}

// emvKeyInputs returns the PAN and PSN the ICC master key derives from: the token PAN for a
// token (its keys are personalised on the token), otherwise the card's PAN; the PSN of field 23
// when present, otherwise the token's or the card's.
func emvKeyInputs(req *authz.Request, card *ledger.Card, token *ledger.Token) (pan, psn string) {
	pan, psn = tokenvault.PAN(card.PAN).Reveal(), card.PSN
	if token != nil {
		pan, psn = req.PAN, token.PSN
	}
	if req.CardSeq != "" {
		psn = req.CardSeq
	}
	return pan, psn
}

// cryptogram is a parsed field 55 ready for verification.
type cryptogram struct {
	cvn  cardcrypto.CVN
	prm  cvnParams
	in   cardcrypto.ACInput
	arqc []byte
}

// parseICC extracts what the ARQC check needs. malformed is set when field 55 is not BER-TLV or
// does not ask for online authorization; otherwise err reports missing tags or an unknown CVN,
// which are "unchecked" (declined unless the program allows unchecked ARQCs).
func (p *program) parseICC(icc []byte, pan, psn string) (c cryptogram, malformed bool, err error) {
	list, err := tlv.Parse(icc)
	if err != nil {
		return c, true, err
	}
	if cid, ok := list.Get(tlv.TagCryptogramInformationData); ok && (len(cid) != 1 || cid[0]&0xC0 != 0x80) {
		// The card returned a TC or an AAC, not an ARQC: it did not ask the issuer to approve.
		return c, true, errNotARQC
	}
	arqc, ok := list.Get(tlv.TagApplicationCryptogram)
	if !ok || len(arqc) != 8 {
		return c, false, errNoARQC
	}
	in, err := cardcrypto.ACInputFromTLV(pan, psn, list)
	if err != nil {
		return c, false, err
	}
	if len(in.ATC) != 2 {
		return c, false, errNoARQC
	}
	cvn, err := cardcrypto.CVNFromIAD(in.IAD, p.scheme)
	if err != nil {
		return c, false, err
	}
	prm, ok := paramsOf(cvn)
	if !ok {
		return c, false, cardcrypto.ErrUnknownCVN
	}
	return cryptogram{cvn: cvn, prm: prm, in: in, arqc: arqc}, false, nil
}

// arqc verifies the application cryptogram of field 55 and that it covers this request's amount
// (9F02 = field 4) and currency (5F2A = field 49). The keys it derived go back in the result, for
// the ARPC of the same request.
func (p *program) arqc(req *authz.Request, card *ledger.Card, token *ledger.Token) arqcResult {
	pan, psn := emvKeyInputs(req, card, token)
	c, malformed, err := p.parseICC(req.ICC, pan, psn)
	if malformed {
		return arqcResult{result: authz.CheckFailed}
	}
	if err != nil {
		return p.uncheckedResult()
	}
	data, err := cardcrypto.ACData(c.cvn, c.in) // checks every tag's length
	if err != nil {
		return p.uncheckedResult()
	}
	keys, ok := p.s.deriveKeys(p.imkAC, c.prm, pan, psn, c.in.ATC, c.in.UN)
	if !ok {
		return p.uncheckedResult()
	}
	var mac [8]byte
	keys.sk.MAC3(mac[:], data, c.prm.padding)
	ok = subtle.ConstantTimeCompare(mac[:], c.arqc) == 1
	r := arqcResult{result: authz.CheckFailed, atc: int(c.in.ATC[0])<<8 | int(c.in.ATC[1]),
		session: tokenvault.ICCSession{MK: keys.mk, SK: keys.sk, Method: uint8(c.cvn.ARPCMethod()), ARPCUnderSK: c.prm.arpcSK}}
	copy(r.session.ARQC[:], c.arqc)
	if ok && bcdEquals(c.in.AmountAuthorised, req.AmountMinor) && currencyEquals(c.in.TxnCurrency, req.CurrencyNum) {
		r.result = authz.CheckPassed
	}
	return r
}

// uncheckedResult is the answer for an ARQC that cannot be evaluated (unknown CVN, missing or
// malformed tags, a PSN or PAN the derivation refuses): declined 1029 unless the program allows
// unchecked ARQCs, and never answered with tag 91 (there is no ARPC to give).
func (p *program) uncheckedResult() arqcResult {
	if p.unchecked {
		return arqcResult{result: authz.CheckNotPresent}
	}
	return arqcResult{result: authz.CheckFailed}
}

// Method 2 Card Status Update (Visa CVN 18/22), byte 2 bit 8 "issuer approves online
// transaction" (VIS 1.5; jPOS CVN18DataBuilder). No counters or PIN try counter are updated.
var (
	csuApproved = []byte{0x00, 0x80, 0x00, 0x00}
	csuDeclined = []byte{0x00, 0x00, 0x00, 0x00}
)

// ICCResponse returns field 55 for a request whose ARQC was evaluated, from the session its
// Verify returned (Checks.ICC): tag 91 with the ARPC. Method 1 (Visa CVN 10, Mastercard CVN
// 16/17/20/21): ARPC(8) || ARC, where ARC is the two ASCII characters of the decision's field 39
// ("00" approved, "51", "55", "82", "N7"...). Method 2 (Visa CVN 18/22): ARPC(4) || CSU(4), the
// CSU saying approved or not. It returns nil for a session that evaluated no cryptogram.
func (v *Verifier) ICCResponse(s tokenvault.ICCSession, action authz.ActionCode) []byte {
	if s.Method != 1 && s.Method != 2 {
		return nil
	}
	var arc [2]byte
	copy(arc[:], action.Field39())
	csu := csuDeclined
	if action.IsApproved() {
		csu = csuApproved
	}
	// Tag 91: method 1 ARPC(8) || ARC(2); method 2 ARPC(4) || CSU(4).
	var a [8]byte
	n := arpc(acKeys{mk: s.MK, sk: s.SK}, s.ARPCUnderSK, int(s.Method), s.ARQC[:], arc[:], csu, a[:])
	out := make([]byte, 0, 12)
	out = append(out, 0x91, byte(n+2))
	out = append(out, a[:n]...)
	if s.Method == 2 {
		out[1] = byte(n + len(csu))
		return append(out, csu...)
	}
	return append(out, arc[:]...)
}

// Errors of field 55 handling; they never leave this package with card data in them.
var (
	errNotARQC = fmt.Errorf("security: field 55 cryptogram is not an ARQC")
	errNoARQC  = fmt.Errorf("security: field 55 lacks 9F26 or 9F36")
)

// bcdEquals reports whether the n12 BCD amount (9F02, 6 bytes) equals amountMinor.
func bcdEquals(bcd []byte, amountMinor int64) bool {
	if len(bcd) != 6 || amountMinor < 0 {
		return false
	}
	var v int64
	for _, b := range bcd {
		hi, lo := b>>4, b&0x0F
		if hi > 9 || lo > 9 {
			return false
		}
		v = v*100 + int64(hi)*10 + int64(lo)
	}
	return v == amountMinor
}

// currencyEquals reports whether the n3 BCD currency (5F2A, 2 bytes, 0978) equals field 49.
func currencyEquals(bcd []byte, num string) bool {
	if len(bcd) != 2 || len(num) != 3 || !cardcrypto.IsDigits(num) {
		return false
	}
	return bcd[0] == num[0]-'0' && bcd[1] == (num[1]-'0')<<4|(num[2]-'0')
}
