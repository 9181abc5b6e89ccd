package security

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
)

var resultName = map[authz.CheckResult]string{
	authz.CheckNotPresent: "not-present", authz.CheckPassed: "passed", authz.CheckFailed: "failed",
}

// want is the expected Checks, field by field (ATC checked only when wantATC >= 0).
type want struct {
	cardData, pin, crypt authz.CheckResult
	seen                 bool
}

func check(t *testing.T, got ledger.Checks, w want) {
	t.Helper()
	if got.CardData != w.cardData || got.PIN != w.pin || got.Cryptogram != w.crypt || got.ARQCSeen != w.seen {
		t.Errorf("checks = cardData %s pin %s cryptogram %s seen %v; want %s %s %s %v",
			resultName[got.CardData], resultName[got.PIN], resultName[got.Cryptogram], got.ARQCSeen,
			resultName[w.cardData], resultName[w.pin], resultName[w.crypt], w.seen)
	}
}

func flipDigit(s string, i int) string {
	b := []byte(s)
	b[i] = '0' + (b[i]-'0'+1)%10
	return string(b)
}

func flipBit(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i/8] ^= 1 << (i % 8)
	return c
}

// TestVerifyPOSEntryModes runs each entry mode with the data that mode carries, valid and with
// one digit or bit changed.
func TestVerifyPOSEntryModes(t *testing.T) {
	v, cfg := newTestVerifier(t)
	zpk := unhex(t, testZPK)
	for _, program := range []string{"demo-visa", "demo-mc"} {
		pan := visaPAN
		if program == "demo-mc" {
			pan = mcPAN
		}
		k := mustKeys(t, cfg, program)
		card := testCard(t, v, program, pan)
		magTrack, err := BuildTrack2(k.CVK, pan, cardExp, serviceCd)
		if err != nil {
			t.Fatal(err)
		}
		chipTrack, err := BuildChipTrack2(k.CVK, pan, cardExp, serviceCd)
		if err != nil {
			t.Fatal(err)
		}
		if magTrack == chipTrack {
			t.Fatalf("%s: CVV and iCVV coincide for the test card; pick another PAN", program)
		}
		pinBlock, err := BuildPINBlock(zpk, pan, goodPIN)
		if err != nil {
			t.Fatal(err)
		}
		wrongPIN, _ := BuildPINBlock(zpk, pan, "4525")
		f55, err := BuildARQCField55(mustProgram(t, cfg, program), pan, "00", 7, amount, currEUR, un4(), nil)
		if err != nil {
			t.Fatal(err)
		}
		// 8 bytes of field 55 hold the ARQC after the 3-byte tag+length header.
		badARQC := flipBit(f55, 3*8+5)

		cases := []struct {
			name string
			mode string
			set  func(r *authz.Request)
			w    want
		}{
			{"e-com CVC2", "010", func(r *authz.Request) { r.CVC2 = card.CVC2 }, want{cardData: authz.CheckPassed}},
			{"e-com CVC2 wrong", "010", func(r *authz.Request) { r.CVC2 = flipDigit(card.CVC2, 2) }, want{cardData: authz.CheckFailed}},
			{"e-com no CVC2", "010", func(r *authz.Request) {}, want{}},
			{"manual key entry CVC2", "012", func(r *authz.Request) { r.CVC2 = card.CVC2 }, want{cardData: authz.CheckPassed}},
			{"COF with CVC2", "102", func(r *authz.Request) { r.CVC2 = card.CVC2 }, want{cardData: authz.CheckPassed}},
			{"COF no data", "100", func(r *authz.Request) {}, want{}},
			{"COF CVC2 wrong", "100", func(r *authz.Request) { r.CVC2 = flipDigit(card.CVC2, 0) }, want{cardData: authz.CheckFailed}},
			{"mag stripe CVV", "902", func(r *authz.Request) { r.Track2 = magTrack }, want{cardData: authz.CheckPassed}},
			{"mag stripe CVV + PIN", "901", func(r *authz.Request) { r.Track2, r.PINBlock = magTrack, pinBlock },
				want{cardData: authz.CheckPassed, pin: authz.CheckPassed}},
			{"mag stripe CVV wrong", "902", func(r *authz.Request) { r.Track2 = flipDigit(magTrack, len(pan)+1+7) }, want{cardData: authz.CheckFailed}},
			{"mag stripe iCVV instead of CVV", "902", func(r *authz.Request) { r.Track2 = chipTrack }, want{cardData: authz.CheckFailed}},
			{"mag stripe wrong service code", "902", func(r *authz.Request) { r.Track2 = flipDigit(magTrack, len(pan)+1+4+2) }, want{cardData: authz.CheckFailed}},
			{"mag stripe wrong PIN", "902", func(r *authz.Request) { r.Track2, r.PINBlock = magTrack, wrongPIN },
				want{cardData: authz.CheckPassed, pin: authz.CheckFailed}},
			{"chip ARQC + iCVV + PIN", "051", func(r *authz.Request) { r.Track2, r.ICC, r.PINBlock = chipTrack, f55, pinBlock },
				want{cardData: authz.CheckPassed, pin: authz.CheckPassed, crypt: authz.CheckPassed, seen: true}},
			{"chip ARQC only", "051", func(r *authz.Request) { r.ICC = f55 }, want{crypt: authz.CheckPassed, seen: true}},
			{"chip bad ARQC", "051", func(r *authz.Request) { r.ICC = badARQC }, want{crypt: authz.CheckFailed, seen: true}},
			{"chip magnetic CVV instead of iCVV", "051", func(r *authz.Request) { r.Track2, r.ICC = magTrack, f55 },
				want{cardData: authz.CheckFailed, crypt: authz.CheckPassed, seen: true}},
			{"contactless ARQC + iCVV", "071", func(r *authz.Request) { r.Track2, r.ICC = chipTrack, f55 },
				want{cardData: authz.CheckPassed, crypt: authz.CheckPassed, seen: true}},
			{"contactless bad ARQC", "071", func(r *authz.Request) { r.ICC = badARQC }, want{crypt: authz.CheckFailed, seen: true}},
			{"contactless wrong iCVV", "072", func(r *authz.Request) { r.Track2, r.ICC = flipDigit(chipTrack, len(pan)+1+8), f55 },
				want{cardData: authz.CheckFailed, crypt: authz.CheckPassed, seen: true}},
		}
		for _, c := range cases {
			t.Run(program+"/"+c.name, func(t *testing.T) {
				req := baseRequest(pan, c.mode)
				c.set(req)
				check(t, v.Verify(req, card, nil), c.w)
			})
		}
	}
}

