package security

// Hot-path forms of the cardcrypto algorithms with the programs' key schedules cached.
//
// Why this file exists: Go's crypto/des spends far longer scheduling a key than enciphering a block
// (measured here: des.NewCipher ≈ 17 DES block encryptions, des.NewTripleDESCipher ≈ 10 TDES
// blocks). cardcrypto's functions take key bytes and schedule every key on every call, which made
// a CVV check cost two key schedules for one block each. Here the static keys (ZPK, IMK-AC, CVK,
// PVK) are scheduled once in New, and a chip authorization schedules only its two derived keys
// (ICC MK and session key, two single-DES schedules each), which ICCResponse then reuses: Verify
// returns them in Checks.ICC (a tokenvault.ICCSession), so the Verifier itself keeps nothing.
//
// cardcrypto stays the reference: TestFastPathMatchesCardcrypto checks every function here
// against it on the published vectors and on random inputs, for every CVN.

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"math/bits"

	"github.com/cardswitch/cardswitch/cardcrypto"
)

// newTDES schedules a static double-length key once (KL||KR||KL).
func newTDES(k []byte) (cipher.Block, error) {
	var k3 [24]byte
	copy(k3[:], k[:16])
	copy(k3[16:], k[:8])
	c, err := des.NewTripleDESCipher(k3[:])
	clear(k3[:])
	return c, err
}

// scheduled are a program's static keys, scheduled once.
type scheduled struct {
	imk  cipher.Block // TDES IMK-AC
	cvkA cipher.Block // DES CVK A
	cvk  cipher.Block // TDES CVK A||B
	pvk  cipher.Block // TDES PVK A||B
}

func schedule(p *program) (scheduled, error) {
	var s scheduled
	var err error
	if s.imk, err = newTDES(p.imkAC); err != nil {
		return s, err
	}
	if s.cvkA, err = des.NewCipher(p.cvk[:8]); err != nil {
		return s, err
	}
	if s.cvk, err = newTDES(p.cvk); err != nil {
		return s, err
	}
	if s.pvk, err = newTDES(p.pvk); err != nil {
		return s, err
	}
	return s, nil
}

// packDigits packs ASCII digits (even count, validated by the caller) into BCD.
func packDigits(dst []byte, s []byte) {
	for i := 0; i+1 < len(s); i += 2 {
		dst[i/2] = (s[i]-'0')<<4 | (s[i+1] - '0')
	}
}

// decimalize writes the first len(out) decimal digits of src's nibbles: 0-9 first, then A-F as 0-5.
func decimalize(out []byte, src []byte) {
	n := 0
	for pass := 0; pass < 2 && n < len(out); pass++ {
		for i := 0; i < 2*len(src) && n < len(out); i++ {
			v := src[i/2]
			if i%2 == 0 {
				v >>= 4
			}
			v &= 0x0F
			if pass == 0 && v <= 9 {
				out[n] = '0' + v
				n++
			} else if pass == 1 && v > 9 {
				out[n] = '0' + v - 10
				n++
			}
		}
	}
}

