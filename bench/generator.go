package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// Kind is a class of traffic in the mix.
type Kind uint8

// The traffic kinds of --mix.
const (
	KindEcom    Kind = iota // 0100 e-commerce authorization, CVC2 in field 48, expiry in field 14
	KindChip                // 0200 chip purchase (entry mode 051/071), ARQC in field 55, PSN in field 23
	KindPIN                 // 0200 chip purchase with a PIN block (field 52), no field 55
	KindInquiry             // 0100 balance inquiry (processing code 30)
	kindCount
)

var kindNames = [kindCount]string{"ecom", "chip", "pin", "inquiry"}

func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return "unknown"
}

// Mix is the traffic mix: weights per kind.
type Mix struct {
	Weights [kindCount]int
	total   int
	cum     [kindCount]int
}

// DefaultMix is the traffic of an e-money issuer's card base.
const DefaultMix = "ecom=80,chip=10,pin=5,inquiry=5"

// ParseMix reads "ecom=80,chip=10,pin=5,inquiry=5" (weights, not necessarily summing to 100).
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix: %q: want kind=weight", part)
		}
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 {
			return Mix{}, fmt.Errorf("mix: %q: weight must be a non-negative integer", part)
		}
		found := false
		for k := Kind(0); k < kindCount; k++ {
			if kindNames[k] == strings.TrimSpace(name) {
				m.Weights[k], found = w, true
			}
		}
		if !found {
			return Mix{}, fmt.Errorf("mix: unknown kind %q (want ecom, chip, pin, inquiry)", name)
		}
	}
	m.init()
	if m.total == 0 {
		return Mix{}, errors.New("mix: all weights are zero")
	}
	return m, nil
}

func (m *Mix) init() {
	m.total = 0
	for k := Kind(0); k < kindCount; k++ {
		m.total += m.Weights[k]
		m.cum[k] = m.total
	}
}

// Pick maps a uniform draw r in [0, total) to a kind.
func (m *Mix) Pick(r int) Kind {
	for k := Kind(0); k < kindCount; k++ {
		if r < m.cum[k] {
			return k
		}
	}
	return kindCount - 1
}

// String is the canonical form of the mix.
func (m Mix) String() string {
	var parts []string
	for k := Kind(0); k < kindCount; k++ {
		if m.Weights[k] > 0 {
			parts = append(parts, kindNames[k]+"="+strconv.Itoa(m.Weights[k]))
		}
	}
	return strings.Join(parts, ",")
}

// Map is the mix as a map, for the JSON result.
func (m Mix) Map() map[string]int {
	out := map[string]int{}
	for k := Kind(0); k < kindCount; k++ {
		if m.Weights[k] > 0 {
			out[kindNames[k]] = m.Weights[k]
		}
	}
	return out
}

// Cards describes the provisioned cards the generator spreads traffic over.
type Cards struct {
	Programs []provision.Program
	Count    int  // cards 0..Count-1
	Hot      bool // every request on card 0
	Expiry   string
	PIN      string
	ZPK      []byte // zone PIN key; nil: no PIN blocks (pin traffic is sent without field 52)
	// Secrets says whether the program keys are the switch's: CVC2 values are then computed.
	Secrets bool
	// Keys are the programs' card keys (parallel to Programs), for the ARQCs of chip traffic; nil:
	// chip traffic carries no field 55.
	Keys []security.Keys
	// ATCBase is the run's ATC base: the k-th chip request on a card carries ATC ATCBase+k (see
	// ATCBaseAt). Zero is taken as 1.
	ATCBase uint16
	// tables keeps what is computed once per card set, before a run's clock starts (the CVC2 of
	// every card); copies of a Cards share it. nil: each run computes its own (see prepare).
	tables *cardTables
}

