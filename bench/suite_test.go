package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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

// fakeSuite wires RunSuite to canned results: approved/s per run label, and p99 of the open loop.
// The closed loop's measured window is 3 s (the run 4 s with the warm-up), the echo's 2 s.
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
			case "open":
				if o.Rate != 5000 || o.Duration != 2*time.Second || o.Cards.Hot {
					t.Errorf("open phase options: rate %v duration %v hot %v", o.Rate, o.Duration, o.Cards.Hot)
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
		quiet: func(context.Context, int) {},
		settle: func(context.Context, int) time.Duration {
			*calls = append(*calls, "settle")
			return 7 * time.Second
		},
	}
}

func TestSuiteSequenceAndVerdicts(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 600e6, restart: 800 * time.Millisecond, pid: 1}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 21000, "echo": 30000, "durable-echo": 60000, "open": 5000, "spread": 10000, "hot": 6000}, 3)
	atc0 := so.Base.Cards.ATCBase
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	// The open loop waits for the switch's background work (store compaction) first.
	want := "cardswitch echo durable-echo durable-echo-open settle open spread hot cpu-compare rss restart rss"
	if got := strings.Join(calls, " "); got != want {
		t.Fatalf("sequence:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(sr.Phases, " "); got != "closed echo durable-echo open spread hot cpu-compare rss restart" {
		t.Errorf("phases %s", got)
	}
	if sw.restarts != 1 || len(rep.Runs) != 7 || rep.CPUCompare == nil || rep.Ratio == nil {
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
	if sr.EchoRatio != 0.7 || sr.HotRatio != 0.6 || sr.RestartReadySeconds != 0.8 || sr.RSSBytes != 600e6 {
		t.Errorf("measured %+v", sr)
	}
	if sr.ClosedWindowSeconds != 3 || sr.ClosedMinApproved1s != 20580 {
		t.Errorf("closed window %v s, lowest second %v/s", sr.ClosedWindowSeconds, sr.ClosedMinApproved1s)
	}
	// approvals journalled before the restart: closed, open, spread, hot (1000 each) and the CPU
	// comparison (111); not the echo's
	if sr.ApprovedBeforeRestart != 4111 {
		t.Errorf("approved before restart %d", sr.ApprovedBeforeRestart)
	}
	var names []string
	for _, p := range sr.PhaseTimes {
		names = append(names, p.Name)
		if want := map[string]float64{"closed": 0.5, "echo": 0.5, "durable-echo": 1, "open": 0.5, "spread": 0.5, "hot": 0.5}[p.Name]; p.PrepareSeconds != want || p.Seconds < 0 {
			t.Errorf("phase %s: %v s, prepare %v s", p.Name, p.Seconds, p.PrepareSeconds)
		}
	}
	if strings.Join(names, " ") != strings.Join(sr.Phases, " ") {
		t.Errorf("phase times %v", names)
	}
	if sr.NumCPU != 2 || sr.ProvisionSeconds != 70 || sr.FirstReadySeconds != 9 {
		t.Errorf("machine %d, provision %v s, first ready %v s", sr.NumCPU, sr.ProvisionSeconds, sr.FirstReadySeconds)
	}
	// Every target met, but three only indicatively: a 3 s closed-loop window (the issue: 60 s),
	// memory and restart with 10,000 cards (the issue: 1,000,000).
	if sr.AllMet || len(sr.Targets) != 12 {
		t.Fatalf("all met %v, %d targets: %+v", sr.AllMet, len(sr.Targets), sr.Targets)
	}
	for _, tg := range sr.Targets {
		if !tg.Met {
			t.Errorf("%s not met", tg.Name)
		}
		wantInd := strings.Contains(tg.Name, "RSS") || strings.Contains(tg.Name, "restart") || tg.Name == "closed loop approved/s"
		if tg.Indicative != wantInd || (wantInd && tg.Note == "") {
			t.Errorf("%s: indicative %v (%s)", tg.Name, tg.Indicative, tg.Note)
		}
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, s := range []string{"10000 cards", "nproc 2 (Test CPU)", "load average", "provisioning 70.0 s, first start to ready 9.0 s",
		"closed ", "(prepare 0.5 s)", "defined for 1000000 cards", "indicative", "21000/s over 3.0 s (lowest second 20580/s)",
		"≥ 20000/s every second of 60 s", "(after 4111 approvals in the phases)", "(after 7 s of compaction wait)", "all targets met, but 3 only indicatively"} {
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
			Targets []SuiteTarget `json:"targets"`
			Cards   int           `json:"cards"`
		} `json:"suite"`
	}
	if err := json.Unmarshal(js.Bytes(), &m); err != nil || len(m.Suite.Targets) != 12 || m.Suite.Cards != 10000 {
		t.Fatalf("json suite: %v %+v", err, m.Suite)
	}
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Suite: targets", "hot account / spread", "nproc 2", "of which preparation", "only indicatively"} {
		if !strings.Contains(html.String(), s) {
			t.Errorf("HTML lacks %q", s)
		}
	}
}

