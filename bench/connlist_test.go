package bench

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The bench connects to the first member of its list that accepts.
func TestDialList(t *testing.T) {
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	d := net.Dialer{Timeout: time.Second}
	nc, err := dialList(context.Background(), &d, downAddr+","+up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if nc.RemoteAddr().String() != up.Addr().String() {
		t.Fatalf("connected to %s, want %s", nc.RemoteAddr(), up.Addr())
	}
	nc.Close()
	if _, err := dialList(context.Background(), &d, downAddr); err == nil {
		t.Fatal("a list with no member up connected")
	}
}

// relay is a TCP proxy in front of a server that the test can take away: answered is closed
// once an answer went through it, kill closes its listener and every connection.
type relay struct {
	ln       net.Listener
	answered chan struct{}
	once     sync.Once
	mu       sync.Mutex
	conns    []net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, answered: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						r.once.Do(func() { close(r.answered) })
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return r
}

func (r *relay) kill() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// With a list of addresses the bench dials again when its server goes away mid-run (a group's
// failover), and goes on on the next member that accepts; the requests in flight on the lost
// connections count as timeouts.
func TestReconnectMidRun(t *testing.T) {
	for _, rate := range []float64{0, 400} {
		a, err := StartEcho("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := StartEcho("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		first := startRelay(t, a.Addr()) // the leader the run starts on
		go func() {
			<-first.answered // the run is under way on it: take it away
			first.kill()
		}()
		mix, _ := ParseMix("ecom=1")
		cards := testCards(t)
		res, err := Run(context.Background(), Options{Label: "echo", Addr: first.ln.Addr().String() + "," + b.Addr(),
			Connections: 2, Duration: 2 * time.Second, Warmup: 100 * time.Millisecond, Pipeline: 4, Rate: rate,
			Mix: mix, Cards: *cards, Seed: 3, PrebuildRate: -1, Timeout: time.Second})
		first.kill()
		if err != nil {
			t.Fatal(err)
		}
		if res.Reconnects < 2 {
			t.Fatalf("rate %v: %d reconnects, want one per connection", rate, res.Reconnects)
		}
		if res.Approved == 0 || res.Completed == 0 {
			t.Fatalf("rate %v: nothing answered: %+v", rate, res)
		}
	}
}
