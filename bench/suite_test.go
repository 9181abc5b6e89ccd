package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeSwitch records the suite's calls to the switch in a shared log.
type fakeSwitch struct {
	log      *[]string
	rss      int64
	restarts int
	restart  time.Duration
	pid      int
}

func (f *fakeSwitch) Addr() string { return "fake:8583" }
func (f *fakeSwitch) PID() int     { return f.pid }
func (f *fakeSwitch) RSS() (int64, error) {
	*f.log = append(*f.log, "rss")
	return f.rss, nil
}
func (f *fakeSwitch) Restart(context.Context) (time.Duration, error) {
	*f.log = append(*f.log, "restart")
	f.restarts++
	return f.restart, nil
}

// fakeDisk is a data directory measured twice (before the closed loop, after the last phase):
// 100 MB apparent and 90 MB allocated, then growth more apparent bytes and twice that allocated.
func fakeDisk(calls *[]string, growth int64) func(string) (DiskUsage, error) {
	n := 0
	return func(dir string) (DiskUsage, error) {
		*calls = append(*calls, "disk")
		if dir != "fake-data" {
			return DiskUsage{}, fmt.Errorf("disk usage of %s", dir)
		}
		n++
		if n == 1 {
			return DiskUsage{Bytes: 100e6, AllocatedBytes: 90e6}, nil
		}
		return DiskUsage{Bytes: 100e6 + growth, AllocatedBytes: 90e6 + 2*growth}, nil
	}
}

// fakeSuite wires RunSuite to canned results: approved/s per run label, and p99 of the open loop
// (the open loop right after the closed loop: 1.4 times the floor's).
// The closed loop's measured window is 3 s (the run 4 s with the warm-up), the echo's 2 s. The
// data directory grows by 511,100 bytes.
func fakeSuite(t *testing.T, calls *[]string, perSec map[string]float64, openP99 float64) *SuiteOptions {
	mix, _ := ParseMix(DefaultMix)
	cards := testCards(t)
	cards.Count = 10000
	return &SuiteOptions{
		Base:         Options{Connections: 4, Pipeline: 2, Duration: 3 * time.Second, Warmup: time.Second, Mix: mix, Cards: *cards},
		EchoDuration: 2 * time.Second,
		OpenRate:     5000, OpenDuration: 2 * time.Second, PhaseDuration: time.Second,
		CPUCompare: true, CPUPhase: time.Second, CPURounds: 1,
		Machine:       &Machine{NumCPU: 2, CPUModel: "Test CPU"},
		ProvisionTook: 70 * time.Second, FirstReadyTook: 9 * time.Second,
		run: func(_ context.Context, o Options) (*RunResult, error) {
			*calls = append(*calls, o.Label)
			switch o.Label {
			case "open", "open-after-closed":
				if o.Rate != 5000 || o.Duration != 2*time.Second || o.Warmup != time.Second || o.Cards.Hot || o.Mix.String() != DefaultMix {
					t.Errorf("%s phase options: rate %v duration %v warm-up %v hot %v mix %s", o.Label, o.Rate, o.Duration, o.Warmup, o.Cards.Hot, o.Mix)
				}
			case "spread", "hot":
				if o.Rate != 0 || o.Duration != time.Second || o.Cards.Hot != (o.Label == "hot") || o.Mix.Weights[KindChip] != 0 {
					t.Errorf("%s phase options: rate %v duration %v hot %v mix %s", o.Label, o.Rate, o.Duration, o.Cards.Hot, o.Mix)
				}
			case "durable-echo-open":
				if o.Rate != 5000 || o.Duration != 2*time.Second || o.Addr != "floor:1" {
					t.Errorf("durable echo open-loop options: rate %v duration %v addr %s", o.Rate, o.Duration, o.Addr)
				}
			case "echo", "durable-echo":
				if o.Rate != 0 || o.Duration != 3*time.Second || o.Warmup != time.Second || o.Cards.Hot || o.Mix.String() != DefaultMix {
					t.Errorf("echo run options: rate %v duration %v hot %v mix %s", o.Rate, o.Duration, o.Cards.Hot, o.Mix)
				}
			default:
				if o.Rate != 0 || o.Duration != 4*time.Second || o.Warmup != time.Second || o.Cards.Hot || o.Mix.String() != DefaultMix {
					t.Errorf("%s run options: rate %v duration %v hot %v mix %s", o.Label, o.Rate, o.Duration, o.Cards.Hot, o.Mix)
				}
			}
			if !strings.Contains(o.Label, "echo") && o.Addr != "fake:8583" {
				t.Errorf("%s run against %s", o.Label, o.Addr)
			}
			v := perSec[o.Label]
			r := &RunResult{Label: o.Label, Mode: o.Mode(), ApprovedPerSec: v, ThroughputPerSec: v, Completed: 1, MaxATC: 100,
				PrepareSeconds: 0.5, ApprovedAll: 1000}
			if o.Label == "open" {
				r.Latency = LatencySummary{P99Ms: openP99, P999Ms: 2 * openP99}
			}
			if o.Label == "durable-echo-open" { // the floor: cardswitch's p99 is 1.2 times it, p99.9 1.25
				r.Latency = LatencySummary{P99Ms: openP99 / 1.2, P999Ms: 2 * openP99 / 1.25}
			}
			if o.Label == "open-after-closed" { // p99 1.4 times the floor's
				r.Latency = LatencySummary{P99Ms: openP99 * 1.4 / 1.2, P999Ms: 4 * openP99}
			}
			if o.Label == "cardswitch" {
				// one slow second inside the window (t = 2..4 s); the warm-up second and the drain
				// after the window do not count
				r.Series = []Point{{T: 1, Approved: 10}, {T: 2, Approved: v}, {T: 3, Approved: v * 0.98}, {T: 4, Approved: v}, {T: 4.3, Approved: 1}}
			}
			return r, nil
		},
		startEcho:        func() (string, func() int64, error) { return "echo:1", func() int64 { return 0 }, nil },
		startDurableEcho: func() (string, func() int64, error) { return "floor:1", func() int64 { return 0 }, nil },
		cpuCompare: func(_ context.Context, base *Options, pid int, _ time.Duration, _ int, _ float64, _ io.Writer) (*CPUCompare, error) {
			*calls = append(*calls, "cpu-compare")
			if want := 1.5 * perSec["cardswitch"]; base.PrebuildRate != want {
				t.Errorf("cpu-compare prebuild rate %v, want %v", base.PrebuildRate, want)
			}
			base.Cards.ATCBase += 7
			return &CPUCompare{ChipOverEcom: 1.1, PINOverEcom: 0.9, Target: CPUTarget, Met: true,
				Phases: []CPUPhase{{Kind: "ecom", Approved: 100}, {Kind: "chip", Approved: 10}, {Kind: "pin", Approved: 1}}}, nil
		},
		quiet:     func(context.Context, int) { *calls = append(*calls, "quiet") },
		DataDir:   "fake-data",
		diskUsage: fakeDisk(calls, 511100),
		settle: func(context.Context, int) time.Duration {
			*calls = append(*calls, "settle")
			return 7 * time.Second
		},
	}
}

