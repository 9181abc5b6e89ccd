package rowstore

import (
	"hash/maphash"
	"strings"
)

// Keyed hashing. The seed is random per process, so hashes cannot be predicted from outside
// (no crafted keys piling onto one map entry) and nothing depends on their values.
var hashSeed = maphash.MakeSeed()

func hash32(s string) uint32 {
	h := maphash.String(hashSeed, s)
	return uint32(h) ^ uint32(h>>32)
}

// Index finds rows by a string key through a map from the key's 32-bit hash to a row number.
// The key itself is kept only in the row: a lookup checks it there (a KeyAt). A key whose hash
// another key already holds goes to the collide map (with a million keys, about a hundred).
type Index struct {
	m       map[uint32]uint32
	collide map[string]uint32
	hash    func(string) uint32 // hash32; tests force collisions
}

// NewIndex returns an empty index.
func NewIndex() Index { return Index{m: map[uint32]uint32{}, hash: hash32} }

// KeyAt returns a row's key; the string may alias the row's slot and is used only to compare.
type KeyAt func(row uint32) string

// Find returns the row of key.
func (ix *Index) Find(key string, at KeyAt) (uint32, bool) {
	if row, ok := ix.m[ix.hash(key)]; ok && at(row) == key {
		return row, true
	}
	if len(ix.collide) > 0 {
		row, ok := ix.collide[key]
		return row, ok
	}
	return 0, false
}

// Set points key at row (replacing the row the key had; that row must still hold the key).
func (ix *Index) Set(key string, row uint32, at KeyAt) {
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

// Len is the number of keys.
func (ix *Index) Len() int { return len(ix.m) + len(ix.collide) }

// SetHash replaces the hash of the keys (tests force collisions). Call it on an empty index.
func (ix *Index) SetHash(h func(string) uint32) { ix.hash = h }
