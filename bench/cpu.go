package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPU time of the switch process, from /proc/PID/stat: utime (field 14) + stime (field 15), in
// clock ticks of sysconf(_SC_CLK_TCK), read from the auxiliary vector (AT_CLKTCK), 100 if absent.

var (
	clkTckOnce sync.Once
	clkTck     = 100
)

// ClockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/PID/stat.
func ClockTicks() int {
	clkTckOnce.Do(func() {
		raw, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		const atClkTck = 17
		for i := 0; i+16 <= len(raw); i += 16 { // 64-bit auxv: (type, value) pairs of 8 bytes
			typ, val := binary.NativeEndian.Uint64(raw[i:]), binary.NativeEndian.Uint64(raw[i+8:])
			if typ == 0 {
				break
			}
			if typ == atClkTck && val > 0 {
				clkTck = int(val)
				return
			}
		}
	})
	return clkTck
}

// ProcessCPU returns the CPU time (user + system, all threads, not children) a process has used.
func ProcessCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(raw), ClockTicks())
}

// parseStatCPU reads utime and stime of a /proc/PID/stat line. The command name (field 2) is in
// parentheses and may hold spaces and parentheses: fields are counted after the last ')'.
func parseStatCPU(stat string, ticks int) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || ticks <= 0 {
		return 0, errors.New("bench: malformed /proc/PID/stat")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14 = f[11], stime field 15 = f[12].
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: malformed utime/stime in /proc/PID/stat")
	}
	return time.Duration(ut+st) * time.Second / time.Duration(ticks), nil
}

// CPUTarget is the bound: chip (ARQC) and PIN authorizations cost at most 25 % more CPU of
// the switch per approval than plain e-commerce (CVC2) ones.
const CPUTarget = 1.25

// CPUPhase is one traffic kind's share of --cpu-compare, summed over the rounds.
type CPUPhase struct {
	Kind             string  `json:"kind"`
	Rounds           int     `json:"rounds"`
	WallSeconds      float64 `json:"wallSeconds"`
	Sent             int64   `json:"sent"`
	Completed        int64   `json:"completed"`
	Approved         int64   `json:"approved"`
	Errors           int64   `json:"errors"`
	Timeouts         int64   `json:"timeouts"`
	ApprovedPerSec   float64 `json:"approvedPerSec"`
	CPUSeconds       float64 `json:"cpuSeconds"`
	CPUPerApprovedUs float64 `json:"cpuPerApprovedUs"`
	// RoundsUs is CPU µs per approval of each round (spread = noise).
	RoundsUs []float64        `json:"roundsUs"`
	Checks   AnswerChecks     `json:"answerChecks"`
	Codes    map[string]int64 `json:"actionCodes"`
}

// CPUCompare is the result of --cpu-compare: closed-loop phases of one kind each at the same
// connection count and pipeline, the switch's CPU time read before and after every phase (each
// read once the switch is quiet: under 5 % of a CPU over 200 ms, waiting at most 3 s, so a phase
// pays for the flushes and compactions its own writes cause).
type CPUCompare struct {
	Connections   int        `json:"connections"`
	Pipeline      int        `json:"pipeline"`
	RatePerSec    float64    `json:"ratePerSec,omitempty"` // open-loop phases; 0: closed loop
	PhaseDuration string     `json:"phaseDuration"`
	Rounds        int        `json:"rounds"`
	ClockTicks    int        `json:"clockTicks"`
	Phases        []CPUPhase `json:"phases"`
	ChipOverEcom  float64    `json:"chipOverEcom"`
	PINOverEcom   float64    `json:"pinOverEcom"`
	Target        float64    `json:"target"`
	Met           bool       `json:"met"`
	// Per round (the three kinds of a round run back to back, so slow drift of the machine
	// cancels): chip/ecom and pin/ecom of that round's µs per approval.
	RoundChipOverEcom []float64 `json:"roundChipOverEcom"`
	RoundPINOverEcom  []float64 `json:"roundPinOverEcom"`
	LoadAvg           string    `json:"loadAvg,omitempty"` // /proc/loadavg at the end
}

