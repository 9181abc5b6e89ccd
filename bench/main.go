// Package bench is the load generator of cardswitch (`cardswitch bench`): N connections speaking
// the iso87 wire profile, a traffic mix over the cards that `cardswitch provision` made, open-loop
// (fixed arrival rate, latency from each request's intended send time, so coordinated omission
// cannot hide a stall) and closed-loop (maximum throughput) modes, HdrHistogram percentiles, a JSON
// result and a self-contained HTML report. `--baseline echo` runs the same generator against a
// bare moov-io/iso8583-connection echo server in the same process and prints the ratio.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
)

// Main is `cardswitch bench`.
func Main(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8583", "ISO 8583 address of the switch, or a group's members' as a comma-separated list (each connection goes to the first that accepts: the leader)")
	conns := fs.Int("connections", 32, "TCP connections")
	duration := fs.Duration("duration", 20*time.Second, "length of the run (with --suite: the closed loop's measured window, after the warm-up)")
	warmup := fs.Duration("warmup", time.Second, "first part of the run left out of the totals")
	rate := fs.Float64("rate", 0, "open loop: total requests per second on a fixed schedule; 0: closed loop (maximum throughput)")
	pipeline := fs.Int("pipeline", DefaultPipeline, "closed loop: requests in flight per connection")
	mixText := fs.String("mix", DefaultMix, "traffic mix, kind=weight: ecom, chip, pin, inquiry")
	cards := fs.Int("cards", 10000, "provisioned cards to spread traffic over (card indexes 0..N-1)")
	hot := fs.Bool("hot", false, "all traffic on one card (one balance)")
	baseline := fs.String("baseline", "", `"echo": also run against an in-process moov-io echo server and print the ratio; "durable-echo": against the floor, a minimal server that answers after one fdatasync per group of requests (bench/durableecho.go), in the same run, with cardswitch's figures as ratios to it`)
	spawn := fs.Bool("spawn", false, "provision a temporary data directory and start `cardswitch serve` on free ports")
	exe := fs.String("exe", "", "with --spawn: the cardswitch binary (default: this executable)")
	keep := fs.Bool("keep", false, "with --spawn: keep the temporary data directory")
	cfgPath := fs.String("config", "", "configuration of the switch (programs and keys); default: development profile")
	dataDir := fs.String("data-dir", "", "data directory of the switch (development keys); with --spawn: use and keep this directory")
	timeout := fs.Duration("timeout", 5*time.Second, "a request unanswered this long is a timeout")
	seed := fs.Uint64("seed", 0, "random seed of the generator (0: random)")
	jsonPath := fs.String("json", "", "write the JSON result to FILE")
	htmlPath := fs.String("html", "", "write the HTML report to FILE")
	cpuCompare := fs.Bool("cpu-compare", false, "after the run: closed-loop phases of e-commerce only, chip only and PIN only at the same connections, with the switch's CPU per approval (needs --spawn or --serve-pid)")
	cpuPhase := fs.Duration("cpu-phase", 8*time.Second, "with --cpu-compare: length of each phase")
	cpuRate := fs.Float64("cpu-rate", 0, "with --cpu-compare: run the phases open loop at this many requests/s (same load for every kind); 0: closed loop")
	cpuRounds := fs.Int("cpu-rounds", 1, "with --cpu-compare: rounds of the three phases (order rotated each round)")
	servePID := fs.Int("serve-pid", 0, "process id of a local switch (without --spawn): its CPU time is reported")
	suite := fs.Bool("suite", false, "with --spawn: against one switch with --cards cards, closed loop (--warmup, then a measured window of --duration), an open loop right after it (--suite-rate for --suite-open), the echo and durable echo baselines (--suite-echo), open loop (--suite-rate for --suite-open), spread and hot closed-loop phases (--suite-phase each), the CPU comparison (unless --cpu-compare=false), VmRSS and the data directory's growth per approval, restart-to-ready and VmRSS after a restart; ends with a table of the issue's targets (make bench: 1,000,000 cards, 180 s)")
	suiteRate := fs.Float64("suite-rate", TargetOpenRate, "with --suite: rate of the open-loop phase, requests/s")
	suiteOpen := fs.Duration("suite-open", 15*time.Second, "with --suite: length of the open-loop phase")
	suitePhase := fs.Duration("suite-phase", 8*time.Second, "with --suite: length of each of the spread and hot phases")
	suiteEcho := fs.Duration("suite-echo", 0, "with --suite: measured window of the echo baseline (default: --duration)")
	prebuildRate := fs.Float64("prebuild-rate", 0, fmt.Sprintf("closed loop: requests/s (all connections) the chip ARQCs are built for before the clock starts, the rest is built during the run; 0: %d; -1: none", DefaultPrebuildRate))
	atcBase := fs.Int("atc-base", 0, "ATC of the first chip request on each card (1..65535); default: recorded in the data directory, else from the wall clock")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mix, err := ParseMix(*mixText)
	if err != nil {
		return err
	}
	if *baseline != "" && *baseline != "echo" && *baseline != "durable-echo" {
		return fmt.Errorf("bench: --baseline: want \"echo\" or \"durable-echo\"")
	}
	if *warmup >= *duration {
		*warmup = 0
	}
	if *atcBase < 0 || *atcBase > 0xFFFF {
		return fmt.Errorf("bench: --atc-base: want 1..65535")
	}
	if *suite {
		if !*spawn {
			return fmt.Errorf("bench: --suite needs --spawn (it restarts the switch)")
		}
		if *rate != 0 || *hot {
			return fmt.Errorf("bench: --suite runs its own open-loop and hot phases: drop --rate and --hot")
		}
		if *suiteOpen <= 0 || *suitePhase <= 0 || *suiteRate <= 0 || *suiteEcho < 0 {
			return fmt.Errorf("bench: --suite-open, --suite-phase and --suite-rate must be positive, --suite-echo not negative")
		}
		explicitCPU := false
		fs.Visit(func(f *flag.Flag) { explicitCPU = explicitCPU || f.Name == "cpu-compare" })
		if !explicitCPU {
			*cpuCompare = true
		}
	}
	if *cpuCompare && !*spawn && *servePID == 0 {
		return fmt.Errorf("bench: --cpu-compare needs the switch's process: --spawn or --serve-pid")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var progress io.Writer
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		progress = os.Stdout
	}

	var sp *Spawned
	if *spawn {
		sp, err = Spawn(ctx, SpawnOptions{Exe: *exe, DataDir: *dataDir, ConfigPath: *cfgPath, Cards: *cards, Keep: *keep, Log: os.Stdout})
		if err != nil {
			return err
		}
		defer func() {
			if sp != nil {
				sp.Stop()
			}
		}()
		*addr, *dataDir = sp.ISOAddr, sp.DataDir
	}
	cardSet, err := LoadCards(*cfgPath, *dataDir)
	if err != nil {
		return err
	}
	if !cardSet.Secrets {
		fmt.Fprintln(os.Stderr, "bench: the switch's keys are unknown (no --config and no development keys in --data-dir): requests carry no CVC2, no PIN block and no ARQC (field 55)")
	}
	cardSet.Count, cardSet.Hot = *cards, *hot
	atcSource := "--atc-base"
	if *atcBase > 0 {
		cardSet.ATCBase = uint16(*atcBase)
	} else {
		cardSet.ATCBase, atcSource = LoadATCBase(*dataDir, time.Now())
	}
	if cardSet.Keys != nil {
		fmt.Printf("chip ATCs from %d (%s)\n", cardSet.ATCBase, atcSource)
	}
	pid := *servePID
	if sp != nil {
		pid = sp.cmd.Process.Pid
	}
	// afterRun moves the ATC base past what a run sent and records it in the data directory.
	afterRun := func(o *Options, res *RunResult) {
		o.Cards.ATCBase = nextATCBase(o.Cards.ATCBase, res.MaxATC)
		if res.MaxATC > 0 && (sp == nil || sp.keep) {
			if err := SaveATCNext(*dataDir, o.Cards.ATCBase); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}

	o := Options{Label: "cardswitch", Addr: *addr, Connections: *conns, Duration: *duration, Warmup: *warmup,
		Rate: *rate, Pipeline: *pipeline, Mix: mix, Cards: *cardSet, Timeout: *timeout, Seed: *seed, Progress: progress,
		PrebuildRate: *prebuildRate}
	rep := &Report{Command: "cardswitch bench " + strings.Join(args, " "), Machine: ThisMachine()}
	if *suite {
		so := &SuiteOptions{Base: o, DataDir: *dataDir, EchoDuration: *suiteEcho, OpenRate: *suiteRate, OpenDuration: *suiteOpen, PhaseDuration: *suitePhase,
			CPUCompare: *cpuCompare, CPUPhase: *cpuPhase, CPURounds: *cpuRounds, CPURate: *cpuRate, Log: os.Stdout,
			Machine: &rep.Machine, ProvisionTook: sp.ProvisionTook, FirstReadyTook: sp.ReadyTook}
		sr, err := RunSuite(ctx, sp, so, rep)
		if err != nil {
			return err
		}
		if sp.keep {
			if err := SaveATCNext(*dataDir, so.Base.Cards.ATCBase); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		rep.Suite = sr
		rep.Summary(os.Stdout)
		if rep.CPUCompare != nil {
			rep.CPUCompare.Summary(os.Stdout)
		}
		sr.Summary(os.Stdout)
		return writeReports(rep, *jsonPath, *htmlPath)
	}
	var cpu0 time.Duration
	if pid > 0 {
		cpu0, _ = ProcessCPU(pid)
	}
	res, err := Run(ctx, o)
	if err != nil {
		return err
	}
	if pid > 0 {
		if cpu1, err := ProcessCPU(pid); err == nil {
			res.ServeCPUSeconds = (cpu1 - cpu0).Seconds()
			if n := res.ApprovedAll; n > 0 {
				res.ServeCPUPerApprovedUs = res.ServeCPUSeconds * 1e6 / float64(n)
			}
		}
	}
	afterRun(&o, res)
	rep.Runs = append(rep.Runs, res)
	if *cpuCompare && ctx.Err() == nil {
		cc, err := RunCPUCompare(ctx, &o, pid, *cpuPhase, *cpuRounds, *cpuRate, os.Stdout)
		if err != nil {
			return err
		}
		if sp == nil || sp.keep {
			if err := SaveATCNext(*dataDir, o.Cards.ATCBase); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		rep.CPUCompare = cc
	}
	if sp != nil {
		if rss, err := sp.RSS(); err == nil {
			res.ServeRSSBytes = rss
		}
		err := sp.Stop() // free the CPUs for the baseline
		sp = nil
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if *baseline != "" && ctx.Err() == nil {
		syncDisks()
		bo := o
		var eres *RunResult
		var runErr error
		switch *baseline {
		case "echo":
			echo, err := StartEcho("127.0.0.1:0")
			if err != nil {
				return err
			}
			bo.Label, bo.Addr = "echo", echo.Addr()
			eres, runErr = Run(ctx, bo)
			echo.Close()
			if eres != nil {
				eres.Errors += echo.Errors()
			}
		case "durable-echo":
			// Its file goes on the disk of the switch's data directory.
			dir := ""
			if *dataDir != "" {
				dir = filepath.Dir(filepath.Clean(*dataDir))
			}
			de, err := StartDurableEcho("127.0.0.1:0", dir)
			if err != nil {
				return err
			}
			bo.Label, bo.Addr = "durable-echo", de.Addr()
			eres, runErr = Run(ctx, bo)
			de.Close()
			if eres != nil {
				eres.Errors += de.Errors()
				eres.Syncs = de.Syncs()
			}
		}
		if runErr != nil {
			return runErr
		}
		rep.Runs = append(rep.Runs, eres)
		rep.setRatios(res, eres, *baseline)
	}
	rep.Summary(os.Stdout)
	if rep.CPUCompare != nil {
		rep.CPUCompare.Summary(os.Stdout)
	}
	if err := writeReports(rep, *jsonPath, *htmlPath); err != nil {
		return err
	}
	if res.Completed == 0 {
		return errors.New("bench: no answers from the switch")
	}
	return nil
}

// writeReports writes the JSON and HTML reports (a path "" is skipped).
func writeReports(rep *Report, jsonPath, htmlPath string) error {
	if jsonPath != "" {
		if err := writeFile(jsonPath, rep.WriteJSON); err != nil {
			return err
		}
	}
	if htmlPath != "" {
		if err := writeFile(htmlPath, rep.WriteHTML); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	return f.Close()
}

// LoadCards reads the programs (and keys, when they are known) the switch uses. Without --config
// and without development keys in dataDir, the development profile's programs are used without
// keys: the generator then sends no CVC2 and no PIN block. It never creates keys in dataDir.
func LoadCards(cfgPath, dataDir string) (*Cards, error) {
	quiet := func(string) {}
	var cfg *config.Config
	var err error
	secrets := true
	switch {
	case cfgPath != "":
		cfg, err = config.Load(cfgPath, config.Overrides{DataDir: dataDir}, quiet)
	default:
		dir := dataDir
		if dir == "" {
			dir = config.DefaultDataDir
		}
		if _, statErr := os.Stat(filepath.Join(dir, "dev-keys.json")); statErr == nil {
			cfg, err = config.Load("", config.Overrides{DataDir: dir}, quiet)
		} else {
			// Only the BINs are wanted: load the development profile into a throwaway directory.
			tmp, terr := os.MkdirTemp("", "cardswitch-bench-keys-")
			if terr != nil {
				return nil, terr
			}
			defer os.RemoveAll(tmp)
			cfg, err = config.Load("", config.Overrides{DataDir: tmp}, quiet)
			secrets = false
		}
	}
	if err != nil {
		return nil, err
	}
	progs, err := provision.Programs(cfg)
	if err != nil {
		return nil, err
	}
	c := &Cards{Programs: progs, Expiry: provision.DefaultExpiry, PIN: provision.DefaultPIN, Secrets: secrets, tables: &cardTables{}}
	if secrets {
		c.ZPK = config.Key(cfg.Security.ZPK)
		// The keys of the card programs, parallel to progs (which leaves token-only programs out).
		for _, p := range progs {
			cp, ok := cfg.Program(p.Name)
			if !ok {
				return nil, fmt.Errorf("bench: program %s is not configured", p.Name)
			}
			k, err := security.ProgramKeys(cp)
			if err != nil {
				return nil, err
			}
			c.Keys = append(c.Keys, k)
		}
	}
	return c, nil
}
