// Package archive keeps the auth records that left the hot store (ledger/archiving.go) in files
// of its own under the data directory, and reads them back for the transaction history.
//
// A segment (NNNNNNNN.seg) is append-only: a magic header, then blocks. Each Append writes one or
// more blocks and makes them durable (fdatasync) before it returns; the records it was given may
// be deleted from the hot store only after that. A block is
//
//	u32 body length | u32 CRC-32C of the body | body
//	body = data key id (1 byte) | nonce (12) | AES-256-GCM ciphertext
//	plaintext = format byte (1) | zstd frame of: uvarint count, then per record
//	            flags (1 byte; bit 0: forgotten) | uvarint length | auth row (journal encoding)
//
// sealed under the journal's data key with the segment number and block offset as additional
// data, so a block cannot be moved within or between segments unnoticed.
//
// Once a segment reaches SegmentBytes it is closed: its index (NNNNNNNN.idx) is written, made
// durable and renamed into place, and a new segment begins. The index maps every card, balance
// and partner balance id named by a record of the segment to the offsets of the blocks holding
// its records; its entries are spread over indexBuckets sealed buckets by a hash of the id, so
// a lookup reads a directory and one bucket, not the whole index. The open segment's index is
// kept in memory (bounded by SegmentBytes, not by the number of records archived) and rebuilt by
// a scan at Open.
//
// A crash while blocks are written leaves a torn tail in the open segment: Open scans it up to
// the first block that does not check, closes it there (its index lists the good blocks only)
// and begins a new segment, so nothing is ever written over bytes of unknown content. The
// records of a torn block are still in the hot store (their batch never committed).
package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/wal"
)

// Options configure a Store.
type Options struct {
	// Dir holds the segments and their indexes (<dataDir>/archive).
	Dir string
	// DataKey (32 bytes) seals new blocks under DataKeyID; OldDataKeys open blocks sealed under
	// earlier keys (the journal's keys: security.dataKey and previousDataKeys).
	DataKey     []byte
	DataKeyID   byte
	OldDataKeys map[byte][]byte
	// FS is the file system (nil: the operating system's); tests inject faults and crashes.
	FS wal.FS
	// SegmentBytes closes a segment, and begins the next, once it holds this many bytes.
	// Default 16 MiB: the open segment's index lives in memory until then.
	SegmentBytes int64
	Logger       *slog.Logger
}

// DefaultSegmentBytes is the default of Options.SegmentBytes.
const DefaultSegmentBytes = 16 << 20

// Limits of the format.
const (
	// blockRecords bounds the records of one block: a history read decompresses whole blocks.
	blockRecords = 256
	// maxBlockBytes bounds a block's body on disk and its plaintext after decompression; a
	// header that claims more is a torn or damaged block.
	maxBlockBytes = 16 << 20
	indexBuckets  = 64
	blockHeader   = 8
	sealOverhead  = 1 + 12 + 16
	formatV1      = 1
	flagForgotten = 1
)

var (
	segMagic = []byte("CSARCSEG")
	idxMagic = []byte("CSARCIDX")
	crcTable = crc32.MakeTable(crc32.Castagnoli)
)

// ErrCorrupt is returned when a segment or index does not check.
var ErrCorrupt = errors.New("archive: corrupt")

// errTorn marks a block that was not written whole (its frame does not check): at the tail of
// the open segment, the end of what an interrupted append left. A block whose frame checks but
// which does not open (another data key, tampering) is not torn: the archive refuses to open
// rather than cut it off.
var errTorn = fmt.Errorf("%w: torn block", ErrCorrupt)

// Store is an archive directory. Append is called by one goroutine at a time (the engine's);
// reads may run concurrently with it and with each other.
type Store struct {
	opts  Options
	fs    wal.FS
	keyID byte
	keys  map[byte]cipher.AEAD
	enc   *zstd.Encoder
	dec   *zstd.Decoder
	log   *slog.Logger

	mu     sync.Mutex // guards what follows
	closed []uint64   // numbers of the closed segments, ascending
	cur    *openSegment
	broken bool // the last append failed: the next one closes cur at its good end first

	records atomic.Uint64 // records appended since Open
	bytes   atomic.Int64  // bytes of all segments and indexes
}

// openSegment is the segment appended to.
type openSegment struct {
	num  uint64
	f    wal.File
	size int64 // end of the last good block
	idx  map[string][]int64
}