// TestEveryBitOfTheCryptogramMatters flips each bit of the ARQC, the ATC, the UN, the amount and
// the IAD in turn: the check must fail each time (or, for a flipped IAD CVN byte, be unchecked,
// which is a failure as well without allowUncheckedArqc).
func TestEveryBitOfTheCryptogramMatters(t *testing.T) {
	v, cfg := newTestVerifier(t)
	for _, program := range []string{"demo-visa", "demo-mc"} {
		pan := visaPAN
		if program == "demo-mc" {
			pan = mcPAN
		}
		card := testCard(t, v, program, pan)
		f55, err := BuildARQCField55(mustProgram(t, cfg, program), pan, "00", 300, amount, currEUR, un4(), nil)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := tlv.Parse(f55)
		for _, tag := range []tlv.Tag{tlv.TagApplicationCryptogram, tlv.TagATC, tlv.TagUnpredictableNumber,
			tlv.TagAmountAuthorised, tlv.TagIssuerApplicationData, tlv.TagTVR, tlv.TagTransactionDate,
			tlv.TagTerminalCountryCode, tlv.TagAIP, tlv.TagAmountOther} {
			e, _ := list.Find(tag)
			valueStart := e.Offset + len(tagBytes(tag)) + 1 // all values here are under 128 bytes
			from, to := 0, 8*len(e.Value)
			if tag == tlv.TagIssuerApplicationData && program == "demo-mc" {
				// M/Chip CVN 16 covers the CVR (IAD bytes 2-7) only; the key derivation index and
				// the DAC are not part of the cryptogram input.
				from, to = 8*2, 8*8
			}
			for bit := from; bit < to; bit++ {
				req := baseRequest(pan, "051")
				req.ICC = flipBit(f55, 8*valueStart+bit)
				got := v.Verify(req, card, nil)
				if got.Cryptogram != authz.CheckFailed {
					t.Fatalf("%s: tag %s bit %d flipped: cryptogram %s", program, tag, bit, resultName[got.Cryptogram])
				}
			}
		}
		// Field 4 and field 49 must be what the cryptogram covers.
		req := baseRequest(pan, "051")
		req.ICC, req.AmountMinor = f55, amount+1
		check(t, v.Verify(req, card, nil), want{crypt: authz.CheckFailed, seen: true})
		req = baseRequest(pan, "051")
		req.ICC, req.CurrencyNum = f55, "840"
		check(t, v.Verify(req, card, nil), want{crypt: authz.CheckFailed, seen: true})
		// Another card's keys (PSN) do not verify.
		other := *card
		other.PSN = "01"
		req = baseRequest(pan, "051")
		req.ICC = f55
		check(t, v.Verify(req, &other, nil), want{crypt: authz.CheckFailed, seen: true})
	}
}

