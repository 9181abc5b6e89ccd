// Package wal is cardswitch's write-ahead log: the durability of a batch is one append of one
// record and one fdatasync. A library in its own right (it knows nothing of the ledger):
//
//   - Append seals a payload (AES-256-GCM under the caller's data key, CRC-32C over the record)
//     and queues it; it returns the record's sequence number at once. A flusher goroutine writes
//     everything queued with one write and one fdatasync (group commit), so the caller prepares
//     its next batch while the previous one flushes; Wait(seq) returns once seq is durable.
//   - Segments are files of a fixed size, filled with zeros (or recycled) by a preparer goroutine
//     before they are needed, so a flush carries no file-system metadata and a full disk shows
//     as a segment that cannot be prepared, never as a half-written record.
//   - A failed write or fdatasync fails the log for good (ErrFailed): after a failed fdatasync the
//     kernel may have dropped the dirty pages, so a retry could report success for data that is
//     not on disk. What was queued but not durable is in doubt: it may be found at the next Open.
//   - TruncateBefore(seq) drops the segments every record of which is below seq (the caller's
//     checkpoint covers them); some are kept for recycling.
//   - Open reads the log back to its last good record: a torn or partial tail of the last
//     segment is the end of the log; a gap in the sequence between segments is ErrCorrupt.
//     Replay hands the records from a position on to the caller.
//
// docs/decisions/0008-write-ahead-log.md says why the log is ours and not a library's.
package wal

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors of the log.
var (
	// ErrFailed: a write or an fdatasync failed; the log takes no more records. Records not yet
	// durable when it failed are in doubt. Reopen the log (restart the process) to go on.
	ErrFailed = errors.New("wal: log failed")
	// ErrNoSegment: the next segment could not be prepared (a full disk, most often). The
	// record was not taken; the log is intact and takes records again once a segment can be made.
	ErrNoSegment = errors.New("wal: no segment to write to")
	// ErrCorrupt: a record that should be there is not (a gap in the sequence between segments),
	// or a record does not decrypt.
	ErrCorrupt = errors.New("wal: log corrupt")
	// ErrTooLarge: a payload above Options.MaxRecordBytes.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("wal: closed")
)

// Options configure a log. Zero values take the defaults.
type Options struct {
	// FS is the file system (default OS).
	FS FS
	// Dir holds the segments (created if missing).
	Dir string
	// SegmentBytes is the size of a segment file: 4 KiB to 2 GiB, default 64 MiB.
	SegmentBytes int64
	// MaxRecordBytes bounds one payload; Append refuses a larger one with ErrTooLarge. Default and
	// most: SegmentBytes minus the headers.
	MaxRecordBytes int
	// MaxQueuedBytes bounds the records queued and not yet written: Append waits for the flusher
	// beyond it (backpressure). Default 64 MiB.
	MaxQueuedBytes int
	// KeyID and Keys: records are sealed under Keys[KeyID]; the other keys read records sealed
	// earlier (key rotation). Keys are 32 bytes (AES-256).
	KeyID byte
	Keys  map[byte][]byte
	// RecycleSegments is how many truncated segments are kept for reuse instead of being
	// removed and written anew. Default 2; negative: none.
	RecycleSegments int
}

const (
	defaultSegmentBytes = 64 << 20
	minSegmentBytes     = 4 << 10
	defaultQueuedBytes  = 64 << 20
	defaultRecycle      = 2
	zeroChunkBytes      = 1 << 20
)

func (o *Options) defaults() error {
	if o.FS == nil {
		o.FS = OS
	}
	if o.Dir == "" {
		return errors.New("wal: no directory")
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.SegmentBytes < minSegmentBytes || o.SegmentBytes > 1<<31 {
		return fmt.Errorf("wal: segment size %d: want 4 KiB .. 2 GiB", o.SegmentBytes)
	}
	most := int(o.SegmentBytes) - segHeaderBytes - RecordOverheadBytes
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > most {
		o.MaxRecordBytes = most
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = defaultQueuedBytes
	}
	if o.RecycleSegments == 0 {
		o.RecycleSegments = defaultRecycle
	}
	if _, ok := o.Keys[o.KeyID]; !ok {
		return fmt.Errorf("wal: no data key with id %d", o.KeyID)
	}
	return nil
}

// segment is one segment file of the log.
type segment struct {
	num      uint64
	f        File
	firstSeq uint64 // 0: no record yet
	lastSeq  uint64
	end      int64 // bytes used: recovered, or given to queued records
}

func segName(num uint64) string { return fmt.Sprintf("%016x.wal", num) }

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".wal")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil
}

// freePrefix names a truncated segment kept for reuse; tmpSuffix a segment being prepared.
const (
	freePrefix = "free-"
	tmpSuffix  = ".tmp"
)

