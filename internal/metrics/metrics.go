// Package metrics exposes cardswitch's Prometheus metrics (official client) on a registry of its
// own. Labels carry MTIs, action codes, routes and statuses only: never card data.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/cardswitch/cardswitch/authz"
)

// Metrics holds the collectors.
type Metrics struct {
	Registry *prometheus.Registry

	messages     *prometheus.CounterVec
	authLatency  prometheus.Histogram
	dropped      *prometheus.CounterVec
	batchRows    prometheus.Histogram
	durable      prometheus.Histogram
	journalFails prometheus.Counter
	apiRequests  *prometheus.CounterVec
	apiLatency   *prometheus.HistogramVec
}

// Gauges are read when Prometheus scrapes.
type Gauges struct {
	QueueDepth      func() float64
	ConnectionsOpen func() float64
	Overloaded      func() float64 // 96 answers because the engine queue was full
	// ValueLogBytes is the size of the journal's value-log files (nil: not exported).
	ValueLogBytes func() float64
	// OpsByKind calls yield with the engine's applied operations per kind (the command kind's
	// name, ledger.OpKind), for cardswitch_engine_ops_total (nil: not exported).
	OpsByKind func(yield func(kind string, ops uint64))
	// WALBacklogWaits and WALBacklogBytes (engine.journal: wal; nil: not exported): the commits
	// that waited because the records not yet in Badger were at their bound, and those bytes.
	WALBacklogWaits func() float64
	WALBacklogBytes func() float64
	// ArchiveRecords and ArchiveBytes (ledger/archive; nil: not exported): the auth records
	// written to the archive since start, and the bytes of its files.
	ArchiveRecords func() float64
	ArchiveBytes   func() float64
}

// New registers every collector.
func New(g Gauges) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cardswitch_iso_messages_total",
			Help: "ISO 8583 requests answered, by base MTI and action code."}, []string{"mti", "action"}),
		authLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cardswitch_iso_latency_seconds",
			Help:    "Time from a request's decoding to its answer being handed to the connection.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .25, 1}}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cardswitch_iso_dropped_total",
			Help: "ISO messages dropped without an answer, by reason."}, []string{"reason"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cardswitch_engine_batch_rows",
			Help: "Rows written per durable engine batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		durable: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cardswitch_journal_write_seconds",
			Help:    "Latency of one synced journal write (one engine batch).",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .02, .05, .1, .5}}),
		journalFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "cardswitch_journal_write_failures_total",
			Help: "Journal writes that failed (their batch was answered 96)."}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cardswitch_api_requests_total",
			Help: "Management API requests by route and status."}, []string{"route", "status"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cardswitch_api_latency_seconds",
			Help: "Management API latency by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	r.MustRegister(m.messages, m.authLatency, m.dropped, m.batchRows, m.durable, m.journalFails,
		m.apiRequests, m.apiLatency,
		// The scheduler metrics add go_sched_latencies_seconds: how long runnable goroutines
		// waited for a CPU. Next to cardswitch_journal_write_seconds it tells a CPU shortage
		// (compaction, a neighbour process) from a slow disk.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if g.QueueDepth != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_engine_queue_depth",
			Help: "Ops waiting for the engine."}, g.QueueDepth))
	}
	if g.ConnectionsOpen != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_iso_connections",
			Help: "Open ISO connections."}, g.ConnectionsOpen))
	}
	if g.ValueLogBytes != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_journal_value_log_bytes",
			Help: "Bytes of the journal's value-log files (rows; collected every minute)."}, g.ValueLogBytes))
	}
	if g.WALBacklogWaits != nil {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cardswitch_journal_backlog_waits_total",
			Help: "Batches that waited for the checkpoint because the log's records not yet in Badger were at their bound."}, g.WALBacklogWaits))
	}
	if g.WALBacklogBytes != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_journal_backlog_bytes",
			Help: "Bytes of the write-ahead log's records not yet written into Badger."}, g.WALBacklogBytes))
	}
	if g.ArchiveRecords != nil {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cardswitch_archive_records_total",
			Help: "Auth records written to the archive since start (moved out of the hot store, or recorded as forgotten)."}, g.ArchiveRecords))
	}
	if g.ArchiveBytes != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_archive_bytes",
			Help: "Bytes of the archive's segment and index files."}, g.ArchiveBytes))
	}
	if g.OpsByKind != nil {
		r.MustRegister(opsCollector{read: g.OpsByKind, desc: prometheus.NewDesc("cardswitch_engine_ops_total",
			"Operations the engine applied, by command kind.", []string{"kind"}, nil)})
	}
	if g.Overloaded != nil {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cardswitch_iso_overload_answers_total",
			Help: "Requests answered 96 at once because the engine queue was full."}, g.Overloaded))
	}
	return m
}

// opsCollector exports the engine's own per-kind counters as they are when scraped (the engine
// counts them on its goroutine; a CounterVec would add a labelled increment per operation).
type opsCollector struct {
	read func(yield func(kind string, ops uint64))
	desc *prometheus.Desc
}

func (c opsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c opsCollector) Collect(ch chan<- prometheus.Metric) {
	c.read(func(kind string, ops uint64) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(ops), kind)
	})
}

// Answered implements dispatch.Observer.
func (m *Metrics) Answered(mti string, action authz.ActionCode, latency time.Duration) {
	m.messages.WithLabelValues(mti, action.String()).Inc()
	m.authLatency.Observe(latency.Seconds())
}

// Dropped implements dispatch.Observer.
func (m *Metrics) Dropped(reason string) { m.dropped.WithLabelValues(reason).Inc() }

// Batch implements engine.Observer.
func (m *Metrics) Batch(rows int, durable time.Duration, err error) {
	if err != nil {
		m.journalFails.Inc()
		return
	}
	m.batchRows.Observe(float64(rows))
	m.durable.Observe(durable.Seconds())
}

// Request records one management API request (mgmt.Metrics); route is the route pattern, never
// the path, so no id or card data becomes a label.
func (m *Metrics) Request(method, route string, status int, latency time.Duration) {
	r := method + " " + route
	m.apiRequests.WithLabelValues(r, strconv.Itoa(status)).Inc()
	m.apiLatency.WithLabelValues(r).Observe(latency.Seconds())
}

// Handler serves /metrics in the Prometheus text format.
func (m *Metrics) Handler() fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
}
