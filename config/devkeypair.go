package config

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ensureDevKeyPair writes a development key pair on first start: the private key as PKCS#8 PEM
// (mode 0600) at priv, the public key as PKIX PEM at pub. A pair already there is kept (the
// public key is written last, so its presence means both are complete). gen makes the key only
// when it is needed; what names the pair in errors and in the warning.
func ensureDevKeyPair(priv, pub, what string, gen func() (crypto.Signer, error), warn func(string)) error {
	if _, err := os.Stat(pub); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("config: %s: %w", what, err)
	}
	k, err := gen()
	if err != nil {
		return fmt.Errorf("config: %s: %w", what, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("config: %s: %w", what, err)
	}
	if err := writeFile0600(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return fmt.Errorf("config: %s: %w", what, err)
	}
	if err := writeFile0600(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})); err != nil {
		return err
	}
	if warn != nil {
		warn("development profile: generated " + what + " in " + priv + " (mode 0600); do not use it in production")
	}
	return nil
}
