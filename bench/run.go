package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// DefaultPipeline is the closed loop's requests in flight per connection. The closed loop
// measures the most a target can answer, so it must keep the target busy: the switch makes a
// batch durable with one synced write, and its throughput grows with the requests that can wait
// for that write together. With 32 connections, 8 in flight each left the switch waiting on its
// own batches (24k approvals/s, the CPUs 21-25 % idle), 32 saturate them (37-38k/s); the echo
// server gives 57k/s and 66k/s (docs/benchmarks-log.md, "Round 5", has the whole sweep).
const DefaultPipeline = 32

// Options of one load run against one target.
type Options struct {
	Label       string // "cardswitch" or "echo"
	Addr        string
	Connections int
	Duration    time.Duration
	// Warmup is left out of the totals (it still shows in the time series).
	Warmup time.Duration
	// Rate is the total arrival rate per second (open loop); 0 runs closed loop.
	Rate float64
	// Pipeline is the requests in flight per connection in closed loop (default DefaultPipeline).
	Pipeline int
	Mix      Mix
	Cards    Cards
	// Timeout: a request unanswered for this long (from its intended send time) is a timeout.
	Timeout       time.Duration
	MaxFrameBytes int
	Seed          uint64
	// Progress, when set, gets a live progress line every second (a terminal).
	Progress io.Writer
	// PrebuildRate: closed loop, the total requests/s the chip requests' cryptograms are built
	// for before the clock starts (see prepare.go); 0: DefaultPrebuildRate; negative: none, every
	// ARQC is built in the run. Open loop builds for Rate.
	PrebuildRate float64
}

func (o *Options) defaults() error {
	if o.Connections <= 0 {
		o.Connections = 1
	}
	if o.Duration <= 0 {
		return errors.New("bench: duration must be positive")
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		return errors.New("bench: warmup must be shorter than the duration")
	}
	if o.Rate < 0 {
		return errors.New("bench: rate must not be negative")
	}
	if o.Pipeline <= 0 {
		o.Pipeline = DefaultPipeline
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 65535
	}
	if o.Mix.total == 0 {
		m, _ := ParseMix(DefaultMix)
		o.Mix = m
	}
	if o.Cards.Count <= 0 {
		o.Cards.Count = 1
	}
	if len(o.Cards.Programs) == 0 {
		return errors.New("bench: no card programs")
	}
	if o.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return nil
}

// Mode is "open" or "closed".
func (o *Options) Mode() string {
	if o.Rate > 0 {
		return "open"
	}
	return "closed"
}

type inflight struct {
	kind     Kind
	intended time.Duration // since the run's start
}

// client is one connection: a sender (paced by the schedule or by the pipeline window), a reader
// and a sweeper for timeouts.
type client struct {
	o       *Options
	id      int
	nc      net.Conn
	bw      *bufio.Writer
	br      *bufio.Reader
	gen     *generator
	rec     *recorder
	start   time.Time
	closing atomic.Bool

	mu      sync.Mutex
	pending map[uint32]inflight

	tokens  chan struct{} // closed loop window
	notSent int64         // open loop: intended sends the run ended before making

	// Reconnection (connlist.go), with a list of addresses only: the sender dials again when
	// the connection breaks; connGen numbers the connections, broken carries a read loop's end.
	addrs      []string
	connGen    atomic.Int64
	broken     chan int64
	readers    *sync.WaitGroup
	reconnects atomic.Int64

	// answer checks (whole run, warm-up included): chip answers and those with tag 91 (ARPC),
	// PIN answers and those approved.
	chipAnswers, chipTag91, pinAnswers, pinApproved atomic.Int64
	approvedAll                                     atomic.Int64 // approvals, warm-up included
}

var (
	nonceOnce sync.Once
	nonceNext atomic.Int64

	// stanNext carries each connection index's sequence (field 11) from one run of this process
	// to the next: runs back to back within one second (short --suite phases, tests) would
	// otherwise repeat (MTI, 11, 7, 32), which the switch refuses as a duplicate (94).
	stanMu   sync.Mutex
	stanNext = map[int]uint64{}
)

