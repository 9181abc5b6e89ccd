package wal

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// recover reads the log back: every segment to its last good record, checking that the
// sequence runs on from one segment to the next. Leftovers of an interrupted preparation are
// removed, truncated segments kept for reuse are listed, and segments without a record are
// reused too. New records go to a new segment, never after a recovered tail: what follows the
// last good record of a crashed segment is unknown bytes.
func (l *Log) recover() error {
	fs, dir := l.opts.FS, l.opts.Dir
	if err := fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var nums []uint64
	for _, name := range names {
		switch num, ok := parseSegName(name); {
		case strings.HasSuffix(name, tmpSuffix):
			if err := fs.Remove(join(dir, name)); err != nil {
				return fmt.Errorf("wal: remove %s: %w", name, err)
			}
		case strings.HasPrefix(name, freePrefix):
			l.free = append(l.free, name)
		case ok:
			nums = append(nums, num)
			l.nextNum = max(l.nextNum, num+1)
		}
	}
	slices.Sort(nums)
	for _, n := range l.free {
		if num, ok := parseSegName(strings.TrimPrefix(n, freePrefix)); ok {
			l.nextNum = max(l.nextNum, num+1)
		}
	}
	l.nextNum = max(l.nextNum, 1)
	var buf []byte
	var empty []uint64
	for _, num := range nums {
		f, err := fs.Open(join(dir, segName(num)))
		if err != nil {
			return fmt.Errorf("wal: open segment %d: %w", num, err)
		}
		s := &segment{num: num, f: f}
		if buf, err = readAll(f, buf); err != nil {
			f.Close()
			return fmt.Errorf("wal: read segment %d: %w", num, err)
		}
		scanSegment(buf, s)
		if s.firstSeq == 0 {
			f.Close()
			empty = append(empty, num)
			continue
		}
		if p := l.last(); p != nil && s.firstSeq != p.lastSeq+1 {
			f.Close()
			return fmt.Errorf("%w: segment %d starts at record %d, the one before ends at %d", ErrCorrupt, num, s.firstSeq, p.lastSeq)
		}
		l.segs = append(l.segs, s)
	}
	for _, s := range l.segs {
		// Kept for Replay and TruncateBefore; appends go to a new segment (current is nil).
		s.f.Close()
		s.f = nil
	}
	// Segments without a record (a spare that was never used, a first write that was torn) are
	// reused as the next spares, up to RecycleSegments, or removed.
	for _, num := range empty {
		name := join(dir, segName(num))
		if len(l.free) < l.opts.RecycleSegments {
			free := freePrefix + segName(num)
			if err := fs.Rename(name, join(dir, free)); err != nil {
				return fmt.Errorf("wal: %w", err)
			}
			l.free = append(l.free, free)
		} else if err := fs.Remove(name); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
	}
	if len(empty) > 0 {
		if err := fs.SyncDir(dir); err != nil {
			return fmt.Errorf("wal: sync directory: %w", err)
		}
	}
	l.next = 1
	if p := l.last(); p != nil {
		l.next = p.lastSeq + 1
	}
	l.durable = l.next - 1
	return nil
}

// last is the last recovered segment with records.
func (l *Log) last() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// scanSegment finds a segment's records: from its header, each record of the segment with the
// next sequence number, up to the first place that holds none (zeros, a torn write, an earlier
// use of a recycled file).
func scanSegment(b []byte, s *segment) {
	first, ok := parseSegHeader(b, s.num)
	if !ok {
		return
	}
	off, want := segHeaderBytes, first
	for {
		r, ok := parseRecord(b, off, s.num)
		if !ok || r.seq != want {
			break
		}
		s.firstSeq, s.lastSeq, s.end = first, r.seq, int64(r.end)
		off, want = r.end, want+1
	}
}

// Bounds are the sequence numbers of the first and last records in the log (0, 0: none).
func (l *Log) Bounds() (first, last uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) == 0 || l.segs[0].firstSeq == 0 {
		return 0, 0
	}
	return l.segs[0].firstSeq, l.next - 1
}

// Replay hands every recovered record from sequence from on to fn, in order; payload is valid
// only during the call. It must be called once, before the first Append, with the position the
// caller's checkpoint covers up to (from = that position + 1; 1 for everything): a log whose
// first record is above from has lost records (ErrCorrupt), and an empty log continues at from.
// An error of fn stops the replay and is returned.
func (l *Log) Replay(from uint64, fn func(seq uint64, payload []byte) error) error {
	l.mu.Lock()
	if l.replayed {
		l.mu.Unlock()
		return fmt.Errorf("wal: Replay called twice")
	}
	segs := slices.Clone(l.segs)
	if from == 0 {
		from = 1
	}
	switch {
	case len(segs) == 0:
		l.next = max(l.next, from)
		l.durable = l.next - 1
	case segs[0].firstSeq > from:
		l.mu.Unlock()
		return fmt.Errorf("%w: replay from record %d, but the log starts at %d", ErrCorrupt, from, segs[0].firstSeq)
	case from > l.next:
		l.mu.Unlock()
		return fmt.Errorf("%w: replay from record %d, but the log ends at %d", ErrCorrupt, from, l.next-1)
	}
	l.mu.Unlock()
	var buf []byte
	for _, s := range segs {
		if s.lastSeq < from {
			continue
		}
		f, err := l.opts.FS.Open(join(l.opts.Dir, segName(s.num)))
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		buf, err = readAll(f, buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		off := segHeaderBytes
		for seq := s.firstSeq; seq <= s.lastSeq; seq++ {
			r, ok := parseRecord(buf, off, s.num)
			if !ok || r.seq != seq {
				return fmt.Errorf("%w: segment %d changed during replay at record %d", ErrCorrupt, s.num, seq)
			}
			off = r.end
			if seq < from {
				continue
			}
			aead, ok := l.keys[r.keyID]
			if !ok {
				return fmt.Errorf("wal: record %d is sealed under data key %d, which is not configured", seq, r.keyID)
			}
			payload, err := openRecord(buf, r, aead)
			if err != nil {
				return fmt.Errorf("%w: record %d does not decrypt with data key %d", ErrCorrupt, seq, r.keyID)
			}
			if err := fn(seq, payload); err != nil {
				return err
			}
		}
	}
	l.mu.Lock()
	l.replayed = true
	l.mu.Unlock()
	return nil
}

// readAll reads a whole file into buf (reused).
func readAll(f File, buf []byte) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return buf, err
	}
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	n, err := f.ReadAt(buf, 0)
	if err == io.EOF && int64(n) == size {
		err = nil
	}
	return buf[:n], err
}
