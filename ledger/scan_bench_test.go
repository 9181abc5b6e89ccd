package ledger

import (
	"fmt"
	"testing"
)

// BenchmarkScanCards reads 100 000 cards with a filter that matches none: the most a find page
// reads (mgmt findRowsMax). Each chunk of scanChunkRows rows is one hold of the read lock.
func BenchmarkScanCards(b *testing.B) {
	const n = 100_000
	s := NewState(noHistory{})
	s.Load(&Customer{ID: "cus-1", ExternalID: "ext-1", FirstName: "A", KYC: KYCVerified})
	s.Load(&Balance{ID: "bal-1", Kind: BalanceUser, CustomerID: "cus-1", Currency: "EUR", State: BalanceActive})
	for i := range n {
		c := Card{ID: fmt.Sprintf("crd-%09d", i), BalanceID: "bal-1", CustomerID: "cus-1", Program: "PROG",
			Type: CardVirtual, State: CardActive, PANHash: fmt.Sprintf("%040x", i), PAN: fmt.Sprintf("53511%011d", i),
			ExpiryYYMM: "3012", PSN: "00", CVC2: "123", CreatedAtUnixNano: int64(i)}
		c.Last4 = c.PAN[12:]
		s.Load(&c)
	}
	s.FinishLoad()
	b.ReportAllocs()
	for b.Loop() {
		_, end := s.ScanCards("", n, func(c *Card) bool { return c.Last4 != "none" })
		if !end {
			b.Fatal("scan did not reach the end")
		}
	}
}
