package clustertest

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/simulators/acquirer"
)

// proxy forwards TCP connections to a node's Raft listener until cut: then it closes every
// connection it carries and refuses new ones, so nothing reaches the node from its peers.
type proxy struct {
	addr, target string
	ln           net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// setCut cuts the node off (true) or joins it again (false).
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}

// TestClusterPartition cuts the leader off from its peers (nothing they send reaches it): it can
// commit nothing more, so no request it receives after the cut is approved; it steps down and
// exits, the majority elects a new leader that serves, and after the cut heals the books of the
// three nodes are identical and hold every approval the acquirer saw.
func TestClusterPartition(t *testing.T) {
	bin := os.Getenv("CARDSWITCH_BIN")
	if bin == "" {
		t.Skip("CARDSWITCH_BIN is not set: run `make test-cluster`")
	}
	g := newGroupWith(t, bin, true)
	for _, n := range g.nodes {
		g.start(n)
	}
	lead := g.leader()
	cs := provision(t, lead, 2)
	v := &ledgerView{}
	tm := acquirer.DefaultTerminal
	tm.AcquirerID = "588888"
	b := acquirer.NewBuilder(acquirer.KeysFromConfig(g.cfg), tm)
	conn, err := acquirer.Dial(lead.iso, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// record builds a purchase of 1.00 on the first card and records it for the books' check.
	record := func() *outcome {
		req, err := b.Build(acquirer.Spec{Kind: acquirer.KindPurchase, Card: cs[0].card, AmountMinor: 100,
			Entry: acquirer.EntryECommerce})
		if err != nil {
			t.Fatal(err)
		}
		o := &outcome{req: req, balance: cs[0].balanceID, sends: 1}
		v.mu.Lock()
		v.auth = append(v.auth, o)
		v.mu.Unlock()
		return o
	}
	send := func() (*outcome, error) {
		o := record()
		resp, _, err := conn.RoundTrip(o.req, 2*time.Second)
		if err != nil {
			return o, err
		}
		v.mu.Lock()
		o.answer = resp.ResponseCode
		v.mu.Unlock()
		return o, nil
	}
	for i := 0; i < 20; i++ { // approvals before the cut
		if o, err := send(); err != nil || o.answer != "00" {
			t.Fatalf("before the cut: %v %+v", err, o)
		}
	}
	lead.proxy.setCut(true)
	cutAt := time.Now()
	// Requests proposed after the cut cannot be acknowledged by anyone: none may be approved.
	time.Sleep(50 * time.Millisecond) // acknowledgements already past the proxy land first
	// Twenty requests, one every 50 ms: the batches in flight are in doubt (never answered),
	// those queued behind them are answered 96 when the engine halts on the step-down; none
	// may be approved.
	after := map[string]int{}
	var pend []*acquirer.Pending
	var outs []*outcome
	for i := 0; i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		o := record()
		p, err := conn.Send(o.req)
		if err != nil {
			after["unsent"]++
			continue
		}
		pend, outs = append(pend, p), append(outs, o)
	}
	for i, p := range pend {
		resp, _, err := p.Wait(5 * time.Second)
		if err != nil {
			after["none"]++
			continue
		}
		v.mu.Lock()
		outs[i].answer = resp.ResponseCode
		v.mu.Unlock()
		after[resp.ResponseCode]++
		if resp.ResponseCode == "00" {
			t.Errorf("the cut-off leader approved %s after the cut", outs[i].req.STAN)
		}
	}
	conn.Close()
	var next *node
	deadline := time.Now().Add(liveness)
	for next == nil && time.Now().Before(deadline) {
		for _, n := range g.nodes {
			if n == lead || !n.running() {
				continue
			}
			if h, err := n.health(); err == nil && h.code == 200 {
				next = n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if next == nil {
		g.dumpLogs()
		t.Fatal("the majority did not elect a serving leader")
	}
	select {
	case <-lead.exited:
	case <-time.After(liveness):
		t.Fatal("the cut-off leader did not step down and exit")
	}
	t.Logf("cut-off node %d: answers after the cut %v; node %d serves %v after the cut; the old leader exited",
		lead.id, after, next.id, time.Since(cutAt).Round(time.Millisecond))
	// The majority serves: an approval on the new leader.
	c := &acquirerClient{addrs: []string{next.iso}}
	o := &outcome{balance: cs[1].balanceID}
	var berr error
	if o.req, berr = b.Build(acquirer.Spec{Kind: acquirer.KindPurchase, Card: cs[1].card, AmountMinor: 200,
		Entry: acquirer.EntryECommerce}); berr != nil {
		t.Fatal(berr)
	}
	v.mu.Lock()
	v.auth = append(v.auth, o)
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	c.send(ctx, o, &v.mu)
	cancel()
	if c.conn != nil {
		c.conn.Close()
	}
	if o.answer != "00" {
		t.Errorf("the new leader answered %q", o.answer)
	}
	// Heal: the old leader restarts (its supervisor) and joins again.
	lead.proxy.setCut(false)
	g.start(lead)
	g.healed()
	for _, n := range g.nodes {
		g.stop(n)
	}
	audit(t, g, v)
}
