package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// TSH configures the token service hub's calls to the issuer under /tsh (contract §5). Without
// an issuerId (a config file without a tsh section) /tsh is not served.
type TSH struct {
	IssuerID string   `yaml:"issuerId"` // exactly 10 characters; x-issuer-id must equal it
	Keys     []TSHKey `yaml:"keys"`     // the hub encrypts to one of these; publicKeyIdentifier picks it
	// TrustRules change the default levelOfTrust rules of requestCardDigitization for a program,
	// a walletProviderId, or both (docs/tsh.md); the most specific matching rule applies.
	TrustRules []TSHTrustRule `yaml:"trustRules"`
	// WalletProviderIDs are walletProviderId values agreed with the hub at onboarding (the seed
	// allows one per TRID), accepted besides APPLE_PAY, SPAYHCE, ANDROID_PAY, WALLET and ECOM;
	// 1–128 characters each.
	WalletProviderIDs []string `yaml:"walletProviderIds"`
	// OTPTTL is how long a generated OTP is valid when sendOTP gives no expirationDate
	// (default 10m).
	OTPTTL time.Duration `yaml:"otpTTL"`
}

// TSHKey is one envelope key: a PEM RSA 2048 or 4096 private key and the certificate handed to
// the hub. Relative paths are under dataDir.
type TSHKey struct {
	PublicKeyIdentifier string `yaml:"publicKeyIdentifier"` // 1–32 characters
	PrivateKeyFile      string `yaml:"privateKeyFile"`
	CertificateFile     string `yaml:"certificateFile"`
}

// TSHTrustRule is a levelOfTrust rule for a program and/or wallet provider ("" matches any).
type TSHTrustRule struct {
	Program          string `yaml:"program"`
	WalletProviderID string `yaml:"walletProviderId"`
	// AlwaysStepUp: never green; an eligible card with the right CVV is yellow (ID&V).
	AlwaysStepUp bool `yaml:"alwaysStepUp"`
	// GreenWithoutCVV: accepted terms are enough for green when no CVV was checked (a wrong
	// or refused CVV is still red).
	GreenWithoutCVV bool `yaml:"greenWithoutCvv"`
}

// The development profile's hub settings (contract §5).
const (
	DevTSHIssuerID = "CARDSWITCH"
	DevTSHKeyID    = "dev-1"
	devTSHKeyFile  = "tsh-dev-1.key"
	devTSHCertFile = "tsh-dev-1.crt"
)

// Path resolves a key file name: relative names are under dataDir.
func (k TSHKey) Path(dataDir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dataDir, name)
}

func (t *TSH) validate() []error {
	var errs []error
	if t.IssuerID == "" {
		if len(t.Keys) > 0 {
			errs = append(errs, errors.New("tsh.issuerId: required with tsh.keys"))
		}
		return errs
	}
	if utf8.RuneCountInString(t.IssuerID) != 10 {
		errs = append(errs, errors.New("tsh.issuerId: want exactly 10 characters"))
	}
	if len(t.Keys) == 0 {
		errs = append(errs, errors.New("tsh.keys: at least one key is needed"))
	}
	seen := map[string]bool{}
	for i, k := range t.Keys {
		if n := utf8.RuneCountInString(k.PublicKeyIdentifier); n < 1 || n > 32 || seen[k.PublicKeyIdentifier] {
			errs = append(errs, fmt.Errorf("tsh.keys[%d].publicKeyIdentifier: want 1 to 32 characters, not repeated", i))
		}
		seen[k.PublicKeyIdentifier] = true
		if k.PrivateKeyFile == "" || k.CertificateFile == "" {
			errs = append(errs, fmt.Errorf("tsh.keys[%d]: privateKeyFile and certificateFile are required", i))
		}
	}
	for i, w := range t.WalletProviderIDs {
		if n := utf8.RuneCountInString(w); n < 1 || n > 128 {
			errs = append(errs, fmt.Errorf("tsh.walletProviderIds[%d]: want 1 to 128 characters", i))
		}
	}
	if t.OTPTTL < 0 {
		errs = append(errs, errors.New("tsh.otpTTL: must not be negative"))
	}
	return errs
}

// devTSH is the development profile's hub section; its key and certificate are generated into
// the data directory on first start (ensureDevTSHKey).
func devTSH() TSH {
	return TSH{IssuerID: DevTSHIssuerID, Keys: []TSHKey{{PublicKeyIdentifier: DevTSHKeyID,
		PrivateKeyFile: devTSHKeyFile, CertificateFile: devTSHCertFile}}}
}

// ensureDevTSHKey generates the development envelope key (RSA 2048, PEM PKCS#1, mode 0600) and a
// self-signed certificate for it when the key file does not exist yet.
func (c *Config) ensureDevTSHKey(warn func(string)) error {
	keyPath := filepath.Join(c.DataDir, devTSHKeyFile)
	certPath := filepath.Join(c.DataDir, devTSHCertFile)
	if _, err := os.Stat(keyPath); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("config: %w", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("config: tsh key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("config: tsh key: %w", err)
	}
	now := time.Now().UTC()
	tmpl := &x509.Certificate{SerialNumber: serial,
		Subject:   pkix.Name{CommonName: "cardswitch " + DevTSHIssuerID + " " + DevTSHKeyID + " (development)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return fmt.Errorf("config: tsh certificate: %w", err)
	}
	// The certificate first: a crash between the two leaves no key without its certificate
	// (a missing key makes both anew).
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("config: tsh certificate: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	if err := writeFile0600(keyPath, keyPEM); err != nil {
		return err
	}
	if warn != nil {
		warn("development profile: generated the token service hub envelope key " + keyPath + " (mode 0600) and certificate " + certPath)
	}
	return nil
}
