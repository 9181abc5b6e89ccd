package tokenvault

// PAN lookup: the keyed hash cards and tokens are found by, so neither the store nor its indexes
// hold a PAN in clear, the lookup key it is computed under, and masking for display and logs.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"
)

// Hasher returns the keyed hash of PANs under a key derived from the data key: lookups by PAN go
// through it, so neither the store nor its keys hold a PAN in clear.
func Hasher(dataKey []byte) func(pan string) string {
	return HasherWithKey(DeriveLookupKey(dataKey))
}

// Mask keeps the first six and last four digits: the most a log line or API answer may show.
func Mask(p string) string {
	if len(p) < 11 {
		return "****"
	}
	b := []byte(p)
	for i := 6; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}

// lookupKeyFile holds the PAN lookup key, sealed under the current data key. The lookup key is
// derived once, from the store's first data key, and never changes: card rows carry PAN hashes,
// so a data-key rotation must not change them.
const lookupKeyFile = "pan-lookup.key"

// DeriveLookupKey is the lookup key a store created under dataKey uses (Hasher's key).
func DeriveLookupKey(dataKey []byte) []byte {
	m := hmac.New(sha256.New, dataKey)
	m.Write([]byte("cardswitch pan lookup v1"))
	return m.Sum(nil)
}

// HasherWithKey returns the keyed hash of PANs under a lookup key: hex of the first 20 bytes of
// HMAC-SHA-256. Stored card and token rows carry this hash, so it must never change.
//
// The engine hashes the PAN of every message, and a fresh HMAC costs two SHA-256 states, the key
// pads and a byte copy of the PAN (about 0.5 KB of garbage per message): hashers are reused
// through a pool (Reset restores the keyed state), so the function is safe for concurrent use
// (engine and management API).
func HasherWithKey(key []byte) func(pan string) string {
	key = append([]byte(nil), key...)
	type state struct {
		h   hash.Hash
		buf []byte
	}
	pool := sync.Pool{New: func() any { return &state{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 64)} }}
	return func(p string) string {
		s := pool.Get().(*state)
		s.h.Reset()
		s.buf = append(s.buf[:0], p...)
		s.h.Write(s.buf)
		var sum [sha256.Size]byte
		out := s.h.Sum(sum[:0])
		var hx [40]byte
		hex.Encode(hx[:], out[:20])
		clear(s.buf)
		pool.Put(s)
		return string(hx[:])
	}
}

// LookupKey returns the store's PAN lookup key from dir, sealed under the data key with id
// current (keys holds every data key by id). A store without the file gets the key derived from
// the current data key (what Hasher uses); a file sealed under an earlier key is sealed again
// under the current one.
func LookupKey(dir string, current byte, keys map[byte][]byte) ([]byte, error) {
	path := filepath.Join(dir, lookupKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := DeriveLookupKey(keys[current])
		return key, writeSealed(path, current, keys[current], key)
	}
	if err != nil {
		return nil, fmt.Errorf("pan lookup key: %w", err)
	}
	if len(raw) < 1+12+16 {
		return nil, errors.New("pan lookup key: file too short")
	}
	id := raw[0]
	dk, ok := keys[id]
	if !ok {
		return nil, fmt.Errorf("pan lookup key: sealed under data key id %d, which is not configured", id)
	}
	aead, err := gcm(dk)
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, raw[1:13], raw[13:], []byte(lookupKeyFile))
	if err != nil {
		return nil, fmt.Errorf("pan lookup key: does not decrypt with data key id %d", id)
	}
	if id != current {
		if err := writeSealed(path, current, keys[current], key); err != nil {
			return nil, err
		}
	}
	return key, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pan lookup key: data key: %w", err)
	}
	return cipher.NewGCM(b)
}

func writeSealed(path string, id byte, dataKey, key []byte) error {
	aead, err := gcm(dataKey)
	if err != nil {
		return err
	}
	out := make([]byte, 13, 13+len(key)+aead.Overhead())
	out[0] = id
	if _, err := rand.Read(out[1:13]); err != nil {
		return fmt.Errorf("pan lookup key: %w", err)
	}
	out = aead.Seal(out, out[1:13], key, []byte(lookupKeyFile))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return fmt.Errorf("pan lookup key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pan lookup key: %w", err)
	}
	return nil
}
