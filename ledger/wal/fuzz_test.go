package wal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cardswitch/cardswitch/ledger/wal"
	"github.com/cardswitch/cardswitch/ledger/wal/faultfs"
)

// FuzzRecovery damages a log's files anywhere and checks recovery: it never panics, and either
// refuses the log (ErrCorrupt) or replays records 1..k with their original payloads, no gap and
// nothing invented.
func FuzzRecovery(f *testing.F) {
	img := faultfs.New()
	l, err := wal.Open(options(img))
	if err != nil {
		f.Fatal(err)
	}
	if err := l.Replay(1, func(uint64, []byte) error { return nil }); err != nil {
		f.Fatal(err)
	}
	last := appendN(f, l, 60)
	if err := l.Wait(last); err != nil {
		f.Fatal(err)
	}
	l.Close()
	f.Add(uint8(0), uint32(40), []byte{0xFF})
	f.Add(uint8(1), uint32(0), []byte("CSWAL"))
	f.Add(uint8(2), uint32(3000), bytes.Repeat([]byte{0}, 64))
	f.Fuzz(func(t *testing.T, file uint8, off uint32, junk []byte) {
		fs := img.Crash(nil) // a copy of the durable image
		files := fs.Files()
		name := files[int(file)%len(files)]
		h, _ := fs.Open(name)
		size, _ := h.Size()
		h.Close()
		if size == 0 {
			return
		}
		at := int64(off) % size
		if at+int64(len(junk)) > size {
			junk = junk[:size-at]
		}
		if err := fs.Corrupt(name, at, junk); err != nil {
			t.Fatal(err)
		}
		l, err := wal.Open(options(fs))
		if err != nil {
			if !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt or a log", err)
			}
			return
		}
		defer l.Close()
		want := uint64(1)
		err = l.Replay(1, func(seq uint64, p []byte) error {
			if seq != want || !bytes.Equal(p, payload(seq)) {
				t.Fatalf("replayed record %d (%q), want record %d", seq, p, want)
			}
			want++
			return nil
		})
		if err != nil && !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("replay: %v", err)
		}
	})
}
