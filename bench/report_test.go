package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

func sampleReport() *Report {
	r := 0.8
	run := &RunResult{Label: "cardswitch", Mode: "closed", Connections: 2, Pipeline: 4, Duration: "2s",
		MixText: "ecom=1", Mix: map[string]int{"ecom": 1}, Sent: 10, Completed: 10, Approved: 9,
		ThroughputPerSec: 5, ApprovedPerSec: 4.5,
		Latency:      LatencySummary{P50Ms: 1, P90Ms: 2, P99Ms: 3, P999Ms: 4, MaxMs: 5, MeanMs: 1.5},
		Distribution: []Quantile{{0, 0.5}, {50, 1}, {99, 3}, {99.9, 4}, {100, 5}},
		ActionCodes:  map[string]int64{"00": 9, "51": 1},
		Series:       []Point{{T: 1, Throughput: 5, Approved: 4, P50Ms: 1, P99Ms: 3, MaxMs: 5}, {T: 2, Throughput: 5, Approved: 5, P50Ms: 1, P99Ms: 2, MaxMs: 4}},
		AnswerChecks: AnswerChecks{ChipAnswers: 3, ChipWithTag91: 3, ChipPrebuilt: 2, ChipInline: 1}, PrepareSeconds: 1.25,
	}
	return &Report{Command: "cardswitch bench --duration 2s", Machine: ThisMachine(), Runs: []*RunResult{run, run}, Ratio: &r}
}

func TestReportJSONFields(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"command", "machine", "runs", "ratio"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	run := m["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"mode", "connections", "throughputPerSec", "approvedPerSec", "errors", "timeouts",
		"actionCodes", "series", "distribution", "latencyMs", "prepareSeconds"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run: missing %q", k)
		}
	}
	lat := run["latencyMs"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p99.9", "max"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latencyMs: missing %q", k)
		}
	}
	if ac := run["answerChecks"].(map[string]any); ac["chipPrebuilt"] != 2.0 || ac["chipInline"] != 1.0 {
		t.Errorf("answerChecks %v", ac)
	}
	if nproc := m["machine"].(map[string]any)["nproc"].(float64); nproc < 1 {
		t.Errorf("nproc %v", nproc)
	}
}

func TestReportHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if strings.Count(html, "<svg") != 6 || !strings.Contains(html, "<polyline") {
		t.Fatalf("want 3 inline SVG plots per run:\n%s", html)
	}
	for _, want := range []string{"Latency over time", "Latency by percentile", "Throughput over time", "0.80", "<td>51</td>",
		"1.25 s of preparation before the clock; chip ARQCs prebuilt 2, built during the run 1"} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "http://") && !strings.Contains(html, "http://www.w3.org/2000/svg") {
		t.Error("the report must be self-contained")
	}
	var sum bytes.Buffer
	sampleReport().Summary(&sum)
	if !strings.Contains(sum.String(), "ratio cardswitch/echo") ||
		!strings.Contains(sum.String(), "generator: 1.25 s of preparation before the clock; chip ARQCs prebuilt 2, built in the run 1") {
		t.Errorf("summary: %s", sum.String())
	}
}

// stallingServer answers every request with 00, but holds each connection for stall after its
// first request.
func stallingServer(t *testing.T, stall time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
				// The stall starts with the first request, not at the connection: the bench
				// dials before its clock starts, and a slow preparation (a loaded machine, the
				// race detector) would otherwise use up part of the stall before anything is due.
				stalled := false
				for {
					f, err := server.ReadFrame(br, 8192)
					if err != nil {
						return
					}
					if !stalled {
						time.Sleep(stall)
						stalled = true
					}
					req, err := codec.Decode(f)
					if err != nil {
						return
					}
					out, _ := codec.Encode(req, authz.Response{Action: authz.Approved, AuthCode: "A1B2C3"})
					server.WriteFrame(bw, out)
					if br.Buffered() == 0 {
						bw.Flush()
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Open loop keeps its schedule through a stall, and the stall shows in the latency (no
// coordinated omission); the number of requests follows the rate.
func TestOpenLoopScheduleAndStall(t *testing.T) {
	addr := stallingServer(t, 400*time.Millisecond)
	mix, _ := ParseMix("ecom=1")
	res, err := Run(context.Background(), Options{Addr: addr, Connections: 2, Duration: 1500 * time.Millisecond,
		Rate: 200, Mix: mix, Cards: *testCards(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 290 || res.Sent > 301 {
		t.Errorf("sent %d, want 300 (200/s for 1.5s)", res.Sent)
	}
	if res.Completed != res.Sent || res.Errors != 0 || res.Timeouts != 0 {
		t.Fatalf("%+v", res)
	}
	// The first request was due at 0 and answered after the 400 ms stall.
	if res.Latency.MaxMs < 350 {
		t.Errorf("max latency %.1f ms hides the 400 ms stall", res.Latency.MaxMs)
	}
	// About a quarter of the requests were due during the stall: p90 stays low, p99 shows it.
	if res.Latency.P99Ms < 100 {
		t.Errorf("p99 %.1f ms hides the stall", res.Latency.P99Ms)
	}
}

func TestTimeoutsCounted(t *testing.T) {
	addr := stallingServer(t, 10*time.Second)
	mix, _ := ParseMix("ecom=1")
	res, err := Run(context.Background(), Options{Addr: addr, Connections: 1, Duration: 300 * time.Millisecond,
		Pipeline: 2, Mix: mix, Cards: *testCards(t), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Timeouts == 0 || res.Completed != 0 {
		t.Fatalf("timeouts %d completed %d", res.Timeouts, res.Completed)
	}
}