// replaceTag re-encodes field 55 with one value changed.
func replaceTag(t *testing.T, f55 []byte, tag tlv.Tag, value []byte) []byte {
	t.Helper()
	list, err := tlv.Parse(f55)
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		if list[i].Tag == tag {
			list[i].Value = value
		}
	}
	out, err := tlv.AppendList(nil, list)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tagBytes(t tlv.Tag) []byte {
	b, _ := tlv.Append(nil, t, nil)
	return b[:len(b)-1]
}

func TestCVNsAndOptions(t *testing.T) {
	v, cfg := newTestVerifier(t)
	for _, c := range []struct {
		program string
		pan     string
		cvn     cardcrypto.CVN
	}{
		{"demo-visa", visaPAN, cardcrypto.VisaCVN10},
		{"demo-visa", visaPAN, cardcrypto.VisaCVN18},
		{"demo-visa", visaPAN, cardcrypto.VisaCVN22},
		{"demo-mc", mcPAN, cardcrypto.MastercardCVN16},
		{"demo-mc", mcPAN, cardcrypto.MastercardCVN17},
		{"demo-mc", mcPAN, cardcrypto.MastercardCVN20},
		{"demo-mc", mcPAN, cardcrypto.MastercardCVN21},
	} {
		t.Run(c.cvn.String(), func(t *testing.T) {
			p := mustProgram(t, cfg, c.program)
			card := testCard(t, v, c.program, c.pan)
			card.PSN = "01"
			f55, err := BuildARQCField55(p, c.pan, "01", 1000, amount, currEUR, un4(),
				&ARQCOptions{CVN: c.cvn, AmountOtherMinor: 0, IncludePSN: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, seq := range []string{"", "001"} { // field 23 absent (card PSN) or present
				req := baseRequest(c.pan, "051")
				req.ICC, req.CardSeq = f55, seq
				got := v.Verify(req, card, nil)
				check(t, got, want{crypt: authz.CheckPassed, seen: true})
				if got.ATC != 1000 {
					t.Errorf("ATC = %d, want 1000", got.ATC)
				}
				for _, tc := range []struct {
					action authz.ActionCode
					arc    string
				}{{authz.Approved, "00"}, {authz.InsufficientFunds, "51"}, {authz.CryptogramFailure, "82"}} {
					resp := v.ICCResponse(got.ICC, tc.action)
					status, err := CheckIssuerResponse(p, c.pan, "01", f55, resp)
					if err != nil {
						t.Fatalf("%s: card refuses the issuer: %v", tc.action, err)
					}
					if c.cvn.ARPCMethod() == 1 && string(status) != tc.arc {
						t.Errorf("ARC = %q, want %q", status, tc.arc)
					}
					if c.cvn.ARPCMethod() == 2 && !bytes.Equal(status, map[bool][]byte{true: csuApproved, false: csuDeclined}[tc.action.IsApproved()]) {
						t.Errorf("CSU = %X for %s", status, tc.action)
					}
					bad := flipBit(resp, 2*8)
					if _, err := CheckIssuerResponse(p, c.pan, "01", f55, bad); err == nil {
						t.Errorf("a flipped ARPC bit verified")
					}
				}
			}
			// A field 23 that names another PSN derives other keys.
			req := baseRequest(c.pan, "051")
			req.ICC, req.CardSeq = f55, "002"
			check(t, v.Verify(req, card, nil), want{crypt: authz.CheckFailed, seen: true})
		})
	}
	// A Visa CVN on a Mastercard program is refused by the builder.
	if _, err := BuildARQCField55(mustProgram(t, cfg, "demo-mc"), mcPAN, "00", 1, 1, currEUR, un4(),
		&ARQCOptions{CVN: cardcrypto.VisaCVN18}); err == nil {
		t.Error("builder accepted a Visa CVN for a Mastercard program")
	}
}

// TestUncheckedARQC: unknown CVN or missing tags fail unless the program allows unchecked
// ARQCs; malformed BER-TLV and a TC/AAC instead of an ARQC always fail; none is answered with 91.
func TestUncheckedARQC(t *testing.T) {
	v, cfg := newTestVerifier(t)
	for _, program := range []string{"demo-mc", "lenient-mc"} {
		lenient := program == "lenient-mc"
		card := testCard(t, v, program, mcPAN)
		p := mustProgram(t, cfg, program)
		unknownCVN := defaultIAD(cardcrypto.MastercardCVN16)
		unknownCVN[1] = 0x99
		build := func(o *ARQCOptions) []byte {
			f, err := BuildARQCField55(p, mcPAN, "00", 5, amount, currEUR, un4(), o)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		uncheckedWant := want{crypt: authz.CheckFailed}
		if lenient {
			uncheckedWant = want{crypt: authz.CheckNotPresent}
		}
		cases := []struct {
			name string
			icc  []byte
			w    want
		}{
			{"unknown CVN", build(&ARQCOptions{IAD: unknownCVN}), uncheckedWant},
			{"short IAD", replaceTag(t, build(nil), tlv.TagIssuerApplicationData, []byte{0x01, 0x10, 0xA0}), uncheckedWant},
			{"no 9F26", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagApplicationCryptogram}}), uncheckedWant},
			{"no 9F36", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagATC}}), uncheckedWant},
			{"no 9F10", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagIssuerApplicationData}}), uncheckedWant},
			{"no 9F37", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagUnpredictableNumber}}), uncheckedWant},
			{"no 9F02", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagAmountAuthorised}}), uncheckedWant},
			{"no 9F03 (optional)", build(&ARQCOptions{Omit: []tlv.Tag{tlv.TagAmountOther}}), want{crypt: authz.CheckPassed, seen: true}},
			{"malformed TLV", []byte{0x9F, 0x26, 0x08, 0x01}, want{crypt: authz.CheckFailed}},
			{"AAC not ARQC", build(&ARQCOptions{CID: 0x00 | 0x01}), want{crypt: authz.CheckFailed}},
			{"TC not ARQC", build(&ARQCOptions{CID: 0x40}), want{crypt: authz.CheckFailed}},
		}
		for _, c := range cases {
			t.Run(program+"/"+c.name, func(t *testing.T) {
				req := baseRequest(mcPAN, "051")
				req.ICC = c.icc
				got := v.Verify(req, card, nil)
				check(t, got, c.w)
				if !c.w.seen && v.ICCResponse(got.ICC, authz.Approved) != nil {
					t.Error("tag 91 for an ARQC that was not checked")
				}
			})
		}
	}
}

