package bench

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 60 s, 3 significant digits.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// recorder collects one connection's outcomes. The connection's reader and sweeper write it; the
// sampler reads and resets the interval part once a second. One mutex, uncontended almost always.
type recorder struct {
	mu sync.Mutex

	warmup time.Duration // outcomes of requests intended before this are left out of the totals

	total    *hdrhistogram.Histogram
	codes    map[string]int64
	byKind   [kindCount]kindCounts
	counts   counts
	interval *hdrhistogram.Histogram
	icounts  counts
}

type counts struct {
	Sent, Completed, Approved, Errors, Timeouts int64
}

type kindCounts struct {
	Sent, Completed, Approved int64
}

func newRecorder(warmup time.Duration) *recorder {
	return &recorder{warmup: warmup, total: newHist(), interval: newHist(), codes: map[string]int64{}}
}

func clampMicros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < histMinMicros {
		us = histMinMicros
	}
	if us > histMaxMicros {
		us = histMaxMicros
	}
	return us
}

func (r *recorder) sent(kind Kind, intended time.Duration) {
	r.mu.Lock()
	r.icounts.Sent++
	if intended >= r.warmup {
		r.counts.Sent++
		r.byKind[kind].Sent++
	}
	r.mu.Unlock()
}

// completed records a response: latency from the intended send time, and field 39.
func (r *recorder) completed(kind Kind, intended, latency time.Duration, code string) {
	us := clampMicros(latency)
	approved := code == "00"
	r.mu.Lock()
	_ = r.interval.RecordValue(us)
	r.icounts.Completed++
	if approved {
		r.icounts.Approved++
	}
	if intended >= r.warmup {
		_ = r.total.RecordValue(us)
		r.counts.Completed++
		r.byKind[kind].Completed++
		if approved {
			r.counts.Approved++
			r.byKind[kind].Approved++
		}
		r.codes[code]++
	}
	r.mu.Unlock()
}

func (r *recorder) timedOut(n int64, intendedAfterWarmup int64) {
	r.mu.Lock()
	r.icounts.Timeouts += n
	r.counts.Timeouts += intendedAfterWarmup
	r.mu.Unlock()
}

func (r *recorder) failed(n int64) {
	r.mu.Lock()
	r.icounts.Errors += n
	r.counts.Errors += n
	r.mu.Unlock()
}

// takeInterval merges the interval histogram into into, adds the interval counts to c and resets
// both.
func (r *recorder) takeInterval(into *hdrhistogram.Histogram, c *counts) {
	r.mu.Lock()
	into.Merge(r.interval)
	r.interval.Reset()
	c.Sent += r.icounts.Sent
	c.Completed += r.icounts.Completed
	c.Approved += r.icounts.Approved
	c.Errors += r.icounts.Errors
	c.Timeouts += r.icounts.Timeouts
	r.icounts = counts{}
	r.mu.Unlock()
}