// chunk is a run of queued records that lie back to back in one segment.
type chunk struct {
	seg  *segment
	off  int64
	buf  []byte
	last uint64 // sequence of its last record
}

// Log is an open write-ahead log. Its methods are safe for concurrent use; records are ordered
// by their calls to Append.
type Log struct {
	opts                Options
	keys                map[byte]cipher.AEAD
	aead                cipher.AEAD // Keys[KeyID]
	flushDone, prepDone chan struct{}

	mu sync.Mutex
	// work wakes the flusher; durableC the waiters (Wait, Append under backpressure, Close);
	// prepC the preparer and an Append that waits for a segment.
	work, durableC, prepC sync.Cond

	segs    []*segment // live segments, oldest first; the last one takes new records
	spare   *segment   // prepared for the next rotation
	free    []string   // names of truncated segments kept for reuse
	nextNum uint64     // number of the next segment prepared

	next    uint64 // sequence of the next record
	durable uint64 // every record up to it is durable
	queue   []chunk
	spareQ  []chunk  // the flusher's other queue (the two are swapped)
	bufs    [][]byte // chunk buffers for reuse
	queued  int      // bytes queued and not yet written

	failed   error // set once: ErrFailed with the cause
	prepErr  error // the last preparation failure, until one succeeds
	kicked   bool  // an Append asked the preparer to try again after prepErr
	closed   bool
	replayed bool
}

// Open opens the log in opts.Dir, reading it back to its last good record, and starts its
// flusher and preparer. Call Replay once before the first Append.
func Open(opts Options) (*Log, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, keys: map[byte]cipher.AEAD{}, flushDone: make(chan struct{}), prepDone: make(chan struct{})}
	for id, k := range opts.Keys {
		a, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("wal: data key %d: %w", id, err)
		}
		l.keys[id] = a
	}
	l.aead = l.keys[opts.KeyID]
	l.work.L, l.durableC.L, l.prepC.L = &l.mu, &l.mu, &l.mu
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.f.Close()
		}
		return nil, err
	}
	go l.flushLoop()
	go l.prepareLoop()
	return l, nil
}

// Append seals payload as the log's next record and queues it for the flusher; it returns the
// record's sequence number without waiting for the disk (Wait does). payload is not kept.
// It waits only when MaxQueuedBytes are queued, or for a segment the preparer is still making.
func (l *Log) Append(payload []byte) (uint64, error) {
	if len(payload) > l.opts.MaxRecordBytes {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(payload), l.opts.MaxRecordBytes)
	}
	size := int64(RecordOverheadBytes + len(payload))
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.queued >= l.opts.MaxQueuedBytes && l.failed == nil && !l.closed {
		l.durableC.Wait()
	}
	if err := l.usable(); err != nil {
		return 0, err
	}
	if !l.replayed {
		return 0, errors.New("wal: Append before Replay")
	}
	seg := l.current()
	if seg == nil || seg.end+size > l.opts.SegmentBytes {
		var err error
		if seg, err = l.rotate(); err != nil {
			return 0, err
		}
	}
	seq := l.next
	c := l.chunkFor(seg)
	before := len(c.buf)
	if seg.firstSeq == 0 {
		c.buf = appendSegHeader(c.buf, seg.num, seq)
	}
	buf, err := appendRecord(c.buf, l.aead, l.opts.KeyID, seg.num, seq, payload)
	if err != nil {
		c.buf = buf[:before]
		if before == 0 { // a chunk of its own: nothing left to write
			l.bufs = append(l.bufs, c.buf)
			l.queue = l.queue[:len(l.queue)-1]
		}
		return 0, err
	}
	c.buf = buf
	if seg.firstSeq == 0 {
		seg.firstSeq = seq
	}
	added := len(c.buf) - before
	seg.end = c.off + int64(len(c.buf))
	seg.lastSeq = seq
	c.last = seq
	l.queued += added
	l.next++
	l.work.Signal()
	return seq, nil
}

// usable reports why the log takes no records (nil: it does).
func (l *Log) usable() error {
	switch {
	case l.failed != nil:
		return l.failed
	case l.closed:
		return ErrClosed
	}
	return nil
}

func (l *Log) current() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	s := l.segs[len(l.segs)-1]
	if s.f == nil {
		return nil // recovered and closed: new records go to a new segment
	}
	return s
}

// rotate makes the spare segment the current one, waiting for the preparer if it is at work.
func (l *Log) rotate() (*segment, error) {
	for l.spare == nil {
		if err := l.usable(); err != nil {
			return nil, err
		}
		if l.prepErr != nil && !l.kicked {
			err := l.prepErr
			l.kicked = true // the next Append finds the outcome of one more try
			l.prepC.Broadcast()
			return nil, fmt.Errorf("%w: %v", ErrNoSegment, err)
		}
		l.prepC.Wait()
	}
	s := l.spare
	l.spare = nil
	l.segs = append(l.segs, s)
	l.prepC.Broadcast() // make the next spare
	return s, nil
}