// TestTokens: a token's cryptogram keys derive from the token PAN and PSN; its track 2 carries
// the token PAN and expiry; its PIN block is formed with the token PAN while the PVV is the card's.
func TestTokens(t *testing.T) {
	v, cfg := newTestVerifier(t)
	p := mustProgram(t, cfg, "demo-mc")
	k := mustKeys(t, cfg, "demo-mc")
	card := testCard(t, v, "demo-mc", mcPAN)
	tok := testToken(card)
	zpk := unhex(t, testZPK)

	tokF55, err := BuildARQCField55(p, tokenPAN, tok.PSN, 12, amount, currEUR, un4(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cardF55, _ := BuildARQCField55(p, mcPAN, tok.PSN, 12, amount, currEUR, un4(), nil)
	tokTrack, _ := BuildChipTrack2(k.CVK, tokenPAN, tokenExp, serviceCd)
	cardTrackOnToken, _ := BuildChipTrack2(k.CVK, tokenPAN, cardExp, serviceCd)
	tokPIN, _ := BuildPINBlock(zpk, tokenPAN, goodPIN)
	cardPIN, _ := BuildPINBlock(zpk, mcPAN, goodPIN)

	cases := []struct {
		name string
		set  func(r *authz.Request)
		w    want
	}{
		{"token ARQC", func(r *authz.Request) { r.ICC = tokF55 }, want{crypt: authz.CheckPassed, seen: true}},
		{"ARQC under card PAN keys", func(r *authz.Request) { r.ICC = cardF55 }, want{crypt: authz.CheckFailed, seen: true}},
		{"token iCVV", func(r *authz.Request) { r.Track2 = tokTrack }, want{cardData: authz.CheckPassed}},
		{"token track with the card's expiry", func(r *authz.Request) { r.Track2 = cardTrackOnToken }, want{cardData: authz.CheckFailed}},
		{"token PIN", func(r *authz.Request) { r.PINBlock = tokPIN }, want{pin: authz.CheckPassed}},
		{"PIN block formed with the card PAN", func(r *authz.Request) { r.PINBlock = cardPIN }, want{pin: authz.CheckFailed}},
		{"CVC2 via token is the card's", func(r *authz.Request) { r.CVC2 = card.CVC2 }, want{cardData: authz.CheckPassed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := baseRequest(tokenPAN, "071")
			c.set(req)
			check(t, v.Verify(req, card, tok), c.w)
		})
	}
	req := baseRequest(tokenPAN, "071")
	req.ICC = tokF55
	if _, err := CheckIssuerResponse(p, tokenPAN, tok.PSN, tokF55, v.ICCResponse(v.Verify(req, card, tok).ICC, authz.Approved)); err != nil {
		t.Errorf("token ARPC: %v", err)
	}
}

func TestPIN(t *testing.T) {
	v, _ := newTestVerifier(t)
	zpk := unhex(t, testZPK)
	card := testCard(t, v, "demo-visa", visaPAN)
	good, _ := BuildPINBlock(zpk, visaPAN, goodPIN)
	long, _ := BuildPINBlock(zpk, visaPAN, goodPIN+"99") // PVV uses the first 4 digits: still right
	otherZPK := unhex(t, "FEDCBA98765432100123456789ABCDEF")
	wrongKey, _ := BuildPINBlock(otherZPK, visaPAN, goodPIN)
	otherPAN, _ := BuildPINBlock(zpk, "4234560000000025", goodPIN)
	noPVV := *card
	noPVV.PVV = ""
	cases := []struct {
		name  string
		block []byte
		card  *ledger.Card
		w     authz.CheckResult
	}{
		{"right PIN", good, card, authz.CheckPassed},
		{"6-digit PIN, first 4 right", long, card, authz.CheckPassed},
		{"no PVV on the card", good, &noPVV, authz.CheckFailed},
		{"block under another ZPK", wrongKey, card, authz.CheckFailed},
		{"block formed with another PAN", otherPAN, card, authz.CheckFailed},
		{"7-byte block", good[:7], card, authz.CheckFailed},
		{"empty block", []byte{}, card, authz.CheckFailed},
	}
	for bit := 0; bit < 64; bit++ {
		cases = append(cases, struct {
			name  string
			block []byte
			card  *ledger.Card
			w     authz.CheckResult
		}{"bit flipped", flipBit(good, bit), card, authz.CheckFailed})
	}
	for _, c := range cases {
		req := baseRequest(visaPAN, "051")
		req.PINBlock = c.block
		if got := v.Verify(req, c.card, nil).PIN; got != c.w {
			t.Errorf("%s: PIN %s, want %s", c.name, resultName[got], resultName[c.w])
		}
	}
	// Every wrong 4-digit PIN fails... sampled: all PINs sharing no digit position with the right one.
	for _, pin := range []string{"0000", "1234", "9999", "4523", "5524", "4424"} {
		blk, _ := BuildPINBlock(zpk, visaPAN, pin)
		req := baseRequest(visaPAN, "021")
		req.PINBlock = blk
		if got := v.Verify(req, card, nil).PIN; got != authz.CheckFailed {
			t.Errorf("PIN %s accepted", pin)
		}
	}
}

func TestTrack2Parsing(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"4234560000000017=29122015610000", true},
		{";4234560000000017=29122015610000?", true},
		{"4234560000000017D29122015610000", true},
		{"4234560000000017D29122015610000F", true},
		{"4234560000000017=2912201561", true},
		{"4234560000000017=291220156", false},    // CVV cut short
		{"4234560000000017", false},              // no separator
		{"42345600000000172912201561000", false}, // no separator
		{"4234560000000017==2912201561", false},
		{"4234560000000017=2912A01561", false},
		{"42345600=2912201561", false},                                   // PAN too short
		{"42345600000000170000=2912201561", false},                       // PAN too long
		{"4234560000000017=2912201561" + strings.Repeat("0", 20), false}, // over 37
		{"", false},
	} {
		if _, ok := parseTrack2(c.in); ok != c.ok {
			t.Errorf("parseTrack2(%q) ok = %v, want %v", c.in, ok, c.ok)
		}
	}
	v, cfg := newTestVerifier(t)
	k := mustKeys(t, cfg, "demo-visa")
	card := testCard(t, v, "demo-visa", visaPAN)
	tr, _ := BuildTrack2(k.CVK, visaPAN, cardExp, serviceCd)
	// Track PAN other than field 2, and track expiry other than the card's.
	other, _ := BuildTrack2(k.CVK, "4234560000000025", cardExp, serviceCd)
	oldExp, _ := BuildTrack2(k.CVK, visaPAN, "2712", serviceCd)
	for name, c := range map[string]struct {
		track string
		w     authz.CheckResult
	}{
		"valid": {tr, authz.CheckPassed}, "other PAN": {other, authz.CheckFailed},
		"old expiry": {oldExp, authz.CheckFailed}, "garbage": {"not a track", authz.CheckFailed},
		"D separator": {strings.Replace(tr, "=", "D", 1), authz.CheckPassed},
	} {
		req := baseRequest(visaPAN, "902")
		req.Track2 = c.track
		if got := v.Verify(req, card, nil).CardData; got != c.w {
			t.Errorf("%s: %s, want %s", name, resultName[got], resultName[c.w])
		}
	}
}

