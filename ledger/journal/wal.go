package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The write-ahead log in front of Badger. A batch is durable once its record is appended to the
// current segment and the segment is fdatasync'ed: a few microseconds to a few hundred on a disk
// with a write cache, where a synced Badger commit costs ~0.4 ms of msync over its memtable
// mapping and, now and then, tens of milliseconds behind a memtable flush. The batch is then
// written to Badger by a background applier (applier.go), in order, many batches per synced
// Badger transaction. A segment is deleted once every batch in it is in Badger and synced; on
// open, the segments still present are replayed into Badger before the ledger is loaded.
//
// Segment files: <dir>/wal/<n>.wal, n increasing from 1. Record: length (uint32 little endian,
// of the payload), CRC-32C of the payload (uint32), payload. Payload: number of entries (uint32),
// then per entry: op (1 set, 2 delete), key length (uint16), key, and for a set the value length
// (uint32) and the value. Values are the sealed values Badger stores (AES-256-GCM under the data
// key, the key as additional data), so the log holds no card data or personal data in clear.
// A record of length 0 or one cut short ends the log: only the last record of the last segment
// can be incomplete (its batch was never acknowledged).

const (
	walDirName     = "wal"
	walSuffix      = ".wal"
	walHeader      = 8
	walSegmentSize = 64 << 20 // a segment is closed once it is larger than this
	walMaxRecord   = 1 << 30  // a longer length is a torn or corrupt header
	opSet          = 1
	opDelete       = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is the segment being appended to. It is used under the journal's lock.
type wal struct {
	dir    string
	f      *os.File
	seq    int   // number of the current segment
	size   int64 // bytes of the current segment that are durable
	broken error // set when a failed append could not be undone: every later append fails
}

// openWAL starts a new segment numbered after every existing one (which replayWAL has emptied).
func openWAL(dir string, next int) (*wal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: wal: %w", err)
	}
	w := &wal{dir: dir, seq: next - 1}
	if err := w.rotate(); err != nil {
		return nil, err
	}
	return w, nil
}

func segmentPath(dir string, n int) string {
	return filepath.Join(dir, fmt.Sprintf("%08d%s", n, walSuffix))
}

// rotate closes the current segment (if any) and creates the next one.
func (w *wal) rotate() error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("journal: wal: close segment: %w", err)
		}
		w.f = nil
	}
	f, err := os.OpenFile(segmentPath(w.dir, w.seq+1), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: wal: new segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.seq, w.size = f, w.seq+1, 0
	return nil
}

// append writes one record (rec[:walHeader] is filled here) and syncs it. On failure it cuts the
// segment back to where it was, so a batch reported as failed cannot be replayed later.
func (w *wal) append(rec []byte) error {
	if w.broken != nil {
		return w.broken
	}
	if w.f == nil {
		return ErrClosed
	}
	payload := rec[walHeader:]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))
	_, err := w.f.WriteAt(rec, w.size)
	if err == nil {
		err = fdatasync(w.f)
	}
	if err != nil {
		if terr := w.undo(); terr != nil {
			w.broken = fmt.Errorf("journal: wal: a failed write could not be undone (%v); restart the switch: %w", terr, err)
			return w.broken
		}
		return fmt.Errorf("journal: wal: %w", err)
	}
	w.size += int64(len(rec))
	return nil
}

func (w *wal) undo() error {
	if err := w.f.Truncate(w.size); err != nil {
		return err
	}
	return fdatasync(w.f)
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// segments lists the segment numbers in dir, in order.
func segments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: wal: %w", err)
	}
	var out []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), walSuffix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// removeSegments deletes segments up to and including upTo.
func removeSegments(dir string, upTo int) error {
	segs, err := segments(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, n := range segs {
		if n > upTo {
			break
		}
		if err := os.Remove(segmentPath(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: wal: remove segment: %w", err)
		}
		removed = true
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// walEntry is one decoded entry of a record; key and val alias the record.
type walEntry struct {
	key, val []byte
	del      bool
}

// readSegment calls f with the entries of every complete record of a segment, in order, and
// reports the offset where the log ends and whether bytes after it were ignored (a torn tail).
func readSegment(path string, f func([]walEntry) error) (end int64, torn bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false, fmt.Errorf("journal: wal: %w", err)
	}
	var entries []walEntry
	off := 0
	for {
		if len(data)-off < walHeader {
			return int64(off), len(data) > off && !allZero(data[off:]), nil
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 && sum == 0 {
			return int64(off), !allZero(data[off:]), nil
		}
		if n > walMaxRecord || len(data)-off-walHeader < n {
			return int64(off), true, nil
		}
		payload := data[off+walHeader : off+walHeader+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			return int64(off), true, nil
		}
		if entries, err = decodeRecord(payload, entries[:0]); err != nil {
			// The checksum matched, so this is not a torn write but a record this code cannot
			// read: stop rather than skip a batch.
			return int64(off), false, err
		}
		if err := f(entries); err != nil {
			return int64(off), false, err
		}
		off += walHeader + n
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var errRecord = errors.New("journal: wal: malformed record")

// decodeRecord parses a record's payload.
func decodeRecord(p []byte, dst []walEntry) ([]walEntry, error) {
	if len(p) < 4 {
		return dst, errRecord
	}
	count := binary.LittleEndian.Uint32(p)
	p = p[4:]
	for range count {
		if len(p) < 3 {
			return dst, errRecord
		}
		op, kl := p[0], int(binary.LittleEndian.Uint16(p[1:]))
		p = p[3:]
		if len(p) < kl {
			return dst, errRecord
		}
		e := walEntry{key: p[:kl:kl]}
		p = p[kl:]
		switch op {
		case opDelete:
			e.del = true
		case opSet:
			if len(p) < 4 {
				return dst, errRecord
			}
			vl := int(binary.LittleEndian.Uint32(p))
			p = p[4:]
			if len(p) < vl {
				return dst, errRecord
			}
			e.val = p[:vl:vl]
			p = p[vl:]
		default:
			return dst, errRecord
		}
		dst = append(dst, e)
	}
	if len(p) != 0 {
		return dst, errRecord
	}
	return dst, nil
}

// syncDir makes a directory's entries (created or removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: wal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("journal: wal: sync dir: %w", err)
	}
	return nil
}
