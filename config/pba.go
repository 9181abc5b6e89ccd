package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// PBA is Pay by Account (contract §6, docs/pba.md): the account holding institutions whose
// signed data the switch accepts, and the limits of the wallet server.
type PBA struct {
	Institutions []PBAInstitution `yaml:"institutions"`
	// SessionTTL is the life of a userSessionToken; default 10m. Past it calls are answered 401
	// USER_UNATHORIZED and the app logs in again with a fresh trusted identity.
	SessionTTL time.Duration `yaml:"sessionTTL"`
	// CVC2GracePeriod is how long a static token may wait for the account processing platform's
	// CVC2 before the cleanup job deletes it; default 24h.
	CVC2GracePeriod time.Duration `yaml:"cvc2GracePeriod"`
	// ProvisioningGracePeriod is how long a device token may stay INACTIVE (never provisioned)
	// before the cleanup job deletes it; default 24h.
	ProvisioningGracePeriod time.Duration `yaml:"provisioningGracePeriod"`
	// JobInterval is how often the job runner looks for due job steps; default 1s.
	JobInterval time.Duration `yaml:"jobInterval"`
	// CredentialsPerReplenish is how many transaction credentials (ATCs) one replenishment
	// delivers to a device token; default 10.
	CredentialsPerReplenish int `yaml:"credentialsPerReplenish"`
	// CredentialsThreshold: when a device token has fewer credentials left than this after a
	// payment, the switch replenishes it by itself; default 3.
	CredentialsThreshold int `yaml:"credentialsThreshold"`
}

// PBAInstitution is one account holding institution (a bank).
type PBAInstitution struct {
	ID       string   `yaml:"id"`       // the iss of its signed data
	Currency string   `yaml:"currency"` // ISO 4217 alpha-3 of its accounts
	Keys     []PBAKey `yaml:"keys"`
	Program  string   `yaml:"program"` // the program whose BIN range token PANs come from
}

// PBAKey is one of an institution's signing keys: a PEM public key (RSA for RS256, EC P-256 for
// ES256), under the data directory if the path is relative.
type PBAKey struct {
	KID           string `yaml:"kid"`
	PublicKeyFile string `yaml:"publicKeyFile"`
}

// Defaults of the pba block.
const (
	DefaultPBASessionTTL         = 10 * time.Minute
	DefaultPBAGracePeriod        = 24 * time.Hour
	DefaultPBAJobInterval        = time.Second
	DefaultPBACredentialsBatch   = 10
	DefaultPBACredentialsMinimum = 3
)

// The development institution (contract §6).
const (
	DevPBAInstitution = "demo-bank"
	DevPBAProgram     = "demo-pba-mc"
	DevPBAKID         = "demo-bank-1"
	// DevPBAKeyFile and DevPBAPublicKeyFile are the development key pair under the data
	// directory: the private key is for tests and the simulator to sign with.
	DevPBAKeyFile       = "pba-demo-bank-1.key.pem"
	DevPBAPublicKeyFile = "pba-demo-bank-1.pub.pem"
)

func devPBAProgram() Program {
	return Program{Name: DevPBAProgram, BIN: "522223", Scheme: "mastercard", Currency: "EUR", PANLength: 16}
}

func devPBA() PBA {
	return PBA{Institutions: []PBAInstitution{{ID: DevPBAInstitution, Currency: "EUR", Program: DevPBAProgram,
		Keys: []PBAKey{{KID: DevPBAKID, PublicKeyFile: DevPBAPublicKeyFile}}}}}
}

func (p *PBA) applyDefaults() {
	if p.SessionTTL == 0 {
		p.SessionTTL = DefaultPBASessionTTL
	}
	if p.CVC2GracePeriod == 0 {
		p.CVC2GracePeriod = DefaultPBAGracePeriod
	}
	if p.ProvisioningGracePeriod == 0 {
		p.ProvisioningGracePeriod = DefaultPBAGracePeriod
	}
	if p.JobInterval == 0 {
		p.JobInterval = DefaultPBAJobInterval
	}
	if p.CredentialsPerReplenish == 0 {
		p.CredentialsPerReplenish = DefaultPBACredentialsBatch
	}
	if p.CredentialsThreshold == 0 {
		p.CredentialsThreshold = DefaultPBACredentialsMinimum
	}
}

// markTokensOnly marks the programs Pay by Account issues token PANs from: they are used for
// nothing else (never a default program for cards, and their internal account cards never
// authorize by their own numbers).
func (c *Config) markTokensOnly() {
	for _, in := range c.PBA.Institutions {
		for i := range c.Programs {
			if c.Programs[i].Name == in.Program {
				c.Programs[i].TokensOnly = true
			}
		}
	}
}

var pbaID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (c *Config) validatePBA() []error {
	var errs []error
	p := &c.PBA
	ids := map[string]bool{}
	for i, in := range p.Institutions {
		at := fmt.Sprintf("pba.institutions[%d]", i)
		if !pbaID.MatchString(in.ID) || ids[in.ID] {
			errs = append(errs, fmt.Errorf("%s.id: missing, repeated or not [A-Za-z0-9._-]{1,64}", at))
		}
		ids[in.ID] = true
		if _, ok := ledger.CurrencyByAlpha(in.Currency); !ok {
			errs = append(errs, fmt.Errorf("%s.currency: unknown ISO 4217 code", at))
		}
		prog, ok := c.Program(in.Program)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s.program: no such program", at))
		case prog.Currency != in.Currency:
			errs = append(errs, fmt.Errorf("%s.program: the program's currency differs from the institution's", at))
		case prog.Scheme != "mastercard":
			// Device tokens pay with Mastercard CVN 21 cryptograms (docs/pba.md).
			errs = append(errs, fmt.Errorf("%s.program: want a mastercard program", at))
		}
		if len(in.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s.keys: at least one key is needed", at))
		}
		kids := map[string]bool{}
		for j, k := range in.Keys {
			if k.KID == "" || kids[k.KID] {
				errs = append(errs, fmt.Errorf("%s.keys[%d].kid: missing or repeated", at, j))
			}
			kids[k.KID] = true
			if k.PublicKeyFile == "" {
				errs = append(errs, fmt.Errorf("%s.keys[%d].publicKeyFile: missing", at, j))
			}
		}
	}
	if p.SessionTTL < 0 || p.CVC2GracePeriod < 0 || p.ProvisioningGracePeriod < 0 || p.JobInterval < 0 {
		errs = append(errs, errors.New("pba: durations must not be negative"))
	}
	if p.CredentialsPerReplenish < 1 || p.CredentialsPerReplenish > 100 {
		errs = append(errs, errors.New("pba.credentialsPerReplenish: want 1..100"))
	}
	if p.CredentialsThreshold < 0 || p.CredentialsThreshold > p.CredentialsPerReplenish {
		errs = append(errs, errors.New("pba.credentialsThreshold: want 0..credentialsPerReplenish"))
	}
	return errs
}

// PBAKeyPath is where an institution's key file is: path itself when absolute, otherwise under
// the data directory.
func (c *Config) PBAKeyPath(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(c.DataDir, path)
}

// loadDevPBAKey makes the development institution's key pair on first start: an EC P-256 private
// key (mode 0600) that tests and the simulator sign with, and its public key, which the switch
// verifies with. A pair already there is kept.
func (c *Config) loadDevPBAKey(warn func(string)) error {
	return ensureDevKeyPair(filepath.Join(c.DataDir, DevPBAKeyFile), filepath.Join(c.DataDir, DevPBAPublicKeyFile),
		"the Pay by Account key pair of demo-bank", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }, warn)
}
