package acquirer

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A connection list connects to the first member that accepts (a follower refuses), and the
// management list picks the member whose /healthz is 200.
func TestConnectionList(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close() // nothing listens there: a follower
	leader, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	accepted := make(chan struct{})
	go func() {
		if c, err := leader.Accept(); err == nil {
			close(accepted)
			c.Close()
		}
	}()
	c, err := DialList(refusedAddr+", "+leader.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-accepted
	if _, err := DialList(refusedAddr, time.Second); err == nil || !strings.Contains(err.Error(), refusedAddr) {
		t.Fatalf("a list with no member up: %v", err)
	}
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer follower.Close()
	lead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	defer lead.Close()
	f, l := strings.TrimPrefix(follower.URL, "http://"), strings.TrimPrefix(lead.URL, "http://")
	if got := LeaderHTTP(f+","+l, time.Second); got != l {
		t.Fatalf("LeaderHTTP picked %s, want the leader %s", got, l)
	}
	if got := LeaderHTTP(f, time.Second); got != f {
		t.Fatalf("LeaderHTTP of one address: %s", got)
	}
}
