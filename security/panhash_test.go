package security

import (
	"strconv"
	"sync"
	"testing"

	"github.com/cardswitch/cardswitch/internal/pan"
)

func TestPANHasherMatchesPan(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	want, got := pan.HasherWithKey(key), PANHasher(key)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				p := "4000" + strconv.Itoa(g*1000000+i*7919) + "12"
				if w, h := want(p), got(p); w != h {
					t.Errorf("%s: %s != %s", p, h, w)
					return
				}
			}
		}()
	}
	wg.Wait()
	if want("") != got("") {
		t.Fatal("empty PAN differs")
	}
}

func BenchmarkPANHasher(b *testing.B) {
	h := PANHasher([]byte("0123456789abcdef0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		_ = h("4000001234567899")
	}
}
