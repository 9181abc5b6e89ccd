package clustertest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchRun is what this measurement reads of `cardswitch bench --json`.
type benchRun struct {
	Runs []struct {
		Reconnects int64 `json:"reconnects"`
		Series     []struct {
			T        float64 `json:"t"`
			Approved float64 `json:"approved"`
		} `json:"series"`
		Label          string  `json:"label"`
		Mode           string  `json:"mode"`
		ApprovedPerSec float64 `json:"approvedPerSec"`
		Completed      int64   `json:"completed"`
		Timeouts       int64   `json:"timeouts"`
		Errors         int64   `json:"errors"`
		Latency        struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latencyMs"`
	} `json:"runs"`
}

// TestClusterThroughput is a measurement, not issue 23's `make bench --cluster` (skipped without
// CARDSWITCH_CLUSTER_BENCH_CARDS): `cardswitch bench` runs the same closed loop, then the same
// open loop, against a three-node group (its --addr the members' list) and against one node
// (--spawn), each over a store of that many provisioned cards, on this machine, one after the
// other; the open loop runs at CARDSWITCH_CLUSTER_BENCH_RATE requests/s (default 2,000). Between
// them, the group's closed loop runs again while its leader is killed twice.
// `make bench-cluster` runs it with 100,000 cards at 5,000/s.
func TestClusterThroughput(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	n, _ := strconv.Atoi(os.Getenv("CARDSWITCH_CLUSTER_BENCH_CARDS"))
	if bin == "" || n <= 0 {
		t.Skip("set CARDSWITCH_BIN and CARDSWITCH_CLUSTER_BENCH_CARDS")
	}
	g := newGroup(t, bin)
	seed := filepath.Join(t.TempDir(), "seed")
	if err := os.MkdirAll(seed, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "provision", "--config", g.nodes[0].cfgPath, "--data-dir", seed,
		"--cards", strconv.Itoa(n)).CombinedOutput(); err != nil {
		t.Fatalf("provision: %v\n%s", err, out)
	}
	for _, nd := range g.nodes {
		if out, err := exec.Command("cp", "-a", filepath.Join(seed, "ledger"), filepath.Join(nd.dir, "ledger")).CombinedOutput(); err != nil {
			t.Fatalf("copy the seed store: %v\n%s", err, out)
		}
	}
	for _, nd := range g.nodes {
		g.start(nd)
	}
	g.leader()
	list := g.nodes[0].iso + "," + g.nodes[1].iso + "," + g.nodes[2].iso
	rate := os.Getenv("CARDSWITCH_CLUSTER_BENCH_RATE") // the open loop's requests/s
	if rate == "" {
		rate = "2000"
	}
	modes := map[string][]string{"closed": {"--connections", "8"}, "open": {"--connections", "8", "--rate", rate}}
	for _, mode := range []string{"closed", "open"} {
		args := append([]string{"bench", "--addr", list, "--config", g.nodes[0].cfgPath, "--data-dir", seed,
			"--cards", strconv.Itoa(n), "--duration", "10s", "--mix", "ecom=1"}, modes[mode]...)
		report(t, bin, "three nodes "+mode, args)
	}
	// Failover under load: the closed loop again, 20 s, the leader killed (and restarted) at 6 s
	// and at 13 s; the bench redials through its list. The seconds without an approval are the
	// outages the acquirers saw.
	cmd := exec.Command(bin, "bench", "--addr", list, "--config", g.nodes[0].cfgPath, "--data-dir", seed,
		"--cards", strconv.Itoa(n), "--duration", "20s", "--mix", "ecom=1", "--connections", "8",
		"--json", filepath.Join(t.TempDir(), "failover.json"))
	out := cmd.Args[len(cmd.Args)-1]
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for _, at := range []time.Duration{6 * time.Second, 13 * time.Second} {
		time.Sleep(time.Until(began.Add(at)))
		lead := g.leader()
		g.kill(lead)
		g.start(lead)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bench under failover: %v", err)
	}
	if raw, err := os.ReadFile(out); err == nil {
		var r benchRun
		if json.Unmarshal(raw, &r) == nil && len(r.Runs) > 0 {
			x := r.Runs[0]
			idle := 0
			for _, p := range x.Series {
				if p.Approved == 0 {
					idle++
				}
			}
			t.Logf("%-18s closed loop, 2 leader kills: %.0f approved/s, p99 %.2f ms, %d timeouts, %d reconnects, %d of %d seconds without an approval",
				"three nodes kills", x.ApprovedPerSec, x.Latency.P99, x.Timeouts, x.Reconnects, idle, len(x.Series))
		}
	}
	for _, nd := range g.nodes {
		g.stop(nd)
	}
	for _, mode := range []string{"closed", "open"} {
		args := append([]string{"bench", "--spawn", "--cards", strconv.Itoa(n), "--duration", "10s", "--mix", "ecom=1"},
			modes[mode]...)
		report(t, bin, "one node "+mode, args)
	}
}

func report(t *testing.T, bin, what string, args []string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bench.json")
	cmd := exec.Command(bin, append(args, "--json", out)...)
	if raw, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, raw)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r benchRun
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Runs) == 0 {
		t.Fatalf("%s: report: %v", what, err)
	}
	x := r.Runs[0]
	t.Logf("%-18s %s loop: %.0f approved/s, p50 %.2f ms, p99 %.2f ms, %d answered, %d timeouts, %d errors",
		what, x.Mode, x.ApprovedPerSec, x.Latency.P50, x.Latency.P99, x.Completed, x.Timeouts, x.Errors)
}
