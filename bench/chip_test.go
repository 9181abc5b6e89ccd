package bench

import (
	"context"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// chipATC returns the PAN and the ATC (tag 9F36) of a generated chip message.
func chipATC(t *testing.T, msg []byte) (string, int) {
	t.Helper()
	req, err := codec.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlv.Parse(req.ICC)
	if err != nil {
		t.Fatalf("field 55: %v", err)
	}
	atc, ok := l.Get(tlv.TagATC)
	if !ok || len(atc) != 2 {
		t.Fatalf("field 55 without a 2-byte ATC: % X", req.ICC)
	}
	return req.PAN, int(atc[0])<<8 | int(atc[1])
}

// A card's ATCs strictly increase within a run and across runs: across two generator instances
// (new runs) whose base comes from a later wall clock, and from the record the first run left in
// the data directory.
func TestATCMonotonicPerCardAcrossRuns(t *testing.T) {
	mix, _ := ParseMix("chip=1")
	const conns = 4
	t1 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	last := map[string]int{}
	run := func(base uint16, at time.Time, seed uint64) uint16 {
		cards := testCards(t)
		cards.Count = 50 // few cards: many chip requests per card
		cards.ATCBase = base
		var maxATC uint16
		for c := 0; c < conns; c++ {
			g := newGenerator(cards, &mix, c, conns, seed, 1)
			for i := 0; i < 500; i++ {
				msg, _, _, err := g.next(at, nil)
				if err != nil {
					t.Fatal(err)
				}
				p, atc := chipATC(t, msg)
				if atc <= last[p] {
					t.Fatalf("card %s: ATC %d after %d", p, atc, last[p])
				}
				last[p] = atc
			}
			if g.atcExhausted != 0 {
				t.Fatalf("ATC exhausted %d", g.atcExhausted)
			}
			maxATC = max(maxATC, g.maxATC)
		}
		return maxATC
	}
	// Run 1 at t1 sends ~40 chip requests per card; run 2, an hour later, takes its base from the
	// clock alone (1,800 half-seconds later).
	max1 := run(ATCBaseAt(t1), t1, 1)
	t2 := t1.Add(time.Hour)
	if ATCBaseAt(t2) <= max1 {
		t.Fatalf("clock base %d not above %d", ATCBaseAt(t2), max1)
	}
	max2 := run(ATCBaseAt(t2), t2, 2)

	// Run 3 from the record in the data directory, with a clock that went backwards (next day):
	// the record wins.
	dir := t.TempDir()
	if b, src := LoadATCBase(dir, t2); b != ATCBaseAt(t2) || src != "wall clock" {
		t.Fatalf("empty directory: base %d from %s", b, src)
	}
	if err := SaveATCNext(dir, nextATCBase(ATCBaseAt(t2), max2)); err != nil {
		t.Fatal(err)
	}
	if err := SaveATCNext(dir, 5); err != nil { // never lowers the record
		t.Fatal(err)
	}
	t3 := t2.Add(22 * time.Hour) // 07:00 the next day: the clock base is below run 2's ATCs
	b3, src := LoadATCBase(dir, t3)
	if b3 != max2+1 || src == "wall clock" {
		t.Fatalf("recorded base %d (%s), want %d", b3, src, max2+1)
	}
	run(b3, t3, 3)
}

// At the top of the 2-byte range the ATC stops at 0xFFFF and the overflow is counted.
func TestATCWrapLimit(t *testing.T) {
	cards := testCards(t)
	cards.Count, cards.Hot, cards.ATCBase = 1, true, 0xFFFE
	mix, _ := ParseMix("chip=1")
	g := newGenerator(cards, &mix, 0, 1, 1, 1)
	var atcs []int
	for i := 0; i < 4; i++ {
		msg, _, _, err := g.next(time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, a := chipATC(t, msg)
		atcs = append(atcs, a)
	}
	if atcs[0] != 0xFFFE || atcs[1] != 0xFFFF || atcs[3] != 0xFFFF || g.atcExhausted != 2 || nextATCBase(0xFFFE, g.maxATC) != 0xFFFF {
		t.Fatalf("ATCs %v exhausted %d", atcs, g.atcExhausted)
	}
}

// provisionedCards provisions n cards through the engine (in-memory journal) and returns the
// switch's view of them, the configuration and the bench's card set.
func provisionedCards(t *testing.T, n int) (*config.Config, *Cards, []ledger.Card) {
	t.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: t.TempDir()}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	progs, err := provision.Programs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := ledger.Env{PANHasher: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	mem := journaltest.NewMemory()
	eng := engine.New(engine.Config{QueueDepth: 16, MaxBatch: 4}, ledger.NewState(mem), mem, env, time.Now, nil, nil)
	eng.Start()
	defer eng.Stop(context.Background())
	fund := map[string]int64{}
	for _, p := range progs {
		fund[p.Name] = 1_000_00
	}
	if _, err := provision.Run(context.Background(), eng, progs, env.PANHasher, fund, provision.Options{Cards: n}); err != nil {
		t.Fatal(err)
	}
	// provision.Run returned: every card is committed.
	out := make([]ledger.Card, n)
	for i := 0; i < n; i++ {
		id, ok := eng.State().CardIDByPANHash(env.PANHasher(provision.PAN(provision.ProgramOf(progs, i), i)))
		if !ok {
			break
		}
		out[i], _ = eng.State().Card(id)
	}
	cards, err := LoadCards("", cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !cards.Secrets || len(cards.Keys) != len(progs) {
		t.Fatalf("LoadCards: secrets %v, %d keys", cards.Secrets, len(cards.Keys))
	}
	cards.Count = n
	return cfg, cards, out
}

// Chip requests carry a valid ARQC for the provisioned card (security.Verifier passes it, with
// its ATC, and answers with tag 91), PIN requests a PIN block that decodes under the ZPK to the
// PIN provision set and passes the PVV check, e-commerce requests the card's CVC2.
func TestGeneratorSecurityDataVerifies(t *testing.T) {
	cfg, cards, provisioned := provisionedCards(t, 20)
	v, err := security.New(security.ConfigOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	byPAN := map[string]*ledger.Card{}
	for i := range provisioned {
		if provisioned[i].PAN == "" {
			t.Fatalf("card %d not provisioned", i)
		}
		byPAN[provisioned[i].PAN] = &provisioned[i]
	}
	zpk, err := security.ZPK(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cards.ATCBase = 1000
	mix, _ := ParseMix("ecom=1,chip=2,pin=2")
	var seen [kindCount]int
	entry := map[string]bool{}
	for c := 0; c < 3; c++ {
		g := newGenerator(cards, &mix, c, 3, 5, 1)
		for i := 0; i < 300; i++ {
			msg, _, kind, err := g.next(time.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			req, err := codec.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			card := byPAN[req.PAN]
			if card == nil {
				t.Fatalf("PAN %s not provisioned", req.PAN)
			}
			seen[kind]++
			checks := v.Verify(req, card, nil)
			switch kind {
			case KindChip:
				entry[req.POSEntryMode] = true
				if req.CardSeq != "000" || (req.POSEntryMode != "051" && req.POSEntryMode != "071") || req.PINBlock != nil {
					t.Fatalf("chip: 23 %q 22 %q", req.CardSeq, req.POSEntryMode)
				}
				if checks.Cryptogram != authz.CheckPassed || !checks.ARQCSeen || checks.ATC < 1000 {
					t.Fatalf("chip: ARQC %v seen %v ATC %d", checks.Cryptogram, checks.ARQCSeen, checks.ATC)
				}
				if checks.ATC <= card.HighestATC {
					t.Fatalf("chip: ATC %d not above %d", checks.ATC, card.HighestATC)
				}
				card.HighestATC = checks.ATC // as the switch records it
				icc := v.ICCResponse(checks.ICC, authz.Approved)
				if !hasTag91(icc) {
					t.Fatalf("chip: answer field 55 % X has no tag 91", icc)
				}
				prog := &cfg.Programs[provisionedProgram(cfg, card.Program)]
				if arc, err := security.CheckIssuerResponse(prog, req.PAN, req.CardSeq, req.ICC, icc); err != nil || len(arc) == 0 {
					t.Fatalf("chip: the card refuses the ARPC: %v", err)
				}
			case KindPIN:
				pin, err := cardcrypto.DecryptPINBlockISO0(zpk, req.PINBlock, req.PAN)
				if err != nil || pin != provision.DefaultPIN {
					t.Fatalf("pin: block decodes to %q, %v", pin, err)
				}
				if checks.PIN != authz.CheckPassed || len(req.ICC) != 0 {
					t.Fatalf("pin: check %v", checks.PIN)
				}
			case KindEcom:
				if checks.CardData != authz.CheckPassed {
					t.Fatalf("ecom: CVC2 check %v", checks.CardData)
				}
			}
		}
	}
	if seen[KindChip] < 100 || seen[KindPIN] < 100 || seen[KindEcom] < 50 || !entry["051"] || !entry["071"] {
		t.Fatalf("kinds %v entry modes %v", seen, entry)
	}
	// A replayed chip request (same ATC) fails the freshness rule of the switch; a changed amount
	// fails the cryptogram.
	g := newGenerator(cards, &mix, 0, 1, 9, 1)
	for {
		msg, _, kind, _ := g.next(time.Now(), nil)
		if kind != KindChip {
			continue
		}
		req, _ := codec.Decode(msg)
		req.AmountMinor++
		if v.Verify(req, byPAN[req.PAN], nil).Cryptogram == authz.CheckPassed {
			t.Fatal("ARQC passed with another amount")
		}
		break
	}
}

func provisionedProgram(cfg *config.Config, name string) int {
	for i := range cfg.Programs {
		if cfg.Programs[i].Name == name {
			return i
		}
	}
	return 0
}

func TestParseStatCPU(t *testing.T) {
	stat := "4242 (card switch) (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	d, err := parseStatCPU(stat, 100)
	if err != nil || d != 3250*time.Millisecond {
		t.Fatalf("%v %v", d, err)
	}
	if ClockTicks() <= 0 {
		t.Fatal("clock ticks")
	}
	if _, err := parseStatCPU("garbage", 100); err == nil {
		t.Fatal("accepted garbage")
	}
}

// BenchmarkGeneratorNextChip is the bench's own cost of a chip request inside a measured window:
// its ARQC was built before the clock (prebuildChip; refilled here with the timer stopped).
func BenchmarkGeneratorNextChip(b *testing.B) {
	benchChip(b, 1000, 1, true)
}

// BenchmarkGeneratorNextChipInline: the ARQC built in the request (the pool ran out), the card's
// ICC master key cached (1,000 cards on one connection).
func BenchmarkGeneratorNextChipInline(b *testing.B) {
	benchChip(b, 1000, 1, false)
}

// BenchmarkGeneratorNextChipInline1M: as above with 1,000,000 cards over 32 connections: the
// cache rarely holds the card (the ICC master key is derived and scheduled per request).
func BenchmarkGeneratorNextChipInline1M(b *testing.B) {
	benchChip(b, 1_000_000, 32, false)
}

func benchChip(b *testing.B, count, conns int, prebuilt bool) {
	cards := testCards(b)
	cards.Count = count
	mix, _ := ParseMix("chip=1")
	g := newGenerator(cards, &mix, 0, conns, 1, 1)
	buf := make([]byte, 0, 512)
	now := time.Now()
	const chunk = 20000
	refill := func() {
		if err := g.prebuildChip(chunk, now); err != nil {
			b.Fatal(err)
		}
	}
	if prebuilt {
		refill()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if prebuilt && g.pre.next == len(g.pre.entries) {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		buf, _, _, _ = g.next(now, buf[:0])
	}
	b.StopTimer()
	if prebuilt && g.chipInline != 0 {
		b.Fatalf("%d chip requests built inline", g.chipInline)
	}
}

// BenchmarkChipPrebuild is the cost of one prebuilt chip request (before the clock), 1,000,000
// cards over 32 connections.
func BenchmarkChipPrebuild(b *testing.B) {
	cards := testCards(b)
	cards.Count = 1_000_000
	mix, _ := ParseMix("chip=1")
	g := newGenerator(cards, &mix, 0, 32, 1, 1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.prebuildChip(1000, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/chip")
}
