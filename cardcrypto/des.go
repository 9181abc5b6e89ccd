package cardcrypto

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// BlockSize is the DES block size in bytes.
const BlockSize = des.BlockSize

// keyCache keeps the key schedules of recently used DES and TDES keys: crypto/des spends about as long
// scheduling a TDES key (~2 µs) as enciphering ten blocks, and the same few keys (CVK, PVK, ZPK,
// IMK) come back on every call. It is direct-mapped (a key hashes to one slot; a newer key
// replaces the slot's older one), so its size is fixed whatever the number of distinct keys (per
// card derived keys simply replace each other). A cipher.Block of crypto/des is immutable once
// scheduled and safe for concurrent use. Slots are read and replaced atomically, without locks.
const keyCacheSlots = 256

type keyEntry struct {
	key [24]byte
	n   int // key length: 8, 16 or 24
	c   cipher.Block
}

var (
	keyCache     [keyCacheSlots]atomic.Pointer[keyEntry]
	keyCacheSeed = maphash.MakeSeed()
)

// newTDES returns a TDES-EDE cipher for a double-length (16-byte, K = KL||KR, used as
// KL||KR||KL) or triple-length (24-byte) key, from the cache when the key was scheduled lately.
func newTDES(key []byte) (cipher.Block, error) {
	if len(key) != 16 && len(key) != 24 {
		return nil, ErrKeyLength
	}
	return cachedCipher(key)
}

// scheduleTDES schedules a TDES key (no cache).
func scheduleTDES(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16:
		var k [24]byte
		copy(k[:16], key)
		copy(k[16:], key[:8])
		c, err := des.NewTripleDESCipher(k[:])
		clear(k[:])
		if err != nil {
			return nil, ErrKeyLength
		}
		return c, nil
	case 24:
		c, err := des.NewTripleDESCipher(key)
		if err != nil {
			return nil, ErrKeyLength
		}
		return c, nil
	}
	return nil, ErrKeyLength
}

// newDoubleTDES is newTDES restricted to double-length keys, the only length the EMV, CVV and
// PVV algorithms define.
func newDoubleTDES(key []byte) (cipher.Block, error) {
	if len(key) != 16 {
		return nil, ErrKeyLength
	}
	return newTDES(key)
}

func newDES(key []byte) (cipher.Block, error) {
	if len(key) != 8 {
		return nil, ErrKeyLength
	}
	return cachedCipher(key)
}

// cachedCipher returns the cipher of an 8-byte (DES), 16- or 24-byte (TDES) key, from the cache
// when the key was scheduled lately.
func cachedCipher(key []byte) (cipher.Block, error) {
	slot := &keyCache[maphash.Bytes(keyCacheSeed, key)%keyCacheSlots]
	if e := slot.Load(); e != nil && e.n == len(key) && subtle.ConstantTimeCompare(e.key[:e.n], key) == 1 {
		return e.c, nil
	}
	var c cipher.Block
	var err error
	if len(key) == 8 {
		c, err = scheduleDES(key)
	} else {
		c, err = scheduleTDES(key)
	}
	if err != nil {
		return nil, err
	}
	e := &keyEntry{n: len(key), c: c}
	copy(e.key[:], key)
	slot.Store(e)
	return c, nil
}

// scheduleDES schedules a single-DES key (no cache).
func scheduleDES(key []byte) (cipher.Block, error) {
	c, err := des.NewCipher(key)
	if err != nil {
		return nil, ErrKeyLength
	}
	return c, nil
}

// DESEncryptBlock enciphers one 8-byte block with single DES (8-byte key).
func DESEncryptBlock(key, block []byte) ([]byte, error) {
	c, err := newDES(key)
	if err != nil {
		return nil, err
	}
	return cryptBlock(c, block, true)
}

// DESDecryptBlock deciphers one 8-byte block with single DES (8-byte key).
func DESDecryptBlock(key, block []byte) ([]byte, error) {
	c, err := newDES(key)
	if err != nil {
		return nil, err
	}
	return cryptBlock(c, block, false)
}

