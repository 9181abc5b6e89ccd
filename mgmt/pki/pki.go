// Package pki makes the development public-key infrastructure of `cardswitch pki init`: a
// development CA, a server certificate for 127.0.0.1/localhost and a partner client certificate
// for the mutual-TLS /secure channel. It is for development and tests only: keys are ECDSA P-256,
// written with mode 0600, and nothing here is fit for production.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names written by Init.
const (
	CACert        = "ca.pem"
	CAKey         = "ca-key.pem"
	ServerCert    = "server.pem"
	ServerKey     = "server-key.pem"
	PartnerCert   = "partner.pem"
	PartnerKey    = "partner-key.pem"
	PartnerCN     = "cardswitch-dev-partner"
	ServerCN      = "localhost"
	CAValidity    = 5 * 365 * 24 * time.Hour
	LeafValidity  = 2 * 365 * 24 * time.Hour
	clockSkewBack = time.Hour // certificates are valid from an hour ago, for skewed clocks
)

// ErrExists is returned when dir already holds a development PKI: Init never overwrites keys.
var ErrExists = errors.New("pki: files exist; remove them first")

// Init writes the development CA, the server certificate (SAN 127.0.0.1, ::1, localhost) and a
// partner client certificate into dir (created with mode 0700).
func Init(dir string) error { return InitAt(dir, time.Now()) }

// InitAt is Init with the time passed in (tests).
func InitAt(dir string, now time.Time) error {
	for _, f := range []string{CACert, CAKey, ServerCert, ServerKey, PartnerCert, PartnerKey} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, filepath.Join(dir, f))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cardswitch development CA", Organization: []string{"cardswitch (development only)"}},
		NotBefore:             now.Add(-clockSkewBack),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("pki: CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writeCert(dir, CACert, caDER); err != nil {
		return err
	}
	if err := writeKey(dir, CAKey, caKey); err != nil {
		return err
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, certFile, keyFile string, dns []string, ips []net.IP) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		t := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"cardswitch (development only)"}},
			NotBefore:    now.Add(-clockSkewBack),
			NotAfter:     now.Add(LeafValidity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("pki: %s: %w", cn, err)
		}
		if err := writeCert(dir, certFile, der); err != nil {
			return err
		}
		return writeKey(dir, keyFile, k)
	}
	if err := leaf(ServerCN, x509.ExtKeyUsageServerAuth, ServerCert, ServerKey,
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}); err != nil {
		return err
	}
	return leaf(PartnerCN, x509.ExtKeyUsageClientAuth, PartnerCert, PartnerKey, nil, nil)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("pki: no randomness: " + err.Error())
	}
	return n
}

func writeCert(dir, name string, der []byte) error {
	return writeFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(dir, name string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return writeFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	return f.Close()
}
