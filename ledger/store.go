package ledger

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"unsafe"
)

// Pointer-free storage for the committed rows.
//
// A State holds a row per card, balance, customer and token (millions). Kept as Go structs with
// strings, every row is a handful of pointers that each GC cycle has to mark: at a million
// cards a cycle took ~1.8 s and put mark assists on the engine goroutine. Here rows are encoded
// as bytes in slots of []byte chunks (a []byte holds no pointers, so the GC does not scan it),
// addressed by 32-bit row numbers, and the indexes are maps from a 32-bit keyed hash to a row
// number (maps whose keys and values hold no pointers are not scanned either). The GC is left
// with a few thousand chunk headers however many rows there are.
//
// Rows are never deleted, and the strings of a row are never overwritten, so rows decode into
// structs whose strings alias the chunk bytes, without allocating. Fixed-size fields (balances,
// states, counters) are updated in place; a row whose strings change (a new CVC2) is written to
// a new slot and the old slot is abandoned, never reused, since strings handed out may still
// point into it. (Auth records and replies, which retention deletes, live in the journal:
// history.go.)

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
		panic("ledger: too many slot classes")
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
		panic("ledger: slot class full") // 64 M rows of one size: memory ran out long before
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

// rowStore maps row numbers to records. Row numbers are what the indexes hold: they stay the
// same while the record moves between slots. Slots and row numbers are never reused (see the
// comment above), and a rewrite that keeps a record's bytes after header the same updates only
// the header.
type rowStore struct {
	slab
	loc       []uint32 // row -> slot handle
	header    int      // the length of the part of a record updated in place
	abandoned int      // bytes of slots given up by rewrites (until a restart)
}

func (t *rowStore) rec(row uint32) []byte { return t.slab.rec(t.loc[row]) }

// add stores a new record and returns its row number.
func (t *rowStore) add(rec []byte) uint32 {
	h := t.alloc(recClass(len(rec)))
	t.write(h, rec)
	if uint64(len(t.loc)) >= 1<<32-1 {
		panic("ledger: more than 4 billion rows in a table")
	}
	t.loc = append(t.loc, h)
	return uint32(len(t.loc) - 1)
}

// size is the number of rows.
func (t *rowStore) size() int { return len(t.loc) }

// update replaces the record of a row: in place when only the header changed, else in a new
// slot (the old one is abandoned).
func (t *rowStore) update(row uint32, rec []byte) {
	h := t.loc[row]
	old := t.slab.rec(h)
	if len(old) == len(rec) && bytes.Equal(old[t.header:], rec[t.header:]) {
		copy(old[:t.header], rec[:t.header])
		return
	}
	t.abandoned += len(old)
	h = t.alloc(recClass(len(rec)))
	t.write(h, rec)
	t.loc[row] = h
}

// Keyed hashing. The seed is random per process, so hashes cannot be predicted from outside
// (no crafted keys piling onto one map entry) and nothing depends on their values.
var hashSeed = maphash.MakeSeed()

func hash32(s string) uint32 {
	h := maphash.String(hashSeed, s)
	return uint32(h) ^ uint32(h>>32)
}

// index finds rows by a string key through a map from the key's 32-bit hash to a row number.
// The key itself is kept only in the row: a lookup checks it there (keyAt). A key whose hash
// another key already holds goes to the collide map (with a million keys, about a hundred).
type index struct {
	m       map[uint32]uint32
	collide map[string]uint32
	hash    func(string) uint32 // hash32; tests force collisions
}

func newIndex() index { return index{m: map[uint32]uint32{}, hash: hash32} }

// keyAt returns a row's key; the string may alias the row's slot and is used only to compare.
type keyAt func(row uint32) string

func (ix *index) find(key string, at keyAt) (uint32, bool) {
	if row, ok := ix.m[ix.hash(key)]; ok && at(row) == key {
		return row, true
	}
	if len(ix.collide) > 0 {
		row, ok := ix.collide[key]
		return row, ok
	}
	return 0, false
}

// set points key at row (replacing the row the key had).
func (ix *index) set(key string, row uint32, at keyAt) {
	h := ix.hash(key)
	if old, ok := ix.m[h]; !ok || old == row || at(old) == key {
		ix.m[h] = row
		if len(ix.collide) > 0 {
			delete(ix.collide, key) // the key may have gone there while another held h
		}
		return
	}
	if ix.collide == nil {
		ix.collide = map[string]uint32{}
	}
	ix.collide[strings.Clone(key)] = row
}

func (ix *index) len() int { return len(ix.m) + len(ix.collide) }

// Record encoding: fixed-size fields little-endian at fixed offsets (the header), then strings
// as uvarint(len<<1) and the bytes. In place of a string a field may hold a number, written as
// uvarint(n<<1|1): the row of another table that the string names (refTo), the length of the
// suffix of another field it is (Last4 of a PAN), the count of a map (card labels).

type recEnc struct{ b []byte }

func (e *recEnc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *recEnc) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *recEnc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *recEnc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *recEnc) i64(v int64)  { e.u64(uint64(v)) }
func (e *recEnc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s))<<1)
	e.b = append(e.b, s...)
}
func (e *recEnc) num(n uint32) { e.b = binary.AppendUvarint(e.b, uint64(n)<<1|1) }

// recDec reads a record from a string: a view of the slot.
type recDec struct {
	s string
	i int
}

func (d *recDec) u8() uint8 { v := d.s[d.i]; d.i++; return v }
func (d *recDec) u16() uint16 {
	v := uint16(d.s[d.i]) | uint16(d.s[d.i+1])<<8
	d.i += 2
	return v
}
func (d *recDec) u32() uint32 {
	v := uint32(d.u16())
	return v | uint32(d.u16())<<16
}
func (d *recDec) u64() uint64 {
	v := uint64(d.u32())
	return v | uint64(d.u32())<<32
}
func (d *recDec) i64() int64 { return int64(d.u64()) }

func (d *recDec) uvarint() uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

// field reads a string, or the number written in its place (isNum).
func (d *recDec) field() (s string, n uint32, isNum bool) {
	v := d.uvarint()
	if v&1 == 1 {
		return "", uint32(v >> 1), true
	}
	end := d.i + int(v>>1)
	s = d.s[d.i:end]
	d.i = end
	return s, 0, false
}

// str reads a field that is always a string.
func (d *recDec) str() string {
	s, _, _ := d.field()
	return s
}

// view returns b as a string without copying. Only for bytes that are never overwritten while
// the string lives: a record's strings, or a comparison made at once.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
