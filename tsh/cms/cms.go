// Package cms opens the CMS EnvelopedData (RFC 5652) that the token service hub encrypts card
// data in (contract §5): content AES-256-CBC, key transport RSAES-PKCS1-v1_5 or RSAES-OAEP with
// SHA-256 and MGF1-SHA-256, to one of the issuer's RSA 2048 or 4096 keys named by
// publicKeyIdentifier.
//
// Why not github.com/smallstep/pkcs7 (v0.2.3) for the opening itself: it does open both of the
// contract's suites (tests use it as a second opinion on every fixture), but its PKCS#7 unpadding
// slices out of range (a panic) when the last decrypted byte exceeds the content length, which
// any hub, or anyone able to reach /tsh, can send; it also reads only the OAEP hash (not the MGF1
// hash or the label) and accepts content algorithms the contract does not (DES, AES-128, GCM).
// So Open reads the envelope's ASN.1 with encoding/asn1, refuses anything but the two suites,
// and unwraps and decrypts with the standard library (crypto/rsa, crypto/aes), which is the
// part a library would have added.
package cms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// MaxEnvelopeChars bounds the base64 text of an envelope (the seed's 8196 characters for every
// encrypted field); a longer one is refused before decoding.
const MaxEnvelopeChars = 8196

// Errors of Open, matched with errors.Is. Their text never carries key or plaintext material.
var (
	// ErrUnknownKey: publicKeyIdentifier names no configured key (UNKNOWN_PUBLIC_KEY_IDENTIFIER).
	ErrUnknownKey = errors.New("cms: unknown public key identifier")
	// ErrCantDecrypt: the text is not an envelope this key opens: not base64, not DER, another
	// content or key-transport algorithm, not addressed to the key, or a failed unwrap (CANT_DECRYPT).
	ErrCantDecrypt = errors.New("cms: the envelope does not open with this key")
)

// Object identifiers of the contract's suites (RFC 3565, RFC 4055, RFC 8017).
var (
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAOAEP       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidPSpecified    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
)

// Padding is the key transport of an envelope.
type Padding uint8

// Key transports of contract §5.
const (
	PKCS1v15 Padding = iota + 1
	OAEPSHA256
)

func (p Padding) String() string {
	switch p {
	case PKCS1v15:
		return "RSAES-PKCS1-v1_5"
	case OAEPSHA256:
		return "RSAES-OAEP-SHA256-MGF1-SHA256"
	}
	return "unknown"
}

// Key is one of the issuer's envelope keys: the private key and the certificate the hub
// encrypts to.
type Key struct {
	ID   string // publicKeyIdentifier, 1 to 32 characters
	Cert *x509.Certificate
	Priv *rsa.PrivateKey
}

// Keyring holds the keys in use at once (rotation: the hub may still encrypt to the previous
// one). It is read-only after NewKeyring and safe for concurrent use.
type Keyring struct {
	keys map[string]Key
}

// NewKeyring checks the keys: ids 1 to 32 characters and distinct, RSA 2048 or 4096, each
// certificate holding its private key's public half.
func NewKeyring(keys ...Key) (*Keyring, error) {
	k := &Keyring{keys: map[string]Key{}}
	for i, key := range keys {
		if len(key.ID) < 1 || len(key.ID) > 32 {
			return nil, fmt.Errorf("cms: key %d: publicKeyIdentifier must be 1 to 32 characters", i)
		}
		if _, dup := k.keys[key.ID]; dup {
			return nil, fmt.Errorf("cms: key %q: repeated publicKeyIdentifier", key.ID)
		}
		if key.Priv == nil || key.Cert == nil {
			return nil, fmt.Errorf("cms: key %q: private key and certificate are required", key.ID)
		}
		if bits := key.Priv.N.BitLen(); bits != 2048 && bits != 4096 {
			return nil, fmt.Errorf("cms: key %q: RSA %d bits; want 2048 or 4096", key.ID, bits)
		}
		pub, ok := key.Cert.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&key.Priv.PublicKey) {
			return nil, fmt.Errorf("cms: key %q: the certificate is not of this private key", key.ID)
		}
		k.keys[key.ID] = key
	}
	return k, nil
}

// IDs lists the key identifiers (any order).
func (k *Keyring) IDs() []string {
	out := make([]string, 0, len(k.keys))
	for id := range k.keys {
		out = append(out, id)
	}
	return out
}