// Run runs one load test and returns its result.
func Run(ctx context.Context, o Options) (*RunResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	// The nonce of field 37: random per process, then one more per run, so the runs of one bench
	// process (main run, --cpu-compare phases) never share it.
	nonceOnce.Do(func() {
		var b [2]byte
		_, _ = rand.Read(b[:])
		nonceNext.Store(int64(binary.LittleEndian.Uint16(b[:])))
	})
	nonce := int(nonceNext.Add(1) % 10000)

	// Before the clock: the generators with their CVC2 table and prebuilt chip requests.
	gens := make([]*generator, o.Connections)
	for i := range gens {
		gens[i] = newGenerator(&o.Cards, &o.Mix, i, o.Connections, o.Seed, nonce)
	}
	prepTook, err := prepare(&o, gens)
	if err != nil {
		return nil, fmt.Errorf("bench: prepare: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	clients := make([]*client, 0, o.Connections)
	defer func() {
		for _, c := range clients {
			c.closing.Store(true)
			c.nc.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	for i := 0; i < o.Connections; i++ {
		nc, err := dialList(ctx, &d, o.Addr) // connlist.go: a group's members, the leader accepts
		if err != nil {
			return nil, fmt.Errorf("bench: connect %s: %w", o.Addr, err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c := &client{o: &o, id: i, nc: nc, bw: bufio.NewWriterSize(nc, 32<<10), br: bufio.NewReaderSize(nc, 32<<10),
			gen: gens[i], rec: newRecorder(o.Warmup),
			pending: make(map[uint32]inflight, 1024), addrs: splitList(o.Addr), broken: make(chan int64, 1)}
		if o.Rate == 0 {
			c.tokens = make(chan struct{}, o.Pipeline)
			for k := 0; k < o.Pipeline; k++ {
				c.tokens <- struct{}{}
			}
		}
		stanMu.Lock()
		c.gen.seq = stanNext[i]
		stanMu.Unlock()
		clients = append(clients, c)
	}
	defer func() {
		stanMu.Lock()
		for _, c := range clients {
			stanNext[c.id] = max(stanNext[c.id], c.gen.seq)
		}
		stanMu.Unlock()
	}()

	started := time.Now()
	for _, c := range clients {
		c.start = started
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	var readers, senders sync.WaitGroup
	sweepStop := make(chan struct{})
	for _, c := range clients {
		c.readers = &readers
		readers.Add(1)
		go func() { defer readers.Done(); c.readLoop(c.br, 0) }()
		senders.Add(1)
		go func() {
			defer senders.Done()
			if o.Rate > 0 {
				c.openLoop(runCtx)
			} else {
				c.closedLoop(runCtx)
			}
		}()
		go c.sweep(sweepStop)
	}

	sampler := newSampler(clients, started, &o)
	samplerDone := make(chan struct{})
	go func() { sampler.run(runCtx); close(samplerDone) }()

	senders.Wait()
	// Drain: wait for the answers still due, bounded by the timeout.
	drainUntil := time.Now().Add(o.Timeout + 200*time.Millisecond)
	for time.Now().Before(drainUntil) && ctx.Err() == nil {
		left := 0
		for _, c := range clients {
			c.mu.Lock()
			left += len(c.pending)
			c.mu.Unlock()
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(started)
	cancel()
	<-samplerDone
	close(sweepStop)
	for _, c := range clients {
		c.closing.Store(true)
		c.nc.Close()
		// Whatever is still pending after the drain never got an answer.
		c.mu.Lock()
		var n, nw int64
		for _, p := range c.pending {
			n++
			if p.intended >= o.Warmup {
				nw++
			}
		}
		clear(c.pending)
		c.mu.Unlock()
		c.rec.timedOut(n, nw)
	}
	readers.Wait()
	sampler.final()
	r := buildResult(&o, clients, sampler, started, elapsed)
	r.PrepareSeconds = prepTook.Seconds()
	return r, nil
}

func (c *client) send(now time.Time, intended time.Duration, buf []byte) ([]byte, error) {
	buf, stan, kind, err := c.gen.next(now, buf[:0])
	if err != nil {
		return buf, fmt.Errorf("bench: build request: %w", err)
	}
	c.mu.Lock()
	c.pending[stan] = inflight{kind: kind, intended: intended}
	c.mu.Unlock()
	c.rec.sent(kind, intended)
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(buf)))
	if _, err := c.bw.Write(hdr[:]); err != nil {
		return buf, err
	}
	_, err = c.bw.Write(buf)
	return buf, err
}

func (c *client) closedLoop(ctx context.Context) {
	buf := make([]byte, 0, 512)
	var err error
	for {
		select {
		case <-c.tokens:
		case g := <-c.broken:
			if !c.reconnect(ctx, g) {
				return
			}
			continue
		case <-ctx.Done():
			c.bw.Flush()
			return
		}
		if ctx.Err() != nil {
			c.bw.Flush()
			return
		}
		now := time.Now()
		if buf, err = c.send(now, now.Sub(c.start), buf); err != nil {
			c.writeFailed(err)
			if !c.reconnect(ctx, c.connGen.Load()) {
				return
			}
			continue
		}
		if len(c.tokens) == 0 {
			if err := c.bw.Flush(); err != nil {
				c.writeFailed(err)
				if !c.reconnect(ctx, c.connGen.Load()) {
					return
				}
			}
		}
	}
}

// openLoop sends at the fixed schedule intended_k = offset + k*interval. A send that is late
// (the connection was blocked) keeps its intended time, so the stall shows in the latency.
func (c *client) openLoop(ctx context.Context) {
	interval := time.Duration(float64(c.o.Connections) / c.o.Rate * float64(time.Second))
	if interval <= 0 {
		interval = 1
	}
	offset := interval * time.Duration(c.id) / time.Duration(c.o.Connections)
	buf := make([]byte, 0, 512)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var err error
	unflushed := 0
	for k := int64(0); ; k++ {
		intended := offset + time.Duration(k)*interval
		if intended >= c.o.Duration {
			break
		}
		select {
		case g := <-c.broken:
			// Sends due meanwhile go out late on the new connection: their latency shows it.
			if !c.reconnect(ctx, g) {
				c.notSent += int64((c.o.Duration-intended)/interval) + 1
				return
			}
			unflushed = 0
		default:
		}
		now := time.Now()
		if wait := intended - now.Sub(c.start); wait > 0 {
			if unflushed > 0 {
				if err := c.bw.Flush(); err != nil {
					c.writeFailed(err)
					return
				}
				unflushed = 0
			}
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				c.notSent += int64((c.o.Duration-intended)/interval) + 1
				return
			}
			now = time.Now()
		} else if ctx.Err() != nil {
			c.notSent += int64((c.o.Duration-intended)/interval) + 1
			break
		}
		if buf, err = c.send(now, intended, buf); err != nil {
			c.writeFailed(err)
			if !c.reconnect(ctx, c.connGen.Load()) {
				return
			}
			unflushed = 0
			continue
		}
		if unflushed++; unflushed >= 64 {
			if err := c.bw.Flush(); err != nil {
				c.writeFailed(err)
				if !c.reconnect(ctx, c.connGen.Load()) {
					return
				}
			}
			unflushed = 0
		}
	}
	if err := c.bw.Flush(); err != nil {
		c.writeFailed(err)
	}
}

func (c *client) writeFailed(err error) {
	if c.closing.Load() {
		return
	}
	c.rec.failed(1)
}

func (c *client) readLoop(br *bufio.Reader, gen int64) {
	for {
		frame, err := server.ReadFrame(br, c.o.MaxFrameBytes)
		if err != nil {
			if !c.closing.Load() && gen == c.connGen.Load() {
				c.rec.failed(1) // the connection broke during the run
				if len(c.addrs) > 1 {
					select {
					case c.broken <- gen: // the sender dials again (a list of addresses)
					default:
					}
				}
			}
			return
		}
		now := time.Since(c.start)
		resp, err := codec.DecodeResponse(frame)
		if err != nil || len(resp.STAN) != 6 {
			c.rec.failed(1)
			continue
		}
		stan := uint32(atoiDigits(resp.STAN))
		c.mu.Lock()
		p, ok := c.pending[stan]
		if ok {
			delete(c.pending, stan)
		}
		c.mu.Unlock()
		if !ok {
			continue // answered after its timeout: already counted
		}
		if resp.ResponseCode == "00" {
			c.approvedAll.Add(1)
		}
		switch p.kind {
		case KindChip:
			c.chipAnswers.Add(1)
			if hasTag91(resp.ICC) {
				c.chipTag91.Add(1)
			}
		case KindPIN:
			c.pinAnswers.Add(1)
			if resp.ResponseCode == "00" {
				c.pinApproved.Add(1)
			}
		}
		c.rec.completed(p.kind, p.intended, now-p.intended, resp.ResponseCode)
		if c.tokens != nil {
			c.tokens <- struct{}{}
		}
	}
}

// reconnect replaces the connection of generation gen, broken, by one to the first address of
// the list that accepts (a replicated group's new leader), trying until ctx ends; false without
// a list (one address: the run ends for this connection, as before) or when ctx ended. The
// requests in flight on the old connection are not sent again: they time out (sweep).
func (c *client) reconnect(ctx context.Context, gen int64) bool {
	if len(c.addrs) < 2 || c.closing.Load() {
		return false
	}
	if gen != c.connGen.Load() {
		return true // that connection was replaced already
	}
	c.connGen.Add(1) // the old read loop's end is no longer news
	c.nc.Close()
	// What was in flight on it can no longer be answered: timed out now, and its closed-loop
	// window given back, rather than after the timeout.
	c.timeOut(func(inflight) bool { return true })
	d := net.Dialer{Timeout: time.Second}
	for ctx.Err() == nil {
		nc, err := dialList(ctx, &d, c.o.Addr)
		if err == nil {
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			c.nc, c.bw, c.br = nc, bufio.NewWriterSize(nc, 32<<10), bufio.NewReaderSize(nc, 32<<10)
			g := c.connGen.Add(1)
			c.reconnects.Add(1)
			c.readers.Add(1)
			go func(br *bufio.Reader) { defer c.readers.Done(); c.readLoop(br, g) }(c.br)
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// sweep counts requests unanswered past the timeout.
func (c *client) sweep(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Since(c.start)
		c.timeOut(func(p inflight) bool { return now-p.intended > c.o.Timeout })
	}
}

// timeOut counts the requests in flight that due selects as timed out, forgets them and gives
// their closed-loop window back.
func (c *client) timeOut(due func(inflight) bool) {
	var n, nw int64
	c.mu.Lock()
	for stan, p := range c.pending {
		if !due(p) {
			continue
		}
		delete(c.pending, stan)
		n++
		if p.intended >= c.o.Warmup {
			nw++
		}
	}
	c.mu.Unlock()
	if n == 0 {
		return
	}
	c.rec.timedOut(n, nw)
	for i := int64(0); i < n && c.tokens != nil; i++ {
		select {
		case c.tokens <- struct{}{}:
		default:
		}
	}
}

// hasTag91 reports whether a response's field 55 carries tag 91 (issuer authentication data).
func hasTag91(icc []byte) bool {
	if len(icc) == 0 {
		return false
	}
	l, err := tlv.Parse(icc)
	if err != nil {
		return false
	}
	_, ok := l.Get(tlv.TagIssuerAuthenticationData)
	return ok
}

func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// sampler makes the per-second time series and the progress line.
type sampler struct {
	clients []*client
	started time.Time
	o       *Options
	hist    *hdrhistogram.Histogram
	series  []Point
	lastAt  time.Duration
}

func newSampler(clients []*client, started time.Time, o *Options) *sampler {
	return &sampler{clients: clients, started: started, o: o, hist: newHist()}
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p := s.sample()
			if s.o.Progress != nil {
				fmt.Fprintf(s.o.Progress, "\r%-10s %5.0fs  %8.0f/s  approved %8.0f/s  p50 %7.2fms  p99 %7.2fms  max %7.2fms  errors %d  timeouts %d   ",
					s.o.Label, p.T, p.Throughput, p.Approved, p.P50Ms, p.P99Ms, p.MaxMs, p.Errors, p.Timeouts)
			}
		}
	}
}

func (s *sampler) sample() Point {
	now := time.Since(s.started)
	var c counts
	s.hist.Reset()
	for _, cl := range s.clients {
		cl.rec.takeInterval(s.hist, &c)
	}
	secs := (now - s.lastAt).Seconds()
	s.lastAt = now
	if secs <= 0 {
		secs = 1
	}
	p := Point{T: now.Seconds(), Throughput: float64(c.Completed) / secs, Approved: float64(c.Approved) / secs,
		Errors: c.Errors, Timeouts: c.Timeouts}
	if s.hist.TotalCount() > 0 {
		p.P50Ms = us2ms(s.hist.ValueAtQuantile(50))
		p.P90Ms = us2ms(s.hist.ValueAtQuantile(90))
		p.P99Ms = us2ms(s.hist.ValueAtQuantile(99))
		p.MaxMs = us2ms(s.hist.Max())
	}
	s.series = append(s.series, p)
	return p
}

func (s *sampler) final() {
	if s.o.Progress != nil {
		fmt.Fprintln(s.o.Progress)
	}
	if time.Since(s.started)-s.lastAt > 100*time.Millisecond {
		s.sample()
	}
}

func us2ms(us int64) float64 { return float64(us) / 1000 }

func buildResult(o *Options, clients []*client, s *sampler, started time.Time, elapsed time.Duration) *RunResult {
	total := newHist()
	var c counts
	codes := map[string]int64{}
	var kinds [kindCount]kindCounts
	var notSent int64
	var ac AnswerChecks
	var maxATC uint16
	var approvedAll, reconnects int64
	for _, cl := range clients {
		reconnects += cl.reconnects.Load()
		cl.rec.mu.Lock()
		total.Merge(cl.rec.total)
		c.Sent += cl.rec.counts.Sent
		c.Completed += cl.rec.counts.Completed
		c.Approved += cl.rec.counts.Approved
		c.Errors += cl.rec.counts.Errors
		c.Timeouts += cl.rec.counts.Timeouts
		for k, v := range cl.rec.codes {
			codes[k] += v
		}
		for k := range kinds {
			kinds[k].Sent += cl.rec.byKind[k].Sent
			kinds[k].Completed += cl.rec.byKind[k].Completed
			kinds[k].Approved += cl.rec.byKind[k].Approved
		}
		cl.rec.mu.Unlock()
		notSent += cl.notSent
		ac.ChipAnswers += cl.chipAnswers.Load()
		ac.ChipWithTag91 += cl.chipTag91.Load()
		ac.PINAnswers += cl.pinAnswers.Load()
		ac.PINApproved += cl.pinApproved.Load()
		ac.ATCExhausted += cl.gen.atcExhausted
		ac.ChipPrebuilt += cl.gen.chipPrebuilt
		ac.ChipInline += cl.gen.chipInline
		approvedAll += cl.approvedAll.Load()
		maxATC = max(maxATC, cl.gen.maxATC)
	}
	window := (o.Duration - o.Warmup).Seconds()
	r := &RunResult{
		Label: o.Label, Addr: o.Addr, Mode: o.Mode(), Connections: o.Connections, RatePerSec: o.Rate,
		Duration: o.Duration.String(), Warmup: o.Warmup.String(), Mix: o.Mix.Map(), MixText: o.Mix.String(),
		Cards: o.Cards.Count, Hot: o.Cards.Hot, Timeout: o.Timeout.String(),
		Started: started.UTC(), ElapsedSeconds: elapsed.Seconds(),
		Sent: c.Sent, Completed: c.Completed, Approved: c.Approved, Errors: c.Errors, Timeouts: c.Timeouts,
		NotSent:          notSent,
		ThroughputPerSec: float64(c.Completed) / window, ApprovedPerSec: float64(c.Approved) / window,
		ActionCodes: codes, ByKind: map[string]KindResult{}, Series: s.series,
		AnswerChecks: ac, MaxATC: maxATC, ApprovedAll: approvedAll, Reconnects: reconnects,
	}
	if o.Rate == 0 {
		r.Pipeline = o.Pipeline
	}
	for _, k := range kindsOf(o.Mix) {
		r.ByKind[k.String()] = KindResult(kinds[k])
	}
	if total.TotalCount() > 0 {
		r.Latency = LatencySummary{
			P50Ms: us2ms(total.ValueAtQuantile(50)), P90Ms: us2ms(total.ValueAtQuantile(90)),
			P99Ms: us2ms(total.ValueAtQuantile(99)), P999Ms: us2ms(total.ValueAtQuantile(99.9)),
			MaxMs: us2ms(total.Max()), MeanMs: total.Mean() / 1000,
		}
		for _, q := range distributionQuantiles {
			r.Distribution = append(r.Distribution, Quantile{Percentile: q, LatencyMs: us2ms(total.ValueAtQuantile(q))})
		}
	}
	return r
}

// distributionQuantiles are the points of the latency distribution plot.
var distributionQuantiles = func() []float64 {
	q := []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}
	sort.Float64s(q)
	return q
}()
