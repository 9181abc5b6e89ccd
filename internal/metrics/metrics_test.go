package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// /metrics carries the switch's own series and the Go scheduler's wait times, which tell a CPU
// shortage from a slow disk (docs/operations.md).
func TestExpositionHasJournalAndSchedulerSeries(t *testing.T) {
	m := New(Gauges{QueueDepth: func() float64 { return 3 }, ValueLogBytes: func() float64 { return 1 << 24 },
		OpsByKind: func(yield func(string, uint64)) { yield("authorize", 7); yield("reload", 2) }})
	m.Batch(120, 2*time.Millisecond, nil)
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	m.Handler()(&ctx)
	if ctx.Response.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
	body := string(ctx.Response.Body())
	for _, want := range []string{
		"cardswitch_journal_write_seconds_count 1",
		"cardswitch_engine_batch_rows_sum 120",
		"cardswitch_engine_queue_depth 3",
		`cardswitch_engine_ops_total{kind="authorize"} 7`,
		`cardswitch_engine_ops_total{kind="reload"} 2`,
		"cardswitch_journal_value_log_bytes 1.6777216e+07",
		"go_sched_latencies_seconds_bucket",
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