// Cert is the certificate of key id (for the hub at onboarding, and the simulator).
func (k *Keyring) Cert(id string) (*x509.Certificate, bool) {
	key, ok := k.keys[id]
	return key.Cert, ok
}

// Open decodes the base64 text of an envelope, checks that it uses the contract's algorithms and
// is addressed to key id, and returns the plaintext. It returns ErrUnknownKey or ErrCantDecrypt
// (wrapped with the reason).
func (k *Keyring) Open(id, text string) ([]byte, error) {
	key, ok := k.keys[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(text) > MaxEnvelopeChars {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrCantDecrypt, MaxEnvelopeChars)
	}
	der, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrCantDecrypt)
	}
	env, err := inspect(der, key.Cert)
	if err != nil {
		return nil, err
	}
	return env.open(key.Priv)
}

// envelope is what inspect read of an envelope addressed to one key.
type envelope struct {
	padding      Padding
	encryptedKey []byte
	iv           []byte
	content      []byte
}

// open unwraps the content key and decrypts the content. A PKCS#1 v1.5 unwrap that fails gives
// a random key instead of an error (rsa.DecryptPKCS1v15SessionKey), so the answer and its timing
// do not say whether the padding of the wrapped key was right (Bleichenbacher); the content
// then fails its padding check like any other wrong key.
func (e *envelope) open(priv *rsa.PrivateKey) ([]byte, error) {
	cek := make([]byte, 32)
	switch e.padding {
	case PKCS1v15:
		if _, err := rand.Read(cek); err != nil {
			return nil, fmt.Errorf("cms: %w", err)
		}
		if err := rsa.DecryptPKCS1v15SessionKey(nil, priv, e.encryptedKey, cek); err != nil {
			return nil, fmt.Errorf("%w: key unwrap failed", ErrCantDecrypt)
		}
	case OAEPSHA256:
		k, err := rsa.DecryptOAEP(sha256.New(), nil, priv, e.encryptedKey, nil)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: key unwrap failed", ErrCantDecrypt)
		}
		cek = k
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("%w: key unwrap failed", ErrCantDecrypt)
	}
	plain := make([]byte, len(e.content))
	cipher.NewCBCDecrypter(block, e.iv).CryptBlocks(plain, e.content)
	n, ok := unpad(plain)
	if !ok {
		clear(plain)
		return nil, fmt.Errorf("%w: content decryption failed", ErrCantDecrypt)
	}
	return plain[:n], nil
}

// unpad checks PKCS#7 padding (1 to 16 bytes of the pad length) without branching on the
// padding bytes, and returns the content length.
func unpad(b []byte) (int, bool) {
	pad := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(b[len(b)-i], byte(pad))
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	if good != 1 {
		return 0, false
	}
	return len(b) - pad, true
}

// ASN.1 shapes of RFC 5652 that Inspect reads (only what the check needs).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, checked by Inspect
}

type envelopedData struct {
	Version        int
	OriginatorInfo asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos []asn1.RawValue `asn1:"set"`
	Content        encryptedContentInfo
	Unprotected    asn1.RawValue `asn1:"optional,tag:1"`
}

type encryptedContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Algorithm   pkix.AlgorithmIdentifier
	Encrypted   asn1.RawValue `asn1:"optional,tag:0"`
}

