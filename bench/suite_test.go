package bench

import (
	"bytes"
	"context"
	"encoding/json"
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

// fakeSuite wires RunSuite to canned results: approved/s per run label, and p99 of the open loop.
func fakeSuite(t *testing.T, calls *[]string, perSec map[string]float64, openP99 float64) *SuiteOptions {
	mix, _ := ParseMix(DefaultMix)
	cards := testCards(t)
	cards.Count = 10000
	return &SuiteOptions{
		Base:     Options{Connections: 4, Pipeline: 2, Duration: 3 * time.Second, Warmup: time.Second, Mix: mix, Cards: *cards},
		OpenRate: 5000, OpenDuration: 2 * time.Second, PhaseDuration: time.Second,
		CPUCompare: true, CPUPhase: time.Second, CPURounds: 1,
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
			default:
				if o.Rate != 0 || o.Duration != 3*time.Second || o.Cards.Hot || o.Mix.String() != DefaultMix {
					t.Errorf("%s run options: rate %v duration %v hot %v mix %s", o.Label, o.Rate, o.Duration, o.Cards.Hot, o.Mix)
				}
			}
			if o.Label != "echo" && o.Addr != "fake:8583" {
				t.Errorf("%s run against %s", o.Label, o.Addr)
			}
			v := perSec[o.Label]
			r := &RunResult{Label: o.Label, Mode: o.Mode(), ApprovedPerSec: v, ThroughputPerSec: v, Completed: 1, MaxATC: 100}
			if o.Label == "open" {
				r.Latency = LatencySummary{P99Ms: openP99, P999Ms: 2 * openP99}
			}
			return r, nil
		},
		startEcho: func() (string, func() int64, error) { return "echo:1", func() int64 { return 0 }, nil },
		cpuCompare: func(_ context.Context, base *Options, pid int, _ time.Duration, _ int, _ float64, _ io.Writer) (*CPUCompare, error) {
			*calls = append(*calls, "cpu-compare")
			base.Cards.ATCBase += 7
			return &CPUCompare{ChipOverEcom: 1.1, PINOverEcom: 0.9, Target: CPUTarget, Met: true}, nil
		},
		quiet: func(context.Context, int) {},
	}
}

func TestSuiteSequenceAndVerdicts(t *testing.T) {
	var calls []string
	sw := &fakeSwitch{log: &calls, rss: 600e6, restart: 800 * time.Millisecond, pid: 1}
	so := fakeSuite(t, &calls, map[string]float64{"cardswitch": 21000, "echo": 30000, "open": 5000, "spread": 10000, "hot": 6000}, 3)
	atc0 := so.Base.Cards.ATCBase
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	want := "cardswitch echo open spread hot cpu-compare rss restart rss"
	if got := strings.Join(calls, " "); got != want {
		t.Fatalf("sequence:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(sr.Phases, " "); got != "closed echo open spread hot cpu-compare rss restart" {
		t.Errorf("phases %s", got)
	}
	if sw.restarts != 1 || len(rep.Runs) != 5 || rep.CPUCompare == nil || rep.Ratio == nil {
		t.Fatalf("restarts %d runs %d cpu %v ratio %v", sw.restarts, len(rep.Runs), rep.CPUCompare, rep.Ratio)
	}
	if so.Base.Cards.ATCBase <= atc0 {
		t.Errorf("ATC base not advanced: %d -> %d", atc0, so.Base.Cards.ATCBase)
	}
	if sr.EchoRatio != 0.7 || sr.HotRatio != 0.6 || sr.RestartReadySeconds != 0.8 || sr.RSSBytes != 600e6 {
		t.Errorf("measured %+v", sr)
	}
	if !sr.AllMet || len(sr.Targets) != 9 {
		t.Fatalf("all met %v, %d targets: %+v", sr.AllMet, len(sr.Targets), sr.Targets)
	}
	for _, tg := range sr.Targets {
		if tg.Indicative != (strings.Contains(tg.Name, "RSS") || strings.Contains(tg.Name, "restart")) {
			t.Errorf("%s: indicative %v", tg.Name, tg.Indicative)
		}
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	for _, s := range []string{"10000 cards", "defined for 1000000 cards", "indicative", "≥ 20000/s", "all targets MET"} {
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
	if err := json.Unmarshal(js.Bytes(), &m); err != nil || len(m.Suite.Targets) != 9 || m.Suite.Cards != 10000 {
		t.Fatalf("json suite: %v %+v", err, m.Suite)
	}
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "Suite: targets") || !strings.Contains(html.String(), "hot account / spread") {
		t.Error("HTML lacks the suite table")
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
	if strings.Contains(strings.Join(calls, " "), "cpu-compare") || len(sr.Targets) != 8 {
		t.Fatalf("calls %v targets %d", calls, len(sr.Targets))
	}
	for _, tg := range sr.Targets {
		wantMet := strings.Contains(tg.Name, "errors") // no errors in the fake
		if tg.Met != wantMet || tg.Indicative {
			t.Errorf("%s: met %v indicative %v", tg.Name, tg.Met, tg.Indicative)
		}
	}
	if sr.AllMet {
		t.Error("all met")
	}
	var sum bytes.Buffer
	sr.Summary(&sum)
	if !strings.Contains(sum.String(), "NOT MET") || strings.Contains(sum.String(), "indicative") {
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
	so := &SuiteOptions{
		Base:     Options{Connections: 2, Pipeline: 2, Duration: 700 * time.Millisecond, Warmup: 100 * time.Millisecond, Mix: mix, Cards: *ts.cards, Seed: 5},
		OpenRate: 200, OpenDuration: 500 * time.Millisecond, PhaseDuration: 400 * time.Millisecond,
	}
	rep := &Report{Machine: ThisMachine()}
	sr, err := RunSuite(context.Background(), sw, so, rep)
	if err != nil {
		t.Fatal(err)
	}
	if sw.restarts != 1 || len(rep.Runs) != 5 {
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
	if !rep.Runs[4].Hot || rep.Runs[3].Hot || rep.Runs[2].Mode != "open" {
		t.Errorf("phase order: %s %s %s", rep.Runs[2].Label, rep.Runs[3].Label, rep.Runs[4].Label)
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
