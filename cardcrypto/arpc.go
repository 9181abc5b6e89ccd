package cardcrypto

import (
	"crypto/subtle"
)

// ARPCMethod1 implements EMV Book 2 §8.2.1: ARPC = TDES_K(ARQC xor (ARC || 00*6)), 8 bytes.
// key is the ARPC key of the CVN (ICC MK or AC session key), arqc 8 bytes, arc the 2-byte
// Authorisation Response Code. Tag 91 is then ARPC || ARC.
func ARPCMethod1(key, arqc, arc []byte) ([]byte, error) {
	if len(arqc) != 8 {
		return nil, fieldLenError("ARQC", 8, len(arqc))
	}
	if len(arc) != 2 {
		return nil, fieldLenError("ARC", 2, len(arc))
	}
	c, err := newDoubleTDES(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8)
	copy(out, arqc)
	out[0] ^= arc[0]
	out[1] ^= arc[1]
	c.Encrypt(out, out)
	return out, nil
}

// ARPCMethod2 implements EMV Book 2 §8.2.2: ARPC = the leftmost 4 bytes of
// MACAlg3(key, ARQC || CSU || proprietary authentication data) with padding method 2. csu is the
// 4-byte Card Status Update and pad 0 to 8 bytes. Tag 91 is then ARPC || CSU || pad.
func ARPCMethod2(key, arqc, csu, pad []byte) ([]byte, error) {
	if len(arqc) != 8 {
		return nil, fieldLenError("ARQC", 8, len(arqc))
	}
	if len(csu) != 4 {
		return nil, fieldLenError("CSU", 4, len(csu))
	}
	if len(pad) > 8 {
		return nil, &FieldError{Field: "ProprietaryAuthData", Err: ErrDataLength}
	}
	var buf [20]byte
	n := copy(buf[:], arqc)
	n += copy(buf[n:], csu)
	n += copy(buf[n:], pad)
	mac, err := MACAlg3(key, buf[:n], PaddingMethod2)
	if err != nil {
		return nil, err
	}
	return mac[:4:4], nil
}

// ARPCInput is what the issuer needs to answer a verified ARQC.
type ARPCInput struct {
	PAN string
	PSN string
	ATC []byte // 9F36, 2 bytes: session key diversifier
	UN  []byte // 9F37, 4 bytes: only for CVNs whose ARPC key is a Mastercard SKD key (none today)

	ARQC []byte // 9F26, 8 bytes

	// Method 1 (Visa CVN 10, Mastercard CVN 16/17/20/21).
	ARC []byte // Authorisation Response Code, 2 bytes (for example "00" as 3030, or the scheme's binary ARC)

	// Method 2 (Visa CVN 18/22).
	CSU                 []byte // Card Status Update, 4 bytes
	ProprietaryAuthData []byte // 0 to 8 bytes
}

// GenerateARPC computes the ARPC for the CVN with the key the CVN uses: method 1 under the ICC
// MK for Visa CVN 10 and Mastercard CVN 16/17, method 1 under the AC session key for Mastercard
// CVN 20/21, method 2 under the AC session key for Visa CVN 18/22. It returns 8 bytes (method 1)
// or 4 bytes (method 2). Method-2 fields are ignored for method-1 CVNs and the other way round.
func GenerateARPC(cvn CVN, imk []byte, in ARPCInput) ([]byte, error) {
	s, err := cvn.spec()
	if err != nil {
		return nil, err
	}
	mk, sk, err := acKeys(s, imk, in.PAN, in.PSN, in.ATC, in.UN)
	if err != nil {
		return nil, err
	}
	defer wipeKeys(mk, sk)
	key := mk
	if s.arpcWithSK {
		key = sk
	}
	if s.arpcMethod == 2 {
		return ARPCMethod2(key, in.ARQC, in.CSU, in.ProprietaryAuthData)
	}
	return ARPCMethod1(key, in.ARQC, in.ARC)
}

// IssuerAuthenticationData returns the value of tag 91 for the response's field 55: ARPC || ARC
// for method 1, ARPC || CSU || proprietary authentication data for method 2.
func IssuerAuthenticationData(cvn CVN, imk []byte, in ARPCInput) ([]byte, error) {
	arpc, err := GenerateARPC(cvn, imk, in)
	if err != nil {
		return nil, err
	}
	if len(arpc) == 4 {
		out := make([]byte, 0, 4+len(in.CSU)+len(in.ProprietaryAuthData))
		out = append(out, arpc...)
		out = append(out, in.CSU...)
		return append(out, in.ProprietaryAuthData...), nil
	}
	return append(arpc, in.ARC...), nil
}

// VerifyARPC recomputes the ARPC (as a card or a test acquirer would) and compares it with arpc
// in constant time.
func VerifyARPC(cvn CVN, imk []byte, in ARPCInput, arpc []byte) (bool, error) {
	want, err := GenerateARPC(cvn, imk, in)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, arpc) == 1, nil
}
