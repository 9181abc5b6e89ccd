package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/provision"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/switch/dispatch"
	"github.com/cardswitch/cardswitch/switch/server"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// testSwitch is the wiring of `cardswitch serve` (cmd/cardswitch/serve.go) in process: a Badger
// journal in a temporary directory (durable batches, as in production), the engine, the dispatcher
// and the ISO listener on a free port, with cards provisioned through the same engine.
type testSwitch struct {
	addr  string
	eng   *engine.Engine
	cards *Cards
	dir   string // the data directory (the journal in dir/ledger)
}

func startTestSwitch(tb testing.TB, nCards int) *testSwitch {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0"}, func(string) {})
	if err != nil {
		tb.Fatal(err)
	}
	dataKey := config.Key(cfg.Security.DataKey)
	j, err := journal.OpenBadger(journal.Options{Dir: filepath.Join(dir, "ledger"), DataKey: dataKey})
	if err != nil {
		tb.Fatal(err)
	}
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		tb.Fatal(err)
	}
	pols := map[string]ledger.ProgramPolicy{}
	for _, p := range cfg.Programs {
		pols[p.Name] = ledger.ProgramPolicy{Name: p.Name}
	}
	verifier, err := security.New(security.ConfigOf(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	env := ledger.Env{PANHasher: tokenvault.Hasher(dataKey), Verifier: verifier,
		Program: func(n string) (ledger.ProgramPolicy, bool) { p, ok := pols[n]; return p, ok }}
	eng := engine.New(engine.Config{QueueDepth: cfg.Engine.QueueDepth, MaxBatch: cfg.Engine.MaxBatch}, st, j, env, time.Now, nil, nil)
	eng.Start()
	progs, err := provision.Programs(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fund := map[string]int64{}
	for _, p := range progs {
		fund[p.Name] = 100_000_00
	}
	if _, err := provision.Run(context.Background(), eng, progs, env.PANHasher, fund, provision.Options{Cards: nCards}); err != nil {
		tb.Fatal(err)
	}
	disp := dispatch.New(eng, nil, nil, dispatch.Config{})
	srv := server.New(server.Config{Addr: cfg.ISO.Addr, MaxFrameBytes: cfg.ISO.MaxFrameBytes}, disp, nil)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		eng.Stop(ctx)
		disp.Close()
		j.Close()
	})
	return &testSwitch{addr: srv.Addr().String(), eng: eng, dir: dir, cards: &Cards{Programs: progs, Count: nCards,
		Expiry: provision.DefaultExpiry, PIN: provision.DefaultPIN, ZPK: config.Key(cfg.Security.ZPK), Secrets: true,
		Keys: programKeys(tb, cfg), ATCBase: ATCBaseAt(time.Now())}}
}

