// Command raftbench measures what replicating the engine's batches would cost on each candidate
// consensus engine, in one run on one machine, against the local floor (one ledger/wal record and
// its fdatasync). Three nodes run in this process on loopback TCP, each with its own directory on
// the real disk, fsync on. docs/decisions/0010-replication.md holds the figures and the choice.
//
// What is timed is the commit latency as the leader sees it: from the moment a batch is proposed
// (or, open loop, was due to be proposed) to the moment the leader knows a majority holds it on
// disk. Two loads per payload size:
//
//   - closed: at most -inflight proposals outstanding (the engine keeps at most 3 batches in
//     flight), a new one proposed as soon as the oldest commits; gives throughput.
//   - open: one proposal every 1/-rate s whatever happens, latency counted from when it was due
//     (no coordinated omission).
//
// Run it (from the module root):
//
//	go run ./cluster/raftbench -dur 3s -rounds 2
//
// Each round runs every candidate once, in turn, so the candidates share the machine's load.
//
// With -failover N it instead runs a three-node cluster.Node group (the chosen engine, with its
// default timing), closes its leader N times after a few commits, and reports how long each
// took until a record was committed on a new leader (the closed node is started again from its
// log each time):
//
//	go run ./cluster/raftbench -failover 10
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// candidate is one way of making a batch durable: a replicated log, or the local floor.
type candidate interface {
	// propose hands payload to the log and returns how to wait for its commit.
	propose(payload []byte) (waiter, error)
	close() error
}

// waiter blocks until the proposal it was returned for is committed (or failed).
type waiter func() error

// opener starts a candidate in a fresh directory under dir.
type opener struct {
	name string
	open func(dir string) (candidate, error)
}

func main() {
	dur := flag.Duration("dur", 3*time.Second, "length of one measurement (one candidate, one payload, one load)")
	rounds := flag.Int("rounds", 2, "how many times every candidate is measured, in alternation")
	inflight := flag.Int("inflight", 3, "closed loop: proposals outstanding at most")
	rate := flag.Int("rate", 500, "open loop: proposals per second")
	sizes := flag.String("sizes", "2048,65536", "payload sizes in bytes, comma separated")
	only := flag.String("only", "", "comma separated candidate names to run (default all)")
	dir := flag.String("dir", "", "directory for the nodes' files (default a temporary directory, removed after)")
	kills := flag.Int("failover", 0, "instead of the latency runs: close the leader of a cluster.Node group this many times and time each failover")
	flag.Parse()

	if *kills > 0 {
		d, err := os.MkdirTemp(*dir, "raftbench-failover-")
		if err == nil {
			err = measureFailover(d, *kills, 2048)
			os.RemoveAll(d)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "raftbench:", err)
			os.Exit(1)
		}
		return
	}

	if err := run(*dur, *rounds, *inflight, *rate, *sizes, *only, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration, rounds, inflight, rate int, sizeList, only, dir string) error {
	var payloadBytes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 16 {
			return fmt.Errorf("bad payload size %q: want an integer ≥ 16", s)
		}
		payloadBytes = append(payloadBytes, n)
	}
	if inflight < 1 || rate < 1 || rounds < 1 || dur <= 0 {
		return fmt.Errorf("inflight, rate, rounds and dur must be positive")
	}
	cands := []opener{
		{"wal-local", openWAL},
		{"hashicorp-raft+boltdb", openHashicorp},
		{"hashicorp-raft+boltdb/batch", openHashicorpBatched},
		{"cluster.Node", openClusterNode},
	}
	if only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var keep []opener
		for _, c := range cands {
			if want[c.name] {
				keep = append(keep, c)
			}
		}
		cands = keep
	}
	base := dir
	if base == "" {
		d, err := os.MkdirTemp("", "raftbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		base = d
	}
	host, _ := os.Hostname()
	fmt.Printf("raftbench %s  host=%s  GOMAXPROCS=%d  NumCPU=%d  loadavg=%s  dur=%s inflight=%d rate=%d/s\n",
		time.Now().UTC().Format(time.RFC3339), host, runtime.GOMAXPROCS(0), runtime.NumCPU(), loadavg(), dur, inflight, rate)
	fmt.Println("| round | candidate | payload | load | n | batches/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	runNum := 0
	for r := 1; r <= rounds; r++ {
		for _, c := range cands {
			for _, size := range payloadBytes {
				for _, load := range []string{"closed", "open"} {
					runNum++
					d := fmt.Sprintf("%s/%03d-%s", base, runNum, c.name)
					cand, err := c.open(d)
					if err != nil {
						return fmt.Errorf("%s: %w", c.name, err)
					}
					var res result
					if load == "closed" {
						res = closedLoop(cand, size, inflight, dur)
					} else {
						res = openLoop(cand, size, rate, dur)
					}
					if err := cand.close(); err != nil {
						return fmt.Errorf("%s: close: %w", c.name, err)
					}
					os.RemoveAll(d)
					loadName := fmt.Sprintf("closed×%d", inflight)
					if load == "open" {
						loadName = fmt.Sprintf("open %d/s", rate)
					}
					fmt.Printf("| %d | %s | %d KiB | %s | %s |\n", r, c.name, size>>10, loadName, res.row(size))
				}
			}
		}
	}
	fmt.Printf("end %s  loadavg=%s\n", time.Now().UTC().Format(time.RFC3339), loadavg())
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
