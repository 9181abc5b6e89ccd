package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The targets of the benchmark issue that `cardswitch bench --suite` checks in one run.
const (
	TargetApprovedPerSec = 20000.0 // closed loop, approved authorizations per second
	TargetEchoRatio      = 0.5     // closed loop approved/s over the echo baseline's answers/s
	// Issue 21: against the floor, the durable echo (durableecho.go), in the same run.
	TargetDurableEchoRatio  = 0.3  // closed loop approved/s over the durable echo's answers/s
	TargetOpenP99OverFloor  = 1.25 // open loop p99 over the durable echo's at the same rate
	TargetOpenP999OverFloor = 1.5  // open loop p99.9 over the durable echo's
	TargetOpenP99Ms         = 5.0  // open loop at TargetOpenRate
	TargetOpenP999Ms        = 20.0
	TargetOpenRate          = 5000.0
	TargetRSSBytes          = 1e9  // 1 GB of VmRSS with TargetCards cards
	TargetRestartSeconds    = 15.0 // restart to /healthz 200 with TargetCards cards
	TargetHotRatio          = 0.5  // hot account approved/s over spread approved/s
	TargetCards             = 1000000
	// TargetClosedWindow is how long the closed loop must sustain TargetApprovedPerSec, on
	// average and in every one-second interval (verdicts).
	TargetClosedWindow = 60 * time.Second
)

// Issue 21's targets of steadiness and disk, also checked by the suite.
const (
	// TargetAfterClosedP99OverFloor: the open loop run right after the closed loop's saturation,
	// its p99 over the durable echo's.
	TargetAfterClosedP99OverFloor = 1.5
	// TargetAfterClosedWindow is the closed-loop saturation after which
	// TargetAfterClosedP99OverFloor is defined.
	TargetAfterClosedWindow = 120 * time.Second
	// TargetClosedMinOverMean: no second of the closed loop below this share of its mean, over
	// TargetSteadyWindow.
	TargetClosedMinOverMean = 0.7
	TargetSteadyWindow      = 180 * time.Second
	// TargetDiskBytesPerApproval: bytes of the data directory per approval, in steady state.
	TargetDiskBytesPerApproval = 200.0
)

// SuiteSwitch is the switch the suite runs against: a spawned `cardswitch serve` (*Spawned), or a
// fake in tests.
type SuiteSwitch interface {
	// Addr is the ISO 8583 address (it may change on Restart).
	Addr() string
	// PID is the switch's process id (0: unknown; the CPU comparison is then skipped).
	PID() int
	// RSS is the switch's VmRSS in bytes.
	RSS() (int64, error)
	// Restart stops the switch with SIGTERM, starts it again on the same data directory and
	// returns the time from the new start until /healthz answered 200.
	Restart(ctx context.Context) (time.Duration, error)
}

// SuiteOptions say what the suite runs. Base is the closed-loop run (address, connections,
// pipeline, mix, cards, warm-up); every phase is derived from it. Base.Duration is the closed
// loop's measured window: the phase runs Base.Warmup + Base.Duration.
type SuiteOptions struct {
	Base          Options
	EchoDuration  time.Duration // the echo baseline's measured window (default Base.Duration)
	OpenRate      float64       // open loop phase: requests per second (default TargetOpenRate)
	OpenDuration  time.Duration // open loop phase length
	PhaseDuration time.Duration // each of the spread and hot phases
	CPUCompare    bool
	CPUPhase      time.Duration
	CPURounds     int
	CPURate       float64
	Log           io.Writer // progress lines
	// Machine is where the suite runs (default ThisMachine()).
	Machine *Machine
	// ProvisionTook and FirstReadyTook are the spawned switch's provisioning and first start to
	// ready, before the suite (reported, in no phase).
	ProvisionTook, FirstReadyTook time.Duration

	// For tests: the load runner, the echo server and the CPU comparison (defaults: Run,
	// StartEcho, RunCPUCompare).
	run       func(context.Context, Options) (*RunResult, error)
	startEcho func() (addr string, stop func() int64, err error)
	// startDurableEcho starts the floor baseline (default: StartDurableEcho next to the
	// switch's data, after sync(2)).
	startDurableEcho func() (addr string, stop func() int64, err error)
	// DataDir is the switch's data directory: the durable echo's file goes next to it, on the
	// same disk ("": the temporary directory).
	DataDir    string
	cpuCompare func(ctx context.Context, base *Options, pid int, phase time.Duration, rounds int, rate float64, log io.Writer) (*CPUCompare, error)
	quiet      func(ctx context.Context, pid int)
	// settle waits, before the open-loop phase, until the switch has finished the background
	// work the earlier phases left (settleMax at most) and returns how long it waited.
	settle func(ctx context.Context, pid int) time.Duration
	// diskUsage measures the data directory (default DirDiskUsage); only with DataDir.
	diskUsage func(dir string) (DiskUsage, error)
}

