package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ClusterGauges are a cluster node's readings (app/cluster.go), read when Prometheus scrapes.
type ClusterGauges struct {
	// Leader is 1 while this node leads, 0 otherwise.
	Leader func() float64
	// LeaderChanges counts the new leaders this node has seen (elections won by anyone).
	LeaderChanges func() float64
	// CommitIndex is the highest Raft index known committed; AppliedIndex the highest written
	// into this node's store. Their difference is the replication lag.
	CommitIndex  func() float64
	AppliedIndex func() float64
}

// Cluster holds a cluster node's collectors, on a registry of their own (a follower serves
// them alone) and, once the node leads, on the switch's registry too (Register).
type Cluster struct {
	Registry   *prometheus.Registry
	collectors []prometheus.Collector
	commit     prometheus.Histogram
}

// NewCluster registers a cluster node's collectors. No label carries anything but fixed names.
func NewCluster(g ClusterGauges) *Cluster {
	c := &Cluster{Registry: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cardswitch_cluster_commit_seconds",
			Help:    "Time from a batch's proposal to its commit by a majority of the group (Append to Wait).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}),
	}
	c.collectors = []prometheus.Collector{c.commit,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_cluster_leader",
			Help: "1 while this node leads the group (and serves), 0 while it follows."}, g.Leader),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cardswitch_cluster_leader_changes_total",
			Help: "New leaders this node has seen since it started (elections)."}, g.LeaderChanges),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_cluster_commit_index",
			Help: "Highest Raft index this node knows committed."}, g.CommitIndex),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_cluster_applied_index",
			Help: "Highest Raft index written into this node's store."}, g.AppliedIndex),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cardswitch_cluster_replication_lag",
			Help: "Committed records not yet in this node's store (commit index - applied index)."},
			func() float64 { return max(0, g.CommitIndex()-g.AppliedIndex()) }),
	}
	c.Registry.MustRegister(c.collectors...)
	// A follower's /metrics also shows the process (memory grows with the Raft log, kept whole
	// until snapshots exist); the leader's registry has these collectors of its own.
	c.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return c
}

// Register adds the cluster collectors to the switch's registry (the leader's /metrics).
func (c *Cluster) Register(m *Metrics) { m.Registry.MustRegister(c.collectors...) }

// Committed observes one batch's commit latency.
func (c *Cluster) Committed(d time.Duration) { c.commit.Observe(d.Seconds()) }

// Handler serves the cluster collectors alone (a follower's /metrics).
func (c *Cluster) Handler() http.Handler {
	return promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{})
}
