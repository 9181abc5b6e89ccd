// Package crash kills the real cardswitch binary with SIGKILL at random moments under concurrent
// traffic, restarts it, and checks the books after every restart: every approval the client saw
// is in the store, nothing the client was refused is, no hold exists twice, and every balance adds
// up, and every approval has its authorization.decided event in the store (the switch runs with
// a webhook configured, so it records them; the receiver is down, so none is delivered and
// pruned). Run it with `make test-crash` (CARDSWITCH_BIN names the binary).
package crash

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
	"github.com/cardswitch/cardswitch/tokenvault"
)

const (
	kills     = 24
	cards     = 6
	loadMinor = 50_000_00
	workers   = 6
)

type outcome struct {
	req    *authz.Request
	answer string // field 39; "" when no answer arrived before the kill
}

type history struct {
	mu       sync.Mutex
	auths    map[string]*outcome // by ledger.OriginalKey
	reversal map[string]string   // original key -> 39 of its reversal
	locked   int                 // cards locked in the store after the last restart
}

func TestCrashSafety(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	if bin == "" {
		t.Skip("CARDSWITCH_BIN is not set: run `make test-crash`")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("CARDSWITCH_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (replay with CARDSWITCH_CRASH_SEED)", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// CARDSWITCH_CRASH_JOURNAL=wal (or badger) runs the switch, and the audit's recovery, with
	// that engine.journal; unset: the default.
	cfg.Engine.Journal = os.Getenv("CARDSWITCH_CRASH_JOURNAL")
	// Checkpoints every few tens of milliseconds, so that kills also land inside them (between
	// Badger's writes, its sync and the log's truncation).
	cfg.Engine.CheckpointInterval = 20 * time.Millisecond
	t.Logf("engine.journal %q", cfg.Engine.Journal)
	// A webhook that is never reachable: events are recorded in the batches and stay pending.
	cfg.HTTP.WebhookURL, cfg.HTTP.WebhookSecret = "http://"+freeAddr(t)+"/events", "crash-test-secret"
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "cardswitch.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	pans, lockPANs := provision(t, cfg)
	h := &history{auths: map[string]*outcome{}, reversal: map[string]string{}}
	killed := 0
	for round := 0; round < kills; round++ {
		isoAddr, httpAddr := freeAddr(t), freeAddr(t)
		cmd := exec.Command(bin, "serve", "--config", cfgPath, "--data-dir", dir, "--iso-addr", isoAddr, "--http-addr", httpAddr)
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("serve-%02d.log", round)))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, httpAddr, logf.Name())

		// Retransmit what the previous run left unanswered: the switch must answer it once.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			wrng := rand.New(rand.NewSource(rng.Int63()))
			acquirer := strconv.Itoa(1000 + round*workers + w) // a key space of its own per run and worker
			go func(w int) {
				defer wg.Done()
				drive(ctx, isoAddr, h, pans, wrng, acquirer, w == 0)
			}(w)
		}
		// One card of its own per run is locked by wrong CVC2 values while the others trade.
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess(ctx, isoAddr, h, lockPANs[round], "9"+strconv.Itoa(round))
		}()
		time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		killed++
		cancel()
		wg.Wait()
		logf.Close()
		audit(t, cfg, h, round)
		if t.Failed() {
			t.Fatalf("books wrong after kill %d (seed %d)", round, seed)
		}
	}
	h.mu.Lock()
	answered := 0
	for _, o := range h.auths {
		if o.answer != "" {
			answered++
		}
	}
	t.Logf("%d SIGKILLs, %d authorizations sent, %d answered, %d reversals; books balanced after every restart",
		killed, len(h.auths), answered, len(h.reversal))
	if h.locked == 0 {
		t.Error("no card was locked by wrong CVC2 values: the lock events went untested")
	}
	h.mu.Unlock()
}