// generator builds the requests of one connection. Keys of contract §2 (MTI, 11, 7, 32, 37) are
// unique across the run and across runs: field 32 names the connection, field 11 cycles per
// connection, field 7 is the send second and field 37 carries a per-run nonce and a per-connection
// sequence number.
type generator struct {
	cards    *Cards
	mix      *Mix
	rng      *rand.Rand
	acquirer string // field 32
	nonce    string // 4 digits, per run
	seq      uint64

	lastSec  int64
	f7       string
	f12, f13 string

	req authz.Request
	// card secrets cached per card index: ecom traffic recomputes the CVC2 otherwise
	cvc2Cache map[int]string
	pinCache  map[int][]byte

	// Chip traffic: the connection's share of the cards (card i goes to connection i mod conns,
	// so one card's ARQCs travel in order on one TCP connection and reach the switch's single
	// writer in ATC order), chip requests made per card in this run, the highest ATC sent and the
	// requests whose ATC would have passed 0xFFFF.
	conn, conns  int
	atcCount     map[int]uint32
	maxATC       uint16
	atcExhausted int64
	f9A          string // transaction date of 9A, YYMMDD

	// cvc2Tab is the CVC2 of every card, computed before the run's clock (nil: cvc2Cache).
	cvc2Tab *cvc2Table
	// chip builds field 55 (nil until the first chip request or prebuildChip).
	chip *chipBuilder
	// Chip requests built before the run's clock (prebuildChip), taken in order: their ATCs were
	// allocated in that order, so per card they still increase. They are valid while the send
	// date (9A) is pre.date; after a date change the rest is dropped and requests are built inline.
	pre chipPool
	// chipPrebuilt counts the chip requests sent from the pool, chipInline those whose ARQC was
	// built in the run (the pool was empty, or there was none).
	chipPrebuilt, chipInline int64
}

// chipPool is a generator's chip requests built ahead: field 55 of entry i is buf[off:off+n].
type chipPool struct {
	date    string
	buf     []byte
	entries []chipPre
	next    int
}

// chipPre is one prebuilt chip request (no pointers: a large pool costs the GC nothing to scan).
type chipPre struct {
	idx       int32
	amount    int32
	atc       uint16
	exhausted bool
	n         uint16
	off       uint32
}

func newGenerator(cards *Cards, mix *Mix, conn, conns int, seed uint64, nonce int) *generator {
	if conns < 1 {
		conns = 1
	}
	return &generator{
		cards: cards, mix: mix,
		rng:       rand.New(rand.NewPCG(seed, uint64(conn)+1)),
		acquirer:  fmt.Sprintf("9%05d", conn%100000),
		nonce:     fmt.Sprintf("%04d", nonce%10000),
		lastSec:   -1,
		cvc2Cache: map[int]string{},
		pinCache:  map[int][]byte{},
		conn:      conn, conns: conns,
		atcCount: map[int]uint32{},
	}
}

// merchantName is field 43 (ans40: name 25, city 13, country 2).
var merchantName = fmt.Sprintf("%-25s%-13s%s", "CARDSWITCH BENCH", "BERLIN", "DE")

// amountMaxMinor bounds each amount: small, so balances never run out during a run.
const amountMaxMinor = 20

