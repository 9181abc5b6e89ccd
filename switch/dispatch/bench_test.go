package dispatch

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// BenchmarkHandleFrame is the ISO path of one authorization: decode, the engine op (applied at
// once on a ledger, as a batch of one, committed to the in-memory journal double, which copies
// the rows), encode. Compare its allocations only with its own earlier results; the ledger's
// share alone is BenchmarkProcessAuthorization, the engine's BenchmarkEngineBatch.
func BenchmarkHandleFrame(b *testing.B) { benchHandleFrame(b, nil) }

// BenchmarkHandleFrameTapped is BenchmarkHandleFrame with the operator panel's feed of decided
// authorizations attached: the difference is the tap's cost (it should add no allocation).
func BenchmarkHandleFrameTapped(b *testing.B) { benchHandleFrame(b, authfeed.New(0)) }

func benchHandleFrame(b *testing.B, tap Tap) {
	e := newInline(b)
	d := New(e, nil, nil, Config{Encoders: 1, Tap: tap})
	defer d.Close()
	frames := make([][]byte, b.N)
	for i := range frames {
		msg, err := codec.BuildRequest(&authz.Request{MTI: "0100", PAN: testPAN, ProcessingCode: "000000",
			AmountMinor: 1, HasAmount: true, F7: "1122101530", STAN: fmt.Sprintf("%06d", i%1000000),
			AcquirerID: "1234", RRN: fmt.Sprintf("%012d", i), CurrencyNum: "978"})
		if err != nil {
			b.Fatal(err)
		}
		frames[i] = msg
	}
	var wg sync.WaitGroup
	reply := func([]byte) { wg.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		d.HandleFrame(server.ConnInfo{ID: 1}, frames[i], reply)
		wg.Wait()
	}
}