// As `make bench` runs it: 1,000,000 cards, a 60 s closed-loop window. Every line is a real
// verdict (none indicative), and with every value met the suite says so.
func TestSuiteIssueConditions(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 900e6, restart: 12 * time.Second, pid: 1}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 21000, "echo": 30000, "open": 5000, "spread": 10000, "hot": 6000}, 3)
	so.Base.Cards.Count = TargetCards
	so.Base.Duration, so.EchoDuration = TargetClosedWindow, 0
	so.run = func(_ context.Context, o Options) (*RunResult, error) {
		if (o.Label == "cardswitch" || o.Label == "echo") && o.Duration != TargetClosedWindow+time.Second {
			t.Errorf("%s runs %v", o.Label, o.Duration)
		}
		r := &RunResult{Label: o.Label, ApprovedPerSec: 21000, ThroughputPerSec: 21000, Completed: 1}
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
		}
		return r, nil
	}
	sr, err := RunSuite(context.Background(), sw, so, &Report{})
	if err != nil {
		t.Fatal(err)
	}
	if !sr.AllMet || sr.Cards != TargetCards || sr.ClosedWindowSeconds != 60 {
		t.Fatalf("all met %v cards %d window %v: %+v", sr.AllMet, sr.Cards, sr.ClosedWindowSeconds, sr.Targets)
	}
	for _, tg := range sr.Targets {
		if tg.Indicative || !tg.Met {
			t.Errorf("%s: met %v indicative %v", tg.Name, tg.Met, tg.Indicative)
		}
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, s := range []string{"1000000 cards and balances", "serve VmRSS, 1000000 cards", "restart to ready, 1000000 cards", "all targets MET"} {
		if !strings.Contains(sum.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, sum.String())
		}
	}
	if strings.Contains(sum.String(), "indicative") {
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

func TestSuiteVerdictsNotMet(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 2e9, restart: 20 * time.Second}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 15000, "echo": 40000, "open": 4000, "spread": 10000, "hot": 4000}, 12)
	so.Base.Cards.Count = TargetCards
	sr, err := RunSuite(context.Background(), sw, so, &Report{})
	if err != nil {
		t.Fatal(err)
	}
	// pid 0: no CPU comparison.
	if strings.Contains(strings.Join(calls, " "), "cpu-compare") || len(sr.Targets) != 11 {
		t.Fatalf("calls %v targets %d", calls, len(sr.Targets))
	}
	for _, tg := range sr.Targets {
		// no errors in the fake; its floor's open-loop latency is cardswitch's over 1.2 and 1.25
		wantMet := strings.Contains(tg.Name, "errors") || strings.Contains(tg.Name, "durable echo's")
		// 1,000,000 cards: memory and restart are real verdicts; the 3 s closed window is not 60 s
		if tg.Met != wantMet || tg.Indicative != (tg.Name == "closed loop approved/s") {
			t.Errorf("%s: met %v indicative %v", tg.Name, tg.Met, tg.Indicative)
		}
	}
	if sr.AllMet {
		t.Error("all met")
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	if !strings.Contains(sum.String(), "NOT MET") || !strings.Contains(sum.String(), "NOT all targets met (8 of 11 not met)") ||
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
		OpenRate: 200, OpenDuration: 500 * time.Millisecond, PhaseDuration: 400 * time.Millisecond,
		DataDir: filepath.Join(t.TempDir(), "data"),
	}
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	if sw.restarts != 1 || len(rep.Runs) != 7 {
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
	if !rep.Runs[6].Hot || rep.Runs[5].Hot || rep.Runs[4].Mode != "open" || rep.Runs[3].Mode != "open" || rep.Runs[2].Label != "durable-echo" {
		t.Errorf("phase order: %s %s %s %s %s", rep.Runs[2].Label, rep.Runs[3].Label, rep.Runs[4].Label, rep.Runs[5].Label, rep.Runs[6].Label)
	}
	closed, open := rep.Runs[0], rep.Runs[4]
	if closed.Duration != "700ms" || sr.ClosedWindowSeconds != 0.6 {
		t.Errorf("closed loop ran %s, window %v s", closed.Duration, sr.ClosedWindowSeconds)
	}
	if a := closed.AnswerChecks; a.ChipPrebuilt == 0 || a.ChipPrebuilt+a.ChipInline != a.ChipAnswers || a.ChipWithTag91 != a.ChipAnswers {
		t.Errorf("closed loop chip: %+v", a)
	}
	if a := open.AnswerChecks; a.ChipPrebuilt == 0 || a.ChipInline != 0 || a.ChipWithTag91 != a.ChipAnswers {
		t.Errorf("open loop chip: %+v", a)
	}
	if closed.PrepareSeconds <= 0 || sr.ApprovedBeforeRestart < closed.ApprovedAll+open.ApprovedAll {
		t.Errorf("prepare %v s, approved before restart %d", closed.PrepareSeconds, sr.ApprovedBeforeRestart)
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
