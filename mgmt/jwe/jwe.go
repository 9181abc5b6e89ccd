// Package jwe is the encryption scheme of the management API (contract §4, seed "JWE
// configuration"): request bodies are compact JWEs encrypted to the server's RSA key with
// RSA-OAEP-256 (RSA-OAEP accepted) and A256GCM; successful responses are encrypted to the
// client's RSA key (sent in the Public-Key header) with RSA-OAEP-256 and A256GCM.
//
// The allowed algorithms are explicit lists (go-jose refuses anything else at parse time), so
// a JWE with "alg":"RSA1_5" or "dir" never reaches a decryption attempt.
package jwe

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Errors of the scheme; the API maps each to its contract error code (all 400).
var (
	ErrInvalidPublicKey = errors.New("jwe: missing or unparsable client public key")      // INVALID_PUBLIC_KEY
	ErrInvalidPayload   = errors.New("jwe: body is not {\"payload\": compact JWE}")       // INVALID_PAYLOAD
	ErrCantDecrypt      = errors.New("jwe: payload does not decrypt with the server key") // CANT_DECRYPT_PAYLOAD
)

// KeyAlgorithms are the key-management algorithms accepted on requests.
var KeyAlgorithms = []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.RSA_OAEP}

// ContentEncryptions are the content encryptions accepted on requests.
var ContentEncryptions = []jose.ContentEncryption{jose.A256GCM}

// ServerKeyBits is the size of the generated server key.
const ServerKeyBits = 2048

// ClientKeyMinBits is the smallest client RSA key accepted in the Public-Key header.
const ClientKeyMinBits = 2048

// KeyFile is the name of the server key file in the data directory.
const KeyFile = "mgmt-jwe-key.pem"

// ServerKey is the server's RSA key pair for encrypted requests.
type ServerKey struct {
	priv *rsa.PrivateKey
	kid  string
	pem  string
}

// LoadOrCreate reads the server key from dir/KeyFile, generating and storing it (mode 0600) on
// first start. created reports whether it was generated.
func LoadOrCreate(dir string) (k *ServerKey, created bool, err error) {
	path := filepath.Join(dir, KeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := parsePrivate(raw)
		if err != nil {
			return nil, false, fmt.Errorf("jwe: %s: %w", path, err)
		}
		return k, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, fmt.Errorf("jwe: %w", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, ServerKeyBits)
	if err != nil {
		return nil, false, fmt.Errorf("jwe: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, false, fmt.Errorf("jwe: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("jwe: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return nil, false, fmt.Errorf("jwe: write key: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return nil, false, fmt.Errorf("jwe: write key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, false, fmt.Errorf("jwe: write key: %w", err)
	}
	k, err = NewServerKey(priv)
	return k, true, err
}

func parsePrivate(raw []byte) (*ServerKey, error) {
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA key")
		}
		priv = rk
	} else if rk, err2 := x509.ParsePKCS1PrivateKey(b.Bytes); err2 == nil {
		priv = rk
	} else {
		return nil, err
	}
	return NewServerKey(priv)
}

// NewServerKey wraps an RSA private key (tests, or a key from an HSM export).
func NewServerKey(priv *rsa.PrivateKey) (*ServerKey, error) {
	if priv.N.BitLen() < ServerKeyBits {
		return nil, errors.New("jwe: server key shorter than 2048 bits")
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwe: %w", err)
	}
	sum := sha256.Sum256(der)
	return &ServerKey{priv: priv,
		kid: base64.RawURLEncoding.EncodeToString(sum[:16]),
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// KID is the key id: base64url of the first 16 bytes of SHA-256 of the SubjectPublicKeyInfo.
func (k *ServerKey) KID() string { return k.kid }

// PublicPEM is the PEM text of the SubjectPublicKeyInfo.
func (k *ServerKey) PublicPEM() string { return k.pem }

// Public is the server's public key.
func (k *ServerKey) Public() *rsa.PublicKey { return &k.priv.PublicKey }

// ParseClientKey decodes the Public-Key header: standard base64 of the PEM text of an RSA
// SubjectPublicKeyInfo ("PUBLIC KEY"; a PKCS#1 "RSA PUBLIC KEY" is accepted too).
func ParseClientKey(header string) (*rsa.PublicKey, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, ErrInvalidPublicKey
	}
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		// Tolerate unpadded base64, which some clients send.
		if raw, err = base64.RawStdEncoding.DecodeString(header); err != nil {
			return nil, ErrInvalidPublicKey
		}
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, ErrInvalidPublicKey
	}
	var pub *rsa.PublicKey
	switch b.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, ErrInvalidPublicKey
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, ErrInvalidPublicKey
		}
		pub = rk
	case "RSA PUBLIC KEY":
		rk, err := x509.ParsePKCS1PublicKey(b.Bytes)
		if err != nil {
			return nil, ErrInvalidPublicKey
		}
		pub = rk
	default:
		return nil, ErrInvalidPublicKey
	}
	if pub.N.BitLen() < ClientKeyMinBits {
		return nil, ErrInvalidPublicKey
	}
	return pub, nil
}

// EncodePublicKeyHeader is what a client puts in the Public-Key header for pub.
func EncodePublicKeyHeader(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// Envelope is the body of an encrypted request or response.
type Envelope struct {
	Payload string `json:"payload"`
}

// OpenRequest decodes an encrypted request body {"payload": "<compact JWE>"} and decrypts it
// with the server key. A body that is not that object, or a payload that is not a compact JWE
// (five base64url parts with a JSON protected header), is ErrInvalidPayload; a well-formed JWE
// that uses another algorithm or does not decrypt with the server key is ErrCantDecrypt.
func (k *ServerKey) OpenRequest(body []byte) ([]byte, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil || len(env) != 1 {
		return nil, ErrInvalidPayload
	}
	raw, ok := env["payload"]
	if !ok {
		return nil, ErrInvalidPayload
	}
	var compact string
	if err := json.Unmarshal(raw, &compact); err != nil {
		return nil, ErrInvalidPayload
	}
	if !looksCompact(compact) {
		return nil, ErrInvalidPayload
	}
	obj, err := jose.ParseEncryptedCompact(compact, KeyAlgorithms, ContentEncryptions)
	if err != nil {
		return nil, ErrCantDecrypt
	}
	plain, err := obj.Decrypt(k.priv)
	if err != nil {
		return nil, ErrCantDecrypt
	}
	return plain, nil
}

// looksCompact checks the compact serialization's shape: five base64url parts, the first a
// JSON object.
func looksCompact(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return false
	}
	for i, p := range parts {
		if i != 1 && i != 3 && p == "" { // the encrypted key (dir) and IV may be empty in general
			return false
		}
		if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
			return false
		}
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var m map[string]any
	return json.Unmarshal(hdr, &m) == nil
}

// Seal encrypts plaintext to pub as a compact JWE with RSA-OAEP-256 and A256GCM.
func Seal(pub *rsa.PublicKey, plaintext []byte, kid string) (string, error) {
	opts := (&jose.EncrypterOptions{}).WithContentType("application/json")
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: kid}, opts)
	if err != nil {
		return "", fmt.Errorf("jwe: %w", err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("jwe: %w", err)
	}
	return obj.CompactSerialize()
}

// Open decrypts a compact JWE addressed to priv with the accepted algorithms (clients, tests).
func Open(priv *rsa.PrivateKey, compact string) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(compact, KeyAlgorithms, ContentEncryptions)
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(priv)
}