func TestCVC2(t *testing.T) {
	v, cfg := newTestVerifier(t)
	card := testCard(t, v, "demo-visa", visaPAN)
	k := mustKeys(t, cfg, "demo-visa")
	// The stored CVC2 is the one computed with the CVK at issuance.
	if c, _ := CVC2(k.CVK, visaPAN, cardExp); c != card.CVC2 {
		t.Fatalf("issued CVC2 %s != CVC2 %s", card.CVC2, c)
	}
	reset := *card
	reset.CVC2 = flipDigit(card.CVC2, 1) // a CVC2 reset stores a new value
	noCVC2 := *card
	noCVC2.CVC2 = ""
	for _, c := range []struct {
		name string
		card *ledger.Card
		cvc2 string
		w    authz.CheckResult
	}{
		{"right", card, card.CVC2, authz.CheckPassed},
		{"after reset, old value", &reset, card.CVC2, authz.CheckFailed},
		{"after reset, new value", &reset, reset.CVC2, authz.CheckPassed},
		{"card without CVC2", &noCVC2, card.CVC2, authz.CheckFailed},
		{"4 digits", card, card.CVC2 + "0", authz.CheckFailed},
		{"2 digits", card, card.CVC2[:2], authz.CheckFailed},
		{"letters", card, "A" + card.CVC2[1:], authz.CheckFailed},
	} {
		req := baseRequest(visaPAN, "010")
		req.CVC2 = c.cvc2
		if got := v.Verify(req, c.card, nil).CardData; got != c.w {
			t.Errorf("%s: %s, want %s", c.name, resultName[got], resultName[c.w])
		}
	}
	for i := 0; i < 3; i++ {
		req := baseRequest(visaPAN, "010")
		req.CVC2 = flipDigit(card.CVC2, i)
		if got := v.Verify(req, card, nil).CardData; got != authz.CheckFailed {
			t.Errorf("digit %d changed: %s", i, resultName[got])
		}
	}
}

