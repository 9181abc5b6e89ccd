package acquirer

import (
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// TestBuiltRequestsPassTheVerifier builds chip, contactless, magnetic-stripe, e-commerce and PIN
// requests, sends them through the codec and checks them with the switch's own verifier: the
// simulator's cards must be valid cards of the switch.
func TestBuiltRequestsPassTheVerifier(t *testing.T) {
	cfg, err := config.Load("", config.Overrides{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := security.New(security.ConfigOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	keys := KeysFromConfig(cfg)
	b := NewBuilder(keys, DefaultTerminal)
	for _, prog := range cfg.Programs {
		pk, _ := keys.Program(prog.Name, "")
		body := prog.BIN + "123456789"
		number := body + luhnDigit(body)
		expiry := time.Now().UTC().AddDate(2, 0, 0).Format("0601")
		cvc2, err := cardcrypto.CVV2(pk.CVK, number, expiry)
		if err != nil {
			t.Fatal(err)
		}
		pvv, err := cardcrypto.PVV(pk.PVK, number, prog.Keys.PVKI, "1234")
		if err != nil {
			t.Fatal(err)
		}
		card := &Card{Program: prog.Name, PAN: number, ExpiryYYMM: expiry, CVC2: cvc2, PSN: "00", PIN: "1234", CurrencyNum: "978"}
		stored := &ledger.Card{Program: prog.Name, PAN: number, ExpiryYYMM: expiry, CVC2: cvc2, PSN: "00", PVV: pvv}
		for _, tc := range []struct {
			name                string
			spec                Spec
			cardData, pin, cryp authz.CheckResult
		}{
			{"ecommerce", Spec{Kind: KindPurchase, Entry: EntryECommerce}, authz.CheckPassed, 0, 0},
			{"ecommerce wrong cvc2", Spec{Kind: KindPurchase, CVC2: "wrong"}, authz.CheckFailed, 0, 0},
			{"chip", Spec{Kind: KindPurchase, Entry: EntryChip}, authz.CheckPassed, 0, authz.CheckPassed},
			{"contactless", Spec{Kind: KindPurchase, Entry: EntryContactless}, authz.CheckPassed, 0, authz.CheckPassed},
			{"chip bad arqc", Spec{Kind: KindPurchase, Entry: EntryChip, BadARQC: true}, authz.CheckPassed, 0, authz.CheckFailed},
			{"magstripe", Spec{Kind: KindPurchase, Entry: EntryMagstripe}, authz.CheckPassed, 0, 0},
			{"cash with PIN", Spec{Kind: KindCash}, authz.CheckPassed, authz.CheckPassed, authz.CheckPassed},
			{"cash wrong PIN", Spec{Kind: KindCash, PIN: "wrong"}, authz.CheckPassed, authz.CheckFailed, authz.CheckPassed},
			{"balance", Spec{Kind: KindBalance}, authz.CheckPassed, 0, authz.CheckPassed},
		} {
			t.Run(prog.Name+"/"+tc.name, func(t *testing.T) {
				tc.spec.Card, tc.spec.AmountMinor = card, 1234
				req, err := b.Build(tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := codec.BuildRequest(req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := codec.Decode(msg)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				c := v.Verify(got, stored, nil)
				if c.CardData != tc.cardData || c.PIN != tc.pin || c.Cryptogram != tc.cryp {
					t.Errorf("checks card data %v PIN %v cryptogram %v, want %v %v %v", c.CardData, c.PIN, c.Cryptogram,
						tc.cardData, tc.pin, tc.cryp)
				}
			})
		}
	}
}

// TestFollowUpFields checks field 90 and 95 of completions and reversals.
func TestFollowUpFields(t *testing.T) {
	b := NewBuilder(nil, DefaultTerminal)
	card := &Card{PAN: "5351100000000001", ExpiryYYMM: "2812", CVC2: "123", CurrencyNum: "978"}
	orig, err := b.Build(Spec{Kind: KindPurchase, Card: card, AmountMinor: 3000})
	if err != nil {
		t.Fatal(err)
	}
	comp, _ := b.Build(Spec{Kind: KindCompletion, Original: orig, AmountMinor: 2000})
	if comp.MTI != "0220" || comp.AmountMinor != 2000 || comp.HasReplacement || comp.Original.STAN != orig.STAN ||
		comp.Original.F7 != orig.F7 || comp.Original.MTI != "0100" || comp.Original.AcquirerID != "00000400001" {
		t.Errorf("completion %+v %+v", comp, comp.Original)
	}
	full, _ := b.Build(Spec{Kind: KindReversal, Original: orig, AmountMinor: 999})
	if full.MTI != "0400" || full.AmountMinor != 3000 || full.HasReplacement {
		t.Errorf("full reversal %+v", full)
	}
	part, _ := b.Build(Spec{Kind: KindReversal, Original: orig, ReplacementMinor: 1000, HasReplacement: true})
	if !part.HasReplacement || part.ReplacementAmountMinor != 1000 || part.AmountMinor != 3000 {
		t.Errorf("partial reversal %+v", part)
	}
	if r := Repeat(orig); r.MTI != "0101" || r.STAN != orig.STAN {
		t.Errorf("repeat %+v", r)
	}
	if orig.STAN == comp.STAN || len(orig.RRN) != 12 || len(orig.MerchantName) != 40 {
		t.Errorf("stan %s/%s rrn %q name %q", orig.STAN, comp.STAN, orig.RRN, orig.MerchantName)
	}
}
