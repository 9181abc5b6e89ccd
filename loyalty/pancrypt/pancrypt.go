// Package pancrypt is the card-number envelope of the rewards seed (loyalty-rewards.txt §6.2):
// the browser encrypts the PAN and the result travels as {"key": ..., "data": ...}. key is a
// fresh AES-256 key wrapped with RSA-OAEP-256 to the recipient's public key, data the PAN sealed
// with AES-256-GCM under it (12-byte IV first); both base64 (standard, padded). The enrollment
// page does this with WebCrypto to cardswitch's key; cardswitch opens it and seals the PAN again,
// the same way, to the rewards host's key.
package pancrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the {"key","data"} form.
type Envelope struct {
	Key  string `json:"key"`
	Data string `json:"data"`
}

// ErrEnvelope is returned for an envelope that cannot be opened; it never carries the content.
var ErrEnvelope = errors.New("pancrypt: envelope cannot be opened")

// MaxEnvelopeBytes bounds an envelope's JSON (a PAN is at most 19 digits): larger is refused.
const MaxEnvelopeBytes = 2048

// Seal encrypts plain to pub.
func Seal(pub *rsa.PublicKey, plain []byte) (Envelope, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return Envelope{}, fmt.Errorf("pancrypt: %w", err)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key[:], nil)
	if err != nil {
		return Envelope{}, fmt.Errorf("pancrypt: wrap: %w", err)
	}
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return Envelope{}, fmt.Errorf("pancrypt: %w", err)
	}
	data := gcm.Seal(iv, iv, plain, nil)
	return Envelope{Key: base64.StdEncoding.EncodeToString(wrapped), Data: base64.StdEncoding.EncodeToString(data)}, nil
}

// Open decrypts an envelope with priv.
func Open(priv *rsa.PrivateKey, e Envelope) ([]byte, error) {
	wrapped, err1 := base64.StdEncoding.DecodeString(e.Key)
	data, err2 := base64.StdEncoding.DecodeString(e.Data)
	if err1 != nil || err2 != nil {
		return nil, ErrEnvelope
	}
	key, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil)
	if err != nil || len(key) != 32 {
		return nil, ErrEnvelope
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	if len(data) < gcm.NonceSize()+gcm.Overhead() {
		return nil, ErrEnvelope
	}
	plain, err := gcm.Open(nil, data[:gcm.NonceSize()], data[gcm.NonceSize():], nil)
	if err != nil {
		return nil, ErrEnvelope
	}
	return plain, nil
}

// Parse reads the JSON form.
func Parse(raw []byte) (Envelope, error) {
	if len(raw) > MaxEnvelopeBytes {
		return Envelope{}, ErrEnvelope
	}
	var e Envelope
	if err := json.Unmarshal(raw, &e); err != nil || e.Key == "" || e.Data == "" {
		return Envelope{}, ErrEnvelope
	}
	return e, nil
}

// JSON is the envelope's JSON form.
func (e Envelope) JSON() string {
	b, _ := json.Marshal(e)
	return string(b)
}