func TestSuiteSequenceAndVerdicts(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 600e6, restart: 800 * time.Millisecond, pid: 1}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 21000, "echo": 30000, "durable-echo": 60000, "open-after-closed": 3000, "open": 5000, "spread": 10000, "hot": 6000}, 3)
	atc0 := so.Base.Cards.ATCBase
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	// The data directory is measured before the closed loop and after the last phase before the
	// restart. The open loop right after the closed loop waits for nothing (no quiet, no settle);
	// the open phase waits for the switch's background work (store compaction) first.
	want := "disk cardswitch open-after-closed quiet echo quiet durable-echo durable-echo-open settle open quiet spread quiet hot cpu-compare rss disk restart rss"
	if got := strings.Join(calls, " "); got != want {
		t.Fatalf("sequence:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(sr.Phases, " "); got != "closed open-after-closed echo durable-echo open spread hot cpu-compare rss restart" {
		t.Errorf("phases %s", got)
	}
	var labels []string
	for _, r := range rep.Runs {
		labels = append(labels, r.Label)
	}
	if got := strings.Join(labels, " "); got != "cardswitch open-after-closed echo durable-echo durable-echo-open open spread hot" {
		t.Errorf("runs %s", got)
	}
	if sw.restarts != 1 || len(rep.Runs) != 8 || rep.CPUCompare == nil || rep.Ratio == nil {
		t.Fatalf("restarts %d runs %d cpu %v ratio %v", sw.restarts, len(rep.Runs), rep.CPUCompare, rep.Ratio)
	}
	if so.Base.Cards.ATCBase <= atc0 {
		t.Errorf("ATC base not advanced: %d -> %d", atc0, so.Base.Cards.ATCBase)
	}
	if sr.OpenSettleSeconds != 7 {
		t.Errorf("open-loop settle wait %v s, want the 7 s the switch took", sr.OpenSettleSeconds)
	}
	if sr.DurableEchoRatio != 0.35 || sr.OpenP99OverFloor < 1.199 || sr.OpenP99OverFloor > 1.201 || sr.OpenP999OverFloor < 1.249 || sr.OpenP999OverFloor > 1.251 {
		t.Errorf("ratios to the durable echo: %v, %v, %v", sr.DurableEchoRatio, sr.OpenP99OverFloor, sr.OpenP999OverFloor)
	}
	if r := sr.AfterClosedOpenP99OverFloor; r < 1.399 || r > 1.401 || sr.AfterClosedOpenLatency.P999Ms != 12 || sr.AfterClosedOpenThroughput != 3000 {
		t.Errorf("open loop right after the closed loop: p99 / floor %v, latency %+v, %v/s", r, sr.AfterClosedOpenLatency, sr.AfterClosedOpenThroughput)
	}
	if sr.EchoRatio != 0.7 || sr.HotRatio != 0.6 || sr.RestartReadySeconds != 0.8 || sr.RSSBytes != 600e6 {
		t.Errorf("measured %+v", sr)
	}
	if sr.ClosedWindowSeconds != 3 || sr.ClosedMinApproved1s != 20580 {
		t.Errorf("closed window %v s, lowest second %v/s", sr.ClosedWindowSeconds, sr.ClosedMinApproved1s)
	}
	// approvals journalled before the restart: closed, open-after-closed, open, spread, hot (1000
	// each) and the CPU comparison (111); not the echo's
	if sr.ApprovedBeforeRestart != 5111 {
		t.Errorf("approved before restart %d", sr.ApprovedBeforeRestart)
	}
	// 1,022,200 bytes allocated over 5111 approvals, 511,100 apparent
	if !sr.DiskMeasured || sr.DiskBasis != "allocated" || sr.DiskBytesBefore != 90e6 || sr.DiskBytesAfter != 90e6+1022200 || sr.DiskBytesPerApproval != 200 ||
		sr.DiskApparentBytesBefore != 100e6 || sr.DiskApparentBytesAfter != 100e6+511100 || sr.DiskApparentBytesPerApproval != 100 {
		t.Errorf("disk: measured %v, %s %d -> %d B (%v B/approval), apparent %d -> %d B (%v B/approval)", sr.DiskMeasured, sr.DiskBasis, sr.DiskBytesBefore,
			sr.DiskBytesAfter, sr.DiskBytesPerApproval, sr.DiskApparentBytesBefore, sr.DiskApparentBytesAfter, sr.DiskApparentBytesPerApproval)
	}
	var names []string
	for _, p := range sr.PhaseTimes {
		names = append(names, p.Name)
		if want := map[string]float64{"closed": 0.5, "open-after-closed": 0.5, "echo": 0.5, "durable-echo": 1, "open": 0.5, "spread": 0.5, "hot": 0.5}[p.Name]; p.PrepareSeconds != want || p.Seconds < 0 {
			t.Errorf("phase %s: %v s, prepare %v s", p.Name, p.Seconds, p.PrepareSeconds)
		}
	}
	if strings.Join(names, " ") != strings.Join(sr.Phases, " ") {
		t.Errorf("phase times %v", names)
	}
	if sr.NumCPU != 2 || sr.ProvisionSeconds != 70 || sr.FirstReadySeconds != 9 {
		t.Errorf("machine %d, provision %v s, first ready %v s", sr.NumCPU, sr.ProvisionSeconds, sr.FirstReadySeconds)
	}
	// Every target met, but six only indicatively: a 3 s closed-loop window (the issue: 60 s for
	// its rate, 180 s for its lowest second over its mean, 120 s before the open loop right after
	// it), memory and restart with 10,000 cards (the issue: 1,000,000), and the disk's growth
	// during the run (the issue: steady state).
	if sr.AllMet || len(sr.Targets) != 15 {
		t.Fatalf("all met %v, %d targets: %+v", sr.AllMet, len(sr.Targets), sr.Targets)
	}
	for _, tg := range sr.Targets {
		if !tg.Met {
			t.Errorf("%s not met", tg.Name)
		}
		wantInd := strings.Contains(tg.Name, "RSS") || strings.Contains(tg.Name, "restart") || tg.Name == "closed loop approved/s" ||
			tg.Name == "closed loop lowest second / mean" || strings.Contains(tg.Name, "right after the closed loop") || tg.Name == "disk per approval"
		if tg.Indicative != wantInd || (wantInd && tg.Note == "") {
			t.Errorf("%s: indicative %v (%s)", tg.Name, tg.Indicative, tg.Note)
		}
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, s := range []string{"10000 cards", "nproc 2 (Test CPU)", "load average", "provisioning 70.0 s, first start to ready 9.0 s",
		"closed ", "(prepare 0.5 s)", "defined for 1000000 cards", "indicative", "21000/s over 3.0 s (lowest second 20580/s)",
		"≥ 20000/s every second of 60 s", "(after 5111 approvals in the phases)", "(after 7 s of compaction wait)", "all targets met, but 6 only indicatively",
		"open loop 5000/s p99 right after the closed loop / durable echo's  1.40 (3.50 ms / 2.50 ms; 0 errors, 0 timeouts)",
		"target defined right after 120 s of closed-loop saturation, measured after 3.0 s",
		"closed loop lowest second / mean", "0.98 (20580/s / 21000/s over 3.0 s)", "≥ 0.70", "target defined for a 180 s closed loop, measured over 3.0 s",
		"disk per approval", "200 B (allocated 90.0 → 91.0 MB over 5111 approvals; apparent 100.0 → 100.5 MB, 100 B)", "≤ 200 B",
		"growth during the run, not steady state with retention"} {
		if !strings.Contains(sum.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, sum.String())
		}
	}

	// The JSON and HTML reports carry the verdict table.
	rep.Suite = sr
	var js, html bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Suite struct {
			Targets     []SuiteTarget `json:"targets"`
			Cards       int           `json:"cards"`
			AfterClosed struct {
				P99Ms float64 `json:"p99"`
			} `json:"afterClosedOpenLatencyMs"`
			AfterClosedOverFloor float64 `json:"afterClosedOpenP99OverDurableEcho"`
			DiskPerApproval      float64 `json:"diskBytesPerApproval"`
			DiskBefore           int64   `json:"diskBytesBefore"`
			DiskAfter            int64   `json:"diskBytesAfter"`
		} `json:"suite"`
	}
	if err := json.Unmarshal(js.Bytes(), &m); err != nil || len(m.Suite.Targets) != 15 || m.Suite.Cards != 10000 {
		t.Fatalf("json suite: %v %+v", err, m.Suite)
	}
	if js := m.Suite; js.AfterClosed.P99Ms != sr.AfterClosedOpenLatency.P99Ms || js.AfterClosed.P99Ms < 3.49 || js.AfterClosedOverFloor != sr.AfterClosedOpenP99OverFloor || js.DiskPerApproval != 200 ||
		js.DiskBefore != 90e6 || js.DiskAfter != 90e6+1022200 {
		t.Errorf("json suite: %+v", js)
	}
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Suite: targets", "hot account / spread", "nproc 2", "of which preparation", "only indicatively",
		"<td>open loop 5000/s p99 right after the closed loop / durable echo&#39;s</td>", "<td>closed loop lowest second / mean</td>",
		"<td>disk per approval</td>", "<td>open-after-closed</td>", "indicative: growth during the run"} {
		if !strings.Contains(html.String(), s) {
			t.Errorf("HTML lacks %q", s)
		}
	}
}