func TestUnknownProgramFailsPresentData(t *testing.T) {
	v, _ := newTestVerifier(t)
	card := testCard(t, v, "demo-visa", visaPAN)
	card.Program = "gone"
	req := baseRequest(visaPAN, "051")
	req.CVC2, req.PINBlock, req.ICC = "123", make([]byte, 8), []byte{0x9F, 0x26, 0x00}
	got := v.Verify(req, card, nil)
	check(t, got, want{cardData: authz.CheckFailed, pin: authz.CheckFailed, crypt: authz.CheckFailed})
	if v.ICCResponse(got.ICC, authz.Approved) != nil {
		t.Error("tag 91 for an unknown program")
	}
	check(t, v.Verify(baseRequest(visaPAN, "010"), card, nil), want{})
}

func TestNewRejectsBadKeys(t *testing.T) {
	for name, mut := range map[string]func(c *config.Config){
		"zpk":    func(c *config.Config) { c.Security.ZPK = "00" },
		"imk":    func(c *config.Config) { c.Programs[0].Keys.IMKAC = "zz" },
		"cvk":    func(c *config.Config) { c.Programs[0].Keys.CVK = "" },
		"pvk":    func(c *config.Config) { c.Programs[0].Keys.PVK = strings.Repeat("0", 48) },
		"pvki":   func(c *config.Config) { c.Programs[0].Keys.PVKI = 10 },
		"scheme": func(c *config.Config) { c.Programs[0].Scheme = "amex" },
		"dup":    func(c *config.Config) { c.Programs[1].Name = c.Programs[0].Name },
	} {
		cfg := testConfig()
		mut(cfg)
		_, err := New(ConfigOf(cfg))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		// Errors name the key, never a key value.
		for _, k := range []string{testZPK, vectorKey, mcIMK} {
			if strings.Contains(err.Error(), k) {
				t.Errorf("%s: error leaks a key: %v", name, err)
			}
		}
	}
}