// next builds the next request at wall-clock now and appends its message to dst. It returns the
// STAN (as a number) and the kind.
func (g *generator) next(now time.Time, dst []byte) ([]byte, uint32, Kind, error) {
	g.seq++
	stan := uint32((g.seq-1)%999999 + 1)
	if sec := now.Unix(); sec != g.lastSec {
		g.lastSec = sec
		u := now.UTC()
		g.f7 = u.Format("0102150405")
		g.f12 = u.Format("150405")
		g.f13 = u.Format("0102")
		g.f9A = u.Format("060102")
	}
	kind := g.mix.Pick(g.rng.IntN(g.mix.total))
	var pre *chipPre
	if kind == KindChip && g.chipKeys() {
		pre = g.takePrebuilt()
	}
	var idx int
	var amount int64
	if pre != nil {
		idx, amount = int(pre.idx), int64(pre.amount)
	} else {
		idx, amount = g.card(kind), g.amount()
	}
	prog := provision.ProgramOf(g.cards.Programs, idx)
	pan := provision.PAN(prog, idx)

	r := &g.req
	*r = authz.Request{
		PAN: pan, F7: g.f7, STAN: pad6(stan), LocalTime: g.f12, LocalDate: g.f13,
		ExpiryYYMM: g.cards.Expiry, MCC: "5999", AcquirerID: g.acquirer,
		RRN: g.nonce + pad8(g.seq%100000000), TerminalID: "BENCH001", MerchantID: "BENCHMERCHANT01",
		MerchantName: merchantName, CurrencyNum: prog.Currency.Numeric,
		HasAmount: true, AmountMinor: amount,
	}
	switch kind {
	case KindEcom:
		r.Kind, r.ProcessingCode, r.POSEntryMode = authz.KindAuthorization, "000000", "012"
		if g.cards.Secrets {
			r.CVC2 = g.cvc2(idx, prog, pan)
		}
	case KindChip:
		r.Kind, r.ProcessingCode, r.POSEntryMode, r.CardSeq = authz.KindFinancial, "000000", "051", chipPSN
		if g.seq&1 == 0 {
			r.POSEntryMode = "071" // contactless
		}
		switch {
		case pre != nil:
			r.ICC = g.pre.buf[pre.off : pre.off+uint32(pre.n)]
			g.sentATC(pre.atc, pre.exhausted)
			g.chipPrebuilt++
		case g.chipKeys():
			icc, err := g.arqc(idx, pan, r)
			if err != nil {
				return dst, 0, kind, err
			}
			r.ICC = icc
			g.chipInline++
		}
	case KindPIN:
		r.Kind, r.ProcessingCode, r.POSEntryMode, r.CardSeq = authz.KindFinancial, "000000", "051", "000"
		if g.cards.ZPK != nil {
			r.PINBlock = g.pinBlock(idx, pan)
		}
	case KindInquiry:
		r.Kind, r.ProcessingCode, r.POSEntryMode, r.AmountMinor = authz.KindBalanceInquiry, "300000", "012", 0
	}
	out, err := codec.AppendRequest(dst, r)
	return out, stan, kind, err
}

// card draws the card of a request of kind.
func (g *generator) card(kind Kind) int {
	if g.cards.Hot || g.cards.Count <= 1 {
		return 0
	}
	if kind == KindChip && g.cards.Count >= g.conns {
		// this connection's cards: conn, conn+conns, conn+2*conns, ...
		return g.conn + g.conns*g.rng.IntN((g.cards.Count-g.conn+g.conns-1)/g.conns)
	}
	return g.rng.IntN(g.cards.Count)
}

// amount draws an amount in minor units, 1..amountMaxMinor.
func (g *generator) amount() int64 { return int64(1 + g.rng.IntN(amountMaxMinor)) }

// chipKeys says whether chip requests carry an ARQC (the programs' card keys are known).
func (g *generator) chipKeys() bool {
	return len(g.cards.Keys) > 0 && len(g.cards.Keys) == len(g.cards.Programs)
}

// allocATC is the ATC of the next chip request on card idx: the run's base plus the card's count
// of chip requests in this run. Past 0xFFFF it stays at 0xFFFF (the switch declines it as a
// replay) and exhausted is set.
func (g *generator) allocATC(idx int) (atc uint16, exhausted bool) {
	n := g.atcCount[idx] + 1
	g.atcCount[idx] = n
	base := uint32(g.cards.ATCBase)
	if base == 0 {
		base = 1
	}
	a := base - 1 + n
	if a > 0xFFFF {
		return 0xFFFF, true
	}
	return uint16(a), false
}

// sentATC records a chip request's ATC as sent: the run's highest ATC and the exhausted count.
func (g *generator) sentATC(atc uint16, exhausted bool) {
	if exhausted {
		g.atcExhausted++
	}
	if atc > g.maxATC {
		g.maxATC = atc
	}
}

