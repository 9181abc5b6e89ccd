package bench

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/provision"
)

// Work done before a run's clock starts, so the generator takes as little CPU as possible from
// the switch inside the measured window (generator and switch share the machine's CPUs):
//
//   - the CVC2 of every card (e-commerce traffic), once per card set and shared by all the runs of
//     a bench process (3 bytes per card: 3 MB and ~1 s of CPU for 1,000,000 cards);
//   - the chip requests' cryptograms (card, amount, ATC, unpredictable number, field 55) each
//     connection is expected to send: the open loop's rate, or in closed loop
//     Options.PrebuildRate, × the duration × the chip share of the mix, plus a margin. A closed
//     loop faster than that builds the rest inline (RunResult.ChipInline counts them).
//
// RunResult.PrepareSeconds is the wall time this took; it is in no measured window.

// DefaultPrebuildRate is the closed-loop rate (requests/s, all connections) the chip cryptograms of
// a run are built for when Options.PrebuildRate is 0: above what the echo baseline reaches on
// the 2-CPU development machine.
const DefaultPrebuildRate = 60000

// maxPrebuiltChip bounds the prebuilt chip requests of one run (~110 bytes each).
const maxPrebuiltChip = 1_000_000

// prebuildPerConn is the number of chip requests each connection builds ahead.
func (o *Options) prebuildPerConn() int {
	if o.PrebuildRate < 0 || o.Mix.total == 0 || o.Mix.Weights[KindChip] == 0 ||
		len(o.Cards.Keys) == 0 || len(o.Cards.Keys) != len(o.Cards.Programs) {
		return 0
	}
	rate := o.Rate
	if rate <= 0 {
		rate = o.PrebuildRate
		if rate == 0 {
			rate = DefaultPrebuildRate
		}
	}
	conns := max(1, o.Connections)
	share := float64(o.Mix.Weights[KindChip]) / float64(o.Mix.total)
	n := rate * o.Duration.Seconds() * share / float64(conns)
	n = math.Ceil(n*1.15) + 16 // margin: connections are not equally fast, the mix is random
	return int(min(n, float64(maxPrebuiltChip/conns)))
}

// cardTables is shared by the copies of a Cards (see Cards.tables).
type cardTables struct {
	cvc2 atomic.Pointer[cvc2Table]
	mu   sync.Mutex // one build at a time
}

// cvc2Table is the CVC2 of cards 0..n-1 for one expiry, 3 digits per card. Immutable.
type cvc2Table struct {
	expiry string
	n      int
	digits string
}

func (t *cvc2Table) get(idx int) (string, bool) {
	if t == nil || idx < 0 || idx >= t.n {
		return "", false
	}
	return t.digits[3*idx : 3*idx+3], true
}

// cvc2Table returns the CVC2 table of c (cards 0..c.Count-1, c.Expiry), computing it (in
// parallel) unless c.tables already holds it.
func (c *Cards) cvc2Table() *cvc2Table {
	t := c.tables
	if t == nil {
		t = &cardTables{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.cvc2.Load(); cur != nil && cur.expiry == c.Expiry && cur.n >= c.Count {
		return cur
	}
	buf := make([]byte, 3*c.Count)
	workers := max(1, min(runtime.GOMAXPROCS(0), c.Count/1000))
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := 0; w < workers; w++ {
		lo, hi := c.Count*w/workers, c.Count*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				prog := provision.ProgramOf(c.Programs, i)
				v, err := cardcrypto.CVV(prog.CVK, provision.PAN(prog, i), c.Expiry, "000")
				if err != nil || len(v) != 3 {
					failed.Store(true)
					return
				}
				copy(buf[3*i:], v)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return nil
	}
	tab := &cvc2Table{expiry: c.Expiry, n: c.Count, digits: string(buf)}
	t.cvc2.Store(tab)
	return tab
}

// prepare does the work of a run that belongs before its clock: the CVC2 table and every
// generator's prebuilt chip requests (in parallel). It returns how long that took.
func prepare(o *Options, gens []*generator) (time.Duration, error) {
	began := time.Now()
	var tab *cvc2Table
	if o.Cards.Secrets && o.Mix.Weights[KindEcom] > 0 && !o.Cards.Hot && o.Cards.Count > 1 {
		tab = o.Cards.cvc2Table()
	}
	n := o.prebuildPerConn()
	now := time.Now()
	errs := make([]error, len(gens))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, g := range gens {
		g.cvc2Tab = tab
		if n == 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = g.prebuildChip(n, now)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return time.Since(began), err
		}
	}
	return time.Since(began), nil
}
