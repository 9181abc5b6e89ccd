package panel

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cardswitch/cardswitch/authz"
)

var approvedCode = authz.Approved.String()

// The live traffic page reads the same collectors /metrics exposes (one registry): once a
// second the sampler gathers them and keeps the differences as one point of the last
// HistoryPoints seconds. Authorizations are the answered 0100 and 0200 requests
// (cardswitch_iso_messages_total with mti 0100 or 0200); the approval rate is the share of them
// answered with action 0000; latency percentiles are read from the differences of the
// cardswitch_iso_latency_seconds histogram's buckets (so they are bucket bounds, as a
// Prometheus histogram_quantile would give, interpolated within the bucket); the queue depth is
// cardswitch_engine_queue_depth as gathered.

// Limits of the live page (ARCHITECTURE rule 5).
const (
	// SampleInterval is the sampler's period.
	SampleInterval = time.Second
	// HistoryPoints is how many samples are kept (five minutes at one a second); the oldest is
	// dropped for each new one.
	HistoryPoints = 300
)

// Metric names read from the registry.
const (
	metricMessages   = "cardswitch_iso_messages_total"
	metricLatency    = "cardswitch_iso_latency_seconds"
	metricQueueDepth = "cardswitch_engine_queue_depth"
)

// Point is one second of traffic.
type Point struct {
	At            time.Time         `json:"at"`
	AuthsPerSec   float64           `json:"authsPerSec"`
	ApprovalRate  float64           `json:"approvalRate"` // 0..1; -1 when no authorization
	DeclinesByAct map[string]uint64 `json:"declines"`     // action code -> declines in the second
	P50Millis     float64           `json:"p50ms"`        // -1 when no answer in the second
	P95Millis     float64           `json:"p95ms"`
	P99Millis     float64           `json:"p99ms"`
	QueueDepth    float64           `json:"queueDepth"`
}

// counters is what one gather read.
type counters struct {
	auths, approved uint64
	byAction        map[string]uint64 // authorizations by action code
	buckets         []bucket          // latency histogram, cumulative
	queueDepth      float64
}

type bucket struct {
	upper float64
	count uint64
}

// sampler turns gathers into points.
type sampler struct {
	g prometheus.Gatherer

	mu     sync.Mutex
	prev   *counters
	points []Point // oldest first, at most HistoryPoints
	totals map[string]uint64
}

func newSampler(g prometheus.Gatherer) *sampler {
	return &sampler{g: g, totals: map[string]uint64{}}
}

// read gathers the registry's current counters.
func (s *sampler) read() (*counters, error) {
	mfs, err := s.g.Gather()
	if err != nil {
		return nil, err
	}
	c := &counters{byAction: map[string]uint64{}}
	for _, mf := range mfs {
		switch mf.GetName() {
		case metricMessages:
			for _, m := range mf.GetMetric() {
				mti, action := label(m, "mti"), label(m, "action")
				if mti != "0100" && mti != "0200" {
					continue
				}
				n := uint64(m.GetCounter().GetValue())
				c.auths += n
				c.byAction[action] += n
				if action == approvedCode {
					c.approved += n
				}
			}
		case metricLatency:
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					c.buckets = append(c.buckets, bucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
				}
				c.buckets = append(c.buckets, bucket{upper: math.Inf(1), count: h.GetSampleCount()})
			}
		case metricQueueDepth:
			for _, m := range mf.GetMetric() {
				c.queueDepth = m.GetGauge().GetValue()
			}
		}
	}
	return c, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sample takes one point (the difference to the previous gather over elapsed); the first call
// only sets the baseline.
func (s *sampler) sample(now time.Time, elapsed time.Duration) (Point, bool, error) {
	c, err := s.read()
	if err != nil {
		return Point{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.prev
	s.prev = c
	if prev == nil {
		return Point{}, false, nil
	}
	p := pointOf(prev, c, now, elapsed)
	for code, n := range p.DeclinesByAct {
		s.totals[code] += n
	}
	s.points = append(s.points, p)
	if len(s.points) > HistoryPoints {
		s.points = append(s.points[:0], s.points[len(s.points)-HistoryPoints:]...)
	}
	return p, true, nil
}

// pointOf is the traffic between two gathers (pure).
func pointOf(prev, cur *counters, now time.Time, elapsed time.Duration) Point {
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = 1
	}
	auths := sub(cur.auths, prev.auths)
	p := Point{At: now.UTC(), AuthsPerSec: float64(auths) / secs, ApprovalRate: -1, QueueDepth: cur.queueDepth,
		DeclinesByAct: map[string]uint64{}}
	if auths > 0 {
		p.ApprovalRate = float64(sub(cur.approved, prev.approved)) / float64(auths)
	}
	for code, n := range cur.byAction {
		if d := sub(n, prev.byAction[code]); d > 0 && code != approvedCode {
			p.DeclinesByAct[code] = d
		}
	}
	diff := make([]bucket, len(cur.buckets))
	for i, b := range cur.buckets {
		diff[i] = bucket{upper: b.upper, count: b.count}
		if i < len(prev.buckets) && prev.buckets[i].upper == b.upper {
			diff[i].count = sub(b.count, prev.buckets[i].count)
		}
	}
	p.P50Millis, p.P95Millis, p.P99Millis = quantileMillis(diff, .50), quantileMillis(diff, .95), quantileMillis(diff, .99)
	return p
}

func sub(a, b uint64) uint64 {
	if a < b { // a restarted counter
		return a
	}
	return a - b
}

// quantileMillis is the q-quantile of a cumulative histogram in milliseconds, interpolated
// linearly within its bucket (histogram_quantile's rule); -1 without observations. An answer in
// the +Inf bucket is reported as the highest finite bound.
func quantileMillis(bs []bucket, q float64) float64 {
	if len(bs) == 0 {
		return -1
	}
	total := bs[len(bs)-1].count
	if total == 0 {
		return -1
	}
	rank := q * float64(total)
	i := sort.Search(len(bs), func(i int) bool { return float64(bs[i].count) >= rank })
	if i >= len(bs) {
		i = len(bs) - 1
	}
	if math.IsInf(bs[i].upper, 1) {
		if i == 0 {
			return -1
		}
		return bs[i-1].upper * 1000
	}
	lower, below := 0.0, uint64(0)
	if i > 0 {
		lower, below = bs[i-1].upper, bs[i-1].count
	}
	in := bs[i].count - below
	if in == 0 {
		return bs[i].upper * 1000
	}
	return (lower + (bs[i].upper-lower)*(rank-float64(below))/float64(in)) * 1000
}

// history is a copy of the kept points and the declines by action code since the start.
func (s *sampler) history() ([]Point, map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tot := make(map[string]uint64, len(s.totals))
	for k, v := range s.totals {
		tot[k] = v
	}
	return append([]Point(nil), s.points...), tot
}