// chunkFor returns the queued chunk that the next record of seg extends.
func (l *Log) chunkFor(seg *segment) *chunk {
	if n := len(l.queue); n > 0 {
		c := &l.queue[n-1]
		if c.seg == seg && c.off+int64(len(c.buf)) == seg.end {
			return c
		}
	}
	var buf []byte
	if n := len(l.bufs); n > 0 {
		buf, l.bufs = l.bufs[n-1][:0], l.bufs[:n-1]
	}
	off := seg.end
	if seg.firstSeq == 0 {
		off = 0
	}
	l.queue = append(l.queue, chunk{seg: seg, off: off, buf: buf})
	return &l.queue[len(l.queue)-1]
}

// Wait returns once record seq is durable, or the error that keeps it from ever being (the
// log failed: the record is in doubt; or it was never appended).
func (l *Log) Wait(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq >= l.next {
		return fmt.Errorf("wal: record %d was not appended", seq)
	}
	for l.durable < seq && l.failed == nil {
		l.durableC.Wait()
	}
	if l.durable >= seq {
		return nil
	}
	return l.failed
}

// Durable is the sequence of the last durable record.
func (l *Log) Durable() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Next is the sequence number the next record will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// flushLoop is the flusher: it takes everything queued, writes it (one write per segment
// touched) and makes it durable with one fdatasync per segment, in order, then wakes the
// waiters. It ends when the log is closed and its queue is empty, or when the log failed.
func (l *Log) flushLoop() {
	defer close(l.flushDone)
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed && l.failed == nil {
			l.work.Wait()
		}
		if l.failed != nil || len(l.queue) == 0 {
			l.mu.Unlock()
			return
		}
		batch := l.queue
		l.queue, l.spareQ = l.spareQ[:0], nil
		l.mu.Unlock()

		err := l.write(batch)

		l.mu.Lock()
		bytes, last := 0, batch[len(batch)-1].last
		for i := range batch {
			bytes += len(batch[i].buf)
			if cap(batch[i].buf) <= 4<<20 {
				l.bufs = append(l.bufs, batch[i].buf[:0])
			}
			batch[i] = chunk{}
		}
		l.spareQ = batch[:0]
		l.queued = max(0, l.queued-bytes)
		if err != nil {
			l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		} else {
			l.durable = last
		}
		l.durableC.Broadcast()
		l.prepC.Broadcast()
		l.mu.Unlock()
	}
}

// write writes the chunks in order and makes them durable: a segment is synced before the
// first write to the next one, so that a crash never leaves a later segment with records and an
// earlier one without the records before them (which Open would take for corruption).
func (l *Log) write(batch []chunk) error {
	for i := range batch {
		c := &batch[i]
		if err := writeFull(c.seg.f, c.buf, c.off); err != nil {
			return fmt.Errorf("write segment %d: %w", c.seg.num, err)
		}
		if i+1 == len(batch) || batch[i+1].seg != c.seg {
			if err := c.seg.f.Datasync(); err != nil {
				return fmt.Errorf("fdatasync segment %d: %w", c.seg.num, err)
			}
		}
	}
	return nil
}

// prepareLoop is the preparer: it keeps one spare segment ready, recycled from a truncated one
// or written in full with zeros and synced, with its directory entry synced. After a failure
// (a full disk) it tries again when an Append needs a segment. It ends when the log is closed.
func (l *Log) prepareLoop() {
	defer close(l.prepDone)
	for {
		l.mu.Lock()
		for !l.closed && (l.spare != nil || (l.prepErr != nil && !l.kicked)) {
			l.prepC.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		num := l.nextNum
		l.nextNum++
		var recycled string
		if n := len(l.free); n > 0 {
			recycled, l.free = l.free[n-1], l.free[:n-1]
		}
		// A spare made while a segment takes records is zero-filled paced, so that the
		// records' fdatasyncs do not wait behind it; one an Append waits for (at open, after
		// a recovery) is written at full speed.
		paced := l.current() != nil
		l.mu.Unlock()

		s, err := l.prepare(num, recycled, paced)

		l.mu.Lock()
		l.kicked = false
		if err != nil {
			l.prepErr = err
		} else {
			l.prepErr = nil
			if l.closed {
				s.f.Close() // left as an empty segment; the next Open reuses it
			} else {
				l.spare = s
			}
		}
		l.prepC.Broadcast()
		l.mu.Unlock()
	}
}

// prepare makes segment num: a recycled file renamed, or a new one written in full.
func (l *Log) prepare(num uint64, recycled string, paced bool) (*segment, error) {
	fs, dir := l.opts.FS, l.opts.Dir
	name := join(dir, segName(num))
	if recycled != "" {
		if err := fs.Rename(join(dir, recycled), name); err != nil {
			return nil, fmt.Errorf("wal: recycle segment: %w", err)
		}
	} else {
		tmp := name + tmpSuffix
		if err := l.zeroFill(tmp, paced); err != nil {
			_ = fs.Remove(tmp) // give back what a full disk let us write
			return nil, err
		}
		if err := fs.Rename(tmp, name); err != nil {
			_ = fs.Remove(tmp)
			return nil, fmt.Errorf("wal: new segment: %w", err)
		}
	}
	if err := fs.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("wal: new segment: sync directory: %w", err)
	}
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("wal: new segment: %w", err)
	}
	return &segment{num: num, f: f}, nil
}

