package e2e

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// BenchmarkAuthorizationLoopback is the full path over loopback: frames in, durable batches, frames
// out, with 16 pipelining connections over 64 cards. It reports approvals per second.
func BenchmarkAuthorizationLoopback(b *testing.B) {
	t := &testing.T{}
	s := startSwitchIn(t, b.TempDir())
	defer s.stop()
	var cardsList []card
	for i := 0; i < 64; i++ {
		cardsList = append(cardsList, s.provision(1<<40))
	}
	const conns, window = 16, 64
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i], _ = codec.BuildRequest(s.req("0100", "000000", cardsList[i%len(cardsList)], 1))
	}
	var approved atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		share := msgs[c*len(msgs)/conns : (c+1)*len(msgs)/conns]
		rc := s.dialRaw()
		sem := make(chan struct{}, window)
		wg.Add(2)
		go func() { // writer: keeps at most window requests in flight
			defer wg.Done()
			for _, m := range share {
				sem <- struct{}{}
				if server.WriteFrame(rc.c, m) != nil {
					return
				}
			}
		}()
		go func() { // reader: one answer per request
			defer wg.Done()
			for range share {
				out, err := server.ReadFrame(rc.br, 0)
				if err != nil {
					b.Error(err)
					return
				}
				if r, _ := codec.DecodeResponse(out); r != nil && r.ResponseCode == "00" {
					approved.Add(1)
				}
				<-sem
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(approved.Load())/b.Elapsed().Seconds(), "approvals/s")
}