// As `make bench` runs it: 1,000,000 cards, a 180 s closed-loop window. Every line is a real
// verdict (none indicative) but the disk's, whose target is for steady state; with every value
// met the suite says so. Without a data directory, there is no disk line and every target is MET.
func TestSuiteIssueConditions(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 900e6, restart: 12 * time.Second, pid: 1}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 21000, "echo": 30000, "open": 5000, "spread": 10000, "hot": 6000}, 3)
	so.Base.Cards.Count = TargetCards
	so.Base.Duration, so.EchoDuration = TargetSteadyWindow, 0
	// 25 approvals a second in every run but the echoes', and the CPU comparison's 111: the data
	// directory grows by 180 bytes per approval on the disk, 1000 bytes of apparent size (sparse
	// files: the verdict is on what the disk holds)
	var approved int64
	so.diskUsage = func(string) (DiskUsage, error) {
		return DiskUsage{Bytes: 50e6 + 1000*approved, AllocatedBytes: 40e6 + 180*approved}, nil
	}
	cpuCompare := so.cpuCompare
	so.cpuCompare = func(ctx context.Context, base *Options, pid int, phase time.Duration, rounds int, rate float64, log io.Writer) (*CPUCompare, error) {
		approved += 111
		return cpuCompare(ctx, base, pid, phase, rounds, rate, log)
	}
	so.run = func(_ context.Context, o Options) (*RunResult, error) {
		if (o.Label == "cardswitch" || o.Label == "echo") && o.Duration != TargetSteadyWindow+time.Second {
			t.Errorf("%s runs %v", o.Label, o.Duration)
		}
		r := &RunResult{Label: o.Label, ApprovedPerSec: 21000, ThroughputPerSec: 21000, Completed: 1}
		if !strings.Contains(o.Label, "echo") {
			r.ApprovedAll = 25 * int64(o.Duration.Seconds())
			approved += r.ApprovedAll
		}
		switch o.Label {
		case "cardswitch":
			r.Series = steadySeries(o.Warmup+o.Duration, 21000)
		case "echo":
			r.ThroughputPerSec = 30000
		case "durable-echo":
			r.ThroughputPerSec = 60000
		case "durable-echo-open":
			r.Latency = LatencySummary{P99Ms: 2.8, P999Ms: 8}
		case "hot":
			r.ApprovedPerSec = 15000
		case "open":
			r.Latency = LatencySummary{P99Ms: 3, P999Ms: 10}
		case "open-after-closed":
			r.Latency = LatencySummary{P99Ms: 4, P999Ms: 30} // 1.43 times the floor's
		}
		return r, nil
	}
	sr, err := RunSuite(context.Background(), sw, so, &Report{})
	if err != nil {
		t.Fatal(err)
	}
	if sr.AllMet || sr.Cards != TargetCards || sr.ClosedWindowSeconds != 180 || len(sr.Targets) != 15 || sr.DiskBytesPerApproval != 180 ||
		sr.DiskApparentBytesPerApproval != 1000 {
		t.Fatalf("all met %v cards %d window %v disk %v B/approval: %+v", sr.AllMet, sr.Cards, sr.ClosedWindowSeconds, sr.DiskBytesPerApproval, sr.Targets)
	}
	for _, tg := range sr.Targets {
		if tg.Indicative != (tg.Name == "disk per approval") || !tg.Met {
			t.Errorf("%s: met %v indicative %v", tg.Name, tg.Met, tg.Indicative)
		}
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, s := range []string{"1000000 cards and balances", "serve VmRSS, 1000000 cards", "restart to ready, 1000000 cards",
		"21000/s over 180 s", "≥ 20000/s every second of 60 s", "1.43 (4.00 ms / 2.80 ms; 0 errors, 0 timeouts)", "1.00 (21000/s / 21000/s over 180 s)",
		"indicative: disk per approval", "all targets met, but 1 only indicatively"} {
		if !strings.Contains(sum.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, sum.String())
		}
	}

	// Without a data directory: the same run, no disk line, every verdict a real one.
	calls = nil
	so.Base.Cards.ATCBase = 0
	so.DataDir, approved = "", 0
	if sr, err = RunSuite(context.Background(), sw, so, &Report{}); err != nil {
		t.Fatal(err)
	}
	if !sr.AllMet || len(sr.Targets) != 14 || sr.DiskMeasured {
		t.Fatalf("all met %v, disk measured %v, %d targets: %+v", sr.AllMet, sr.DiskMeasured, len(sr.Targets), sr.Targets)
	}
	sum.Reset()
	sr.Summary(&sum)
	if !strings.Contains(sum.String(), "all targets MET") || strings.Contains(sum.String(), "indicative") || strings.Contains(sum.String(), "disk") {
		t.Errorf("summary:\n%s", sum.String())
	}
}