// SuiteTarget is one line of the suite's verdict table.
type SuiteTarget struct {
	Name     string  `json:"name"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
	// Indicative: the target is defined for other conditions than the suite's (card count,
	// closed-loop window, steady state); Note says which.
	Indicative bool   `json:"indicative,omitempty"`
	Note       string `json:"note,omitempty"`
}

// SuiteResult is the outcome of --suite (JSON field "suite"). The runs themselves are in the
// report's "runs" under the labels cardswitch, open-after-closed, echo, durable-echo,
// durable-echo-open, open, spread and hot.
type SuiteResult struct {
	Cards       int      `json:"cards"`
	TargetCards int      `json:"targetCards"`
	Phases      []string `json:"phases"` // in the order they ran
	// PhaseTimes is the wall time of every phase, in order (a load phase's includes its
	// preparation before the clock, PrepareSeconds, and the drain after it).
	PhaseTimes []PhaseTime `json:"phaseTimes"`
	NumCPU     int         `json:"nproc"`
	CPUModel   string      `json:"cpuModel,omitempty"`
	// ProvisionSeconds and FirstReadySeconds: the spawned switch's provisioning and first start
	// to /healthz 200, before the first phase (0: not spawned by this bench).
	ProvisionSeconds     float64 `json:"provisionSeconds,omitempty"`
	FirstReadySeconds    float64 `json:"firstReadySeconds,omitempty"`
	ClosedWindowSeconds  float64 `json:"closedWindowSeconds"`     // the closed loop's measured window
	ClosedApprovedPerSec float64 `json:"closedApprovedPerSec"`    // over that window
	ClosedMinApproved1s  float64 `json:"closedMinApprovedPerSec"` // lowest one-second approved rate in it
	EchoPerSec           float64 `json:"echoPerSec"`
	EchoRatio            float64 `json:"echoRatio"`
	// The durable echo (the floor): its closed-loop answers/s and open-loop latency, and
	// cardswitch's figures as ratios to them.
	DurableEchoPerSec      float64        `json:"durableEchoPerSec"`
	DurableEchoRatio       float64        `json:"durableEchoRatio"`
	DurableEchoOpenLatency LatencySummary `json:"durableEchoOpenLatencyMs"`
	OpenP99OverFloor       float64        `json:"openP99OverDurableEcho"`
	OpenP999OverFloor      float64        `json:"openP999OverDurableEcho"`
	OpenRate               float64        `json:"openRatePerSec"`
	OpenThroughput         float64        `json:"openThroughputPerSec"`
	OpenLatency            LatencySummary `json:"openLatencyMs"`
	// OpenSettleSeconds is how long the suite waited, before the open loop, for the switch to
	// finish its background work (store compaction after the closed loop).
	OpenSettleSeconds    float64 `json:"openSettleSeconds"`
	OpenErrors           int64   `json:"openErrors"`
	OpenTimeouts         int64   `json:"openTimeouts"`
	OpenNotSent          int64   `json:"openNotSent"`
	SpreadApprovedPerSec float64 `json:"spreadApprovedPerSec"`
	HotApprovedPerSec    float64 `json:"hotApprovedPerSec"`
	HotRatio             float64 `json:"hotRatio"`
	HotMix               string  `json:"hotMix"`
	RSSBytes             int64   `json:"rssBytes"`             // VmRSS before the restart
	RestartReadySeconds  float64 `json:"restartReadySeconds"`  // SIGTERM'd switch restarted: start to /healthz 200
	RSSAfterRestartBytes int64   `json:"rssAfterRestartBytes"` // VmRSS once ready again
	// RSSAnonBytes and RSSFileBytes split RSSBytes (when the switch reports it): anonymous
	// memory (Go heap) and pages of mapped files (Badger's tables).
	RSSAnonBytes int64 `json:"rssAnonBytes,omitempty"`
	RSSFileBytes int64 `json:"rssFileBytes,omitempty"`
	// The open loop run right after the closed loop, with no wait: the store's background work
	// from the saturating phase still running (issue 21's "right after 120 s of closed-loop
	// saturation"), and its p99 over the durable echo's.
	AfterClosedOpenLatency      LatencySummary `json:"afterClosedOpenLatencyMs"`
	AfterClosedOpenP99OverFloor float64        `json:"afterClosedOpenP99OverDurableEcho"`
	AfterClosedOpenThroughput   float64        `json:"afterClosedOpenThroughputPerSec"`
	AfterClosedOpenErrors       int64          `json:"afterClosedOpenErrors"`
	AfterClosedOpenTimeouts     int64          `json:"afterClosedOpenTimeouts"`
	AfterClosedOpenNotSent      int64          `json:"afterClosedOpenNotSent"`
	// The data directory's tree (DataDir; DiskMeasured false without one), just before the closed
	// loop and after the last phase before the restart, and its growth over ApprovedBeforeRestart:
	// the growth of a run, not the size of a store in steady state. DiskBytes* are on DiskBasis:
	// "allocated" (st_blocks × 512, what the disk holds) where the system reports blocks,
	// "apparent" (the sum of the file sizes) elsewhere. The apparent size is kept beside it: a
	// store's sparse files (Badger maps its active value log and memtable files at twice their
	// size before they fill) count at their full length there, so between two rotations the
	// apparent size does not move with what was written and across one it jumps.
	DiskMeasured                 bool    `json:"diskMeasured"`
	DiskBasis                    string  `json:"diskBasis,omitempty"`
	DiskBytesBefore              int64   `json:"diskBytesBefore"`
	DiskBytesAfter               int64   `json:"diskBytesAfter"`
	DiskBytesPerApproval         float64 `json:"diskBytesPerApproval"`
	DiskApparentBytesBefore      int64   `json:"diskApparentBytesBefore"`
	DiskApparentBytesAfter       int64   `json:"diskApparentBytesAfter"`
	DiskApparentBytesPerApproval float64 `json:"diskApparentBytesPerApproval"`
	// ApprovedBeforeRestart counts the approvals of all phases (warm-ups included): what the
	// store journalled on top of the provisioned cards before the restart.
	ApprovedBeforeRestart int64         `json:"approvedBeforeRestart"`
	LoadAvgStart          string        `json:"loadAvgStart,omitempty"`
	LoadAvgEnd            string        `json:"loadAvgEnd,omitempty"`
	WallSeconds           float64       `json:"wallSeconds"`
	Targets               []SuiteTarget `json:"targets"`
	AllMet                bool          `json:"allMet"`
}

// PhaseTime is the wall time of one suite phase.
type PhaseTime struct {
	Name           string  `json:"name"`
	Seconds        float64 `json:"seconds"`
	PrepareSeconds float64 `json:"prepareSeconds,omitempty"`
}

// Suite phase names, in order.
const (
	PhaseClosed = "closed"
	// PhaseOpenAfterClosed runs the open loop right after the closed loop, without waiting for
	// the switch to be quiet.
	PhaseOpenAfterClosed = "open-after-closed"
	PhaseEcho            = "echo"
	// PhaseDurableEcho runs the floor baseline: closed loop as the closed phase, open loop as
	// the open phase.
	PhaseDurableEcho = "durable-echo"
	PhaseOpen        = "open"
	PhaseSpread      = "spread"
	PhaseHot         = "hot"
	PhaseCPU         = "cpu-compare"
	PhaseRSS         = "rss"
	PhaseRestart     = "restart"
)

// RunSuite runs, against one switch: closed loop, an open loop right after it, the echo and
// durable echo baselines, open loop, spread and hot closed-loop phases, the CPU comparison, then
// records VmRSS (and the data directory's growth since before the closed loop), restarts the
// switch and measures restart-to-ready and VmRSS after the restart. The runs are appended to
// rep.Runs, the CPU comparison to rep.CPUCompare, the ratio to rep.Ratio; the verdicts are in the
// result.
// o.Base.Cards.ATCBase is advanced past every run's ATCs.
func RunSuite(ctx context.Context, sw SuiteSwitch, so *SuiteOptions, rep *Report) (*SuiteResult, error) {
	began := time.Now()
	if so.run == nil {
		so.run = Run
	}
	if so.startEcho == nil {
		so.startEcho = func() (string, func() int64, error) {
			e, err := StartEcho("127.0.0.1:0")
			if err != nil {
				return "", nil, err
			}
			return e.Addr(), func() int64 { e.Close(); return e.Errors() }, nil
		}
	}
	if so.startDurableEcho == nil {
		so.startDurableEcho = func() (string, func() int64, error) {
			syncDisks() // the switch's dirty pages are written back before, not during, the floor's run
			dir := ""
			if so.DataDir != "" {
				dir = filepath.Dir(filepath.Clean(so.DataDir))
			}
			e, err := StartDurableEcho("127.0.0.1:0", dir)
			if err != nil {
				return "", nil, err
			}
			return e.Addr(), func() int64 { e.Close(); return e.Errors() }, nil
		}
	}
	if so.cpuCompare == nil {
		so.cpuCompare = RunCPUCompare
	}
	if so.quiet == nil {
		so.quiet = func(ctx context.Context, pid int) {
			if pid > 0 {
				_, _ = waitQuiet(ctx, pid)
			}
		}
	}
	if so.settle == nil {
		so.settle = func(ctx context.Context, pid int) time.Duration {
			if pid <= 0 {
				return 0
			}
			began := time.Now()
			_, _ = waitQuietFor(ctx, pid, settleMax)
			return time.Since(began)
		}
	}
	if so.diskUsage == nil {
		so.diskUsage = DirDiskUsage
	}
	if so.OpenRate <= 0 {
		so.OpenRate = TargetOpenRate
	}
	log := so.Log
	if log == nil {
		log = io.Discard
	}
	if so.EchoDuration <= 0 {
		so.EchoDuration = so.Base.Duration
	}
	m := so.Machine
	if m == nil {
		tm := ThisMachine()
		m = &tm
	}
	base := &so.Base
	sr := &SuiteResult{Cards: base.Cards.Count, TargetCards: TargetCards, OpenRate: so.OpenRate, LoadAvgStart: loadAvg(),
		NumCPU: m.NumCPU, CPUModel: m.CPUModel, ProvisionSeconds: so.ProvisionTook.Seconds(), FirstReadySeconds: so.FirstReadyTook.Seconds(),
		ClosedWindowSeconds: base.Duration.Seconds()}
	var phaseBegan time.Time
	step := func(name string) {
		now := time.Now()
		if n := len(sr.PhaseTimes); n > 0 {
			sr.PhaseTimes[n-1].Seconds = now.Sub(phaseBegan).Seconds()
		}
		phaseBegan = now
		sr.Phases = append(sr.Phases, name)
		sr.PhaseTimes = append(sr.PhaseTimes, PhaseTime{Name: name})
		fmt.Fprintf(log, "suite: %s (%s)\n", name, time.Since(began).Round(time.Second))
	}
	prepared := func(res *RunResult) {
		sr.PhaseTimes[len(sr.PhaseTimes)-1].PrepareSeconds += res.PrepareSeconds
		sr.ApprovedBeforeRestart += res.ApprovedAll
	}
	// run runs one phase against the switch and moves the ATC base past it.
	run := func(o Options) (*RunResult, error) {
		o.Addr = sw.Addr()
		res, err := so.run(ctx, o)
		if err != nil {
			return nil, err
		}
		base.Cards.ATCBase = nextATCBase(base.Cards.ATCBase, res.MaxATC)
		rep.Runs = append(rep.Runs, res)
		prepared(res)
		return res, ctx.Err()
	}

	// The data directory before the first approval of the phases (disk per approval, issue 21).
	var diskBefore DiskUsage
	if so.DataDir != "" {
		du, err := so.diskUsage(so.DataDir)
		if err != nil {
			return nil, fmt.Errorf("bench: suite: %w", err)
		}
		sr.DiskMeasured, diskBefore = true, du
	}

	// 1. Closed loop (warm-up, then the measured window), then the echo baseline with the same
	// generator (the switch idle).
	step(PhaseClosed)
	o := *base
	o.Label = "cardswitch"
	o.Duration = base.Warmup + base.Duration
	var cpu0 time.Duration
	if sw.PID() > 0 {
		cpu0, _ = ProcessCPU(sw.PID())
	}
	closed, err := run(o)
	if err != nil {
		return nil, err
	}
	if sw.PID() > 0 {
		if cpu1, err := ProcessCPU(sw.PID()); err == nil {
			closed.ServeCPUSeconds = (cpu1 - cpu0).Seconds()
			if n := closed.ApprovedAll; n > 0 {
				closed.ServeCPUPerApprovedUs = closed.ServeCPUSeconds * 1e6 / float64(n)
			}
		}
	}
	sr.ClosedApprovedPerSec = closed.ApprovedPerSec
	sr.ClosedMinApproved1s = minApprovedSecond(closed, base.Warmup, o.Duration)

	// 1a. The open loop right after the saturation (issue 21), as the open phase but with neither
	// quiet nor settle: the store's background work from the closed loop (compaction of what it
	// wrote) is deliberately still running; that is the condition measured. Its p99 is set
	// against the durable echo's once the floor has run (1b).
	step(PhaseOpenAfterClosed)
	o = *base
	o.Label, o.Rate, o.Duration = PhaseOpenAfterClosed, so.OpenRate, so.OpenDuration
	o.Warmup = min(base.Warmup, o.Duration/2)
	afterClosed, err := run(o)
	if err != nil {
		return nil, err
	}
	sr.AfterClosedOpenThroughput, sr.AfterClosedOpenLatency = afterClosed.ThroughputPerSec, afterClosed.Latency
	sr.AfterClosedOpenErrors, sr.AfterClosedOpenTimeouts, sr.AfterClosedOpenNotSent = afterClosed.Errors, afterClosed.Timeouts, afterClosed.NotSent

	step(PhaseEcho)
	so.quiet(ctx, sw.PID())
	addr, stopEcho, err := so.startEcho()
	if err != nil {
		return nil, err
	}
	eo := *base
	eo.Label, eo.Addr, eo.Progress = "echo", addr, base.Progress
	eo.Duration = base.Warmup + so.EchoDuration
	eres, err := so.run(ctx, eo)
	echoErrors := stopEcho()
	if err != nil {
		return nil, err
	}
	eres.Errors += echoErrors
	rep.Runs = append(rep.Runs, eres)
	sr.PhaseTimes[len(sr.PhaseTimes)-1].PrepareSeconds += eres.PrepareSeconds
	sr.EchoPerSec = eres.ThroughputPerSec
	if eres.ThroughputPerSec > 0 {
		sr.EchoRatio = closed.ApprovedPerSec / eres.ThroughputPerSec
		r := sr.EchoRatio
		rep.Ratio = &r
	}
	if eres.Latency.P99Ms > 0 {
		r := closed.Latency.P99Ms / eres.Latency.P99Ms
		rep.LatencyRatioP99 = &r
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 1b. The floor (issue 21): the durable echo, closed loop as the closed phase and open loop
	// as the open phase, the switch idle.
	step(PhaseDurableEcho)
	so.quiet(ctx, sw.PID())
	daddr, stopFloor, err := so.startDurableEcho()
	if err != nil {
		return nil, err
	}
	do := *base
	do.Label, do.Addr, do.Progress = "durable-echo", daddr, base.Progress
	do.Duration = base.Warmup + so.EchoDuration
	dres, err := so.run(ctx, do)
	var dopen *RunResult
	if err == nil {
		oo := *base
		oo.Label, oo.Addr, oo.Progress = "durable-echo-open", daddr, base.Progress
		oo.Rate, oo.Duration = so.OpenRate, so.OpenDuration
		oo.Warmup = min(base.Warmup, oo.Duration/2)
		dopen, err = so.run(ctx, oo)
	}
	floorErrors := stopFloor()
	if err != nil {
		return nil, err
	}
	dres.Errors += floorErrors
	rep.Runs = append(rep.Runs, dres, dopen)
	sr.PhaseTimes[len(sr.PhaseTimes)-1].PrepareSeconds += dres.PrepareSeconds + dopen.PrepareSeconds
	sr.DurableEchoPerSec, sr.DurableEchoOpenLatency = dres.ThroughputPerSec, dopen.Latency
	if dres.ThroughputPerSec > 0 {
		sr.DurableEchoRatio = closed.ApprovedPerSec / dres.ThroughputPerSec
	}
	if f := sr.DurableEchoOpenLatency; f.P99Ms > 0 {
		sr.AfterClosedOpenP99OverFloor = sr.AfterClosedOpenLatency.P99Ms / f.P99Ms
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 2. Open loop at the target rate, once the switch has finished the background work the
	// closed loop and echo phases left: after a million approvals at full speed the store
	// compacts for tens of seconds, on the same two CPUs and disk. The target is the latency at
	// 5,000/s, whose own writes the store compacts as it goes, not the latency while the debt
	// of a saturating phase is paid; the wait is reported with the result.
	step(PhaseOpen)
	sr.OpenSettleSeconds = so.settle(ctx, sw.PID()).Seconds()
	o = *base
	o.Label, o.Rate, o.Duration = "open", so.OpenRate, so.OpenDuration
	o.Warmup = min(base.Warmup, o.Duration/2)
	open, err := run(o)
	if err != nil {
		return nil, err
	}
	sr.OpenThroughput, sr.OpenLatency = open.ThroughputPerSec, open.Latency
	if f := sr.DurableEchoOpenLatency; f.P99Ms > 0 && f.P999Ms > 0 {
		sr.OpenP99OverFloor, sr.OpenP999OverFloor = open.Latency.P99Ms/f.P99Ms, open.Latency.P999Ms/f.P999Ms
	}
	sr.OpenErrors, sr.OpenTimeouts, sr.OpenNotSent = open.Errors, open.Timeouts, open.NotSent

	// 3. Spread, then hot (every request on card 0, so on one balance). Chip traffic is left out
	// of both: on one card the connections' ARQCs cannot reach the switch in ATC order, and the
	// out-of-order ones would be declined (a property of the bench, not of the switch).
	hotMix := mixWithout(base.Mix, KindChip)
	sr.HotMix = hotMix.String()
	var phaseRes [2]*RunResult
	for i, hot := range []bool{false, true} {
		name := PhaseSpread
		if hot {
			name = PhaseHot
		}
		step(name)
		so.quiet(ctx, sw.PID())
		o = *base
		o.Label, o.Duration, o.Mix = name, so.PhaseDuration, hotMix
		o.Warmup = min(base.Warmup, o.Duration/2)
		o.Cards.Hot = hot
		if phaseRes[i], err = run(o); err != nil {
			return nil, err
		}
	}
	sr.SpreadApprovedPerSec, sr.HotApprovedPerSec = phaseRes[0].ApprovedPerSec, phaseRes[1].ApprovedPerSec
	if sr.SpreadApprovedPerSec > 0 {
		sr.HotRatio = sr.HotApprovedPerSec / sr.SpreadApprovedPerSec
	}

	// 4. CPU per authorization by traffic type, as --cpu-compare.
	if so.CPUCompare && sw.PID() > 0 {
		step(PhaseCPU)
		co := *base
		co.Addr, co.Progress = sw.Addr(), nil
		if co.PrebuildRate == 0 && closed.ThroughputPerSec > 0 {
			// Chip-only phases run no faster than the mix: build their ARQCs for 1.5 × its rate.
			co.PrebuildRate = max(1000, 1.5*closed.ThroughputPerSec)
		}
		cc, err := so.cpuCompare(ctx, &co, sw.PID(), so.CPUPhase, so.CPURounds, so.CPURate, log)
		if err != nil {
			return nil, err
		}
		base.Cards.ATCBase = co.Cards.ATCBase
		rep.CPUCompare = cc
		for _, p := range cc.Phases {
			sr.ApprovedBeforeRestart += p.Approved
		}
	}

	// 5. Memory, then restart to ready.
	step(PhaseRSS)
	if sr.RSSBytes, err = sw.RSS(); err != nil {
		return nil, fmt.Errorf("bench: suite: VmRSS: %w", err)
	}
	closed.ServeRSSBytes = sr.RSSBytes
	if ms, ok := sw.(interface{ MemorySplit() (int64, int64, error) }); ok {
		if anon, file, err := ms.MemorySplit(); err == nil {
			sr.RSSAnonBytes, sr.RSSFileBytes = anon, file
		}
	}
	if sr.DiskMeasured {
		du, err := so.diskUsage(so.DataDir)
		if err != nil {
			return nil, fmt.Errorf("bench: suite: %w", err)
		}
		sr.setDisk(diskBefore, du)
	}
	step(PhaseRestart)
	took, err := sw.Restart(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: suite: restart: %w", err)
	}
	sr.RestartReadySeconds = took.Seconds()
	if sr.RSSAfterRestartBytes, err = sw.RSS(); err != nil {
		return nil, fmt.Errorf("bench: suite: VmRSS after restart: %w", err)
	}
	sr.PhaseTimes[len(sr.PhaseTimes)-1].Seconds = time.Since(phaseBegan).Seconds()
	sr.LoadAvgEnd = loadAvg()
	sr.WallSeconds = time.Since(began).Seconds()
	sr.verdicts()
	sr.addCPU(rep.CPUCompare)
	fmt.Fprintf(log, "suite: done in %s\n", time.Since(began).Round(time.Second))
	return sr, nil
}

// fmtSecs formats seconds: whole above 10, one decimal below.
func fmtSecs(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// minApprovedSecond is the lowest one-second approved rate of res's time series inside the
// measured window (after warmup, up to duration); 0 without a series.
func minApprovedSecond(res *RunResult, warmup, duration time.Duration) float64 {
	lo, hi := (warmup+time.Second).Seconds()-0.05, duration.Seconds()+0.05
	v := -1.0
	for _, p := range res.Series {
		if p.T >= lo && p.T <= hi && (v < 0 || p.Approved < v) {
			v = p.Approved
		}
	}
	return max(v, 0)
}

// mixWithout is m without kind k (m itself when only k is left).
func mixWithout(m Mix, k Kind) Mix {
	out := m
	out.Weights[k] = 0
	out.init()
	if out.total == 0 {
		return m
	}
	return out
}

// verdicts fills Targets and AllMet from the measured values. A target measured in other
// conditions than the (a closed-loop window under 60 s, or under 180 s for its lowest
// second over its mean, or under 120 s before the open loop right after it; memory and restart
// with another card count than 1,000,000; disk growth during a run rather than in steady state)
// is marked indicative: its verdict is printed, but it does not prove the target.
func (sr *SuiteResult) verdicts() {
	const mb = 1e6
	open := sr.OpenLatency
	openClean := sr.OpenErrors == 0 && sr.OpenTimeouts == 0
	closedMeasured := fmt.Sprintf("%.0f/s over %s s", sr.ClosedApprovedPerSec, fmtSecs(sr.ClosedWindowSeconds))
	if sr.ClosedMinApproved1s > 0 {
		closedMeasured += fmt.Sprintf(" (lowest second %.0f/s)", sr.ClosedMinApproved1s)
	}
	restartMeasured := fmt.Sprintf("%.2f s", sr.RestartReadySeconds)
	if sr.ApprovedBeforeRestart > 0 {
		restartMeasured += fmt.Sprintf(" (after %d approvals in the phases)", sr.ApprovedBeforeRestart)
	}
	sr.Targets = []SuiteTarget{
		// Sustained: in every second of the window, not only on average (a 60 s average
		// hides seconds in which the switch nearly stopped).
		{Name: "closed loop approved/s", Value: sr.ClosedApprovedPerSec,
			Measured: closedMeasured, Target: fmt.Sprintf("≥ %.0f/s every second of %.0f s", TargetApprovedPerSec, TargetClosedWindow.Seconds()),
			Met: sr.ClosedApprovedPerSec >= TargetApprovedPerSec && sr.ClosedMinApproved1s >= TargetApprovedPerSec},
		{Name: "closed loop / echo baseline", Value: sr.EchoRatio,
			Measured: fmt.Sprintf("%.2f (echo %.0f/s)", sr.EchoRatio, sr.EchoPerSec), Target: fmt.Sprintf("≥ %.2f", TargetEchoRatio),
			Met: sr.EchoPerSec > 0 && sr.EchoRatio >= TargetEchoRatio},
		{Name: fmt.Sprintf("open loop %.0f/s p99", sr.OpenRate), Value: open.P99Ms,
			Measured: fmt.Sprintf("%.2f ms (after %.0f s of compaction wait)", open.P99Ms, sr.OpenSettleSeconds), Target: fmt.Sprintf("≤ %.0f ms", TargetOpenP99Ms),
			Met: sr.OpenThroughput > 0 && open.P99Ms <= TargetOpenP99Ms},
		{Name: fmt.Sprintf("open loop %.0f/s p99.9", sr.OpenRate), Value: open.P999Ms,
			Measured: fmt.Sprintf("%.2f ms", open.P999Ms), Target: fmt.Sprintf("≤ %.0f ms", TargetOpenP999Ms),
			Met: sr.OpenThroughput > 0 && open.P999Ms <= TargetOpenP999Ms},
		{Name: fmt.Sprintf("open loop %.0f/s errors", sr.OpenRate), Value: float64(sr.OpenErrors + sr.OpenTimeouts),
			Measured: fmt.Sprintf("%d errors, %d timeouts (%.0f/s answered)", sr.OpenErrors, sr.OpenTimeouts, sr.OpenThroughput),
			Target:   "0", Met: sr.OpenThroughput > 0 && openClean},
		{Name: "hot account / spread", Value: sr.HotRatio,
			Measured: fmt.Sprintf("%.2f (%.0f/s vs %.0f/s)", sr.HotRatio, sr.HotApprovedPerSec, sr.SpreadApprovedPerSec),
			Target:   fmt.Sprintf("≥ %.2f", TargetHotRatio), Met: sr.SpreadApprovedPerSec > 0 && sr.HotRatio >= TargetHotRatio},
		{Name: fmt.Sprintf("serve VmRSS, %d cards", sr.Cards), Value: float64(sr.RSSBytes),
			Measured: rssMeasured(sr),
			Target:   "≤ 1000 MB", Met: sr.RSSBytes > 0 && float64(sr.RSSBytes) <= TargetRSSBytes},
		{Name: fmt.Sprintf("restart to ready, %d cards", sr.Cards), Value: sr.RestartReadySeconds,
			Measured: restartMeasured, Target: fmt.Sprintf("≤ %.0f s", TargetRestartSeconds),
			Met: sr.RestartReadySeconds > 0 && sr.RestartReadySeconds <= TargetRestartSeconds},
	}
	// A window longer than 60 s (make bench: 180 s) is not indicative: it contains a 60 s
	// window, and every second of it must hold the rate, which is the stricter reading.
	if sr.ClosedWindowSeconds < TargetClosedWindow.Seconds()-0.5 {
		t := &sr.Targets[0]
		t.Indicative = true
		t.Note = fmt.Sprintf("target defined for a %.0f s window, measured over %s s", TargetClosedWindow.Seconds(), fmtSecs(sr.ClosedWindowSeconds))
	}
	for i := range sr.Targets[6:] {
		t := &sr.Targets[6+i]
		if sr.Cards != TargetCards {
			t.Indicative = true
			t.Note = fmt.Sprintf("target defined for %d cards, measured with %d", TargetCards, sr.Cards)
		}
	}
	// Issue 21's targets against the floor, measured in the same run.
	floor := sr.DurableEchoOpenLatency
	sr.Targets = append(sr.Targets,
		SuiteTarget{Name: "closed loop / durable echo", Value: sr.DurableEchoRatio,
			Measured: fmt.Sprintf("%.2f (durable echo %.0f/s)", sr.DurableEchoRatio, sr.DurableEchoPerSec),
			Target:   fmt.Sprintf("≥ %.2f", TargetDurableEchoRatio),
			Met:      sr.DurableEchoPerSec > 0 && sr.DurableEchoRatio >= TargetDurableEchoRatio},
		SuiteTarget{Name: fmt.Sprintf("open loop %.0f/s p99 / durable echo's", sr.OpenRate), Value: sr.OpenP99OverFloor,
			Measured: fmt.Sprintf("%.2f (%.2f ms / %.2f ms)", sr.OpenP99OverFloor, open.P99Ms, floor.P99Ms),
			Target:   fmt.Sprintf("≤ %.2f", TargetOpenP99OverFloor),
			Met:      floor.P99Ms > 0 && sr.OpenThroughput > 0 && sr.OpenP99OverFloor <= TargetOpenP99OverFloor},
		SuiteTarget{Name: fmt.Sprintf("open loop %.0f/s p99.9 / durable echo's", sr.OpenRate), Value: sr.OpenP999OverFloor,
			Measured: fmt.Sprintf("%.2f (%.2f ms / %.2f ms)", sr.OpenP999OverFloor, open.P999Ms, floor.P999Ms),
			Target:   fmt.Sprintf("≤ %.2f", TargetOpenP999OverFloor),
			Met:      floor.P999Ms > 0 && sr.OpenThroughput > 0 && sr.OpenP999OverFloor <= TargetOpenP999OverFloor},
	)
	// The open loop right after the closed loop. Timed-out requests are in no percentile (run.go):
	// with any, or with errors, the p99 does not describe every request, and the target is not met.
	ac := sr.AfterClosedOpenLatency
	afterClosed := SuiteTarget{Name: fmt.Sprintf("open loop %.0f/s p99 right after the closed loop / durable echo's", sr.OpenRate),
		Value: sr.AfterClosedOpenP99OverFloor,
		Measured: fmt.Sprintf("%.2f (%.2f ms / %.2f ms; %d errors, %d timeouts)", sr.AfterClosedOpenP99OverFloor, ac.P99Ms, floor.P99Ms,
			sr.AfterClosedOpenErrors, sr.AfterClosedOpenTimeouts),
		Target: fmt.Sprintf("≤ %.2f", TargetAfterClosedP99OverFloor),
		Met: floor.P99Ms > 0 && sr.AfterClosedOpenThroughput > 0 && sr.AfterClosedOpenP99OverFloor <= TargetAfterClosedP99OverFloor &&
			sr.AfterClosedOpenErrors == 0 && sr.AfterClosedOpenTimeouts == 0}
	if sr.ClosedWindowSeconds < TargetAfterClosedWindow.Seconds()-0.5 {
		afterClosed.Indicative = true
		afterClosed.Note = fmt.Sprintf("target defined right after %.0f s of closed-loop saturation, measured after %s s",
			TargetAfterClosedWindow.Seconds(), fmtSecs(sr.ClosedWindowSeconds))
	}
	// Steadiness: the closed loop's lowest second over its mean.
	var lowOverMean float64
	if sr.ClosedApprovedPerSec > 0 {
		lowOverMean = sr.ClosedMinApproved1s / sr.ClosedApprovedPerSec
	}
	steady := SuiteTarget{Name: "closed loop lowest second / mean", Value: lowOverMean,
		Measured: fmt.Sprintf("%.2f (%.0f/s / %.0f/s over %s s)", lowOverMean, sr.ClosedMinApproved1s, sr.ClosedApprovedPerSec, fmtSecs(sr.ClosedWindowSeconds)),
		Target:   fmt.Sprintf("≥ %.2f", TargetClosedMinOverMean),
		Met:      sr.ClosedApprovedPerSec > 0 && lowOverMean >= TargetClosedMinOverMean}
	if sr.ClosedWindowSeconds < TargetSteadyWindow.Seconds()-0.5 {
		steady.Indicative = true
		steady.Note = fmt.Sprintf("target defined for a %.0f s closed loop, measured over %s s", TargetSteadyWindow.Seconds(), fmtSecs(sr.ClosedWindowSeconds))
	}
	sr.Targets = append(sr.Targets, afterClosed, steady)
	if sr.DiskMeasured {
		sr.Targets = append(sr.Targets, diskTarget(sr))
	}
	sr.AllMet = true
	for _, t := range sr.Targets {
		sr.AllMet = sr.AllMet && t.Met && !t.Indicative
	}
}

// setDisk fills the disk fields from the data directory before and after the phases: on the
// allocated size when both measures have it, else on the apparent size.
func (sr *SuiteResult) setDisk(before, after DiskUsage) {
	sr.DiskBasis, sr.DiskBytesBefore, sr.DiskBytesAfter = "allocated", before.AllocatedBytes, after.AllocatedBytes
	if before.AllocatedBytes == 0 || after.AllocatedBytes == 0 {
		sr.DiskBasis, sr.DiskBytesBefore, sr.DiskBytesAfter = "apparent", before.Bytes, after.Bytes
	}
	sr.DiskApparentBytesBefore, sr.DiskApparentBytesAfter = before.Bytes, after.Bytes
	sr.DiskBytesPerApproval, sr.DiskApparentBytesPerApproval = 0, 0
	if n := float64(sr.ApprovedBeforeRestart); n > 0 {
		sr.DiskBytesPerApproval = float64(sr.DiskBytesAfter-sr.DiskBytesBefore) / n
		sr.DiskApparentBytesPerApproval = float64(after.Bytes-before.Bytes) / n
	}
}

// diskTarget is the disk-per-approval line. It is always indicative: the target is for a
// store in steady state, whose closed authorizations older than the retention have left the hot
// store; the suite measures the growth of the data directory during its phases.
func diskTarget(sr *SuiteResult) SuiteTarget {
	const mb = 1e6
	return SuiteTarget{Name: "disk per approval", Value: sr.DiskBytesPerApproval,
		Measured: fmt.Sprintf("%.0f B (%s %.1f → %.1f MB over %d approvals; apparent %.1f → %.1f MB, %.0f B)",
			sr.DiskBytesPerApproval, sr.DiskBasis, float64(sr.DiskBytesBefore)/mb, float64(sr.DiskBytesAfter)/mb, sr.ApprovedBeforeRestart,
			float64(sr.DiskApparentBytesBefore)/mb, float64(sr.DiskApparentBytesAfter)/mb, sr.DiskApparentBytesPerApproval),
		Target:     fmt.Sprintf("≤ %.0f B", TargetDiskBytesPerApproval),
		Met:        sr.ApprovedBeforeRestart > 0 && sr.DiskBytesPerApproval <= TargetDiskBytesPerApproval,
		Indicative: true,
		Note:       "growth during the run, not steady state with retention (the issue's target is for steady state)"}
}

// addCPU adds the CPU comparison's verdict to the table (when it ran).
func (sr *SuiteResult) addCPU(cc *CPUCompare) {
	if cc == nil {
		return
	}
	sr.Targets = append(sr.Targets, SuiteTarget{Name: "CPU per approval chip/ecom, pin/ecom", Value: max(cc.ChipOverEcom, cc.PINOverEcom),
		Measured: fmt.Sprintf("%.2f, %.2f", cc.ChipOverEcom, cc.PINOverEcom), Target: fmt.Sprintf("≤ %.2f", cc.Target), Met: cc.Met})
	sr.AllMet = sr.AllMet && cc.Met
}

// Verdict is "MET" or "NOT MET".
func (t SuiteTarget) Verdict() string {
	v := "MET"
	if !t.Met {
		v = "NOT MET"
	}
	if t.Indicative {
		v += " (indicative)"
	}
	return v
}

// PhaseSummary is the phases with their wall times: "closed 63.1 s (prepare 2.0 s), echo ...".
func (sr *SuiteResult) PhaseSummary() string {
	parts := make([]string, 0, len(sr.PhaseTimes))
	for _, p := range sr.PhaseTimes {
		s := fmt.Sprintf("%s %.1f s", p.Name, p.Seconds)
		if p.PrepareSeconds >= 0.05 {
			s += fmt.Sprintf(" (prepare %.1f s)", p.PrepareSeconds)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// Summary prints the suite's verdict table.
func (sr *SuiteResult) Summary(w io.Writer) {
	fmt.Fprintf(w, "\nSUMMARY (make bench suite): %d cards and balances, one switch, generator on the same machine\n", sr.Cards)
	machine := fmt.Sprintf("nproc %d", sr.NumCPU)
	if sr.CPUModel != "" {
		machine += " (" + sr.CPUModel + ")"
	}
	fmt.Fprintf(w, "  machine: %s; load average %s -> %s\n", machine, sr.LoadAvgStart, sr.LoadAvgEnd)
	if sr.ProvisionSeconds > 0 || sr.FirstReadySeconds > 0 {
		fmt.Fprintf(w, "  before the phases (not measured): provisioning %.1f s, first start to ready %.1f s\n", sr.ProvisionSeconds, sr.FirstReadySeconds)
	}
	fmt.Fprintf(w, "  phases (wall %.0f s): %s\n", sr.WallSeconds, sr.PhaseSummary())
	nw, mw, tw := len("target"), len("measured"), len("goal")
	for _, t := range sr.Targets {
		nw, mw, tw = max(nw, len([]rune(t.Name))), max(mw, len([]rune(t.Measured))), max(tw, len([]rune(t.Target)))
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len([]rune(s)))) }
	fmt.Fprintf(w, "  %s  %s  %s  %s\n", pad("target", nw), pad("measured", mw), pad("goal", tw), "verdict")
	for _, t := range sr.Targets {
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", pad(t.Name, nw), pad(t.Measured, mw), pad(t.Target, tw), t.Verdict())
	}
	for _, t := range sr.Targets {
		if t.Indicative && t.Note != "" {
			fmt.Fprintf(w, "  indicative: %s: %s\n", t.Name, t.Note)
		}
	}
	if sr.Cards != TargetCards {
		fmt.Fprintf(w, "  Memory and restart targets are defined for %d cards; this suite used --cards %d.\n", TargetCards, sr.Cards)
	}
	fmt.Fprintf(w, "  hot/spread phases use mix %s (chip left out: one card's ARQCs cannot stay in ATC order across connections).\n", sr.HotMix)
	fmt.Fprintf(w, "  %s\n", sr.Conclusion())
}

// Conclusion is the suite's last line: whether every target was met as the issue words it.
func (sr *SuiteResult) Conclusion() string {
	notMet, indicative := 0, 0
	for _, t := range sr.Targets {
		if !t.Met {
			notMet++
		}
		if t.Indicative {
			indicative++
		}
	}
	switch {
	case sr.AllMet:
		return "all targets MET"
	case notMet == 0:
		return fmt.Sprintf("all targets met, but %d only indicatively (not measured as the issue words them)", indicative)
	default:
		return fmt.Sprintf("NOT all targets met (%d of %d not met)", notMet, len(sr.Targets))
	}
}

// loadAvg is the first three fields of /proc/loadavg ("" when unknown).
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Spawned as a SuiteSwitch.

// Addr is the switch's ISO 8583 address.
func (s *Spawned) Addr() string { return s.ISOAddr }

// PID is the switch's process id.
func (s *Spawned) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Restart stops the switch with SIGTERM (waiting for it to exit), starts `cardswitch serve` again
// on the same data directory and new free ports and returns the time from that start to /healthz
// 200 (also in ReadyTook).
func (s *Spawned) Restart(ctx context.Context) (time.Duration, error) {
	if s.exited == nil {
		return 0, errors.New("bench: restart: the switch is not running")
	}
	if err := s.stopProcess(); err != nil {
		return 0, err
	}
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var err error
	if s.ISOAddr, err = freePort(); err != nil {
		return 0, err
	}
	if s.HTTPAddr, err = freePort(); err != nil {
		return 0, err
	}
	if err := s.start(s.common); err != nil {
		return 0, err
	}
	return s.ReadyTook, nil
}

// rssMeasured says the RSS before the restart, its split when known, and the RSS after.
func rssMeasured(sr *SuiteResult) string {
	const mb = 1e6
	out := fmt.Sprintf("%.0f MB", float64(sr.RSSBytes)/mb)
	if sr.RSSAnonBytes > 0 {
		out += fmt.Sprintf(" (anon %.0f + file %.0f)", float64(sr.RSSAnonBytes)/mb, float64(sr.RSSFileBytes)/mb)
	}
	return out + fmt.Sprintf("; after restart %.0f MB", float64(sr.RSSAfterRestartBytes)/mb)
}
