package wal_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/ledger/wal"
)

// BenchmarkAppendSync is the cost of making one batch durable on this machine's disk: one
// Append and its Wait (one write and one fdatasync into a prepared segment), per batch size.
// An approval is about 120 bytes of journal rows, so 256 KiB is a batch of some 2,000.
func BenchmarkAppendSync(b *testing.B) {
	for _, size := range []int{512, 4 << 10, 32 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("batch=%dB", size), func(b *testing.B) {
			l := openOS(b)
			defer l.Close()
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				seq, err := l.Append(p)
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Wait(seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendPipelined appends batch i+1 before waiting for batch i, as the engine would
// (the next batch is applied while the previous one flushes).
func BenchmarkAppendPipelined(b *testing.B) {
	for _, size := range []int{4 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("batch=%dB", size), func(b *testing.B) {
			l := openOS(b)
			defer l.Close()
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var prev uint64
			for b.Loop() {
				seq, err := l.Append(p)
				if err != nil {
					b.Fatal(err)
				}
				if prev != 0 {
					if err := l.Wait(prev); err != nil {
						b.Fatal(err)
					}
				}
				prev = seq
			}
			if err := l.Wait(prev); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func openOS(b *testing.B) *wal.Log {
	l, err := wal.Open(wal.Options{Dir: b.TempDir(), SegmentBytes: 16 << 20, Keys: map[byte][]byte{0: testKey}})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Replay(1, func(uint64, []byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	return l
}
