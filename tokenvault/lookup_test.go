package tokenvault

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
)

// TestHasherKeepsStoredHashes: card and token rows are indexed by this hash, so its value for a
// given data key must never change (the constant was computed with a plain HMAC-SHA-256 outside
// Go).
func TestHasherKeepsStoredHashes(t *testing.T) {
	dataKey := make([]byte, 32)
	for i := range dataKey {
		dataKey[i] = byte(i)
	}
	if got := Hasher(dataKey)("4234560000000017"); got != "f903b078db10bef24a35ad92b04a735190db357c" {
		t.Fatalf("hash changed: %s", got)
	}
}

// TestPooledHasherMatchesHMAC: the pooled hasher gives a fresh HMAC's answer, from several
// goroutines at once.
func TestPooledHasherMatchesHMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	want := func(p string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(p))
		return hex.EncodeToString(h.Sum(nil)[:20])
	}
	got := HasherWithKey(key)
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

func TestLookupKeyResealsUnderCurrentKey(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	first, err := LookupKey(dir, 1, map[byte][]byte{1: k1})
	if err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(first, DeriveLookupKey(k1)) {
		t.Fatal("a new store's lookup key is not derived from its data key")
	}
	again, err := LookupKey(dir, 2, map[byte][]byte{1: k1, 2: k2})
	if err != nil || !hmac.Equal(again, first) {
		t.Fatalf("rotation changed the lookup key: %v", err)
	}
	third, err := LookupKey(dir, 2, map[byte][]byte{2: k2})
	if err != nil || !hmac.Equal(third, first) {
		t.Fatalf("the key was not sealed again under the current data key: %v", err)
	}
	if _, err := LookupKey(dir, 3, map[byte][]byte{3: k1}); err == nil {
		t.Fatal("a lookup key sealed under an unknown data key id was accepted")
	}
}

func BenchmarkHasher(b *testing.B) {
	h := HasherWithKey([]byte("0123456789abcdef0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		_ = h("4000001234567899")
	}
}
