package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// The generator's field 55 is byte for byte security.BuildField55's, for both schemes of the
// development profile, on random cards, ATCs, amounts, unpredictable numbers and dates, with the
// ICC master key taken from the cache (second request on a card) and derived afresh.
func TestChipBuilderMatchesBuildField55(t *testing.T) {
	cards := testCards(t)
	b := newChipBuilder(cards)
	schemes := map[string]bool{}
	for i, p := range b.progs {
		if p == nil {
			t.Fatalf("program %d (%s): no fast path", i, cards.Keys[i].Scheme)
		}
		schemes[cards.Keys[i].Scheme] = true
	}
	if !schemes["visa"] || !schemes["mastercard"] {
		t.Fatalf("schemes %v", schemes)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		idx := rng.IntN(50) // few cards: the cache is hit most of the time
		prog := provision.ProgramOf(cards.Programs, idx)
		pan := provision.PAN(prog, idx)
		atc := uint16(1 + rng.IntN(0xFFFF))
		amount := int64(rng.IntN(1_000_000))
		u := rng.Uint32()
		un := [4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
		date := time.Date(2020+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).Format("060102")
		want, err := security.BuildField55(cards.Keys[idx%len(cards.Keys)], pan, chipPSN, atc, amount, prog.Currency.Numeric, un, &security.ARQCOptions{TxnDate: date})
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte{0xAA}
		got, err := b.build(prefix, idx, pan, atc, amount, prog.Currency.Numeric, un, date)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[1:], want) || got[0] != 0xAA {
			t.Fatalf("card %d ATC %d amount %d date %s:\n got % X\nwant % X", idx, atc, amount, date, got[1:], want)
		}
	}
	if b.mkHits == 0 || b.mkMisses == 0 || b.mkMisses > 50 {
		t.Fatalf("ICC MK cache: %d hits, %d misses", b.mkHits, b.mkMisses)
	}
}

// The cache of ICC master keys stays bounded.
func TestChipBuilderCacheBounded(t *testing.T) {
	cards := testCards(t)
	b := newChipBuilder(cards)
	for idx := 0; idx < chipMKCacheMax+300; idx++ {
		prog := provision.ProgramOf(cards.Programs, idx)
		if _, err := b.build(nil, idx, provision.PAN(prog, idx), 1, 1, prog.Currency.Numeric, [4]byte{}, "260101"); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.mk) > chipMKCacheMax {
		t.Fatalf("%d cached keys", len(b.mk))
	}
}

// A program the fast path does not know is built by security.BuildField55.
func TestChipBuilderFallback(t *testing.T) {
	cards := testCards(t)
	b := newChipBuilder(cards)
	b.progs[0] = nil
	prog := &cards.Programs[0]
	pan := provision.PAN(prog, 0)
	want, _ := security.BuildField55(cards.Keys[0], pan, chipPSN, 7, 3, prog.Currency.Numeric, [4]byte{1, 2, 3, 4}, &security.ARQCOptions{TxnDate: "261122"})
	got, err := b.build(nil, 0, pan, 7, 3, prog.Currency.Numeric, [4]byte{1, 2, 3, 4}, "261122")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v\n got % X\nwant % X", err, got, want)
	}
}

