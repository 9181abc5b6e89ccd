package e2e

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// rawConn is an acquirer connection without the moov-io client, to send bytes no client would.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (s *sw) dialRaw() *rawConn {
	c, err := net.Dial("tcp", s.app.ISOAddr())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return &rawConn{t: s.t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) roundTrip(msg []byte) *codec.ResponseMessage {
	r.t.Helper()
	if err := server.WriteFrame(r.c, msg); err != nil {
		r.t.Fatal(err)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := server.ReadFrame(r.br, 0)
	if err != nil {
		r.t.Fatalf("no answer: %v", err)
	}
	resp, err := codec.DecodeResponse(out)
	if err != nil {
		r.t.Fatalf("answer does not decode: %v", err)
	}
	return resp
}

// Contract §2: a malformed message gets 30 when MTI and field 11 are readable; otherwise it is
// dropped; the connection stays open either way. An oversize frame closes that connection only.
func TestMalformedMessagesGet30AndConnectionStays(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(10000)
	rc := s.dialRaw()

	good, _ := codec.BuildRequest(s.req("0100", "000000", c, 100))
	// Non-numeric amount: field 4 starts right after MTI(4) + bitmap(16) + field 2 (LL + 16) + field 3 (6).
	bad := append([]byte(nil), good...)
	off := 4 + 16 + 2 + 16 + 6
	bad[off] = 'X'
	r := rc.roundTrip(bad)
	if r.MTI != "0110" || r.ResponseCode != "30" {
		t.Fatalf("non-numeric amount: %s 39=%s, want 0110 30", r.MTI, r.ResponseCode)
	}

	// Missing mandatory field 49.
	req := s.req("0100", "000000", c, 100)
	req.CurrencyNum = ""
	missing, _ := codec.BuildRequest(req)
	if r := rc.roundTrip(missing); r.ResponseCode != "30" || r.STAN != req.STAN {
		t.Fatalf("missing field 49: 39=%s stan=%s", r.ResponseCode, r.STAN)
	}

	// Garbage: dropped, no answer; the connection still serves the next message.
	if err := server.WriteFrame(rc.c, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if r := rc.roundTrip(good); r.ResponseCode != "00" {
		t.Fatalf("after garbage: 39=%s", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 100 {
		t.Fatalf("malformed messages changed the balance: %+v", b)
	}

	// Oversize frame: that connection is closed, others go on.
	other := s.dialRaw()
	big := make([]byte, 9000)
	server.WriteFrame(rc.c, big)
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := server.ReadFrame(rc.br, 0); err == nil {
		t.Fatal("oversize frame: connection still open")
	}
	stan, _, f7 := s.next()
	echo, _ := codec.BuildRequest(&authz.Request{MTI: "0800", STAN: stan, F7: f7, NetworkCode: "301"})
	if r := other.roundTrip(echo); r.ResponseCode != "00" {
		t.Fatalf("other connection after oversize: 39=%s", r.ResponseCode)
	}
}

// Many connections authorize concurrently on one balance: every approval holds exactly its
// amount, declines hold nothing, and the books balance.
func TestConcurrentHotBalance(t *testing.T) {
	s := startSwitch(t)
	c := s.provision(100000) // room for 1000 approvals of 100
	const conns, perConn = 8, 200
	var mu sync.Mutex
	approved := 0
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		rc := s.dialRaw()
		msgs := make([][]byte, perConn)
		for j := range msgs {
			msgs[j], _ = codec.BuildRequest(s.req("0100", "000000", c, 100))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for _, m := range msgs {
				server.WriteFrame(rc.c, m)
			}
			for range msgs {
				out, err := server.ReadFrame(rc.br, 0)
				if err != nil {
					t.Error(err)
					return
				}
				r, _ := codec.DecodeResponse(out)
				if r.ResponseCode == "00" {
					n++
				} else if r.ResponseCode != "51" {
					t.Errorf("unexpected 39=%s", r.ResponseCode)
				}
			}
			mu.Lock()
			approved += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	b := s.balance(c.balanceID)
	if approved != 1000 || b.HeldMinor != int64(approved)*100 || b.AvailableMinor() != 0 {
		t.Fatalf("approved %d, balance %+v", approved, b)
	}
}