// Open opens (or creates) the archive in opts.Dir, closing a segment a crash left without its
// index and one with a torn tail.
func Open(opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = wal.OS
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, fs: opts.FS, keyID: opts.DataKeyID, keys: map[byte]cipher.AEAD{}, log: opts.Logger}
	var err error
	if s.keys[opts.DataKeyID], err = newAEAD(opts.DataKey); err != nil {
		return nil, err
	}
	for id, k := range opts.OldDataKeys {
		if id == opts.DataKeyID {
			return nil, fmt.Errorf("archive: old data key %d has the id of the current key", id)
		}
		if s.keys[id], err = newAEAD(k); err != nil {
			return nil, fmt.Errorf("archive: old data key %d: %w", id, err)
		}
	}
	if s.enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault)); err != nil {
		return nil, fmt.Errorf("archive: zstd: %w", err)
	}
	if s.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlockBytes)); err != nil {
		return nil, fmt.Errorf("archive: zstd: %w", err)
	}
	if err := s.recover(); err != nil {
		s.dec.Close()
		return nil, err
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("archive: data key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("archive: data key: %w", err)
	}
	return cipher.NewGCM(block)
}

func (s *Store) path(num uint64, ext string) string {
	return s.opts.Dir + "/" + fmt.Sprintf("%08d", num) + ext
}