// TestEndToEnd runs a 2-second bench against the in-process switch: every request answered,
// approvals, no errors, no timeouts.
func TestEndToEnd(t *testing.T) {
	sw := startTestSwitch(t, 200)
	mix, _ := ParseMix(DefaultMix)
	for _, tc := range []struct {
		name string
		rate float64
	}{{"closed", 0}, {"open", 500}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Options{Label: "cardswitch", Addr: sw.addr, Connections: 4,
				Duration: 2 * time.Second, Rate: tc.rate, Pipeline: 4, Mix: mix, Cards: *sw.cards, Seed: 7, PrebuildRate: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Approved == 0 || res.Errors != 0 || res.Timeouts != 0 {
				t.Fatalf("approved %d errors %d timeouts %d codes %v", res.Approved, res.Errors, res.Timeouts, res.ActionCodes)
			}
			if res.Completed != res.Sent {
				t.Fatalf("sent %d, answered %d", res.Sent, res.Completed)
			}
			if res.ActionCodes["00"] != res.Approved {
				t.Fatalf("codes %v, approved %d", res.ActionCodes, res.Approved)
			}
			// Chip answers carry the ARPC (tag 91); PIN answers with the provisioned PIN are approved.
			if a := res.AnswerChecks; a.ChipAnswers == 0 || a.ChipWithTag91 != a.ChipAnswers || a.PINAnswers == 0 || a.PINApproved != a.PINAnswers {
				t.Fatalf("answer checks %+v", a)
			}
			// The chip ARQCs were built before the clock (closed loop: for 1,000 requests/s, the
			// rest during the run; open loop: for its rate, none during the run), and all verified.
			if a := res.AnswerChecks; a.ChipPrebuilt == 0 || a.ChipPrebuilt+a.ChipInline != a.ChipAnswers || (tc.rate > 0 && a.ChipInline != 0) {
				t.Fatalf("chip requests prebuilt %d, built in the run %d, answers %d", a.ChipPrebuilt, a.ChipInline, a.ChipAnswers)
			}
			sw.cards.ATCBase = nextATCBase(sw.cards.ATCBase, res.MaxATC) // the next run on the same switch
			// Every kind gets approved: CVC2, expiry, ARQC and PIN data are the provisioned ones.
			for k, kr := range res.ByKind {
				if kr.Approved == 0 {
					t.Errorf("kind %s: no approval (%+v); codes %v", k, kr, res.ActionCodes)
				}
			}
			// Open loop follows its schedule: never more than rate x duration requests (how many
			// the machine manages is the bench's business, not a test's).
			if max := int64(1.1*tc.rate*2) + 4; tc.rate > 0 && int64(res.Sent) > max {
				t.Errorf("open loop at %.0f/s for 2s sent %d requests, schedule allows %d", tc.rate, res.Sent, max)
			}
			t.Logf("%s: %.0f/s approved %.0f/s p99 %.2fms codes %v", tc.name, res.ThroughputPerSec, res.ApprovedPerSec, res.Latency.P99Ms, res.ActionCodes)
		})
	}
}

// TestEchoBaseline runs the generator against the moov echo server.
func TestEchoBaseline(t *testing.T) {
	e, err := StartEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mix, _ := ParseMix(DefaultMix)
	cards := testCards(t)
	res, err := Run(context.Background(), Options{Label: "echo", Addr: e.Addr(), Connections: 2,
		Duration: time.Second, Pipeline: 4, Mix: mix, Cards: *cards, Seed: 3, PrebuildRate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Approved == 0 || res.Errors != 0 || e.Errors() != 0 || res.Timeouts != 0 {
		t.Fatalf("approved %d errors %d/%d timeouts %d", res.Approved, res.Errors, e.Errors(), res.Timeouts)
	}
}

// TestProfileSwitch is a longer closed-loop run against the in-process switch for profiling:
// CARDSWITCH_PROFILE_SECONDS=20 go test ./bench -run ProfileSwitch -cpuprofile cpu.out
func TestProfileSwitch(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("CARDSWITCH_PROFILE_SECONDS"))
	if secs <= 0 {
		t.Skip("set CARDSWITCH_PROFILE_SECONDS")
	}
	sw := startTestSwitch(t, 10000)
	mix, _ := ParseMix(DefaultMix)
	res, err := Run(context.Background(), Options{Label: "cardswitch", Addr: sw.addr, Connections: 32,
		Duration: time.Duration(secs) * time.Second, Pipeline: 8, Mix: mix, Cards: *sw.cards})
	if err != nil {
		t.Fatal(err)
	}
	st := sw.eng.Stats()
	t.Logf("%.0f/s approved %.0f/s p50 %.2fms p99 %.2fms errors %d; engine batches %d ops %d (%.1f ops/batch)",
		res.ThroughputPerSec, res.ApprovedPerSec, res.Latency.P50Ms, res.Latency.P99Ms, res.Errors,
		st.Batches, st.Ops, float64(st.Ops)/float64(max(st.Batches, 1)))
}