// zeroFill writes a new file of SegmentBytes zeros and syncs it: every block is then allocated
// and written, so fdatasync after a record has no block map or size to flush (fallocate would
// leave unwritten extents, whose conversion on first write is metadata).
//
// paced: one chunk in flight at a time (each written out and waited for before the next), so
// that a record's fdatasync meanwhile waits behind at most one chunk of zeros, not a whole
// segment.
func (l *Log) zeroFill(name string, paced bool) error {
	f, err := l.opts.FS.Create(name)
	if err != nil {
		return fmt.Errorf("wal: new segment: %w", err)
	}
	zeros := make([]byte, min(zeroChunkBytes, l.opts.SegmentBytes))
	for off := int64(0); off < l.opts.SegmentBytes; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), l.opts.SegmentBytes-off)
		if err := writeFull(f, zeros[:n], off); err != nil {
			f.Close()
			return fmt.Errorf("wal: new segment: %w", err)
		}
		if wo, ok := f.(writeOuter); ok && paced {
			if err := wo.WriteOut(off, n); err != nil {
				f.Close()
				return fmt.Errorf("wal: new segment: %w", err)
			}
		}
	}
	if err := f.Datasync(); err != nil {
		f.Close()
		return fmt.Errorf("wal: new segment: sync: %w", err)
	}
	return f.Close()
}

// TruncateBefore drops the segments whose every record is below seq: the caller's checkpoint
// covers them. The segment that takes new records is never dropped. Up to RecycleSegments
// dropped files are kept for reuse. seq must not be above Durable()+1.
func (l *Log) TruncateBefore(seq uint64) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	if seq > l.durable+1 {
		l.mu.Unlock()
		return fmt.Errorf("wal: truncate before %d: only up to %d is durable", seq, l.durable)
	}
	// Segment i goes when a later segment starts at or below seq.
	cut := 0
	for i := 0; i+1 < len(l.segs); i++ {
		if n := l.segs[i+1]; n.firstSeq != 0 && n.firstSeq <= seq {
			cut = i + 1
		}
	}
	drop := slices.Clone(l.segs[:cut])
	l.segs = slices.Delete(l.segs, 0, cut)
	keep := max(0, l.opts.RecycleSegments-len(l.free))
	l.mu.Unlock()

	fs, dir := l.opts.FS, l.opts.Dir
	var recycled []string
	var firstErr error
	for _, s := range drop {
		if s.f != nil {
			s.f.Close()
		}
		name := join(dir, segName(s.num))
		var err error
		if len(recycled) < keep {
			free := freePrefix + segName(s.num)
			if err = fs.Rename(name, join(dir, free)); err == nil {
				recycled = append(recycled, free)
			}
		} else {
			err = fs.Remove(name)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("wal: truncate: %w", err)
		}
	}
	if len(drop) > 0 {
		if err := fs.SyncDir(dir); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("wal: truncate: sync directory: %w", err)
		}
	}
	if firstErr == nil && len(recycled) > 0 {
		l.mu.Lock()
		l.free = append(l.free, recycled...)
		l.mu.Unlock()
	}
	return firstErr
}

// Close writes and syncs what is queued, stops the flusher and the preparer and closes the
// files. It returns the log's failure, if it failed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.work.Broadcast()
	l.prepC.Broadcast()
	l.durableC.Broadcast()
	l.mu.Unlock()
	<-l.flushDone
	<-l.prepDone
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for _, s := range l.segs {
		if s.f != nil {
			if cerr := s.f.Close(); cerr != nil && err == nil {
				err = cerr
			}
			s.f = nil
		}
	}
	if l.spare != nil {
		l.spare.f.Close()
		l.spare = nil
	}
	if l.failed != nil {
		return l.failed
	}
	return err
}