// recover reads the directory: closed segments are those with an index; a segment without one
// is scanned, and all but the last are closed; the last is appended to unless its tail is torn.
func (s *Store) recover() error {
	if err := s.fs.MkdirAll(s.opts.Dir); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	names, err := s.fs.List(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	segs, idx := map[uint64]bool{}, map[uint64]bool{}
	for _, n := range names {
		num, ext, ok := parseName(n)
		switch {
		case !ok:
		case ext == ".seg":
			segs[num] = true
		case ext == ".idx":
			idx[num] = true
		case ext == ".tmp":
			if err := s.fs.Remove(s.opts.Dir + "/" + n); err != nil {
				return fmt.Errorf("archive: %w", err)
			}
		}
	}
	nums := make([]uint64, 0, len(segs))
	for n := range segs {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for i, n := range nums {
		if idx[n] {
			s.closed = append(s.closed, n)
			s.addBytes(n, ".seg")
			s.addBytes(n, ".idx")
			continue
		}
		seg, torn, err := s.scanSegment(n)
		if err != nil {
			return err
		}
		if i < len(nums)-1 || torn {
			if torn {
				s.log.Warn("archive: torn tail of a segment dropped (its records are still in the hot store)", "segment", n, "kept", seg.size)
			}
			if err := s.closeSegment(seg); err != nil {
				return err
			}
			s.addBytes(n, ".seg")
			continue
		}
		s.cur = seg
		s.bytes.Add(seg.size)
	}
	return nil
}

func parseName(n string) (uint64, string, bool) {
	base, ext, ok := strings.Cut(n, ".")
	if !ok || len(base) != 8 {
		return 0, "", false
	}
	num, err := strconv.ParseUint(base, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return num, "." + ext, true
}

func (s *Store) addBytes(num uint64, ext string) {
	f, err := s.fs.Open(s.path(num, ext))
	if err != nil {
		return
	}
	if n, err := f.Size(); err == nil {
		s.bytes.Add(n)
	}
	_ = f.Close()
}

// scanSegment reads a segment without an index: its good blocks, and whether bytes follow them
// that do not form a block (a torn tail).
func (s *Store) scanSegment(num uint64) (*openSegment, bool, error) {
	f, err := s.fs.Open(s.path(num, ".seg"))
	if err != nil {
		return nil, false, fmt.Errorf("archive: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("archive: %w", err)
	}
	seg := &openSegment{num: num, f: f, idx: map[string][]int64{}}
	head := make([]byte, len(segMagic))
	if size < int64(len(segMagic)) || readFull(f, head, 0) != nil || !bytes.Equal(head, segMagic) {
		// Created but its header never made durable: nothing was appended to it. Closed
		// empty, so that no block is ever written without the header before it.
		seg.size = 0
		return seg, true, nil
	}
	off := int64(len(segMagic))
	for off < size {
		recs, n, err := s.readBlock(f, num, off, size)
		if errors.Is(err, errTorn) {
			break
		}
		if err != nil {
			_ = f.Close()
			return nil, false, fmt.Errorf("archive: segment %d at %d: %w", num, off, err)
		}
		for i := range recs {
			seg.note(&recs[i].auth, off)
		}
		off += n
	}
	seg.size = off
	return seg, off < size, nil
}

// note adds the ids a record names to the open segment's index.
func (seg *openSegment) note(a *ledger.Auth, off int64) {
	for _, id := range []string{a.CardID, a.BalanceID, a.PartnerID} {
		if id == "" {
			continue
		}
		offs := seg.idx[id]
		if len(offs) == 0 || offs[len(offs)-1] != off {
			seg.idx[id] = append(offs, off)
		}
	}
}

// record is one archived record as read back.
type record struct {
	auth      ledger.Auth
	forgotten bool
}

// readBlock reads and opens the block at off of segment num (file size size); n is its length
// on disk.
func (s *Store) readBlock(f wal.File, num uint64, off, size int64) (recs []record, n int64, err error) {
	var h [blockHeader]byte
	if off+blockHeader > size {
		return nil, 0, fmt.Errorf("%w: header past the end", errTorn)
	}
	if err := readFull(f, h[:], off); err != nil {
		return nil, 0, err
	}
	bodyLen := int64(binary.LittleEndian.Uint32(h[:4]))
	if bodyLen < sealOverhead || bodyLen > maxBlockBytes || off+blockHeader+bodyLen > size {
		return nil, 0, fmt.Errorf("%w: length", errTorn)
	}
	body := make([]byte, bodyLen)
	if err := readFull(f, body, off+blockHeader); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, 0, fmt.Errorf("%w: checksum", errTorn)
	}
	plain, err := s.open(body, blockAD(num, off))
	if err != nil {
		return nil, 0, err
	}
	recs, err = s.decodeRecords(plain)
	return recs, blockHeader + bodyLen, err
}

func readFull(f wal.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = errors.New("short read")
	}
	return fmt.Errorf("archive: read: %w", err)
}

func blockAD(num uint64, off int64) []byte {
	ad := make([]byte, 0, 24)
	ad = append(ad, "archive\x00"...)
	ad = binary.BigEndian.AppendUint64(ad, num)
	return binary.BigEndian.AppendUint64(ad, uint64(off))
}

func (s *Store) seal(plain, ad []byte) ([]byte, error) {
	aead := s.keys[s.keyID]
	body := make([]byte, 1+12, 1+12+len(plain)+aead.Overhead())
	body[0] = s.keyID
	if _, err := rand.Read(body[1:13]); err != nil {
		return nil, fmt.Errorf("archive: nonce: %w", err)
	}
	return aead.Seal(body, body[1:13], plain, ad), nil
}

func (s *Store) open(body, ad []byte) ([]byte, error) {
	aead, ok := s.keys[body[0]]
	if !ok {
		return nil, fmt.Errorf("archive: block sealed under data key %d, which is not configured", body[0])
	}
	plain, err := aead.Open(nil, body[1:13], body[13:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: block does not authenticate", ErrCorrupt)
	}
	return plain, nil
}

// frame puts a sealed body behind its length and checksum.
func frame(body []byte) []byte {
	out := make([]byte, blockHeader, blockHeader+len(body))
	binary.LittleEndian.PutUint32(out[:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(body, crcTable))
	return append(out, body...)
}

func (s *Store) encodeRecords(auths []ledger.Auth, forgotten bool, dst []byte) ([]byte, error) {
	for i := range auths {
		flags := byte(0)
		if forgotten {
			flags = flagForgotten
		}
		row, err := journal.AppendAuthRow(nil, &auths[i])
		if err != nil {
			return nil, err
		}
		dst = append(dst, flags)
		dst = binary.AppendUvarint(dst, uint64(len(row)))
		dst = append(dst, row...)
	}
	return dst, nil
}

func (s *Store) decodeRecords(plain []byte) ([]record, error) {
	if len(plain) == 0 || plain[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown block format", ErrCorrupt)
	}
	raw, err := s.dec.DecodeAll(plain[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	count, n := binary.Uvarint(raw)
	if n <= 0 || count > blockRecords {
		return nil, fmt.Errorf("%w: record count", ErrCorrupt)
	}
	raw = raw[n:]
	out := make([]record, 0, count)
	for range count {
		if len(raw) < 1 {
			return nil, fmt.Errorf("%w: record truncated", ErrCorrupt)
		}
		flags := raw[0]
		l, n := binary.Uvarint(raw[1:])
		if n <= 0 || uint64(len(raw)-1-n) < l {
			return nil, fmt.Errorf("%w: record truncated", ErrCorrupt)
		}
		a, err := journal.DecodeAuthRow(raw[1+n : 1+n+int(l)])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out = append(out, record{auth: a, forgotten: flags&flagForgotten != 0})
		raw = raw[1+n+int(l):]
	}
	return out, nil
}

// Append writes the records to archive and those forgotten, and makes them durable before it
// returns. On an error nothing of this call may be relied on: the caller keeps its records in
// the hot store and tries again later; blocks that did reach the disk are harmless copies (a
// read takes the hot record over them, and the last copy over earlier ones).
func (s *Store) Append(auths, forgotten []ledger.Auth) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(); err != nil {
		return err
	}
	seg := s.cur
	type item struct {
		recs      []ledger.Auth
		forgotten bool
	}
	var out []byte
	offs := make([]int64, 0, 4)
	var noted []struct {
		a   *ledger.Auth
		off int64
	}
	off := seg.size
	for _, it := range []item{{auths, false}, {forgotten, true}} {
		for len(it.recs) > 0 {
			n := min(len(it.recs), blockRecords)
			plain := binary.AppendUvarint(nil, uint64(n))
			plain, err := s.encodeRecords(it.recs[:n], it.forgotten, plain)
			if err != nil {
				return fmt.Errorf("archive: encode: %w", err)
			}
			z := append([]byte{formatV1}, s.enc.EncodeAll(plain, nil)...)
			body, err := s.seal(z, blockAD(seg.num, off))
			if err != nil {
				return err
			}
			b := frame(body)
			out = append(out, b...)
			offs = append(offs, off)
			for i := range it.recs[:n] {
				noted = append(noted, struct {
					a   *ledger.Auth
					off int64
				}{&it.recs[i], off})
			}
			off += int64(len(b))
			it.recs = it.recs[n:]
		}
	}
	if len(out) == 0 {
		return nil
	}
	if err := writeFull(seg.f, out, seg.size); err != nil {
		s.broken = true
		return fmt.Errorf("archive: write: %w", err)
	}
	if err := seg.f.Datasync(); err != nil {
		s.broken = true
		return fmt.Errorf("archive: sync: %w", err)
	}
	for _, n := range noted {
		seg.note(n.a, n.off)
	}
	seg.size = off
	s.bytes.Add(int64(len(out)))
	s.records.Add(uint64(len(auths) + len(forgotten)))
	if seg.size >= s.opts.SegmentBytes {
		// Closed now rather than at the next append, so a reader finds it indexed. A failure
		// leaves it open: the next append tries again.
		if err := s.closeSegment(seg); err != nil {
			s.broken = true
			s.log.Error("archive: closing a full segment failed; retried on the next append", "segment", seg.num, "err", err)
			return nil // the records are durable
		}
		s.cur = nil
	}
	return nil
}

func writeFull(f wal.File, p []byte, off int64) error {
	n, err := f.WriteAt(p, off)
	if err == nil && n != len(p) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(p))
	}
	return err
}

// ready makes sure there is a segment to append to: after a failed append the current one is
// closed at its last good block, and a new one begun.
func (s *Store) ready() error {
	if s.broken && s.cur != nil {
		if err := s.closeSegment(s.cur); err != nil {
			return err
		}
		s.cur = nil
	}
	s.broken = false
	if s.cur != nil {
		return nil
	}
	num := uint64(1)
	if n := len(s.closed); n > 0 {
		num = s.closed[n-1] + 1
	}
	name := s.path(num, ".seg")
	f, err := s.fs.Create(name)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	seg := &openSegment{num: num, f: f, idx: map[string][]int64{}}
	if err := writeFull(f, segMagic, 0); err != nil {
		_ = f.Close()
		return s.discard(name, err)
	}
	if err := f.Datasync(); err != nil {
		_ = f.Close()
		return s.discard(name, err)
	}
	if err := s.fs.SyncDir(s.opts.Dir); err != nil {
		_ = f.Close()
		return s.discard(name, err)
	}
	seg.size = int64(len(segMagic))
	s.cur = seg
	s.bytes.Add(seg.size)
	return nil
}

// discard removes a segment that could not be begun (it holds no record).
func (s *Store) discard(name string, err error) error {
	if rerr := s.fs.Remove(name); rerr != nil {
		s.log.Warn("archive: removing a segment that could not be begun failed", "err", rerr)
	}
	return fmt.Errorf("archive: begin segment: %w", err)
}

// closeSegment writes the segment's index, durable and in place, and closes its file.
func (s *Store) closeSegment(seg *openSegment) error {
	idx, err := s.encodeIndex(seg)
	if err != nil {
		return err
	}
	tmp := s.path(seg.num, ".tmp")
	_ = s.fs.Remove(tmp)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("archive: index: %w", err)
	}
	err = writeFull(f, idx, 0)
	if err == nil {
		err = f.Datasync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, s.path(seg.num, ".idx"))
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	if err != nil {
		return fmt.Errorf("archive: index: %w", err)
	}
	_ = seg.f.Close()
	s.closed = append(s.closed, seg.num)
	s.bytes.Add(int64(len(idx)))
	return nil
}

// Stats are the archive's measurements.
type Stats struct {
	Records uint64 // records appended since Open
	Bytes   int64  // bytes of all segments and indexes
}

// Stats reports the archive's measurements.
func (s *Store) Stats() Stats { return Stats{Records: s.records.Load(), Bytes: s.bytes.Load()} }

// Close closes the open segment's file (its index is rebuilt by the next Open).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.cur != nil {
		err = s.cur.f.Close()
		s.cur = nil
	}
	s.dec.Close()
	return err
}

var _ ledger.ArchiveReader = (*Store)(nil)
