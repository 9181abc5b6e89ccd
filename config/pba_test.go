package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Contract §6: the development profile has institution demo-bank (EUR) on program demo-pba-mc
// and generates its EC P-256 key pair once, the private key 0600.
func TestDevProfilePBA(t *testing.T) {
	dir := t.TempDir()
	c, err := Load("", Overrides{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PBA.Institutions) != 1 {
		t.Fatalf("institutions: %+v", c.PBA.Institutions)
	}
	in := c.PBA.Institutions[0]
	if in.ID != "demo-bank" || in.Currency != "EUR" || in.Program != "demo-pba-mc" || in.Keys[0].KID != "demo-bank-1" {
		t.Fatalf("institution: %+v", in)
	}
	fi, err := os.Stat(filepath.Join(dir, DevPBAKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v", err)
	}
	pub1, err := os.ReadFile(filepath.Join(dir, DevPBAPublicKeyFile))
	if err != nil || !strings.Contains(string(pub1), "PUBLIC KEY") {
		t.Fatalf("public key: %v", err)
	}
	if _, err := Load("", Overrides{DataDir: dir}, nil); err != nil {
		t.Fatal(err)
	}
	pub2, _ := os.ReadFile(filepath.Join(dir, DevPBAPublicKeyFile))
	if string(pub1) != string(pub2) {
		t.Fatal("second start replaced the key pair")
	}
	if c.PBA.SessionTTL != DefaultPBASessionTTL || c.PBA.CredentialsPerReplenish != 10 || c.PBA.CredentialsThreshold != 3 {
		t.Fatalf("defaults: %+v", c.PBA)
	}
}

// A development data directory made before Pay by Account gets keys for the new program and
// keeps the others.
func TestDevKeysAddedForNewProgram(t *testing.T) {
	dir := t.TempDir()
	old := `{"zpk":"0123456789ABCDEFFEDCBA9876543210","dataKey":"` + strings.Repeat("AB", 32) + `","programs":{
"demo-mc":{"IMKAC":"0123456789ABCDEFFEDCBA9876543210","CVK":"0123456789ABCDEFFEDCBA9876543210","PVK":"0123456789ABCDEFFEDCBA9876543210","PVKI":1},
"demo-visa":{"IMKAC":"0123456789ABCDEFFEDCBA9876543210","CVK":"0123456789ABCDEFFEDCBA9876543210","PVK":"0123456789ABCDEFFEDCBA9876543210","PVKI":1}}}`
	if err := os.WriteFile(filepath.Join(dir, devKeysFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", Overrides{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Programs[0].Keys.IMKAC != "0123456789ABCDEFFEDCBA9876543210" || c.Programs[2].Keys.IMKAC == "" {
		t.Fatalf("keys: %+v", c.Programs)
	}
}

func TestValidatePBA(t *testing.T) {
	base := func() *Config {
		c, err := Load("", Overrides{DataDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, tc := range map[string]struct {
		change func(c *Config)
		want   string
	}{
		"unknown program":   {func(c *Config) { c.PBA.Institutions[0].Program = "nope" }, "pba.institutions[0].program"},
		"currency mismatch": {func(c *Config) { c.PBA.Institutions[0].Currency = "USD" }, "pba.institutions[0].program"},
		"no keys":           {func(c *Config) { c.PBA.Institutions[0].Keys = nil }, "pba.institutions[0].keys"},
		"repeated kid": {func(c *Config) {
			c.PBA.Institutions[0].Keys = append(c.PBA.Institutions[0].Keys, c.PBA.Institutions[0].Keys[0])
		}, "kid: missing or repeated"},
		"bad id":        {func(c *Config) { c.PBA.Institutions[0].ID = "a b" }, "pba.institutions[0].id"},
		"visa program":  {func(c *Config) { c.PBA.Institutions[0].Program = "demo-visa" }, "want a mastercard program"},
		"bad threshold": {func(c *Config) { c.PBA.CredentialsThreshold = 50 }, "credentialsThreshold"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base()
			tc.change(c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
