package archive

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"slices"
	"sort"

	"github.com/cardswitch/cardswitch/ledger/wal"
)

// The index file: magic, then indexBuckets sealed buckets and a sealed directory (blocks in the
// segment's framing), then the directory's offset (u64). A bucket lists, sorted by id, each id
// with the offsets of its blocks; the directory lists each bucket's offset and the segment's
// good length.
func (s *Store) encodeIndex(seg *openSegment) ([]byte, error) {
	ids := make([]string, 0, len(seg.idx))
	for id := range seg.idx {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var buckets [indexBuckets][]byte
	for _, id := range ids {
		b := bucketOf(id)
		buckets[b] = binary.AppendUvarint(buckets[b], uint64(len(id)))
		buckets[b] = append(buckets[b], id...)
		offs := seg.idx[id]
		buckets[b] = binary.AppendUvarint(buckets[b], uint64(len(offs)))
		prev := int64(0)
		for _, o := range offs {
			buckets[b] = binary.AppendUvarint(buckets[b], uint64(o-prev))
			prev = o
		}
	}
	out := append([]byte(nil), idxMagic...)
	dir := binary.AppendUvarint(nil, uint64(seg.size))
	for b := range buckets {
		body, err := s.seal(s.enc.EncodeAll(buckets[b], nil), indexAD(seg.num, int64(len(out))))
		if err != nil {
			return nil, err
		}
		dir = binary.AppendUvarint(dir, uint64(len(out)))
		out = append(out, frame(body)...)
	}
	dirOff := int64(len(out))
	body, err := s.seal(dir, indexAD(seg.num, dirOff))
	if err != nil {
		return nil, err
	}
	out = append(out, frame(body)...)
	return binary.LittleEndian.AppendUint64(out, uint64(dirOff)), nil
}

func indexAD(num uint64, off int64) []byte {
	ad := make([]byte, 0, 24)
	ad = append(ad, "arcindex"...)
	ad = binary.BigEndian.AppendUint64(ad, num)
	return binary.BigEndian.AppendUint64(ad, uint64(off))
}

func bucketOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % indexBuckets)
}

// readIndexed returns the offsets, in a closed segment, of the blocks naming one of ids.
func (s *Store) readIndexed(num uint64, ids []string) ([]int64, error) {
	f, err := s.fs.Open(s.path(num, ".idx"))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var t [8]byte
	if size < int64(len(idxMagic))+8 {
		return nil, fmt.Errorf("%w: index %d too short", ErrCorrupt, num)
	}
	if err := readFull(f, t[:], size-8); err != nil {
		return nil, err
	}
	dirOff := int64(binary.LittleEndian.Uint64(t[:]))
	dir, err := s.readSealed(f, indexAD(num, dirOff), dirOff, size-8)
	if err != nil {
		return nil, err
	}
	_, n := binary.Uvarint(dir) // the segment's good length
	if n <= 0 {
		return nil, fmt.Errorf("%w: index %d directory", ErrCorrupt, num)
	}
	dir = dir[n:]
	var bucketOff [indexBuckets]int64
	for b := range bucketOff {
		v, n := binary.Uvarint(dir)
		if n <= 0 {
			return nil, fmt.Errorf("%w: index %d directory", ErrCorrupt, num)
		}
		bucketOff[b], dir = int64(v), dir[n:]
	}
	want := map[int][]string{}
	for _, id := range ids {
		want[bucketOf(id)] = append(want[bucketOf(id)], id)
	}
	var offs []int64
	for b, bids := range want {
		z, err := s.readSealed(f, indexAD(num, bucketOff[b]), bucketOff[b], dirOff)
		if err != nil {
			return nil, err
		}
		raw, err := s.dec.DecodeAll(z, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: index %d: %v", ErrCorrupt, num, err)
		}
		for len(raw) > 0 {
			l, n := binary.Uvarint(raw)
			if n <= 0 || uint64(len(raw)-n) < l {
				return nil, fmt.Errorf("%w: index %d bucket", ErrCorrupt, num)
			}
			id := string(raw[n : n+int(l)])
			raw = raw[n+int(l):]
			cnt, n := binary.Uvarint(raw)
			if n <= 0 {
				return nil, fmt.Errorf("%w: index %d bucket", ErrCorrupt, num)
			}
			raw = raw[n:]
			match := slices.Contains(bids, id)
			prev := int64(0)
			for range cnt {
				d, n := binary.Uvarint(raw)
				if n <= 0 {
					return nil, fmt.Errorf("%w: index %d bucket", ErrCorrupt, num)
				}
				raw = raw[n:]
				prev += int64(d)
				if match {
					offs = append(offs, prev)
				}
			}
		}
	}
	slices.Sort(offs)
	return slices.Compact(offs), nil
}

// readSealed reads and opens the framed sealed body at off (which must end by limit).
func (s *Store) readSealed(f wal.File, ad []byte, off, limit int64) ([]byte, error) {
	var h [blockHeader]byte
	if off < 0 || off+blockHeader > limit {
		return nil, fmt.Errorf("%w: offset", ErrCorrupt)
	}
	if err := readFull(f, h[:], off); err != nil {
		return nil, err
	}
	l := int64(binary.LittleEndian.Uint32(h[:4]))
	if l < sealOverhead || off+blockHeader+l > limit {
		return nil, fmt.Errorf("%w: length", ErrCorrupt)
	}
	body := make([]byte, l)
	if err := readFull(f, body, off+blockHeader); err != nil {
		return nil, err
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, fmt.Errorf("%w: checksum", ErrCorrupt)
	}
	return s.open(body, ad)
}

// goodLength reads from a closed segment's index the length of its good blocks.
func (s *Store) goodLength(num uint64) (int64, error) {
	f, err := s.fs.Open(s.path(num, ".idx"))
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	var t [8]byte
	if size < 8 {
		return 0, fmt.Errorf("%w: index %d too short", ErrCorrupt, num)
	}
	if err := readFull(f, t[:], size-8); err != nil {
		return 0, err
	}
	dirOff := int64(binary.LittleEndian.Uint64(t[:]))
	dir, err := s.readSealed(f, indexAD(num, dirOff), dirOff, size-8)
	if err != nil {
		return 0, err
	}
	v, n := binary.Uvarint(dir)
	if n <= 0 {
		return 0, fmt.Errorf("%w: index %d directory", ErrCorrupt, num)
	}
	return int64(v), nil
}
