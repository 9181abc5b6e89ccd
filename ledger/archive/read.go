package archive

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cardswitch/cardswitch/ledger"
)

// position orders the copies of one record: the last written wins.
type position struct {
	seg uint64
	off int64
	i   int
}

func (p position) after(q position) bool {
	if p.seg != q.seg {
		return p.seg > q.seg
	}
	if p.off != q.off {
		return p.off > q.off
	}
	return p.i > q.i
}

type authID struct {
	key string
	at  int64
}

type candidate struct {
	pos position
	rec record
}

// AuthsOf implements ledger.ArchiveReader: the closed segments through their indexes, the open
// one through its index in memory.
func (s *Store) AuthsOf(ids []string, f func(*ledger.Auth) bool) error {
	var want []string
	for _, id := range ids {
		if id != "" {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	names := func(a *ledger.Auth) bool {
		for _, id := range want {
			if a.CardID == id || a.BalanceID == id || a.PartnerID == id {
				return true
			}
		}
		return false
	}
	s.mu.Lock()
	closed := slices.Clone(s.closed)
	var cur uint64
	var curOffs []int64
	var curSize int64
	if s.cur != nil {
		cur, curSize = s.cur.num, s.cur.size
		for _, id := range want {
			curOffs = append(curOffs, s.cur.idx[id]...)
		}
	}
	s.mu.Unlock()
	slices.Sort(curOffs)
	curOffs = slices.Compact(curOffs)
	best := map[authID]candidate{}
	for _, num := range closed {
		offs, err := s.readIndexed(num, want)
		if err != nil {
			return err
		}
		if err := s.collect(num, offs, -1, names, best); err != nil {
			return err
		}
	}
	if len(curOffs) > 0 {
		if err := s.collect(cur, curOffs, curSize, names, best); err != nil {
			return err
		}
	}
	return emit(best, f)
}

// collect reads the blocks at offs of segment num (limit: its good length, -1: the file's).
func (s *Store) collect(num uint64, offs []int64, limit int64, keep func(*ledger.Auth) bool, best map[authID]candidate) error {
	if len(offs) == 0 {
		return nil
	}
	f, err := s.fs.Open(s.path(num, ".seg"))
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	if limit < 0 {
		if limit, err = f.Size(); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	for _, off := range offs {
		recs, _, err := s.readBlock(f, num, off, limit)
		if err != nil {
			return fmt.Errorf("archive: segment %d block %d: %w", num, off, err)
		}
		for i := range recs {
			if keep != nil && !keep(&recs[i].auth) {
				continue
			}
			pick(best, candidate{pos: position{num, off, i}, rec: recs[i]})
		}
	}
	return nil
}

func pick(best map[authID]candidate, c candidate) {
	id := authID{c.rec.auth.Key, c.rec.auth.CreatedAtUnixNano}
	if old, ok := best[id]; !ok || c.pos.after(old.pos) {
		best[id] = c
	}
}

func emit(best map[authID]candidate, f func(*ledger.Auth) bool) error {
	for _, c := range best {
		if c.rec.forgotten {
			continue
		}
		a := c.rec.auth
		if !f(&a) {
			return nil
		}
	}
	return nil
}

// EachAuth implements ledger.ArchiveReader: every block of every segment (audits).
func (s *Store) EachAuth(f func(*ledger.Auth) bool) error {
	s.mu.Lock()
	nums := slices.Clone(s.closed)
	curSize := int64(-1)
	if s.cur != nil {
		nums = append(nums, s.cur.num)
		curSize = s.cur.size
	}
	s.mu.Unlock()
	best := map[authID]candidate{}
	for i, num := range nums {
		limit := int64(-1) // a closed segment: the good length its index records
		if i == len(nums)-1 {
			limit = curSize
		}
		offs, err := s.blockOffsets(num, limit)
		if err != nil {
			return err
		}
		if err := s.collect(num, offs, limit, nil, best); err != nil {
			return err
		}
	}
	return emit(best, f)
}

// blockOffsets walks a segment's block headers up to limit (-1: the good length its index
// records).
func (s *Store) blockOffsets(num uint64, limit int64) ([]int64, error) {
	if limit < 0 {
		var err error
		if limit, err = s.goodLength(num); err != nil {
			return nil, err
		}
	}
	f, err := s.fs.Open(s.path(num, ".seg"))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	var offs []int64
	var h [blockHeader]byte
	for off := int64(len(segMagic)); off < limit; {
		if err := readFull(f, h[:], off); err != nil {
			return nil, err
		}
		offs = append(offs, off)
		off += blockHeader + int64(binary.LittleEndian.Uint32(h[:4]))
	}
	return offs, nil
}