// arqc builds field 55 for the chip request r on card idx: a valid ARQC over the request's amount
// and currency, a fresh ATC and a random unpredictable number (the PSN is field 23).
func (g *generator) arqc(idx int, pan string, r *authz.Request) ([]byte, error) {
	if g.chip == nil {
		g.chip = newChipBuilder(g.cards)
	}
	atc, exhausted := g.allocATC(idx)
	g.sentATC(atc, exhausted)
	return g.chip.build(nil, idx, pan, atc, r.AmountMinor, r.CurrencyNum, g.un(), g.f9A)
}

// un draws a terminal unpredictable number (9F37).
func (g *generator) un() [4]byte {
	u := g.rng.Uint32()
	return [4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// prebuildChip builds n chip requests ahead (card, amount, ATC, field 55 dated now), to be sent
// in order by next before any request is built inline. It is called before the run's clock
// starts, so their cryptography costs the measured window nothing.
func (g *generator) prebuildChip(n int, now time.Time) error {
	g.pre = chipPool{}
	if n <= 0 || !g.chipKeys() || g.mix.Weights[KindChip] == 0 {
		return nil
	}
	if g.chip == nil {
		g.chip = newChipBuilder(g.cards)
	}
	date := now.UTC().Format("060102")
	p := chipPool{date: date, entries: make([]chipPre, 0, n), buf: make([]byte, 0, n*112)}
	for i := 0; i < n; i++ {
		idx, amount := g.card(KindChip), g.amount()
		prog := provision.ProgramOf(g.cards.Programs, idx)
		pan := provision.PAN(prog, idx)
		atc, exhausted := g.allocATC(idx)
		off := len(p.buf)
		var err error
		if p.buf, err = g.chip.build(p.buf, idx, pan, atc, amount, prog.Currency.Numeric, g.un(), date); err != nil {
			return err
		}
		p.entries = append(p.entries, chipPre{idx: int32(idx), amount: int32(amount), atc: atc, exhausted: exhausted,
			n: uint16(len(p.buf) - off), off: uint32(off)})
	}
	g.pre = p
	return nil
}

// takePrebuilt returns the next prebuilt chip request, nil when there is none left or the send
// date (9A, g.f9A) is no longer the pool's.
func (g *generator) takePrebuilt() *chipPre {
	p := &g.pre
	if p.next >= len(p.entries) {
		return nil
	}
	if p.date != g.f9A {
		*p = chipPool{} // the date changed during the run: build the rest inline
		return nil
	}
	e := &p.entries[p.next]
	p.next++
	return e
}

func (g *generator) cvc2(idx int, prog *provision.Program, pan string) string {
	if v, ok := g.cvc2Tab.get(idx); ok {
		return v
	}
	if v, ok := g.cvc2Cache[idx]; ok {
		return v
	}
	v, err := cardcrypto.CVV(prog.CVK, pan, g.cards.Expiry, "000")
	if err != nil {
		return ""
	}
	if len(g.cvc2Cache) < 1<<16 {
		g.cvc2Cache[idx] = v
	}
	return v
}

func (g *generator) pinBlock(idx int, pan string) []byte {
	if v, ok := g.pinCache[idx]; ok {
		return v
	}
	v, err := security.BuildPINBlock(g.cards.ZPK, pan, g.cards.PIN)
	if err != nil {
		return nil
	}
	if len(g.pinCache) < 1<<16 {
		g.pinCache[idx] = v
	}
	return v
}

func pad6(v uint32) string {
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}

func pad8(v uint64) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}

// kindsOf lists the kinds with a weight, sorted by name (reports).
func kindsOf(m Mix) []Kind {
	var ks []Kind
	for k := Kind(0); k < kindCount; k++ {
		if m.Weights[k] > 0 {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].String() < ks[j].String() })
	return ks
}
