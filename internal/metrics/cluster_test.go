package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge reads one metric's value from a registry (-1: absent).
func gauge(t *testing.T, r *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// The cluster metrics are on their own registry (a follower's /metrics) and, once registered,
// on the switch's; the lag is commit - applied, never negative.
func TestClusterMetrics(t *testing.T) {
	commit, applied := 10.0, 7.0
	c := NewCluster(ClusterGauges{Leader: func() float64 { return 1 }, LeaderChanges: func() float64 { return 2 },
		CommitIndex: func() float64 { return commit }, AppliedIndex: func() float64 { return applied }})
	c.Committed(3 * time.Millisecond)
	if lag := gauge(t, c.Registry, "cardswitch_cluster_replication_lag"); lag != 3 {
		t.Fatalf("lag %v, want 3", lag)
	}
	applied = 12 // a store ahead of what this node knows committed (just restarted): no negative lag
	if lag := gauge(t, c.Registry, "cardswitch_cluster_replication_lag"); lag != 0 {
		t.Fatalf("lag %v, want 0", lag)
	}
	m := New(Gauges{})
	c.Register(m)
	for name, want := range map[string]float64{"cardswitch_cluster_leader": 1, "cardswitch_cluster_leader_changes_total": 2,
		"cardswitch_cluster_commit_seconds": 1, "cardswitch_cluster_commit_index": 10, "cardswitch_cluster_applied_index": 12} {
		if got := gauge(t, m.Registry, name); got != want {
			t.Errorf("%s on the switch's registry: %v, want %v", name, got, want)
		}
	}
}