// steadySeries is one point per second at perSec.
func steadySeries(d time.Duration, perSec float64) []Point {
	var pts []Point
	for sec := 1; sec <= int(d.Seconds()); sec++ {
		pts = append(pts, Point{T: float64(sec), Approved: perSec, Throughput: perSec})
	}
	return pts
}

// "Sustained for 60 s": a closed loop whose average is above the target but which nearly stops
// for a few seconds does not meet it, and the summary names its lowest second.
func TestSuiteClosedLoopMustHoldEverySecond(t *testing.T) {
	sr := &SuiteResult{Cards: TargetCards, ClosedApprovedPerSec: 28000, ClosedWindowSeconds: 60,
		ClosedMinApproved1s: 2081, EchoPerSec: 50000, EchoRatio: 0.56}
	sr.verdicts()
	closed := sr.Targets[0]
	if closed.Name != "closed loop approved/s" || closed.Met {
		t.Fatalf("closed loop with a second at 2081/s: %+v", closed)
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, want := range []string{"28000/s over 60 s (lowest second 2081/s)", "≥ 20000/s every second of 60 s"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	sr.ClosedMinApproved1s = 20100
	sr.verdicts()
	if !sr.Targets[0].Met {
		t.Fatalf("every second above the target: %+v", sr.Targets[0])
	}
}

// findTarget is the verdict line named name.
func findTarget(t *testing.T, sr *SuiteResult, name string) SuiteTarget {
	t.Helper()
	for _, tg := range sr.Targets {
		if tg.Name == name {
			return tg
		}
	}
	t.Fatalf("no target %q in %+v", name, sr.Targets)
	return SuiteTarget{}
}

// "180 s closed loop: no second below 0.7× the run's mean": over 180 s a real verdict, and the
// 60 s sustained-rate line stays a real verdict over the longer window; over 60 s the steadiness
// line is only indicative.
func TestSuiteClosedLoopSteadiness(t *testing.T) {
	sr := &SuiteResult{Cards: TargetCards, ClosedApprovedPerSec: 30000, ClosedWindowSeconds: 180, ClosedMinApproved1s: 20000}
	sr.verdicts()
	steady := findTarget(t, sr, "closed loop lowest second / mean")
	if steady.Met || steady.Indicative || steady.Value < 0.666 || steady.Value > 0.667 || steady.Measured != "0.67 (20000/s / 30000/s over 180 s)" {
		t.Errorf("a second at 0.67 of the mean: %+v", steady)
	}
	if closed := sr.Targets[0]; !closed.Met || closed.Indicative {
		t.Errorf("every second of 180 s above 20000/s: %+v", closed)
	}
	sr.ClosedMinApproved1s = 21000
	sr.verdicts()
	if steady := findTarget(t, sr, "closed loop lowest second / mean"); !steady.Met || steady.Indicative {
		t.Errorf("lowest second at 0.70 of the mean: %+v", steady)
	}
	sr.ClosedWindowSeconds = 60
	sr.verdicts()
	if steady := findTarget(t, sr, "closed loop lowest second / mean"); !steady.Met || !steady.Indicative ||
		steady.Note != "target defined for a 180 s closed loop, measured over 60 s" {
		t.Errorf("over 60 s: %+v", steady)
	}
	if closed := sr.Targets[0]; closed.Indicative {
		t.Errorf("the 60 s sustained rate over 60 s: %+v", closed)
	}
	sr.ClosedApprovedPerSec, sr.ClosedMinApproved1s = 0, 0
	sr.verdicts()
	if steady := findTarget(t, sr, "closed loop lowest second / mean"); steady.Met || steady.Value != 0 {
		t.Errorf("nothing approved: %+v", steady)
	}
}

// The open loop right after the closed loop: its p99 over the durable echo's, not met when any
// request timed out or failed (a timed-out request is in no percentile), indicative after less
// than 120 s of saturation.
func TestSuiteOpenLoopAfterClosedVerdict(t *testing.T) {
	name := "open loop 5000/s p99 right after the closed loop / durable echo's"
	sr := &SuiteResult{Cards: TargetCards, OpenRate: 5000, ClosedWindowSeconds: 180, DurableEchoOpenLatency: LatencySummary{P99Ms: 2},
		AfterClosedOpenLatency: LatencySummary{P99Ms: 2.9}, AfterClosedOpenP99OverFloor: 1.45, AfterClosedOpenThroughput: 5000}
	sr.verdicts()
	if tg := findTarget(t, sr, name); !tg.Met || tg.Indicative || tg.Measured != "1.45 (2.90 ms / 2.00 ms; 0 errors, 0 timeouts)" || tg.Target != "≤ 1.50" {
		t.Errorf("1.45 after 180 s: %+v", tg)
	}
	sr.AfterClosedOpenTimeouts = 2
	sr.verdicts()
	if tg := findTarget(t, sr, name); tg.Met || !strings.Contains(tg.Measured, "0 errors, 2 timeouts") {
		t.Errorf("with timeouts: %+v", tg)
	}
	sr.AfterClosedOpenTimeouts, sr.AfterClosedOpenErrors = 0, 1
	sr.verdicts()
	if tg := findTarget(t, sr, name); tg.Met || !strings.Contains(tg.Measured, "1 errors, 0 timeouts") {
		t.Errorf("with an error: %+v", tg)
	}
	sr.AfterClosedOpenErrors, sr.AfterClosedOpenP99OverFloor = 0, 1.55
	sr.verdicts()
	if tg := findTarget(t, sr, name); tg.Met {
		t.Errorf("1.55: %+v", tg)
	}
	sr.AfterClosedOpenP99OverFloor, sr.ClosedWindowSeconds = 1.45, 60
	sr.verdicts()
	if tg := findTarget(t, sr, name); !tg.Met || !tg.Indicative || tg.Note != "target defined right after 120 s of closed-loop saturation, measured after 60 s" {
		t.Errorf("after 60 s: %+v", tg)
	}
	sr.DurableEchoOpenLatency = LatencySummary{}
	sr.verdicts()
	if tg := findTarget(t, sr, name); tg.Met {
		t.Errorf("no floor: %+v", tg)
	}
}

// Disk per approval: on the allocated size where the system reports blocks, else on the apparent
// size; met up to 200 bytes, never more than indicative (growth during a run, not steady state);
// not met without approvals.
func TestSuiteDiskPerApproval(t *testing.T) {
	sr := &SuiteResult{Cards: TargetCards, ApprovedBeforeRestart: 1000, DiskMeasured: true}
	sr.setDisk(DiskUsage{Bytes: 2e6, AllocatedBytes: 1e6}, DiskUsage{Bytes: 2e6, AllocatedBytes: 1e6 + 200e3})
	sr.verdicts()
	tg := findTarget(t, sr, "disk per approval")
	if sr.DiskBasis != "allocated" || sr.DiskBytesPerApproval != 200 || sr.DiskApparentBytesPerApproval != 0 || !tg.Met || !tg.Indicative ||
		tg.Value != 200 || tg.Measured != "200 B (allocated 1.0 → 1.2 MB over 1000 approvals; apparent 2.0 → 2.0 MB, 0 B)" ||
		tg.Note != "growth during the run, not steady state with retention (the issue's target is for steady state)" {
		t.Errorf("200 B allocated: %s %+v", sr.DiskBasis, tg)
	}
	sr.setDisk(DiskUsage{Bytes: 2e6}, DiskUsage{Bytes: 2e6 + 201e3})
	sr.verdicts()
	if tg := findTarget(t, sr, "disk per approval"); sr.DiskBasis != "apparent" || sr.DiskBytesPerApproval != 201 || tg.Met ||
		!strings.HasPrefix(tg.Measured, "201 B (apparent 2.0 → 2.2 MB") {
		t.Errorf("201 B apparent, no blocks: %s %+v", sr.DiskBasis, tg)
	}
	sr.ApprovedBeforeRestart = 0
	sr.setDisk(DiskUsage{Bytes: 2e6, AllocatedBytes: 1e6}, DiskUsage{Bytes: 2e6, AllocatedBytes: 1e6})
	sr.verdicts()
	if tg := findTarget(t, sr, "disk per approval"); tg.Met || sr.DiskBytesPerApproval != 0 {
		t.Errorf("no approvals: %+v", tg)
	}
	sr.DiskMeasured = false
	sr.verdicts()
	for _, tg := range sr.Targets {
		if strings.Contains(tg.Name, "disk") {
			t.Errorf("no data directory, yet %+v", tg)
		}
	}
}

func TestSuiteVerdictsNotMet(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 2e9, restart: 20 * time.Second}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 15000, "echo": 40000, "open-after-closed": 5000, "open": 4000, "spread": 10000, "hot": 4000}, 12)
	so.Base.Cards.Count = TargetCards
	so.DataDir = "" // no disk line
	// The open loop right after the closed loop: twice the floor's p99, and 3 timeouts.
	run := so.run
	so.run = func(ctx context.Context, o Options) (*RunResult, error) {
		r, err := run(ctx, o)
		if o.Label == "open-after-closed" {
			r.Latency, r.Timeouts = LatencySummary{P99Ms: 20, P999Ms: 40}, 3
		}
		return r, err
	}
	sr, err := RunSuite(context.Background(), sw, so, &Report{})
	if err != nil {
		t.Fatal(err)
	}
	// pid 0: no CPU comparison; no data directory: no disk measure.
	if strings.Contains(strings.Join(calls, " "), "cpu-compare") || strings.Contains(strings.Join(calls, " "), "disk") || len(sr.Targets) != 13 {
		t.Fatalf("calls %v targets %d", calls, len(sr.Targets))
	}
	for _, tg := range sr.Targets {
		// no errors in the fake; its floor's open-loop latency is cardswitch's over 1.2 and 1.25;
		// its closed loop's lowest second is 0.98 of its mean
		wantMet := strings.Contains(tg.Name, "errors") || (strings.Contains(tg.Name, "durable echo's") && !strings.Contains(tg.Name, "right after")) ||
			tg.Name == "closed loop lowest second / mean"
		// 1,000,000 cards: memory and restart are real verdicts; the 3 s closed window is not 60 s,
		// 120 s nor 180 s
		wantInd := tg.Name == "closed loop approved/s" || tg.Name == "closed loop lowest second / mean" || strings.Contains(tg.Name, "right after")
		if tg.Met != wantMet || tg.Indicative != wantInd {
			t.Errorf("%s: met %v indicative %v", tg.Name, tg.Met, tg.Indicative)
		}
	}
	if sr.AllMet {
		t.Error("all met")
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	if !strings.Contains(sum.String(), "NOT MET") || !strings.Contains(sum.String(), "NOT all targets met (9 of 13 not met)") ||
		!strings.Contains(sum.String(), "2.00 (20.00 ms / 10.00 ms; 0 errors, 3 timeouts)") ||
		strings.Contains(sum.String(), "indicative: serve VmRSS") || strings.Contains(sum.String(), "indicative: restart") {
		t.Errorf("summary:\n%s", sum.String())
	}
}

