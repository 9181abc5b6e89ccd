package pba

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The institution's side of signed data, for the bank simulator and the tests: the switch never
// signs trusted identities itself.

// LoadSigningKey reads a PEM private key (PKCS #8, EC P-256 or RSA).
func LoadSigningKey(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pba: signing key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("pba: signing key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pba: signing key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("pba: signing key: not a signer")
	}
	return s, nil
}

// Sign makes signed data: a compact JWS of claims under key (ES256 for an EC key, RS256 for
// RSA) with kid in the header.
func Sign(key crypto.Signer, kid string, claims Claims) (string, error) {
	alg := jose.ES256
	switch key.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
	case *ecdsa.PrivateKey:
	default:
		return "", errors.New("pba: sign: want an EC or RSA key")
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", fmt.Errorf("pba: sign: %w", err)
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}
