// Package pan handles primary account numbers at the edge: the keyed hash used to find a card
// without keeping its PAN in clear, and masking for display and logs.
package pan

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Hasher returns the keyed hash of PANs under a key derived from the data key: lookups by PAN go
// through it, so neither the store nor its keys hold a PAN in clear.
func Hasher(dataKey []byte) func(pan string) string {
	m := hmac.New(sha256.New, dataKey)
	m.Write([]byte("cardswitch pan lookup v1"))
	key := m.Sum(nil)
	return func(p string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(p))
		var sum [sha256.Size]byte
		return hex.EncodeToString(h.Sum(sum[:0])[:20])
	}
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