type keyTransRecipient struct {
	Version      int
	RID          asn1.RawValue
	KeyAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey []byte
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type oaepParams struct {
	Hash    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF     pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	PSource pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:2"`
}

// Inspect reads a DER envelope's algorithms and finds its recipient for cert: it returns the
// key transport, or ErrCantDecrypt when the envelope is not one of the contract's (content
// AES-256-CBC with a 16-byte IV; key transport rsaEncryption, or RSAES-OAEP naming SHA-256,
// MGF1-SHA-256 and no label) or is not addressed to cert (issuer and serial number).
func Inspect(der []byte, cert *x509.Certificate) (Padding, error) {
	e, err := inspect(der, cert)
	if err != nil {
		return 0, err
	}
	return e.padding, nil
}

func inspect(der []byte, cert *x509.Certificate) (*envelope, error) {
	bad := func(why string) (*envelope, error) { return nil, fmt.Errorf("%w: %s", ErrCantDecrypt, why) }
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return bad("not a DER ContentInfo")
	}
	if !ci.ContentType.Equal(oidEnvelopedData) || ci.Content.Class != asn1.ClassContextSpecific ||
		ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return bad("not EnvelopedData")
	}
	var ed envelopedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil || len(rest) != 0 {
		return bad("malformed EnvelopedData")
	}
	c := ed.Content
	if !c.ContentType.Equal(oidData) || !c.Algorithm.Algorithm.Equal(oidAES256CBC) {
		return bad("content is not AES-256-CBC data")
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(c.Algorithm.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != 16 {
		return bad("AES-256-CBC without a 16-byte IV")
	}
	if len(c.Encrypted.Bytes) == 0 || len(c.Encrypted.Bytes)%16 != 0 {
		return bad("encrypted content is not whole AES blocks")
	}
	for _, raw := range ed.RecipientInfos {
		var r keyTransRecipient
		if rest, err := asn1.Unmarshal(raw.FullBytes, &r); err != nil || len(rest) != 0 {
			continue // another kind of recipient (key agreement, KEK, password): not ours
		}
		var ias issuerAndSerial
		if rest, err := asn1.Unmarshal(r.RID.FullBytes, &ias); err != nil || len(rest) != 0 ||
			!bytes.Equal(ias.Issuer.FullBytes, cert.RawIssuer) || ias.Serial.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		p, err := keyTransport(r.KeyAlgorithm)
		if err != nil {
			return nil, err
		}
		return &envelope{padding: p, encryptedKey: r.EncryptedKey, iv: iv, content: c.Encrypted.Bytes}, nil
	}
	return bad("no recipient for this key")
}

// keyTransport checks a recipient's key encryption algorithm identifier.
func keyTransport(a pkix.AlgorithmIdentifier) (Padding, error) {
	bad := func(why string) (Padding, error) { return 0, fmt.Errorf("%w: %s", ErrCantDecrypt, why) }
	switch {
	case a.Algorithm.Equal(oidRSA):
		p := a.Parameters.FullBytes
		if len(p) != 0 && !bytes.Equal(p, asn1.NullBytes) {
			return bad("rsaEncryption with parameters")
		}
		return PKCS1v15, nil
	case a.Algorithm.Equal(oidRSAOAEP):
		var p oaepParams
		if rest, err := asn1.Unmarshal(a.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
			return bad("malformed RSAES-OAEP parameters")
		}
		// Absent hash or MGF mean SHA-1 (RFC 4055 defaults): not the contract's suite.
		if !p.Hash.Algorithm.Equal(oidSHA256) || !p.MGF.Algorithm.Equal(oidMGF1) {
			return bad("RSAES-OAEP without SHA-256 and MGF1")
		}
		var mgfHash pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil || len(rest) != 0 ||
			!mgfHash.Algorithm.Equal(oidSHA256) {
			return bad("RSAES-OAEP with MGF1 not over SHA-256")
		}
		if len(p.PSource.Algorithm) != 0 {
			var label []byte
			if !p.PSource.Algorithm.Equal(oidPSpecified) {
				return bad("RSAES-OAEP with an unknown label source")
			}
			if _, err := asn1.Unmarshal(p.PSource.Parameters.FullBytes, &label); err != nil || len(label) != 0 {
				return bad("RSAES-OAEP with a label")
			}
		}
		return OAEPSHA256, nil
	}
	return bad("key transport is neither RSAES-PKCS1-v1_5 nor RSAES-OAEP")
}

// LoadKey reads a PEM private key (PKCS#1 or PKCS#8 RSA) and a PEM certificate.
func LoadKey(id, keyFile, certFile string) (Key, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return Key{}, fmt.Errorf("cms: key %q: %w", id, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return Key{}, fmt.Errorf("cms: key %q: %w", id, err)
	}
	return ParseKey(id, keyPEM, certPEM)
}

// ParseKey is LoadKey on PEM bytes.
func ParseKey(id string, keyPEM, certPEM []byte) (Key, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return Key{}, fmt.Errorf("cms: key %q: no PEM private key", id)
	}
	var priv *rsa.PrivateKey
	if p, err := x509.ParsePKCS1PrivateKey(kb.Bytes); err == nil {
		priv = p
	} else if p8, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		if rp, ok := p8.(*rsa.PrivateKey); ok {
			priv = rp
		}
	}
	if priv == nil {
		return Key{}, fmt.Errorf("cms: key %q: not an RSA private key", id)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return Key{}, fmt.Errorf("cms: key %q: no PEM certificate", id)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("cms: key %q: certificate: %w", id, err)
	}
	return Key{ID: id, Cert: cert, Priv: priv}, nil
}
