// Package rowstore keeps rows as bytes, without pointers, for the ledger's tables of cards,
// balances, customers and tokens (millions of rows).
//
// Kept as Go structs with strings, every row is a handful of pointers that each GC cycle has to
// mark: at a million cards a cycle took ~1.8 s and put mark assists on the engine goroutine.
// Here rows are encoded as bytes in slots of []byte chunks (a []byte holds no pointers, so the
// GC does not scan it), addressed by 32-bit row numbers, and the indexes are maps from a 32-bit
// keyed hash to a row number (maps whose keys and values hold no pointers are not scanned
// either). The GC is left with a few thousand chunk headers however many rows there are.
//
// Rows are never deleted, and the strings of a row are never overwritten, so rows decode into
// structs whose strings alias the chunk bytes, without allocating. Fixed-size fields (the
// header: amounts, states, counters) are updated in place; a row whose strings change is written
// to a new slot and the old slot is abandoned, never reused, since strings handed out may still
// point into it.
//
// The package knows nothing of the ledger's types: the ledger encodes its rows with Enc, reads
// them with Dec and keeps them in a Table per row type (ledger/rows.go).
package rowstore

import "encoding/binary"

const (
	chunkBytes      = 1 << 20 // a full chunk; a class's first chunk starts small and grows
	firstChunkBytes = 4 << 10
	maxSlot         = 8 << 10 // larger records are kept in slab.big, one []byte each
	slotBits        = 26      // a slot handle: class<<slotBits | slot number
	bigClass        = 63
	lenPrefix       = 2 // every slot starts with the record's length (uint16)
)

// classSize lists the slot sizes; class 0 is unused so that a handle is never 0. Steps of 8
// bytes up to 256 keep the waste per row small (most rows are 50–200 bytes).
var classSize = func() []int {
	s := []int{0}
	for n := 8; n <= 256; n += 8 {
		s = append(s, n)
	}
	for n := 288; n <= 512; n += 32 {
		s = append(s, n)
	}
	for n := 576; n <= 1024; n += 64 {
		s = append(s, n)
	}
	s = append(s, 1280, 1536, 2048, 3072, 4096, 6144, maxSlot)
	if len(s) > bigClass {
		panic("rowstore: too many slot classes")
	}
	return s
}()

// classOf returns the smallest class whose slots hold n bytes, or bigClass.
func classOf(n int) int {
	if n > maxSlot {
		return bigClass
	}
	if n <= 256 {
		return (n + 7) / 8
	}
	lo, hi := 33, len(classSize)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if classSize[mid] >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

type slabClass struct {
	chunks [][]byte // slots never straddle chunks
	used   uint32   // slots handed out so far
}

// slab allocates slots for records of any length, by size class. Slots are never freed.
type slab struct {
	class [bigClass]slabClass
	big   [][]byte // records longer than maxSlot (rare), by slot number of bigClass
}

func handle(class int, slot uint32) uint32 { return uint32(class)<<slotBits | slot }

func splitHandle(h uint32) (class int, slot uint32) {
	return int(h >> slotBits), h & (1<<slotBits - 1)
}

// alloc returns a slot of the class.
func (s *slab) alloc(class int) uint32 {
	if class == bigClass {
		s.big = append(s.big, nil)
		return handle(class, uint32(len(s.big)-1))
	}
	k := &s.class[class]
	slot := k.used
	if slot >= 1<<slotBits {
		panic("rowstore: slot class full") // 64 M rows of one size: memory ran out long before
	}
	size := classSize[class]
	per := chunkBytes / size
	ci, end := int(slot)/per, (int(slot)%per+1)*size
	if ci == len(k.chunks) {
		n := per * size
		if ci == 0 {
			n = min(n, max(firstChunkBytes, size))
		}
		k.chunks = append(k.chunks, make([]byte, n))
	}
	if c := k.chunks[ci]; end > len(c) {
		// The first chunk grows by doubling: a small State (tests, tools) stays small. Strings
		// that alias the old array keep it alive and stay as they were.
		grown := make([]byte, min(max(2*len(c), end), per*size))
		copy(grown, c)
		k.chunks[ci] = grown
	}
	k.used++
	return handle(class, slot)
}

// slot returns the whole slot of a handle (not for bigClass).
func (s *slab) slot(h uint32) []byte {
	class, slot := splitHandle(h)
	size := classSize[class]
	per := chunkBytes / size
	off := int(slot) % per * size
	return s.class[class].chunks[int(slot)/per][off : off+size : off+size]
}

// rec returns the record stored at a handle.
func (s *slab) rec(h uint32) []byte {
	class, slot := splitHandle(h)
	if class == bigClass {
		return s.big[slot]
	}
	b := s.slot(h)
	n := int(binary.LittleEndian.Uint16(b))
	return b[lenPrefix : lenPrefix+n]
}

// write stores rec at h, a new slot whose class must fit it.
func (s *slab) write(h uint32, rec []byte) {
	class, slot := splitHandle(h)
	if class == bigClass {
		s.big[slot] = append(s.big[slot][:0], rec...)
		return
	}
	b := s.slot(h)
	binary.LittleEndian.PutUint16(b, uint16(len(rec)))
	copy(b[lenPrefix:], rec)
}

func recClass(n int) int { return classOf(n + lenPrefix) }