// inProcessSwitch is the in-process test switch as a SuiteSwitch: no process of its own (no CPU
// comparison), VmRSS of the test process, and a restart that only counts.
type inProcessSwitch struct {
	addr     string
	restarts int
}

func (s *inProcessSwitch) Addr() string        { return s.addr }
func (s *inProcessSwitch) PID() int            { return 0 }
func (s *inProcessSwitch) RSS() (int64, error) { return ProcessRSS(os.Getpid()) }
func (s *inProcessSwitch) Restart(context.Context) (time.Duration, error) {
	s.restarts++
	return time.Millisecond, nil
}

// TestSuiteInProcess runs the suite's load phases for real, with tiny durations, against the
// in-process switch and the echo server.
func TestSuiteInProcess(t *testing.T) {
	ts := startTestSwitch(t, 200)
	mix, _ := ParseMix(DefaultMix)
	sw := &inProcessSwitch{addr: ts.addr}
	// The closed loop's chip ARQCs are prebuilt for 1,000 requests/s (the rest is built in the
	// run), the open loop's for its rate.
	so := &SuiteOptions{
		Base: Options{Connections: 2, Pipeline: 2, Duration: 600 * time.Millisecond, Warmup: 100 * time.Millisecond, Mix: mix, Cards: *ts.cards, Seed: 5,
			PrebuildRate: 1000},
		// The spread and hot phases get a second each: under -race on a machine busy with other
		// tests a durable write can stall for a few hundred milliseconds, and a phase must still
		// see answers inside its window (its first 100 ms are warm-up).
		OpenRate: 200, OpenDuration: 500 * time.Millisecond, PhaseDuration: time.Second,
		DataDir: ts.dir, // the Badger journal's directory: its growth is measured
	}
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	if sw.restarts != 1 || len(rep.Runs) != 8 {
		t.Fatalf("restarts %d runs %d", sw.restarts, len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Completed == 0 || r.Errors != 0 || r.Timeouts != 0 || r.Approved != r.Completed {
			t.Errorf("%s: completed %d approved %d errors %d timeouts %d codes %v", r.Label, r.Completed, r.Approved, r.Errors, r.Timeouts, r.ActionCodes)
		}
	}
	if sr.ClosedApprovedPerSec <= 0 || sr.EchoPerSec <= 0 || sr.HotApprovedPerSec <= 0 || sr.SpreadApprovedPerSec <= 0 || sr.RSSBytes <= 0 {
		t.Errorf("measured %+v", sr)
	}
	if !rep.Runs[7].Hot || rep.Runs[6].Hot || rep.Runs[5].Mode != "open" || rep.Runs[4].Mode != "open" || rep.Runs[3].Label != "durable-echo" ||
		rep.Runs[1].Label != "open-after-closed" || rep.Runs[1].Mode != "open" {
		t.Errorf("phase order: %s %s %s %s %s %s", rep.Runs[1].Label, rep.Runs[3].Label, rep.Runs[4].Label, rep.Runs[5].Label, rep.Runs[6].Label, rep.Runs[7].Label)
	}
	closed, open := rep.Runs[0], rep.Runs[5]
	if closed.Duration != "700ms" || sr.ClosedWindowSeconds != 0.6 {
		t.Errorf("closed loop ran %s, window %v s", closed.Duration, sr.ClosedWindowSeconds)
	}
	if a := closed.AnswerChecks; a.ChipPrebuilt == 0 || a.ChipPrebuilt+a.ChipInline != a.ChipAnswers || a.ChipWithTag91 != a.ChipAnswers {
		t.Errorf("closed loop chip: %+v", a)
	}
	if a := open.AnswerChecks; a.ChipPrebuilt == 0 || a.ChipInline != 0 || a.ChipWithTag91 != a.ChipAnswers {
		t.Errorf("open loop chip: %+v", a)
	}
	if closed.PrepareSeconds <= 0 || sr.ApprovedBeforeRestart < closed.ApprovedAll+open.ApprovedAll+rep.Runs[1].ApprovedAll {
		t.Errorf("prepare %v s, approved before restart %d", closed.PrepareSeconds, sr.ApprovedBeforeRestart)
	}
	// The provisioned store is on disk before the closed loop; its growth is divided by the approvals.
	if !sr.DiskMeasured || sr.DiskBytesBefore <= 0 || sr.DiskBytesAfter <= 0 ||
		sr.DiskBytesPerApproval != float64(sr.DiskBytesAfter-sr.DiskBytesBefore)/float64(sr.ApprovedBeforeRestart) {
		t.Errorf("disk: %d -> %d B, %v B/approval", sr.DiskBytesBefore, sr.DiskBytesAfter, sr.DiskBytesPerApproval)
	}
	if tg := findTarget(t, sr, "disk per approval"); !tg.Indicative {
		t.Errorf("disk line: %+v", tg)
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	t.Log(sum.String())
}

// TestSuiteSpawned runs a short suite against the real binary (spawn, restart):
// CARDSWITCH_BIN=$PWD/bin/cardswitch go test ./bench -run SuiteSpawned -v
func TestSuiteSpawned(t *testing.T) {
	exe := os.Getenv("CARDSWITCH_BIN")
	if exe == "" {
		t.Skip("set CARDSWITCH_BIN to the cardswitch binary")
	}
	err := Main([]string{"--spawn", "--exe", exe, "--suite", "--cards", "300", "--duration", "2s", "--connections", "4",
		"--suite-open", "2s", "--suite-rate", "300", "--suite-phase", "1s", "--cpu-phase", "1s", "--cpu-rounds", "1",
		"--json", t.TempDir() + "/s.json", "--html", t.TempDir() + "/s.html"})
	if err != nil {
		t.Fatal(err)
	}
}

// A switch that reports its memory split gets it in the RSS verdict's measured column: the
// anonymous part (Go heap) and the pages of mapped files (Badger's tables) are not the same kind
// of memory.
func TestRSSMeasuredShowsTheSplit(t *testing.T) {
	sr := &SuiteResult{RSSBytes: 1500e6, RSSAfterRestartBytes: 600e6}
	if got := rssMeasured(sr); got != "1500 MB; after restart 600 MB" {
		t.Errorf("without a split: %q", got)
	}
	sr.RSSAnonBytes, sr.RSSFileBytes = 900e6, 600e6
	if got := rssMeasured(sr); got != "1500 MB (anon 900 + file 600); after restart 600 MB" {
		t.Errorf("with the split: %q", got)
	}
}
