package cardcrypto

import (
	"crypto/cipher"
)

// ISO/IEC 9797-1 padding methods for MACAlg3.
const (
	// PaddingMethod1 appends 00 bytes up to a multiple of 8; aligned data gets nothing, empty
	// data becomes one zero block. Visa CVN 10 uses it.
	PaddingMethod1 = 1
	// PaddingMethod2 always appends 80 and then 00 bytes up to a multiple of 8, so aligned data
	// grows by a whole block. EMV common session key cryptograms (Visa CVN 18/22, Mastercard)
	// and ARPC method 2 use it.
	PaddingMethod2 = 2
)

// MACAlg3 computes the 8-byte ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") of data under the
// double-length key K = KL||KR: CBC-DES under KL over the padded data (zero IV), then the last
// chaining value deciphered under KR and enciphered under KL. padding is PaddingMethod1 or
// PaddingMethod2. Callers truncate as their scheme says (8 bytes for an AC, 4 for ARPC method 2).
func MACAlg3(key []byte, data []byte, padding int) ([]byte, error) {
	if len(key) != 16 {
		return nil, ErrKeyLength
	}
	if padding != PaddingMethod1 && padding != PaddingMethod2 {
		return nil, ErrPadding
	}
	kl, err := newDES(key[:8])
	if err != nil {
		return nil, err
	}
	kr, err := newDES(key[8:])
	if err != nil {
		return nil, err
	}
	mac := make([]byte, BlockSize)
	macAlg3(kl, kr, mac, data, padding)
	return mac, nil
}

// macAlg3 writes the MAC into h (8 bytes). The padded data is never materialised: full blocks
// are chained from data and only the tail is copied into a stack block.
func macAlg3(kl, kr cipher.Block, h []byte, data []byte, padding int) {
	clear(h)
	full := len(data) - len(data)%BlockSize
	for i := 0; i < full; i += BlockSize {
		xorInto(h, data[i:i+BlockSize])
		kl.Encrypt(h, h)
	}
	tail := data[full:]
	if padding == PaddingMethod2 || len(tail) > 0 || len(data) == 0 {
		var last [BlockSize]byte
		copy(last[:], tail)
		if padding == PaddingMethod2 {
			last[len(tail)] = 0x80
		}
		xorInto(h, last[:])
		kl.Encrypt(h, h)
	}
	kr.Decrypt(h, h)
	kl.Encrypt(h, h)
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