// TDESEncryptBlock enciphers one 8-byte block with TDES-EDE. key is double length (16 bytes,
// KL||KR: E_KL(D_KR(E_KL(x)))) or triple length (24 bytes).
func TDESEncryptBlock(key, block []byte) ([]byte, error) {
	c, err := newTDES(key)
	if err != nil {
		return nil, err
	}
	return cryptBlock(c, block, true)
}

// TDESDecryptBlock deciphers one 8-byte block with TDES-EDE (16- or 24-byte key).
func TDESDecryptBlock(key, block []byte) ([]byte, error) {
	c, err := newTDES(key)
	if err != nil {
		return nil, err
	}
	return cryptBlock(c, block, false)
}

func cryptBlock(c cipher.Block, block []byte, encrypt bool) ([]byte, error) {
	if len(block) != BlockSize {
		return nil, ErrDataLength
	}
	out := make([]byte, BlockSize)
	if encrypt {
		c.Encrypt(out, block)
	} else {
		c.Decrypt(out, block)
	}
	return out, nil
}

// TDESEncryptECB enciphers data (a non-empty multiple of 8 bytes) block by block with TDES-EDE.
func TDESEncryptECB(key, data []byte) ([]byte, error) { return tdesECB(key, data, true) }

// TDESDecryptECB deciphers data (a non-empty multiple of 8 bytes) block by block with TDES-EDE.
func TDESDecryptECB(key, data []byte) ([]byte, error) { return tdesECB(key, data, false) }

func tdesECB(key, data []byte, encrypt bool) ([]byte, error) {
	if len(data) == 0 || len(data)%BlockSize != 0 {
		return nil, ErrDataLength
	}
	c, err := newTDES(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += BlockSize {
		if encrypt {
			c.Encrypt(out[i:i+BlockSize], data[i:i+BlockSize])
		} else {
			c.Decrypt(out[i:i+BlockSize], data[i:i+BlockSize])
		}
	}
	return out, nil
}

// TDESEncryptCBC enciphers data (a non-empty multiple of 8 bytes, no padding added) in CBC mode
// with an 8-byte IV.
func TDESEncryptCBC(key, iv, data []byte) ([]byte, error) { return tdesCBC(key, iv, data, true) }

// TDESDecryptCBC deciphers data (a non-empty multiple of 8 bytes) in CBC mode with an 8-byte IV.
func TDESDecryptCBC(key, iv, data []byte) ([]byte, error) { return tdesCBC(key, iv, data, false) }

func tdesCBC(key, iv, data []byte, encrypt bool) ([]byte, error) {
	if len(iv) != BlockSize || len(data) == 0 || len(data)%BlockSize != 0 {
		return nil, ErrDataLength
	}
	c, err := newTDES(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	if encrypt {
		cipher.NewCBCEncrypter(c, iv).CryptBlocks(out, data)
	} else {
		cipher.NewCBCDecrypter(c, iv).CryptBlocks(out, data)
	}
	return out, nil
}

// AdjustOddParity sets the least significant bit of every byte of key, in place, so that each
// byte has an odd number of 1 bits (the DES parity convention EMV requires for derived keys).
func AdjustOddParity(key []byte) {
	for i, b := range key {
		if bits.OnesCount8(b&0xFE)%2 == 0 {
			key[i] = b | 1
		} else {
			key[i] = b & 0xFE
		}
	}
}

// HasOddParity reports whether every byte of key has odd parity.
func HasOddParity(key []byte) bool {
	for _, b := range key {
		if bits.OnesCount8(b)%2 == 0 {
			return false
		}
	}
	return true
}

// KCV returns the 3-byte key check value: the leftmost 3 bytes of the key enciphering an
// all-zero block (single DES for 8-byte keys, TDES-EDE for 16- and 24-byte keys). It is safe to
// log and to put in configuration to prove which key is loaded.
func KCV(key []byte) ([]byte, error) {
	var c cipher.Block
	var err error
	if len(key) == 8 {
		c, err = newDES(key)
	} else {
		c, err = newTDES(key)
	}
	if err != nil {
		return nil, err
	}
	var z [BlockSize]byte
	c.Encrypt(z[:], z[:])
	return z[:3:3], nil
}
