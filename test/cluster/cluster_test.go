// Package clustertest runs three real `cardswitch serve --cluster` processes on loopback, drives
// authorizations and reversals from an acquirer that reconnects to whichever node leads (its
// connection list: every node's ISO address, tried in turn; a follower refuses the connection),
// SIGKILLs the leader at random moments (and every other time a follower) and restarts it,
// then heals the group and checks the books of every node: every approval the acquirer saw is
// there, a request retransmitted after a failover got its original answer and holds once, the
// books add up, and the three stores hold the same books. Then it kills two nodes and checks
// that the one left approves nothing (what it took in before stepping down is in doubt: never
// answered, it may be committed once the group is whole again, as the acquirer's reversal
// would then settle).
//
// The books are read from each node's store once the group is stopped (SIGTERM: each node's
// applier drains into its store and checkpoints): that reads exactly what each node holds,
// followers included, without a read path on followers that serving would not need.
//
// Run it with `make test-cluster` (CARDSWITCH_BIN names the binary); CARDSWITCH_CLUSTER_KILLS
// sets the number of leader kills (default 5), CARDSWITCH_CLUSTER_SEED the seed.
package clustertest

import (
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/simulators/acquirer"
)

const (
	nodes      = 3
	cards      = 4
	workers    = 3
	answerWait = 3 * time.Second // the acquirer's response timeout
	// liveness bounds every wait for the group (an election, a restart): generous, as the
	// machine is shared; the assertions do not depend on it.
	liveness = 60 * time.Second
)

type node struct {
	proxy           *proxy // with newGroup(proxied): what the others dial to reach this node
	id              uint64
	dir, cfgPath    string
	iso, http, raft string
	cmd             *exec.Cmd
	exited          chan struct{}
	logPath         string
	starts          int
	newGroup        bool // the next start forms a new group (--cluster-new)
}

