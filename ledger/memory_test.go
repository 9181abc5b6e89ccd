package ledger_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
)

// TestMemoryPerRow measures what the committed state costs the process: heap bytes per card
// (with its balance and customer, as provision/ makes them) and per authorization (the keys of
// its auth record and reply in the key sets: the records stay in the journal), the heap the GC
// has to scan, and the time of a full GC cycle. It loads the rows as recovery does
// (PrepareLoad, Load, LoadKey, FinishLoad). It is a measurement, not a check: run it with
//
//	LEDGER_MEMORY=200000 go test -run TestMemoryPerRow -v ./ledger         (cards = auths)
//	LEDGER_MEMORY=10000,350000 go test -run TestMemoryPerRow -v ./ledger   (cards, auths)
func TestMemoryPerRow(t *testing.T) {
	arg, _ := os.LookupEnv("LEDGER_MEMORY")
	cardsArg, authsArg, two := strings.Cut(arg, ",")
	n, _ := strconv.Atoi(cardsArg)
	m := n
	if two {
		m, _ = strconv.Atoi(authsArg)
	}
	if n <= 0 || m <= 0 {
		t.Skip("set LEDGER_MEMORY=<rows> or <cards>,<auths> to measure")
	}
	st := ledger.NewState(journaltest.NewMemory())
	base := heapAfterGC()
	for i := range n {
		cid, bid := fmt.Sprintf("prov-cus-%09d", i), fmt.Sprintf("prov-bal-%09d", i)
		pan := fmt.Sprintf("53511%011d", i)
		st.Load(ledger.PrepareLoad(&ledger.Customer{ID: cid, ExternalID: cid, FirstName: "Load",
			LastName: "Test " + strconv.Itoa(i), KYC: ledger.KYCVerified, CreatedAtUnixNano: int64(i)}))
		st.Load(ledger.PrepareLoad(&ledger.Balance{ID: bid, Kind: ledger.BalanceUser, CustomerID: cid,
			Currency: "EUR", CurrentMinor: 100000, LoadedMinor: 100000, State: ledger.BalanceActive,
			CreatedAtUnixNano: int64(i)}))
		st.Load(ledger.PrepareLoad(&ledger.Card{ID: fmt.Sprintf("prov-crd-%09d", i), BalanceID: bid,
			CustomerID: cid, Program: "PROV-EUR", Type: ledger.CardVirtual, State: ledger.CardActive,
			PANHash: fmt.Sprintf("%040x", uint64(i)*0x9e3779b97f4a7c15), PAN: pan, Last4: pan[12:],
			ExpiryYYMM: "3012", PSN: "00", CVC2: "123", PVV: "4567", CreatedAtUnixNano: int64(i)}))
	}
	st.FinishLoad()
	cards := heapAfterGC()
	start := time.Unix(1700000000, 0).UnixNano()
	for i := range m {
		stan, f7 := fmt.Sprintf("%06d", i%1000000), fmt.Sprintf("%010d", i/1000000)
		at := start + int64(i)*int64(time.Millisecond)
		key := ledger.OriginalKey("0100", stan, f7, "12345")
		st.LoadKey("auth", []byte(key))
		st.LoadKey("reply", []byte(key+"|"+fmt.Sprintf("%012d", i)))
		if i%batchMessages == 0 { // a batch writes one row of each time index
			st.LoadIndexKey(ledger.TableExpiry, indexKey(at+int64(7*24*time.Hour), i), batchMessages)
			st.LoadIndexKey(ledger.TableAging, indexKey(at, i), 2*batchMessages)
		}
	}
	st.FinishLoad()
	auths := heapAfterGC()
	gcStart := time.Now()
	runtime.GC()
	gcTime := time.Since(gcStart)
	scan := readMetric("/gc/scan/heap:bytes")
	t.Logf("cards=%d authorizations=%d", n, m)
	t.Logf("heap per card (card+balance+customer+indexes): %.0f B", float64(cards-base)/float64(n))
	t.Logf("heap per authorization (auth and reply keys):   %.0f B", float64(auths-cards)/float64(m))
	t.Logf("live heap %.1f MB, scannable heap %.1f MB, forced GC %v", float64(auths)/1e6, float64(scan)/1e6, gcTime)
	if got := st.Counts(); got["cards"] != n || got["auths"] != m || got["replies"] != m {
		t.Fatalf("counts %v", got)
	}
	runtime.KeepAlive(st)
}

// batchMessages is the size of the batches the authorizations are taken to come in: each wrote
// one row of each time index.
const batchMessages = 256

// indexKey is the key of an index row as the ledger writes it (16 hex digits of the time, 16 of
// a sequence number).
func indexKey(at int64, seq int) string { return fmt.Sprintf("%016x%016x", at, seq) }

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