// Prebuilt chip requests: sent first, in order, each valid for the switch (ARQC over the
// request's amount and currency, ATCs increasing per card, across the pool and the inline
// requests after it); only sent ATCs count in maxATC.
func TestGeneratorPrebuiltChip(t *testing.T) {
	cfg, cards, provisioned := provisionedCards(t, 40)
	v, err := security.New(security.ConfigOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	byPAN := map[string]*ledger.Card{}
	for i := range provisioned {
		byPAN[provisioned[i].PAN] = &provisioned[i]
	}
	cards.ATCBase = 500
	mix, _ := ParseMix("chip=3,ecom=1")
	now := time.Now()
	const conns = 2
	for c := 0; c < conns; c++ {
		g := newGenerator(cards, &mix, c, conns, 3, 1)
		if err := g.prebuildChip(60, now); err != nil {
			t.Fatal(err)
		}
		if len(g.pre.entries) != 60 || g.maxATC != 0 {
			t.Fatalf("pool %d entries, maxATC %d before sending", len(g.pre.entries), g.maxATC)
		}
		last := map[string]int{}
		chips := 0
		for chips < 100 {
			msg, _, kind, err := g.next(now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if kind != KindChip {
				continue
			}
			chips++
			req, err := codec.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			card := byPAN[req.PAN]
			if card == nil {
				t.Fatalf("PAN %s not provisioned", req.PAN)
			}
			if chips <= 60 {
				e := g.pre.entries[chips-1]
				if req.PAN != provision.PAN(provision.ProgramOf(cards.Programs, int(e.idx)), int(e.idx)) || req.AmountMinor != int64(e.amount) {
					t.Fatalf("request %d is not pool entry %d", chips, chips-1)
				}
			}
			checks := v.Verify(req, card, nil)
			if checks.Cryptogram != authz.CheckPassed || checks.ATC <= card.HighestATC {
				t.Fatalf("chip %d: ARQC %v ATC %d after %d", chips, checks.Cryptogram, checks.ATC, card.HighestATC)
			}
			card.HighestATC = checks.ATC
			if a := int(checks.ATC); a <= last[req.PAN] {
				t.Fatalf("ATC %d after %d", a, last[req.PAN])
			} else {
				last[req.PAN] = a
			}
			if int(g.maxATC) < int(checks.ATC) {
				t.Fatalf("maxATC %d below a sent ATC %d", g.maxATC, checks.ATC)
			}
		}
		if g.chipPrebuilt != 60 || g.chipInline != 40 {
			t.Fatalf("prebuilt %d inline %d", g.chipPrebuilt, g.chipInline)
		}
	}
}

// A pool built on one day is not sent on the next: the date (9A) would be stale.
func TestGeneratorPrebuiltDateChange(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix("chip=1")
	day1 := time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC)
	g := newGenerator(cards, &mix, 0, 1, 1, 1)
	if err := g.prebuildChip(10, day1); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := g.next(day1, nil); err != nil {
		t.Fatal(err)
	}
	msg, _, _, err := g.next(day1.Add(2*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := codec.Decode(msg)
	l, _ := tlv.Parse(req.ICC)
	date, _ := l.Get(tlv.TagTransactionDate)
	if !bytes.Equal(date, []byte{0x26, 0x11, 0x23}) || g.chipPrebuilt != 1 || g.chipInline != 1 || len(g.pre.entries) != 0 {
		t.Fatalf("9A % X, prebuilt %d inline %d pool %d", date, g.chipPrebuilt, g.chipInline, len(g.pre.entries))
	}
}

// The CVC2 table is cardcrypto.CVV of every card, shared by the copies of a Cards.
func TestCVC2Table(t *testing.T) {
	cards := testCards(t)
	cards.tables = &cardTables{}
	cards.Count = 3000
	tab := cards.cvc2Table()
	cp := *cards
	if cp.cvc2Table() != tab {
		t.Fatal("a copy of the cards recomputed the table")
	}
	for _, i := range []int{0, 1, 2, 1499, 2999} {
		prog := provision.ProgramOf(cards.Programs, i)
		want, _ := cardcrypto.CVV(prog.CVK, provision.PAN(prog, i), cards.Expiry, "000")
		if got, ok := tab.get(i); !ok || got != want {
			t.Fatalf("card %d: %q, want %q", i, got, want)
		}
	}
	if _, ok := tab.get(3000); ok {
		t.Fatal("card 3000 in the table")
	}
	cp.Count = 4000
	if t2 := cp.cvc2Table(); t2 == tab || t2.n != 4000 {
		t.Fatal("not recomputed for more cards")
	}
}

// prepare sizes the pools from the rate (open loop) or PrebuildRate (closed loop), the duration
// and the chip share, and leaves chip-less mixes alone.
func TestPrebuildSizing(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix(DefaultMix) // chip 10 %
	o := Options{Connections: 4, Duration: 10 * time.Second, Mix: mix, Cards: *cards, Rate: 400}
	if n := o.prebuildPerConn(); n != 16+int(math.Ceil(100*1.15)) { // 400/s × 10 s × 0.1 / 4 = 100, plus 15 % and 16
		t.Fatalf("open loop: %d per connection", n)
	}
	o.Rate, o.PrebuildRate = 0, 800
	if n := o.prebuildPerConn(); n != 16+int(math.Ceil(200*1.15)) {
		t.Fatalf("closed loop: %d per connection", n)
	}
	o.PrebuildRate = -1
	if n := o.prebuildPerConn(); n != 0 {
		t.Fatalf("disabled: %d", n)
	}
	o.PrebuildRate = 0
	if n, want := o.prebuildPerConn(), 16+int(math.Ceil(DefaultPrebuildRate*10*0.1/4*1.15)); n != want {
		t.Fatalf("default: %d", n)
	}
	o.Mix, _ = ParseMix("ecom=1")
	if n := o.prebuildPerConn(); n != 0 {
		t.Fatalf("no chip: %d", n)
	}
	o.Mix, o.Duration, o.PrebuildRate = mix, time.Hour, 1e6
	if n := o.prebuildPerConn(); n*o.Connections > maxPrebuiltChip {
		t.Fatalf("unbounded: %d", n)
	}
	o.Duration, o.PrebuildRate = time.Second, 100
	gens := []*generator{newGenerator(&o.Cards, &o.Mix, 0, 1, 1, 1)}
	if _, err := prepare(&o, gens); err != nil || len(gens[0].pre.entries) != o.prebuildPerConn() || gens[0].cvc2Tab == nil {
		t.Fatalf("prepare: %v, %d prebuilt, table %v", err, len(gens[0].pre.entries), gens[0].cvc2Tab != nil)
	}
}