// TestVerifyECommerceDoesNotAllocate: the CVC2 path is a compare, nothing more.
func TestVerifyECommerceDoesNotAllocate(t *testing.T) {
	v, _ := newTestVerifier(t)
	card := testCard(t, v, "demo-visa", visaPAN)
	req := baseRequest(visaPAN, "010")
	req.CVC2 = card.CVC2
	if n := testing.AllocsPerRun(100, func() { v.Verify(req, card, nil) }); n != 0 {
		t.Errorf("e-commerce Verify allocates %.0f times", n)
	}
}

// FuzzVerify: whatever the wire carries, Verify neither panics nor passes made-up data.
func FuzzVerify(f *testing.F) {
	v, cfg := newTestVerifier(f)
	card := testCard(f, v, "demo-mc", mcPAN)
	f55, _ := BuildARQCField55(mustProgram(f, cfg, "demo-mc"), mcPAN, "00", 9, amount, currEUR, un4(), nil)
	f.Add(f55, []byte{1, 2, 3, 4, 5, 6, 7, 8}, "5351100000000018=29122011230000", "123", "051", "001")
	f.Fuzz(func(t *testing.T, icc, pinBlock []byte, track2, cvc2, mode, seq string) {
		req := baseRequest(mcPAN, mode)
		req.ICC, req.PINBlock, req.Track2, req.CVC2, req.CardSeq = icc, pinBlock, track2, cvc2, seq
		got := v.Verify(req, card, nil)
		if got.ARQCSeen {
			v.ICCResponse(got.ICC, authz.Approved)
		}
		if got.Cryptogram == authz.CheckPassed && !bytes.Equal(icc, f55) && !bytes.Contains(icc, f55[:11]) {
			t.Fatalf("a made-up field 55 passed")
		}
	})
}

// TestAnswersComeFromTheirOwnCheck: checks of other requests between a request's check and its
// answer (another engine batch, another goroutine) do not change the answer, which is formed
// from the session the check returned.
func TestAnswersComeFromTheirOwnCheck(t *testing.T) {
	v, cfg := newTestVerifier(t)
	p := mustProgram(t, cfg, "demo-mc")
	card := testCard(t, v, "demo-mc", mcPAN)
	reqs := make([]*authz.Request, 8)
	for i := range reqs {
		reqs[i] = baseRequest(mcPAN, "051")
		reqs[i].AmountMinor = amount + int64(i)
		reqs[i].ICC, _ = BuildARQCField55(p, mcPAN, "00", uint16(100+i), reqs[i].AmountMinor, currEUR, un4(), nil)
	}
	first := v.Verify(reqs[0], card, nil)
	var wg sync.WaitGroup
	for _, r := range reqs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := v.Verify(r, card, nil)
			if _, err := CheckIssuerResponse(p, mcPAN, "00", r.ICC, v.ICCResponse(c.ICC, authz.Approved)); err != nil {
				t.Errorf("concurrent answer: %v", err)
			}
		}()
	}
	wg.Wait()
	if _, err := CheckIssuerResponse(p, mcPAN, "00", reqs[0].ICC, v.ICCResponse(first.ICC, authz.Approved)); err != nil {
		t.Fatalf("the first request's answer after other checks: %v", err)
	}
}