// provision creates the cards offline, through the same engine and journal: the traded cards,
// and one card per run (with a CVC2) that the run locks by guessing its CVC2.
func provision(t *testing.T, cfg *config.Config) (pans, lockPANs []string) {
	key := config.Key(cfg.Security.DataKey)
	j, err := journal.OpenBadger(journal.Options{Dir: filepath.Join(cfg.DataDir, "ledger"), DataKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st := ledger.NewState(j)
	hash := tokenvault.Hasher(key)
	eng := engine.New(engine.Config{}, st, j, ledger.Env{PANHasher: hash}, nil, nil, nil)
	eng.Start()
	defer eng.Stop(context.Background())
	for i := 0; i < cards+kills; i++ {
		body := fmt.Sprintf("535110%09d", i+1)
		d, _ := cardcrypto.LuhnCheckDigit(body)
		p := body + string(d)
		cvc2 := ""
		if i < cards {
			pans = append(pans, p)
		} else {
			lockPANs = append(lockPANs, p)
			cvc2 = "123"
		}
		id := strconv.Itoa(i)
		res, err := engine.Do(context.Background(), eng, ledger.Provision{Items: []ledger.ProvisionItem{{
			Customer:  ledger.Customer{ID: "cu" + id},
			Balance:   ledger.Balance{ID: "ba" + id, CustomerID: "cu" + id, Currency: "EUR"},
			FundMinor: loadMinor,
			Card: ledger.Card{ID: "ca" + id, BalanceID: "ba" + id, Program: "demo-mc", Type: ledger.CardVirtual,
				PANHash: hash(p), PAN: p, Last4: p[12:], ExpiryYYMM: "4912", PSN: "00", CVC2: cvc2},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Refusal != nil || res.Created != 1 {
			t.Fatalf("provisioning card %d: %+v", i, res)
		}
	}
	return pans, lockPANs
}

// guess sends e-commerce authorizations with a wrong CVC2 on one card until it is declined as
// locked, ctx ends or the connection breaks; the fifth wrong value locks the card, and its
// card.state_changed event must be in the batch that locked it.
func guess(ctx context.Context, addr string, h *history, pan, acquirer string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	send := sender(c)
	for n := int64(0); ctx.Err() == nil && n < 2*authz.CardDataTriesMax; n++ {
		stan := fmt.Sprintf("%06d", n)
		req := &authz.Request{MTI: "0100", PAN: pan, ProcessingCode: "000000", AmountMinor: 100, HasAmount: true,
			F7: "1122" + stan, STAN: stan, AcquirerID: acquirer, RRN: fmt.Sprintf("%012d", n), CurrencyNum: "978",
			POSEntryMode: "812", CVC2: "999"}
		o := &outcome{req: req}
		h.mu.Lock()
		h.auths[ledger.OriginalKey("0100", req.STAN, req.F7, req.AcquirerID)] = o
		h.mu.Unlock()
		ans, ok := send(req)
		if !ok {
			return
		}
		h.mu.Lock()
		o.answer = ans
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // spread the guesses over the run, so kills fall between them
	}
}

// sender sends one request on c and returns field 39 of its answer (false: no answer).
func sender(c net.Conn) func(r *authz.Request) (string, bool) {
	br := bufio.NewReader(c)
	return func(r *authz.Request) (string, bool) {
		msg, err := codec.BuildRequest(r)
		if err != nil {
			panic(err)
		}
		if server.WriteFrame(c, msg) != nil {
			return "", false
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		out, err := server.ReadFrame(br, 0)
		if err != nil {
			return "", false
		}
		resp, err := codec.DecodeResponse(out)
		if err != nil || resp.STAN != r.STAN {
			panic("answer does not match its request")
		}
		return resp.ResponseCode, true
	}
}

// drive sends authorizations (and reversals of some approved ones) until ctx ends or the
// connection breaks. Every answer is recorded before the next request on the connection.
func drive(ctx context.Context, addr string, h *history, pans []string, rng *rand.Rand, acquirer string, retransmit bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	send := sender(c)
	if retransmit {
		h.mu.Lock()
		var pending []*outcome
		for _, o := range h.auths {
			if o.answer == "" {
				pending = append(pending, o)
			}
		}
		h.mu.Unlock()
		for _, o := range pending {
			ans, ok := send(o.req)
			if !ok {
				return
			}
			h.mu.Lock()
			o.answer = ans
			h.mu.Unlock()
		}
	}
	for n := int64(0); ctx.Err() == nil; n++ {
		stan := n
		p := pans[rng.Intn(len(pans))]
		req := &authz.Request{MTI: "0100", PAN: p, ProcessingCode: "000000", AmountMinor: int64(1 + rng.Intn(50000)),
			HasAmount: true, F7: "1122" + fmt.Sprintf("%06d", stan%1000000), STAN: fmt.Sprintf("%06d", stan%1000000),
			AcquirerID: acquirer, RRN: fmt.Sprintf("%012d", stan), CurrencyNum: "978"}
		key := ledger.OriginalKey("0100", req.STAN, req.F7, req.AcquirerID)
		o := &outcome{req: req}
		h.mu.Lock()
		h.auths[key] = o
		h.mu.Unlock()
		ans, ok := send(req)
		if !ok {
			return
		}
		h.mu.Lock()
		o.answer = ans
		h.mu.Unlock()
		if ans == "00" && rng.Intn(4) == 0 {
			rev := *req
			rev.MTI, rev.STAN, rev.RRN = "0400", fmt.Sprintf("%06d", (stan+50000)%1000000), fmt.Sprintf("%012d", stan+50000)
			rev.Original = &authz.OriginalData{MTI: "0100", STAN: req.STAN, F7: req.F7, AcquirerID: req.AcquirerID}
			rans, ok := send(&rev)
			if !ok {
				return
			}
			h.mu.Lock()
			h.reversal[key] = rans
			h.mu.Unlock()
		}
	}
}

// audit opens the store the killed switch left and checks it against what the clients saw.
func audit(t *testing.T, cfg *config.Config, h *history, round int) {
	t.Helper()
	// Recovery as the switch makes it (engine.journal: wal replays the log after Badger's
	// checkpoint position).
	j, err := journal.OpenBadger(journal.Options{Dir: filepath.Join(cfg.DataDir, "ledger"), DataKey: config.Key(cfg.Security.DataKey),
		Logger: slog.New(slog.DiscardHandler), WAL: cfg.Engine.WAL()})
	if err != nil {
		t.Fatalf("round %d: store does not open after SIGKILL: %v", round, err)
	}
	defer j.Close()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatalf("round %d: recovery: %v", round, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, o := range h.auths {
		a, found := st.Auth(key)
		switch {
		case o.answer == "00":
			if !found || (a.State != ledger.AuthOpen && a.State != ledger.AuthReversed) || a.AmountMinor != o.req.AmountMinor {
				t.Errorf("round %d: approval %s the client saw is not in the books: %+v", round, key, a)
			}
			if rv, ok := h.reversal[key]; ok && rv == "00" && a.State != ledger.AuthReversed {
				t.Errorf("round %d: reversal of %s answered 00 is not in the books", round, key)
			}
		case o.answer != "":
			if found && (a.State == ledger.AuthOpen || a.HeldMinor != 0 || a.PostedMinor != 0) {
				t.Errorf("round %d: %s refused with %s holds money: %+v", round, key, o.answer, a)
			}
		}
	}
	checkEvents(t, j, st, h, round)
	held := map[string]int64{}
	posted := map[string]int64{}
	auths, err := st.Auths()
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	for _, a := range auths {
		if a.State == ledger.AuthOpen {
			held[a.BalanceID] += a.HeldMinor
		} else if a.HeldMinor != 0 {
			t.Errorf("round %d: closed auth %s still holds %d", round, a.Key, a.HeldMinor)
		}
		posted[a.BalanceID] += a.PostedMinor
	}
	var sumCurrent, sumLoaded, sumPosted int64
	for _, b := range st.Balances() {
		if b.HeldMinor != held[b.ID] {
			t.Errorf("round %d: balance %s held %d, open holds sum to %d", round, b.ID, b.HeldMinor, held[b.ID])
		}
		if b.CurrentMinor != b.LoadedMinor-posted[b.ID] {
			t.Errorf("round %d: balance %s current %d != loaded %d - posted %d", round, b.ID, b.CurrentMinor, b.LoadedMinor, posted[b.ID])
		}
		if b.AvailableMinor() != b.CurrentMinor-b.HeldMinor {
			t.Errorf("round %d: balance %s available does not add up", round, b.ID)
		}
		sumCurrent += b.CurrentMinor
		sumLoaded += b.LoadedMinor
		sumPosted += posted[b.ID]
	}
	if sumCurrent != sumLoaded-sumPosted {
		t.Errorf("round %d: sum of balances %d != loads %d - captures %d", round, sumCurrent, sumLoaded, sumPosted)
	}
}

// checkEvents finds the authorization.decided event of every approval the client saw, and of
// every decided auth record in the store, with the same action; and no event without its record.
func checkEvents(t *testing.T, j *journal.Badger, st *ledger.State, h *history, round int) {
	t.Helper()
	events, err := j.Events(0, 1<<30)
	if err != nil {
		t.Fatalf("round %d: events: %v", round, err)
	}
	byKey := map[string]ledger.Event{}
	for i, e := range events {
		if e.Seq != events[0].Seq+uint64(i) {
			t.Errorf("round %d: event sequence has a gap before %d", round, e.Seq)
		}
		if e.Type != ledger.EventAuthorizationDecided || e.MTI != "0100" {
			continue
		}
		if _, dup := byKey[e.AuthKey]; dup {
			t.Errorf("round %d: two events for %s", round, e.AuthKey)
		}
		byKey[e.AuthKey] = e
	}
	if last := st.LastEventSeq(); len(events) > 0 && last != events[len(events)-1].Seq {
		t.Errorf("round %d: recovered last event %d, store ends at %d", round, last, events[len(events)-1].Seq)
	}
	approvals := 0
	for key, o := range h.auths {
		if o.answer != "00" {
			continue
		}
		approvals++
		if e, ok := byKey[key]; !ok || !e.Action.IsApproved() || e.AmountMinor != o.req.AmountMinor {
			t.Errorf("round %d: approval %s the client saw has no event (%+v)", round, key, e)
		}
	}
	auths, err := st.Auths()
	if err != nil {
		t.Fatalf("round %d: auth records: %v", round, err)
	}
	decided := 0
	for _, a := range auths {
		if a.Kind != authz.KindAuthorization || a.CardID == "" {
			continue
		}
		decided++
		if e, ok := byKey[a.Key]; !ok || e.Action != a.Action || e.CardID != a.CardID {
			t.Errorf("round %d: auth record %s (%s) has no event with its action (%+v)", round, a.Key, a.Action, e)
		}
	}
	if len(byKey) != decided {
		t.Errorf("round %d: %d authorization events, %d decided auth records", round, len(byKey), decided)
	}
	// Every lock has its card.state_changed event, and every lock event its locked card.
	lockEvents := map[string]ledger.Event{}
	for _, e := range events {
		if e.Type == ledger.EventCardStateChanged && e.State == ledger.CardLocked {
			if _, dup := lockEvents[e.CardID]; dup {
				t.Errorf("round %d: card %s locked twice", round, e.CardID)
			}
			lockEvents[e.CardID] = e
		}
	}
	locked := 0
	for _, c := range st.CardsWhere(func(c *ledger.Card) bool { return c.State == ledger.CardLocked }) {
		locked++
		e, ok := lockEvents[c.ID]
		if !ok || e.PreviousState != ledger.CardActive || e.LockReason != c.LockReason || e.Source != "authorization" {
			t.Errorf("round %d: card %s is locked (reason %d) without its event (%+v)", round, c.ID, c.LockReason, e)
		}
	}
	if locked != len(lockEvents) {
		t.Errorf("round %d: %d lock events, %d locked cards", round, len(lockEvents), locked)
	}
	h.locked = locked
	if round == kills-1 {
		t.Logf("%d events in the store; %d approvals seen by clients and %d cards locked by wrong CVC2s, each with its event",
			len(events), approvals, locked)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHealthy waits for a restarted switch to be ready. The bound is generous: a restart that is
// slow on a machine busy with other tests is not what this test is about (the bench measures
// restart time); one that never ends is.
func waitHealthy(t *testing.T, httpAddr, logPath string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The switch's own log says where its start stopped (it holds no card data).
	out, _ := os.ReadFile(logPath)
	if len(out) > 8000 {
		out = out[len(out)-8000:]
	}
	t.Fatalf("switch did not become healthy in 60 s; the end of its log:\n%s", out)
}
