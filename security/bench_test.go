package security

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/ledger"
)

// Benchmarks of the Verifier on the engine's hot path, one per kind of authorization. The
// "chip" figures are the extra CPU a chip authorization costs over an e-commerce one, to be set
// against the whole per-authorization cost measured by the bench (codec, engine, journal).

type benchCase struct {
	req  *authz.Request
	card *ledger.Card
	tok  *ledger.Token
}

func benchSetup(b *testing.B, program, pan, mode string, set func(k Keys, card *ledger.Card, r *authz.Request)) benchCase {
	b.Helper()
	v, cfg := newTestVerifier(b)
	card := testCard(b, v, program, pan)
	req := baseRequest(pan, mode)
	set(mustKeys(b, cfg, program), card, req)
	return benchCase{req: req, card: card}
}

func runVerify(b *testing.B, c benchCase, want ledger.Checks) {
	v, _ := newTestVerifier(b)
	if got := v.Verify(c.req, c.card, c.tok); got != want {
		b.Fatalf("Verify = %+v, want %+v", got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v.Verify(c.req, c.card, c.tok)
	}
}

func BenchmarkVerifyECommerceCVC2(b *testing.B) {
	c := benchSetup(b, "demo-visa", visaPAN, "010", func(_ Keys, card *ledger.Card, r *authz.Request) { r.CVC2 = card.CVC2 })
	runVerify(b, c, ledger.Checks{CardData: authz.CheckPassed})
}

func BenchmarkVerifyMagStripeCVV(b *testing.B) {
	c := benchSetup(b, "demo-visa", visaPAN, "902", func(k Keys, _ *ledger.Card, r *authz.Request) {
		r.Track2, _ = BuildTrack2(k.CVK, visaPAN, cardExp, serviceCd)
	})
	runVerify(b, c, ledger.Checks{CardData: authz.CheckPassed})
}

func BenchmarkVerifyPIN(b *testing.B) {
	zpk := unhex(b, testZPK)
	c := benchSetup(b, "demo-visa", visaPAN, "021", func(_ Keys, _ *ledger.Card, r *authz.Request) {
		r.PINBlock, _ = BuildPINBlock(zpk, visaPAN, goodPIN)
	})
	runVerify(b, c, ledger.Checks{PIN: authz.CheckPassed})
}

func benchChip(b *testing.B, program, pan string, cvn cardcrypto.CVN, withPIN bool) {
	zpk := unhex(b, testZPK)
	c := benchSetup(b, program, pan, "051", func(k Keys, _ *ledger.Card, r *authz.Request) {
		var err error
		r.ICC, err = BuildField55(k, pan, "00", 42, amount, currEUR, un4(), &ARQCOptions{CVN: cvn})
		if err != nil {
			b.Fatal(err)
		}
		if withPIN {
			r.PINBlock, _ = BuildPINBlock(zpk, pan, goodPIN)
		}
	})
	want := ledger.Checks{Cryptogram: authz.CheckPassed, ATC: 42, ARQCSeen: true}
	if withPIN {
		want.PIN = authz.CheckPassed
	}
	runVerify(b, c, want)
}

func BenchmarkVerifyChipVisaCVN18(b *testing.B) {
	benchChip(b, "demo-visa", visaPAN, cardcrypto.VisaCVN18, false)
}
func BenchmarkVerifyChipVisaCVN10(b *testing.B) {
	benchChip(b, "demo-visa", visaPAN, cardcrypto.VisaCVN10, false)
}
func BenchmarkVerifyChipMastercardCVN16(b *testing.B) {
	benchChip(b, "demo-mc", mcPAN, cardcrypto.MastercardCVN16, false)
}
func BenchmarkVerifyChipAndPINMastercardCVN16(b *testing.B) {
	benchChip(b, "demo-mc", mcPAN, cardcrypto.MastercardCVN16, true)
}

// BenchmarkICCResponse is the second half of a chip authorization's cost: tag 91 from the
// session the check returned.
func BenchmarkICCResponse(b *testing.B) {
	for _, c := range []struct {
		name, program, pan string
		cvn                cardcrypto.CVN
	}{
		{"VisaCVN18", "demo-visa", visaPAN, cardcrypto.VisaCVN18},
		{"MastercardCVN16", "demo-mc", mcPAN, cardcrypto.MastercardCVN16},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, cfg := newTestVerifier(b)
			card := testCard(b, v, c.program, c.pan)
			req := baseRequest(c.pan, "051")
			req.ICC, _ = BuildField55(mustKeys(b, cfg, c.program), c.pan, "00", 42, amount, currEUR, un4(), &ARQCOptions{CVN: c.cvn})
			icc := v.Verify(req, card, nil).ICC
			if v.ICCResponse(icc, authz.Approved) == nil {
				b.Fatal("no tag 91")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v.ICCResponse(icc, authz.Approved)
			}
		})
	}
}

// BenchmarkChipVerifyAndAnswer is a chip authorization's whole security cost as the engine
// spends it: the check, then tag 91 from the session the check returned.
func BenchmarkChipVerifyAndAnswer(b *testing.B) {
	for _, c := range []struct {
		name, program, pan string
		cvn                cardcrypto.CVN
	}{
		{"VisaCVN18", "demo-visa", visaPAN, cardcrypto.VisaCVN18},
		{"MastercardCVN16", "demo-mc", mcPAN, cardcrypto.MastercardCVN16},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, cfg := newTestVerifier(b)
			card := testCard(b, v, c.program, c.pan)
			req := baseRequest(c.pan, "051")
			req.ICC, _ = BuildField55(mustKeys(b, cfg, c.program), c.pan, "00", 42, amount, currEUR, un4(), &ARQCOptions{CVN: c.cvn})
			b.ReportAllocs()
			for b.Loop() {
				checks := v.Verify(req, card, nil)
				if checks.Cryptogram != authz.CheckPassed {
					b.Fatal("not passed")
				}
				if v.ICCResponse(checks.ICC, authz.Approved) == nil {
					b.Fatal("no tag 91")
				}
			}
		})
	}
}