type group struct {
	t     *testing.T
	bin   string
	nodes []*node
	cfg   *config.Config // the shared part (keys, programs)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newGroup(t *testing.T, bin string) *group { return newGroupWith(t, bin, false) }

// newGroupWith builds the group; proxied puts a proxy the test controls in front of each node's
// Raft listener (the address the others dial), to cut a node off.
func newGroupWith(t *testing.T, bin string, proxied bool) *group {
	dir := t.TempDir()
	base, err := config.Load("", config.Overrides{DataDir: filepath.Join(dir, "keys")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &group{t: t, bin: bin, cfg: base}
	keyFiles, err := os.ReadDir(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	var peers []config.Peer
	for i := 1; i <= nodes; i++ {
		n := &node{id: uint64(i), dir: filepath.Join(dir, fmt.Sprintf("node%d", i)),
			iso: freeAddr(t), http: freeAddr(t), raft: freeAddr(t)}
		g.nodes = append(g.nodes, n)
		advertised := n.raft
		if proxied {
			n.proxy = startProxy(t, n.raft)
			advertised = n.proxy.addr
		}
		peers = append(peers, config.Peer{ID: n.id, RaftAddr: advertised, ISOAddr: n.iso, HTTPAddr: n.http})
	}
	for _, n := range g.nodes {
		c := *base
		c.DevProfile = false
		c.DataDir, c.ISO.Addr, c.HTTP.Addr = n.dir, n.iso, n.http
		// The default timing (1 s election timeout): failover as in production.
		c.Cluster = config.Cluster{NodeID: n.id, Peers: peers}
		if proxied {
			c.Cluster.RaftListen = n.raft
		}
		raw, err := yaml.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// Every member has the same keys (the data key above all: rows and PAN lookups must
		// read alike on every node), as an operator installs them: the development profile's
		// key files are copied into each node's data directory.
		for _, f := range keyFiles {
			if !f.Type().IsRegular() {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, "keys", f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(n.dir, f.Name()), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		n.cfgPath = filepath.Join(n.dir, "cardswitch.yaml")
		if err := os.WriteFile(n.cfgPath, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range g.nodes {
			if n.running() {
				n.cmd.Process.Signal(syscall.SIGKILL)
				<-n.exited
			}
		}
	})
	return g
}

func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (g *group) start(n *node) {
	g.t.Helper()
	n.starts++
	n.logPath = filepath.Join(n.dir, fmt.Sprintf("serve-%02d.log", n.starts))
	logf, err := os.Create(n.logPath)
	if err != nil {
		g.t.Fatal(err)
	}
	args := []string{"serve", "--cluster", "--config", n.cfgPath}
	if n.starts == 1 || n.newGroup {
		args = append(args, "--cluster-new") // the group forms on the members' first start
		n.newGroup = false
	}
	n.cmd = exec.Command(g.bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		logf.Close()
		close(done)
	}(n.cmd, n.exited)
}

func (g *group) kill(n *node) {
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop ends a node with SIGTERM (a clean close: its store holds everything it applied).
func (g *group) stop(n *node) {
	g.t.Helper()
	if !n.running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(liveness):
		g.t.Fatalf("node %d did not stop on SIGTERM", n.id)
	}
}

// health is a node's /healthz answer.
type health struct {
	code         int
	Status       string `json:"status"`
	Role         string `json:"role"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
}

var httpc = &http.Client{Timeout: 2 * time.Second}

func (n *node) health() (health, error) {
	resp, err := httpc.Get("http://" + n.http + "/healthz")
	if err != nil {
		return health{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	h := health{code: resp.StatusCode}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("healthz %d: %s", resp.StatusCode, raw)
	}
	return h, nil
}

// leader waits for a node that answers /healthz 200 as the leader.
func (g *group) leader() *node {
	g.t.Helper()
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		for _, n := range g.nodes {
			if !n.running() {
				continue
			}
			if h, err := n.health(); err == nil && h.code == 200 && h.Role == "leader" {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.dumpLogs()
	g.t.Fatal("no node became a serving leader")
	return nil
}

func (g *group) dumpLogs() {
	for _, n := range g.nodes {
		h, err := n.health()
		state := "running"
		if n.cmd != nil && !n.running() {
			state = n.cmd.ProcessState.String()
		}
		g.t.Logf("node %d (%s) /healthz: %+v %v", n.id, state, h, err)
	}
	for _, n := range g.nodes {
		out, _ := os.ReadFile(n.logPath)
		if i := strings.Index(string(out), "panic:"); i >= 0 { // a crash: its first lines say where
			out = out[i:min(len(out), i+3000)]
		}
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		g.t.Logf("node %d (%s):\n%s", n.id, n.logPath, out)
	}
}

// allFollowing waits until every node runs and knows the leader (followers say so on /healthz).
func (g *group) allFollowing() {
	g.t.Helper()
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		up := 0
		for _, n := range g.nodes {
			if h, err := n.health(); err == nil && (h.code == 200 || (h.Status == "follower" && h.Leader != "")) {
				up++
			}
		}
		if up == len(g.nodes) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.dumpLogs()
	g.t.Fatal("the nodes did not all join the group")
}

// healed waits until every node runs and holds every committed record in its store.
func (g *group) healed() {
	g.t.Helper()
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		lead := g.leader()
		lh, err := lead.health()
		if err == nil && lh.code == 200 {
			same := true
			for _, n := range g.nodes {
				h, err := n.health()
				if err != nil || h.AppliedIndex < lh.CommitIndex || h.AppliedIndex != lh.AppliedIndex {
					same = false
				}
			}
			if same {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.dumpLogs()
	g.t.Fatal("the nodes did not converge on the same applied index")
}

// outcome is what the acquirer saw of one request.
type outcome struct {
	req      *authz.Request
	balance  string
	answer   string // field 39; "" while unanswered
	reversal *outcome
	sends    int       // retransmissions included
	at       time.Time // when the answer arrived
	sent     time.Time // when the request was last sent
}

type ledgerView struct {
	mu   sync.Mutex
	auth []*outcome
}

// acquirerClient keeps one connection to whichever node leads, trying the connection list in
// turn; a follower refuses the connection.
type acquirerClient struct {
	addrs []string
	conn  *acquirer.Conn
	next  int
}

func (c *acquirerClient) connect(ctx context.Context) error {
	for ctx.Err() == nil {
		addr := c.addrs[c.next%len(c.addrs)]
		c.next++
		conn, err := acquirer.Dial(addr, time.Second)
		if err == nil {
			c.conn = conn
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return ctx.Err()
}

// send sends req until an answer arrives, reconnecting (and so retransmitting the same request,
// as an acquirer does after a timeout) until ctx ends.
func (c *acquirerClient) send(ctx context.Context, o *outcome, mu *sync.Mutex) {
	for ctx.Err() == nil {
		if c.conn == nil {
			if c.connect(ctx) != nil {
				return
			}
		}
		mu.Lock()
		o.sends++
		o.sent = time.Now()
		mu.Unlock()
		resp, _, err := c.conn.RoundTrip(o.req, answerWait)
		if err == nil {
			mu.Lock()
			o.answer, o.at = resp.ResponseCode, time.Now()
			mu.Unlock()
			return
		}
		// No answer (the leader died, stepped down, or lost its quorum): go to the next node.
		c.conn.Close()
		c.conn = nil
	}
}

type cardInfo struct {
	card      *acquirer.Card
	customer  string
	balanceID string
}

func provision(t *testing.T, lead *node, n int) []cardInfo {
	m := acquirer.NewMgmt(lead.http)
	var out []cardInfo
	for i := 0; i < n; i++ {
		cust, err := m.CreateCustomer(acquirer.CustomerSpec{ExternalID: fmt.Sprintf("cl-%d", i), FirstName: "Ada",
			LastName: "Lovelace", Email: fmt.Sprintf("ada%d@example.com", i), Phone: "+4915100000" + strconv.Itoa(10+i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetKYC(cust, "VERIFIED"); err != nil {
			t.Fatal(err)
		}
		b, err := m.CreateBalance(cust, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Reload(cust, b.BalanceID, "50000.00", "load-"+b.BalanceID); err != nil {
			t.Fatal(err)
		}
		c, err := m.IssueCard(cust, b.BalanceID, "VIRTUAL", "")
		if err != nil {
			t.Fatal(err)
		}
		full, err := m.FullCard(c.CardID)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := full.ExpiryYYMM()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cardInfo{customer: cust, balanceID: b.BalanceID, card: &acquirer.Card{CardID: c.CardID,
			BalanceID: b.BalanceID, PAN: full.PAN, ExpiryYYMM: exp, CVC2: full.CVC2, PSN: "00", CurrencyNum: "978"}})
	}
	return out
}

// drive sends purchases (and reversals of some approved ones) until ctx ends; every request is
// sent until it is answered (or ctx ends).
func drive(ctx context.Context, g *group, v *ledgerView, cs []cardInfo, rng *rand.Rand, acq string) {
	var addrs []string
	for _, n := range g.nodes {
		addrs = append(addrs, n.iso)
	}
	rng.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	c := &acquirerClient{addrs: addrs}
	defer func() {
		if c.conn != nil {
			c.conn.Close()
		}
	}()
	t := acquirer.DefaultTerminal
	t.AcquirerID = acq
	b := acquirer.NewBuilder(acquirer.KeysFromConfig(g.cfg), t)
	for ctx.Err() == nil {
		ci := cs[rng.Intn(len(cs))]
		req, err := b.Build(acquirer.Spec{Kind: acquirer.KindPurchase, Card: ci.card, AmountMinor: int64(1 + rng.Intn(5000)),
			Entry: acquirer.EntryECommerce})
		if err != nil {
			panic(err)
		}
		o := &outcome{req: req, balance: ci.balanceID}
		v.mu.Lock()
		v.auth = append(v.auth, o)
		v.mu.Unlock()
		c.send(ctx, o, &v.mu)
		v.mu.Lock()
		approved := o.answer == "00"
		v.mu.Unlock()
		if approved && rng.Intn(4) == 0 {
			rev, err := b.Build(acquirer.Spec{Kind: acquirer.KindReversal, Card: ci.card, Original: req})
			if err != nil {
				panic(err)
			}
			ro := &outcome{req: rev, balance: ci.balanceID}
			v.mu.Lock()
			o.reversal = ro
			v.mu.Unlock()
			c.send(ctx, ro, &v.mu)
		}
	}
}

func TestClusterLeaderKills(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	if bin == "" {
		t.Skip("CARDSWITCH_BIN is not set: run `make test-cluster`")
	}
	kills := 5
	if s := os.Getenv("CARDSWITCH_CLUSTER_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("CARDSWITCH_CLUSTER_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (replay with CARDSWITCH_CLUSTER_SEED), %d leader kills", seed, kills)
	rng := rand.New(rand.NewSource(seed))
	g := newGroup(t, bin)
	for _, n := range g.nodes {
		g.start(n)
	}
	lead := g.leader()
	cs := provision(t, lead, cards)

	v := &ledgerView{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		wrng := rand.New(rand.NewSource(rng.Int63()))
		go func(w int) {
			defer wg.Done()
			drive(ctx, g, v, cs, wrng, strconv.Itoa(500001+w))
		}(w)
	}
	var failovers []time.Duration
	var killTimes []time.Time
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(300+rng.Intn(900)) * time.Millisecond)
		lead := g.leader()
		killed := time.Now()
		killTimes = append(killTimes, killed)
		g.kill(lead)
		g.start(lead) // its supervisor restarts it: it comes back as a follower
		next := g.leader()
		failovers = append(failovers, time.Since(killed))
		t.Logf("kill %d: node %d killed, node %d leads after %v", k+1, lead.id, next.id, time.Since(killed).Round(time.Millisecond))
		if k%2 == 1 {
			// Every other round a follower too, once every node is back in the group: the leader goes on with
			// the other one.
			g.allFollowing()
			for _, f := range g.nodes {
				if f != next {
					g.kill(f)
					g.start(f)
					t.Logf("kill %d: follower node %d killed and restarted", k+1, f.id)
					break
				}
			}
		}
	}
	// A planned restart: the leader stopped with SIGTERM hands its leadership over (no
	// election timeout), exits 0, and comes back as a follower.
	g.allFollowing()
	lead = g.leader()
	stopped := time.Now()
	g.stop(lead)
	if code := lead.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("node %d stopped by SIGTERM exited %d", lead.id, code)
	}
	next := g.leader()
	t.Logf("planned restart: node %d stopped (SIGTERM), node %d serves %v later", lead.id, next.id,
		time.Since(stopped).Round(time.Millisecond))
	g.start(lead)
	cancel()
	wg.Wait()
	g.healed()

	// Two nodes down: the one left cannot commit, so it approves nothing.
	lead = g.leader()
	var left *node
	for _, n := range g.nodes {
		if n != lead {
			g.kill(n)
		} else {
			left = n
		}
	}
	noQuorum(t, g, left, cs)
	for _, n := range g.nodes {
		if !n.running() {
			g.start(n)
		}
	}
	g.healed()
	for _, n := range g.nodes {
		g.stop(n)
	}
	books := audit(t, g, v)
	v.mu.Lock()
	approved, retrans := 0, 0
	for _, o := range v.auth {
		if o.answer == "00" {
			approved++
		}
		if o.sends > 1 {
			retrans++
		}
	}
	v.mu.Unlock()
	sort.Slice(failovers, func(i, j int) bool { return failovers[i] < failovers[j] })
	// Kill to the first approval of a request sent after it (so answered by a new leader).
	var firstApproval []time.Duration
	v.mu.Lock()
	for _, k := range killTimes {
		var first time.Time
		for _, o := range v.auth {
			if o.answer == "00" && o.sent.After(k) && (first.IsZero() || o.at.Before(first)) {
				first = o.at
			}
		}
		if !first.IsZero() {
			firstApproval = append(firstApproval, first.Sub(k))
		}
	}
	v.mu.Unlock()
	sort.Slice(firstApproval, func(i, j int) bool { return firstApproval[i] < firstApproval[j] })
	t.Logf("%d authorizations, %d approved, %d sent again after a failover; %d auth records, identical on %d nodes; kill to the new leader's /healthz 200: p50 %v max %v",
		len(v.auth), approved, retrans, books, nodes, failovers[len(failovers)/2].Round(time.Millisecond),
		failovers[len(failovers)-1].Round(time.Millisecond))
	if len(firstApproval) > 0 {
		t.Logf("kill to the first approval after it: p50 %v max %v (%d kills)", firstApproval[len(firstApproval)/2].Round(time.Millisecond),
			firstApproval[len(firstApproval)-1].Round(time.Millisecond), len(firstApproval))
	}
	if approved == 0 {
		t.Error("nothing was approved: the test checked nothing")
	}
}

// noQuorum drives the node left alone: no request may be approved. Its process may exit (a
// leader that lost its quorum steps down and exits, crash-only) and is restarted by the caller.
func noQuorum(t *testing.T, g *group, left *node, cs []cardInfo) {
	t.Helper()
	tm := acquirer.DefaultTerminal
	tm.AcquirerID = "599999"
	b := acquirer.NewBuilder(acquirer.KeysFromConfig(g.cfg), tm)
	answers := map[string]int{}
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := acquirer.Dial(left.iso, time.Second)
		if err != nil {
			answers["refused"]++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for time.Now().Before(deadline) {
			req, err := b.Build(acquirer.Spec{Kind: acquirer.KindPurchase, Card: cs[0].card, AmountMinor: 100,
				Entry: acquirer.EntryECommerce})
			if err != nil {
				t.Fatal(err)
			}
			resp, _, err := conn.RoundTrip(req, time.Second)
			if err != nil {
				answers["none"]++
				break
			}
			answers[resp.ResponseCode]++
			if resp.ResponseCode == "00" {
				t.Errorf("a node without a quorum approved %s", req.STAN)
			}
		}
		conn.Close()
	}
	h, err := left.health()
	t.Logf("node %d alone: answers %v; /healthz %d %q (err %v)", left.id, answers, h.code, h.Status, err)
	if err == nil && h.code == 200 {
		t.Error("a node without a quorum still says it serves")
	}
}

// bookRow is one auth record or balance as compared across nodes.
type bookRow struct {
	state                    ledger.AuthState
	amount, held, posted     int64
	current, heldBal, loaded int64
}

// audit opens each stopped node's store, checks it against what the acquirer saw, checks that
// it adds up, and that the three hold the same books. It returns the number of auth records.
func audit(t *testing.T, g *group, v *ledgerView) int {
	t.Helper()
	key := config.Key(g.cfg.Security.DataKey)
	var first map[string]bookRow
	var firstID uint64
	for _, n := range g.nodes {
		j, err := journal.OpenBadger(journal.Options{Dir: filepath.Join(n.dir, "ledger"), DataKey: key,
			Logger: slog.New(slog.DiscardHandler), ValueLogGCInterval: -1})
		if err != nil {
			t.Fatalf("node %d: store does not open: %v", n.id, err)
		}
		st := ledger.NewState(j)
		if err := j.Load(st); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
		books := map[string]bookRow{}
		auths, err := st.Auths()
		if err != nil {
			t.Fatal(err)
		}
		held, posted := map[string]int64{}, map[string]int64{}
		for _, a := range auths {
			books["a/"+a.Key] = bookRow{state: a.State, amount: a.AmountMinor, held: a.HeldMinor, posted: a.PostedMinor}
			if a.State == ledger.AuthOpen {
				held[a.BalanceID] += a.HeldMinor
			}
			posted[a.BalanceID] += a.PostedMinor
		}
		for _, b := range st.Balances() {
			books["b/"+b.ID] = bookRow{current: b.CurrentMinor, heldBal: b.HeldMinor, loaded: b.LoadedMinor}
			// A request applied twice (a retransmission after failover holding again) would
			// hold more than its auth records do.
			if b.HeldMinor != held[b.ID] {
				t.Errorf("node %d: balance %s holds %d, its open auth records %d", n.id, b.ID, b.HeldMinor, held[b.ID])
			}
			if b.CurrentMinor != b.LoadedMinor-posted[b.ID] {
				t.Errorf("node %d: balance %s current %d != loaded %d - posted %d", n.id, b.ID, b.CurrentMinor, b.LoadedMinor, posted[b.ID])
			}
		}
		v.mu.Lock()
		for _, o := range v.auth {
			k := ledger.OriginalKey(o.req.MTI, o.req.STAN, o.req.F7, o.req.AcquirerID)
			a, found := st.Auth(k)
			switch {
			case o.answer == "00":
				if !found || a.AmountMinor != o.req.AmountMinor || (a.State != ledger.AuthOpen && a.State != ledger.AuthReversed) {
					t.Errorf("node %d: approval %s the acquirer saw is not in the books: %+v", n.id, o.req.STAN, a)
				}
				if r := o.reversal; r != nil && r.answer == "00" && a.State != ledger.AuthReversed {
					t.Errorf("node %d: reversal of %s answered 00 is not in the books", n.id, o.req.STAN)
				}
			case o.answer != "":
				if found && (a.State == ledger.AuthOpen || a.HeldMinor != 0 || a.PostedMinor != 0) {
					t.Errorf("node %d: %s answered %s holds money: %+v", n.id, o.req.STAN, o.answer, a)
				}
			}
		}
		v.mu.Unlock()
		j.Close()
		if first == nil {
			first, firstID = books, n.id
			continue
		}
		if len(books) != len(first) {
			t.Errorf("node %d holds %d rows, node %d %d", n.id, len(books), firstID, len(first))
		}
		for k, r := range first {
			if books[k] != r {
				t.Errorf("node %d and node %d differ on %s: %+v / %+v", n.id, firstID, k, books[k], r)
			}
		}
	}
	if t.Failed() {
		g.dumpLogs()
	}
	n := 0
	for k := range first {
		if k[0] == 'a' {
			n++
		}
	}
	return n
}
