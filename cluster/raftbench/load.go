package main

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"
)

// warmupProposals are proposed and waited for before a measurement starts: the first ones pay
// for connections being dialled and segments being opened, which a running switch has behind it.
const warmupProposals = 20

// result is one measurement.
type result struct {
	lats    []time.Duration
	errs    int
	elapsed time.Duration
}

func (r result) row(payloadBytes int) string {
	if len(r.lats) == 0 {
		return fmt.Sprintf("0 | – | – | – | – | – | – | %d", r.errs)
	}
	s := slices.Clone(r.lats)
	slices.Sort(s)
	q := func(p float64) string {
		i := int(p * float64(len(s)-1))
		return fmt.Sprintf("%.2f", float64(s[i])/float64(time.Millisecond))
	}
	perSec := float64(len(s)) / r.elapsed.Seconds()
	return fmt.Sprintf("%d | %.0f | %.1f | %s | %s | %s | %s | %d", len(s), perSec,
		perSec*float64(payloadBytes)/1e6, q(0.50), q(0.99), q(0.999), q(1), r.errs)
}

type pending struct {
	t0 time.Time
	w  waiter
}

// completer waits for the proposals in the order they were made (a log commits in order) and
// records their latencies; done is called after each.
type completer struct {
	mu   sync.Mutex
	res  result
	wg   sync.WaitGroup
	last time.Time
}

func (c *completer) run(pc <-chan pending, done func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for p := range pc {
			err := p.w()
			now := time.Now()
			c.mu.Lock()
			if err != nil {
				c.res.errs++
			} else {
				c.res.lats = append(c.res.lats, now.Sub(p.t0))
			}
			c.last = now
			c.mu.Unlock()
			if done != nil {
				done()
			}
		}
	}()
}

func newPayload(size int) []byte {
	p := make([]byte, size)
	rand.Read(p) // incompressible, as sealed rows are
	return p
}

func warm(c candidate, p []byte) {
	for range warmupProposals {
		if w, err := c.propose(p); err == nil {
			_ = w()
		}
	}
}

// closedLoop keeps at most inflight proposals outstanding for dur.
func closedLoop(c candidate, size, inflight int, dur time.Duration) result {
	p := newPayload(size)
	warm(c, p)
	sem := make(chan struct{}, inflight)
	pc := make(chan pending, inflight)
	var comp completer
	comp.run(pc, func() { <-sem })
	start := time.Now()
	end := start.Add(dur)
	errs := 0
	for time.Now().Before(end) {
		sem <- struct{}{}
		t0 := time.Now()
		w, err := c.propose(p)
		if err != nil {
			errs++
			<-sem
			continue
		}
		pc <- pending{t0, w}
	}
	close(pc)
	comp.wg.Wait()
	comp.res.errs += errs
	comp.res.elapsed = comp.last.Sub(start)
	return comp.res
}

// openLoop proposes one payload every 1/rate s for dur, whatever the commits do; a proposal's
// latency counts from when it was due, so a stall shows in every proposal that queued behind it.
func openLoop(c candidate, size, rate int, dur time.Duration) result {
	p := newPayload(size)
	warm(c, p)
	n := int(dur.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	pc := make(chan pending, n)
	var comp completer
	comp.run(pc, nil)
	start := time.Now()
	errs := 0
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		w, err := c.propose(p)
		if err != nil {
			errs++
			continue
		}
		pc <- pending{due, w}
	}
	close(pc)
	comp.wg.Wait()
	comp.res.errs += errs
	comp.res.elapsed = comp.last.Sub(start)
	return comp.res
}
