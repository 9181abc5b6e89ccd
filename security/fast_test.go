package security

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/ledger"
)

func randDigits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// TestFastPathMatchesCardcrypto checks the cached-key hot path (fast.go) against cardcrypto, the
// reference implementation, on random inputs: CVV/iCVV, PVV, PIN block decoding, and for every
// CVN the ARQC (built by cardcrypto.GenerateAC, verified by the fast path) and the ARPC (built by
// the fast path, verified by cardcrypto.GenerateARPC), over PAN lengths 12-19 (Option B above 16).
func TestFastPathMatchesCardcrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		key := make([]byte, 16)
		for j := range key {
			key[j] = byte(r.IntN(256))
		}
		keyHex := []byte(nil)
		keyHex = append(keyHex, []byte(hexUpper(key))...)
		cfg := testConfig()
		for pi := range cfg.Programs {
			cfg.Programs[pi].Keys.IMKAC, cfg.Programs[pi].Keys.CVK, cfg.Programs[pi].Keys.PVK = string(keyHex), string(keyHex), string(keyHex)
			cfg.Programs[pi].Keys.PVKI = r.IntN(7)
		}
		cfg.Security.ZPK = string(keyHex)
		v, err := New(ConfigOf(cfg))
		if err != nil {
			t.Fatal(err)
		}
		pan := randDigits(r, 12+r.IntN(8))
		exp, sc := randDigits(r, 4), randDigits(r, 3)
		p := v.programs["demo-visa"]

		want, _ := cardcrypto.CVV(key, pan, exp, sc)
		if !p.s.verifyCVV(pan, exp, sc, want) || p.s.verifyCVV(pan, exp, sc, flipDigit(want, r.IntN(3))) {
			t.Fatalf("CVV differs from cardcrypto (PAN length %d)", len(pan))
		}
		pin := randDigits(r, 4+r.IntN(9))
		pvv, _ := cardcrypto.PVV(key, pan, p.pvki, pin)
		if !p.s.verifyPVV(pan, p.pvki, []byte(pin), pvv) || p.s.verifyPVV(pan, p.pvki, []byte(pin), flipDigit(pvv, r.IntN(4))) {
			t.Fatalf("PVV differs from cardcrypto")
		}
		blk, _ := cardcrypto.EncryptPINBlockISO0(key, pin, pan)
		var got [12]byte
		n := pinFromBlock(v.zpkC, blk, pan, &got)
		if string(got[:n]) != pin {
			t.Fatalf("PIN block decode differs from cardcrypto")
		}
		bad := flipBit(blk, r.IntN(64))
		_, refErr := cardcrypto.DecryptPINBlockISO0(key, bad, pan)
		if n := pinFromBlock(v.zpkC, bad, pan, &got); (n == 0) != (refErr != nil) {
			t.Fatalf("PIN block validity differs from cardcrypto")
		}

		for _, cvn := range []cardcrypto.CVN{cardcrypto.VisaCVN10, cardcrypto.VisaCVN18, cardcrypto.VisaCVN22,
			cardcrypto.MastercardCVN16, cardcrypto.MastercardCVN17, cardcrypto.MastercardCVN20, cardcrypto.MastercardCVN21} {
			program := "demo-visa"
			if cvn.Scheme() == cardcrypto.SchemeMastercard {
				program = "demo-mc"
			}
			psn := randDigits(r, 2)
			atc := uint16(1 + r.IntN(65535))
			var un [4]byte
			for j := range un {
				un[j] = byte(r.IntN(256))
			}
			amt := int64(r.IntN(1e9))
			f55, err := BuildField55(Keys{Scheme: cvn.Scheme(), IMKAC: key}, pan, psn, atc, amt, currEUR, un, &ARQCOptions{CVN: cvn})
			if err != nil {
				t.Fatal(err)
			}
			card := &ledger.Card{Program: program, PAN: pan, PSN: psn}
			req := baseRequest(pan, "051")
			req.AmountMinor, req.ICC = amt, f55
			c := v.Verify(req, card, nil)
			if c.Cryptogram != authz.CheckPassed || c.ATC != int(atc) {
				t.Fatalf("%s, PAN length %d: fast ARQC check disagrees with cardcrypto.GenerateAC", cvn, len(pan))
			}
			resp := v.ICCResponse(c.ICC, authz.Approved)
			if _, err := CheckIssuerResponse(&cfg.Programs[map[string]int{"demo-visa": 0, "demo-mc": 1}[program]], pan, psn, f55, resp); err != nil {
				t.Fatalf("%s: fast ARPC disagrees with cardcrypto.GenerateARPC: %v", cvn, err)
			}
			// The Verifier keeps nothing between calls: the same request checked again (as
			// another value) gets the same answer.
			req2 := *req
			if got := v.ICCResponse(v.Verify(&req2, card, nil).ICC, authz.Approved); !bytes.Equal(got, resp) {
				t.Fatalf("%s: a second check answers differently", cvn)
			}
		}
	}
}

func hexUpper(b []byte) string {
	const h = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = h[c>>4], h[c&0x0F]
	}
	return string(out)
}