// verifyCVV is cardcrypto.VerifyCVV with the CVK scheduled: PAN||expiry||service code
// right-padded with 0 to 32 digits; T = TDES(CVK, DES(CVKA, B1) xor B2); first 3 decimal digits.
func (s *scheduled) verifyCVV(pan, expiry, serviceCode, value string) bool {
	if len(pan) > 19 || len(pan) < 1 || !cardcrypto.IsDigits(pan) || len(expiry) != 4 || !cardcrypto.IsDigits(expiry) ||
		len(serviceCode) != 3 || !cardcrypto.IsDigits(serviceCode) || len(value) != 3 {
		return false
	}
	var d [32]byte
	n := copy(d[:], pan)
	n += copy(d[n:], expiry)
	n += copy(d[n:], serviceCode)
	for i := n; i < len(d); i++ {
		d[i] = '0'
	}
	var b [16]byte
	packDigits(b[:], d[:])
	var t [8]byte
	s.cvkA.Encrypt(t[:], b[:8])
	for i := range t {
		t[i] ^= b[8+i]
	}
	s.cvk.Encrypt(t[:], t[:])
	var want, got [3]byte
	decimalize(want[:], t[:])
	copy(got[:], value)
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// pinFromBlock deciphers a format 0 PIN block under the ZPK and decodes it against the PAN of
// field 2 into pin (at most 12 digits), returning the PIN length, or 0 if the block is malformed
// (control nibble, length 4-12, digits, F fill). The caller clears pin.
func pinFromBlock(zpk cipher.Block, block []byte, pan string, pin *[12]byte) int {
	if len(block) != 8 || len(pan) < 2 || len(pan) > 19 || !cardcrypto.IsDigits(pan) {
		return 0
	}
	var panDigits [16]byte
	for i := range panDigits {
		panDigits[i] = '0'
	}
	body := pan[:len(pan)-1]
	if len(body) > 12 {
		body = body[len(body)-12:]
	}
	copy(panDigits[16-len(body):], body)
	var pf, p [8]byte
	packDigits(pf[:], panDigits[:])
	zpk.Decrypt(p[:], block)
	for i := range p {
		p[i] ^= pf[i]
	}
	defer clear(p[:])
	nib := func(i int) byte {
		if i%2 == 0 {
			return p[i/2] >> 4
		}
		return p[i/2] & 0x0F
	}
	n := int(nib(1))
	ok := nib(0) == 0 && n >= 4 && n <= 12
	if !ok {
		return 0
	}
	for i := 0; i < n; i++ {
		d := nib(2 + i)
		if d > 9 {
			clear(pin[:])
			return 0
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < 16; i++ {
		if nib(i) != 0xF {
			clear(pin[:])
			return 0
		}
	}
	return n
}

// verifyPVV is cardcrypto.VerifyPVV with the PVK scheduled: TSP = the 11 rightmost PAN digits
// excluding the check digit || PVKI || the first 4 PIN digits; PVV = first 4 decimal digits of
// TDES(PVK, TSP).
func (s *scheduled) verifyPVV(pan string, pvki int, pin []byte, value string) bool {
	if len(pan) < 12 || len(pan) > 19 || !cardcrypto.IsDigits(pan) || pvki < 0 || pvki > 9 || len(pin) < 4 || len(value) != 4 {
		return false
	}
	var tsp [16]byte
	copy(tsp[:11], pan[len(pan)-12:len(pan)-1])
	tsp[11] = byte('0' + pvki)
	copy(tsp[12:], pin[:4])
	var blk [8]byte
	packDigits(blk[:], tsp[:])
	clear(tsp[:])
	s.pvk.Encrypt(blk[:], blk[:])
	var want, got [4]byte
	decimalize(want[:], blk[:])
	clear(blk[:])
	copy(got[:], value)
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// cvnParams is the part of cardcrypto's CVN table (cardcrypto/doc.go) the key handling needs.
type cvnParams struct {
	optionAB bool  // Option B above 16 PAN digits (Visa CVN 18/22); Option A only otherwise
	skd      uint8 // skdNone, skdCommon or skdMastercard
	padding  int
	arpcSK   bool // ARPC under the session key (true) or the ICC MK
}

const (
	skdNone uint8 = iota
	skdCommon
	skdMastercard
)

func paramsOf(cvn cardcrypto.CVN) (cvnParams, bool) {
	switch cvn {
	case cardcrypto.VisaCVN10:
		return cvnParams{false, skdNone, cardcrypto.PaddingMethod1, false}, true
	case cardcrypto.VisaCVN18, cardcrypto.VisaCVN22:
		return cvnParams{true, skdCommon, cardcrypto.PaddingMethod2, true}, true
	case cardcrypto.MastercardCVN16, cardcrypto.MastercardCVN17:
		return cvnParams{false, skdMastercard, cardcrypto.PaddingMethod2, false}, true
	case cardcrypto.MastercardCVN20, cardcrypto.MastercardCVN21:
		return cvnParams{false, skdCommon, cardcrypto.PaddingMethod2, true}, true
	}
	return cvnParams{}, false
}

// psn2 normalises a PAN sequence number as cardcrypto does: "" -> "00", "1" -> "01", "001" -> "01".
func psn2(psn string) (a, b byte, ok bool) {
	switch {
	case len(psn) == 0:
		return '0', '0', true
	case len(psn) == 1 && cardcrypto.IsDigits(psn):
		return '0', psn[0], true
	case len(psn) == 2 && cardcrypto.IsDigits(psn):
		return psn[0], psn[1], true
	case len(psn) == 3 && psn[0] == '0' && cardcrypto.IsDigits(psn):
		return psn[1], psn[2], true
	}
	return 0, 0, false
}

func oddParity(k []byte) {
	for i, b := range k {
		if bits.OnesCount8(b&0xFE)%2 == 0 {
			k[i] = b | 1
		} else {
			k[i] = b & 0xFE
		}
	}
}

// acKeys are the derived keys of one transaction: the ICC MK and the AC session key (the same
// schedule when the CVN has no session key).
type acKeys struct {
	mk, sk cardcrypto.EDE2
}

// deriveKeys derives the ICC MK from the scheduled IMK (Option A; Option B through cardcrypto
// for PANs over 16 digits when the CVN uses it) and the session key for the CVN.
func (s *scheduled) deriveKeys(imk []byte, prm cvnParams, pan, psn string, atc, un []byte) (acKeys, bool) {
	var k acKeys
	if len(pan) < 1 || len(pan) > 19 || !cardcrypto.IsDigits(pan) || len(atc) != 2 {
		return k, false
	}
	pa, pb, ok := psn2(psn)
	if !ok {
		return k, false
	}
	var mk [16]byte
	if prm.optionAB && len(pan) > 16 {
		m, err := cardcrypto.DeriveICCMasterKeyOptionB(imk, pan, psn)
		if err != nil {
			return k, false
		}
		copy(mk[:], m)
		clear(m)
	} else {
		// Y = rightmost 16 digits of PAN||PSN, left-padded with 0.
		var x [21]byte
		n := copy(x[:], pan)
		x[n], x[n+1] = pa, pb
		n += 2
		var y [16]byte
		for i := range y {
			y[i] = '0'
		}
		if n >= 16 {
			copy(y[:], x[n-16:n])
		} else {
			copy(y[16-n:], x[:n])
		}
		var yb [8]byte
		packDigits(yb[:], y[:])
		s.imk.Encrypt(mk[:8], yb[:])
		for i := range yb {
			yb[i] ^= 0xFF
		}
		s.imk.Encrypt(mk[8:], yb[:])
		oddParity(mk[:])
	}
	var err error
	if k.mk, err = cardcrypto.NewEDE2(mk[:]); err != nil {
		return k, false
	}
	clear(mk[:])
	if prm.skd == skdNone {
		k.sk = k.mk
		return k, true
	}
	var r [8]byte
	copy(r[:2], atc)
	if prm.skd == skdMastercard {
		if len(un) != 4 {
			return k, false
		}
		copy(r[4:], un)
	}
	var sk [16]byte
	r[2] = 0xF0
	k.mk.Encrypt(sk[:8], r[:])
	r[2] = 0x0F
	k.mk.Encrypt(sk[8:], r[:])
	oddParity(sk[:])
	k.sk, err = cardcrypto.NewEDE2(sk[:])
	clear(sk[:])
	return k, err == nil
}

// arpc computes the ARPC: method 1 (8 bytes) TDES(key, ARQC xor ARC||00..) or method 2 (4 bytes)
// MAC3(SK, ARQC||CSU) padded with method 2, into out (8 bytes); it returns the length. underSK
// says which key the CVN forms it under (cvnParams.arpcSK).
func arpc(k acKeys, underSK bool, method int, arqc, arc, csu []byte, out []byte) int {
	key := k.mk
	if underSK {
		key = k.sk
	}
	if method == 2 {
		var buf [12]byte
		copy(buf[:8], arqc)
		copy(buf[8:], csu)
		key.MAC3(out, buf[:], cardcrypto.PaddingMethod2)
		return 4
	}
	var x [8]byte
	copy(x[:], arqc)
	x[0] ^= arc[0]
	x[1] ^= arc[1]
	key.Encrypt(out, x[:])
	return 8
}
