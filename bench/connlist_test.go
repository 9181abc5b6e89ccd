package bench

import (
	"context"
	"net"
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
