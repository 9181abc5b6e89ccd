package cms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
)

// Seal makes what the hub sends: the standard base64 of a DER EnvelopedData of plaintext to
// cert, content AES-256-CBC, key transport padding, recipient by issuer and serial number, the
// same shape as `openssl cms -encrypt -binary -outform DER -aes256`. The simulator and tests use
// it; the switch only opens envelopes. (smallstep/pkcs7's Encrypt writes RSAES-OAEP parameters
// without the MGF1 hash, which means MGF1-SHA-1 to a strict reader, and picks its algorithms
// from package globals, so it is not used here.)
func Seal(plaintext []byte, cert *x509.Certificate, padding Padding) (string, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", errors.New("cms: seal: not an RSA certificate")
	}
	cek := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(cek); err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	if _, err := rand.Read(iv); err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	block, _ := aes.NewCipher(cek)
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	body := make([]byte, len(plaintext)+pad)
	copy(body, plaintext)
	for i := len(plaintext); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(body, body)

	var (
		wrapped []byte
		alg     pkix.AlgorithmIdentifier
		err     error
	)
	switch padding {
	case PKCS1v15:
		wrapped, err = rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
		alg = pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.RawValue{FullBytes: asn1.NullBytes}}
	case OAEPSHA256:
		wrapped, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
		sha := pkix.AlgorithmIdentifier{Algorithm: oidSHA256}
		shaDER, _ := asn1.Marshal(sha)
		params, _ := asn1.Marshal(oaepParams{Hash: sha,
			MGF: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: shaDER}}})
		alg = pkix.AlgorithmIdentifier{Algorithm: oidRSAOAEP, Parameters: asn1.RawValue{FullBytes: params}}
	default:
		return "", errors.New("cms: seal: unknown padding")
	}
	if err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	ivDER, _ := asn1.Marshal(iv)
	rid, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber})
	if err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	ri, err := asn1.Marshal(keyTransRecipient{RID: asn1.RawValue{FullBytes: rid}, KeyAlgorithm: alg, EncryptedKey: wrapped})
	if err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	ed, err := asn1.Marshal(struct {
		Version        int
		RecipientInfos []asn1.RawValue `asn1:"set"`
		Content        encryptedContentInfo
	}{0, []asn1.RawValue{{FullBytes: ri}}, encryptedContentInfo{ContentType: oidData,
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
		Encrypted: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: body}}})
	if err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{ContentType: oidEnvelopedData,
		Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: ed}})
	if err != nil {
		return "", fmt.Errorf("cms: seal: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
