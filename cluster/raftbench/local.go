package main

import (
	"crypto/rand"

	"github.com/cardswitch/cardswitch/ledger/wal"
)

// walLocal is the floor: one ledger/wal record per batch, Append then Wait, on one node.
type walLocal struct{ l *wal.Log }

// benchKey seals the log records of a run; it is made per run and never stored.
func benchKey() map[byte][]byte {
	k := make([]byte, 32)
	rand.Read(k)
	return map[byte][]byte{0: k}
}

func openWALLog(dir string) (*wal.Log, error) {
	l, err := wal.Open(wal.Options{Dir: dir, SegmentBytes: 64 << 20, Keys: benchKey()})
	if err != nil {
		return nil, err
	}
	if err := l.Replay(1, func(uint64, []byte) error { return nil }); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func openWAL(dir string) (candidate, error) {
	l, err := openWALLog(dir)
	if err != nil {
		return nil, err
	}
	return walLocal{l}, nil
}

func (w walLocal) propose(p []byte) (waiter, error) {
	seq, err := w.l.Append(p)
	if err != nil {
		return nil, err
	}
	return func() error { return w.l.Wait(seq) }, nil
}

func (w walLocal) close() error { return w.l.Close() }