// cpuKinds are the phases of --cpu-compare, in the order of the first round.
var cpuKinds = []Kind{KindEcom, KindChip, KindPIN}

// RunCPUCompare runs rounds × (ecom, chip, pin) closed-loop phases of phase each against the
// switch process pid, rotating the order every round so background work of the store (flushes,
// compactions) does not always fall on the same kind. base gives the address, connections,
// pipeline and cards; its ATC base is advanced after every phase (o.Cards.ATCBase). The e-commerce
// phase is the reference: chip/ecom and pin/ecom are ratios of CPU µs per approval.
// rate 0 runs the phases closed loop; rate > 0 runs them open loop at that many requests per
// second, so every kind meets the switch at the same load (same batch sizes).
func RunCPUCompare(ctx context.Context, base *Options, pid int, phase time.Duration, rounds int, rate float64, log io.Writer) (*CPUCompare, error) {
	if rounds < 1 {
		rounds = 1
	}
	if log == nil {
		log = io.Discard
	}
	cc := &CPUCompare{Connections: base.Connections, Pipeline: base.Pipeline, RatePerSec: rate, PhaseDuration: phase.String(),
		Rounds: rounds, ClockTicks: ClockTicks(), Target: CPUTarget}
	phases := make([]CPUPhase, len(cpuKinds))
	for i, k := range cpuKinds {
		phases[i] = CPUPhase{Kind: k.String(), Codes: map[string]int64{}}
	}
	for r := 0; r < rounds; r++ {
		for j := range cpuKinds {
			i := (j + r) % len(cpuKinds)
			k := cpuKinds[i]
			var mix Mix
			mix.Weights[k] = 1
			mix.init()
			o := *base
			o.Label, o.Mix, o.Duration, o.Warmup, o.Rate, o.Progress = "cpu-"+k.String(), mix, phase, 0, rate, nil
			// Start from a quiet switch, and charge a phase with the background work its
			// writes cause (store flushes and compactions, GC) until the switch is quiet again.
			cpu0, err := waitQuiet(ctx, pid)
			if err != nil {
				return nil, fmt.Errorf("bench: cpu-compare: %w", err)
			}
			res, err := Run(ctx, o)
			if err != nil {
				return nil, err
			}
			cpu1, err := waitQuiet(ctx, pid)
			if err != nil {
				return nil, fmt.Errorf("bench: cpu-compare: %w", err)
			}
			base.Cards.ATCBase = nextATCBase(base.Cards.ATCBase, res.MaxATC)
			p := &phases[i]
			cpu := (cpu1 - cpu0).Seconds()
			p.Rounds++
			p.WallSeconds += res.ElapsedSeconds
			p.Sent += res.Sent
			p.Completed += res.Completed
			p.Approved += res.Approved
			p.Errors += res.Errors
			p.Timeouts += res.Timeouts
			p.CPUSeconds += cpu
			for c, n := range res.ActionCodes {
				p.Codes[c] += n
			}
			p.Checks.add(res.AnswerChecks)
			us := 0.0
			if res.Approved > 0 {
				us = cpu * 1e6 / float64(res.Approved)
			}
			p.RoundsUs = append(p.RoundsUs, us)
			fmt.Fprintf(log, "cpu-compare round %d %-4s  approved %7d (%6.0f/s)  switch CPU %6.2fs  %7.1f µs/approval\n",
				r+1, k, res.Approved, res.ApprovedPerSec, cpu, us)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	for i := range phases {
		p := &phases[i]
		if p.Approved > 0 {
			p.CPUPerApprovedUs = p.CPUSeconds * 1e6 / float64(p.Approved)
		}
		if d := phase.Seconds() * float64(p.Rounds); d > 0 {
			p.ApprovedPerSec = float64(p.Approved) / d
		}
	}
	cc.Phases = phases
	for r := 0; r < rounds; r++ {
		if e := phases[0].RoundsUs[r]; e > 0 {
			cc.RoundChipOverEcom = append(cc.RoundChipOverEcom, phases[1].RoundsUs[r]/e)
			cc.RoundPINOverEcom = append(cc.RoundPINOverEcom, phases[2].RoundsUs[r]/e)
		}
	}
	if e := phases[0].CPUPerApprovedUs; e > 0 {
		cc.ChipOverEcom = phases[1].CPUPerApprovedUs / e
		cc.PINOverEcom = phases[2].CPUPerApprovedUs / e
		cc.Met = cc.ChipOverEcom > 0 && cc.PINOverEcom > 0 && cc.ChipOverEcom <= CPUTarget && cc.PINOverEcom <= CPUTarget
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(raw))
		if len(f) >= 3 {
			cc.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return cc, nil
}

// Quiet: the switch used less than quietCPU of CPU time in the last quietEvery, or quietMax passed.
const (
	quietEvery = 200 * time.Millisecond
	quietCPU   = 10 * time.Millisecond // 5 % of one CPU
	quietMax   = 3 * time.Second
)

// waitQuiet waits until the process is quiet (bounded by quietMax) and returns its CPU time then.
func waitQuiet(ctx context.Context, pid int) (time.Duration, error) {
	return waitQuietFor(ctx, pid, quietMax)
}

// settleMax bounds the suite's wait for the switch's background work before the open loop.
const settleMax = 180 * time.Second

// waitQuietFor is waitQuiet bounded by max.
func waitQuietFor(ctx context.Context, pid int, max time.Duration) (time.Duration, error) {
	prev, err := ProcessCPU(pid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(quietEvery)
		cur, err := ProcessCPU(pid)
		if err != nil {
			return 0, err
		}
		if cur-prev < quietCPU {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func (a *AnswerChecks) add(b AnswerChecks) {
	a.ChipAnswers += b.ChipAnswers
	a.ChipWithTag91 += b.ChipWithTag91
	a.PINAnswers += b.PINAnswers
	a.PINApproved += b.PINApproved
	a.ATCExhausted += b.ATCExhausted
}

// Summary prints the comparison.
func (cc *CPUCompare) Summary(w io.Writer) {
	load := fmt.Sprintf("closed loop, %d connections × %d in flight", cc.Connections, cc.Pipeline)
	if cc.RatePerSec > 0 {
		load = fmt.Sprintf("open loop %.0f/s, %d connections", cc.RatePerSec, cc.Connections)
	}
	fmt.Fprintf(w, "CPU per approved authorization by traffic type (switch utime+stime, %s, %d × %s per kind):\n",
		load, cc.Rounds, cc.PhaseDuration)
	for _, p := range cc.Phases {
		fmt.Fprintf(w, "  %-4s  %8.1f µs/approval  approved %7d (%6.0f/s)  CPU %6.2fs  errors %d  timeouts %d  rounds µs %s\n",
			p.Kind, p.CPUPerApprovedUs, p.Approved, p.ApprovedPerSec, p.CPUSeconds, p.Errors, p.Timeouts, fmtRounds(p.RoundsUs))
		if p.Approved < p.Completed {
			fmt.Fprintf(w, "        not approved: %d of %d answers, field 39 %v\n", p.Completed-p.Approved, p.Completed, p.Codes)
		}
		if p.Kind == "chip" && p.Checks.ChipWithTag91 < p.Checks.ChipAnswers {
			fmt.Fprintf(w, "        WARNING: %d of %d chip answers without tag 91\n", p.Checks.ChipAnswers-p.Checks.ChipWithTag91, p.Checks.ChipAnswers)
		}
	}
	if cc.Rounds > 1 {
		fmt.Fprintf(w, "  per round: chip/ecom %s  pin/ecom %s\n", fmtRounds2(cc.RoundChipOverEcom), fmtRounds2(cc.RoundPINOverEcom))
	}
	verdict := "MET"
	if !cc.Met {
		verdict = "NOT MET"
	}
	fmt.Fprintf(w, "  ratio chip/ecom %.2f  pin/ecom %.2f  (target ≤ %.2f: %s)", cc.ChipOverEcom, cc.PINOverEcom, cc.Target, verdict)
	if cc.LoadAvg != "" {
		fmt.Fprintf(w, "  load average %s", cc.LoadAvg)
	}
	fmt.Fprintln(w)
}

func fmtRounds(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, "/")
}

func fmtRounds2(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, "/")
}
