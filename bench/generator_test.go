package bench

import (
	"math"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/codec"
)

func testCards(tb testing.TB) *Cards {
	tb.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: tb.TempDir()}, func(string) {})
	if err != nil {
		tb.Fatal(err)
	}
	progs, err := provision.Programs(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &Cards{Programs: progs, Count: 1000, Expiry: provision.DefaultExpiry, PIN: provision.DefaultPIN,
		ZPK: config.Key(cfg.Security.ZPK), Secrets: true, Keys: programKeys(tb, cfg), ATCBase: 1}
}

func programKeys(tb testing.TB, cfg *config.Config) []security.Keys {
	tb.Helper()
	progs, err := provision.Programs(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var keys []security.Keys
	for _, p := range progs { // parallel to the card programs, as LoadCards builds them
		cp, _ := cfg.Program(p.Name)
		k, err := security.ProgramKeys(cp)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("ecom=80, chip=10,pin=5,inquiry=5")
	if err != nil || m.String() != "ecom=80,chip=10,pin=5,inquiry=5" {
		t.Fatalf("%v %q", err, m.String())
	}
	for _, bad := range []string{"", "ecom", "ecom=-1", "foo=1", "ecom=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

// Keys of contract §2 (MTI, 11, 7, 32, 37) never repeat, across connections and past the STAN
// wrap, even when the clock stands still.
func TestGeneratorUniqueKeys(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix(DefaultMix)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := make(map[string]struct{}, 1_200_000)
	var buf []byte
	for conn := 0; conn < 3; conn++ {
		g := newGenerator(cards, &mix, conn, 8, 1, 42)
		n := 10_000
		if conn == 0 {
			n = 1_050_000 // past the 999999 STAN wrap
		}
		for i := 0; i < n; i++ {
			var err error
			buf, _, _, err = g.next(now, buf[:0])
			if err != nil {
				t.Fatal(err)
			}
			r := &g.req
			r.BaseMTI = codec.BaseMTI(mtiOf(r.Kind))
			key := ledger.MessageKey(r)
			if _, dup := seen[key]; dup {
				t.Fatalf("conn %d request %d: key %s repeats", conn, i, key)
			}
			seen[key] = struct{}{}
		}
	}
}

func mtiOf(k authz.Kind) string {
	if k == authz.KindFinancial {
		return "0200"
	}
	return "0100"
}

// Every generated message decodes with the switch's codec into the request that was built.
func TestGeneratorMessagesDecode(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix(DefaultMix)
	g := newGenerator(cards, &mix, 5, 8, 9, 1)
	var buf []byte
	for i := 0; i < 2000; i++ {
		var err error
		var stan uint32
		var kind Kind
		buf, stan, kind, err = g.next(time.Now(), buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		req, err := codec.Decode(buf)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if req.STAN != pad6(stan) || req.AcquirerID != "900005" {
			t.Fatalf("STAN %s/%d acquirer %s", req.STAN, stan, req.AcquirerID)
		}
		switch kind {
		case KindEcom:
			if req.Kind != authz.KindAuthorization || len(req.CVC2) != 3 || req.ExpiryYYMM != provision.DefaultExpiry {
				t.Fatalf("ecom: %+v", req)
			}
		case KindPIN:
			if req.Kind != authz.KindFinancial || len(req.PINBlock) != 8 {
				t.Fatalf("pin: %+v", req)
			}
		case KindInquiry:
			if req.Kind != authz.KindBalanceInquiry {
				t.Fatalf("inquiry: %+v", req)
			}
		case KindChip:
			if req.Kind != authz.KindFinancial || (req.POSEntryMode != "051" && req.POSEntryMode != "071") || len(req.ICC) == 0 || req.CardSeq != "000" {
				t.Fatalf("chip: %+v", req)
			}
		}
		if req.AmountMinor > amountMaxMinor {
			t.Fatalf("amount %d", req.AmountMinor)
		}
	}
}

// The kinds follow the mix within sampling error.
func TestGeneratorMixProportions(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix("ecom=70,chip=20,pin=0,inquiry=10")
	g := newGenerator(cards, &mix, 0, 8, 11, 1)
	const n = 100_000
	var got [kindCount]int
	var buf []byte
	for i := 0; i < n; i++ {
		var kind Kind
		buf, _, kind, _ = g.next(time.Now(), buf[:0])
		got[kind]++
	}
	for k := Kind(0); k < kindCount; k++ {
		want := float64(mix.Weights[k]) / 100
		share := float64(got[k]) / n
		if math.Abs(share-want) > 0.01 {
			t.Errorf("%s: %.3f of the traffic, want %.2f", k, share, want)
		}
	}
}

// Hot mode sends everything to card 0; spread mode covers the card range.
func TestGeneratorCards(t *testing.T) {
	cards := testCards(t)
	mix, _ := ParseMix("ecom=1")
	hot := *cards
	hot.Hot = true
	g := newGenerator(&hot, &mix, 0, 8, 1, 1)
	pan0 := provision.PAN(&cards.Programs[0], 0)
	for i := 0; i < 100; i++ {
		g.next(time.Now(), nil)
		if g.req.PAN != pan0 {
			t.Fatalf("hot PAN %s, want %s", g.req.PAN, pan0)
		}
	}
	g = newGenerator(cards, &mix, 0, 8, 1, 1)
	pans := map[string]bool{}
	for i := 0; i < 20000; i++ {
		g.next(time.Now(), nil)
		pans[g.req.PAN] = true
	}
	if len(pans) < 990 {
		t.Fatalf("spread over %d PANs of 1000", len(pans))
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	cards := testCards(b)
	mix, _ := ParseMix(DefaultMix)
	g := newGenerator(cards, &mix, 0, 8, 1, 1)
	buf := make([]byte, 0, 512)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf, _, _, _ = g.next(now, buf[:0])
	}
}

// BenchmarkGeneratorNextPrepared1M is a request of the default mix inside a measured window as
// Run prepares it for 1,000,000 cards and 32 connections: CVC2 table, chip requests prebuilt.
func BenchmarkGeneratorNextPrepared1M(b *testing.B) {
	cards := testCards(b)
	cards.Count, cards.tables = 1_000_000, &cardTables{}
	mix, _ := ParseMix(DefaultMix)
	o := Options{Connections: 32, Duration: time.Second, Mix: mix, Cards: *cards, PrebuildRate: 1}
	g := newGenerator(&o.Cards, &o.Mix, 0, 32, 1, 1)
	buf := make([]byte, 0, 512)
	now := time.Now()
	prep := func() {
		if _, err := prepare(&o, []*generator{g}); err != nil {
			b.Fatal(err)
		}
		if err := g.prebuildChip(5000, now); err != nil {
			b.Fatal(err)
		}
	}
	prep()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if g.pre.next == len(g.pre.entries) {
			b.StopTimer()
			prep()
			b.StartTimer()
		}
		buf, _, _, _ = g.next(now, buf[:0])
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	cards := testCards(b)
	mix, _ := ParseMix(DefaultMix)
	g := newGenerator(cards, &mix, 0, 8, 1, 1)
	msg, _, _, _ := g.next(time.Now(), nil)
	req, err := codec.Decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := codec.Encode(req, authz.Response{Action: authz.Approved, AuthCode: "ABC123"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.DecodeResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}
