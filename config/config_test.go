package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Contract §1: without --config the development profile runs with random keys generated on first
// start, stored 0600 in the data directory, with a warning; the second start reuses them.
func TestDevProfileGeneratesKeysOnce(t *testing.T) {
	dir := t.TempDir()
	var warnings []string
	c1, err := Load("", Overrides{DataDir: dir}, func(m string) { warnings = append(warnings, m) })
	if err != nil {
		t.Fatal(err)
	}
	if !c1.DevProfile || len(c1.Programs) != 3 || c1.Programs[0].BIN != "535110" || c1.Programs[1].BIN != "423456" ||
		c1.Programs[2].BIN != "522223" || !c1.Programs[2].TokensOnly { // contract §6: the Pay by Account program
		t.Fatalf("dev profile: %+v", c1.Programs)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], "generated random development keys") {
		t.Fatalf("no warning about generated keys: %q", warnings)
	}
	fi, err := os.Stat(filepath.Join(dir, devKeysFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v mode %v", err, fi.Mode())
	}
	c2, err := Load("", Overrides{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Security.DataKey != c2.Security.DataKey || c1.Programs[0].Keys != c2.Programs[0].Keys {
		t.Fatal("second start generated other keys")
	}
	c3, _ := Load("", Overrides{DataDir: t.TempDir()}, nil)
	if c3.Security.DataKey == c1.Security.DataKey || c3.Security.ZPK == c1.Security.ZPK {
		t.Fatal("two data directories share development keys: they must be random")
	}
	if c1.ISO.Addr != DefaultISOAddr || c1.HTTP.Addr != DefaultHTTPAddr || c1.ISO.MaxFrameBytes != 8192 {
		t.Fatalf("defaults: %+v %+v", c1.ISO, c1.HTTP)
	}
}

const goodYAML = `
iso:
  addr: 127.0.0.1:9583
  maxFrameBytes: 4096
http:
  addr: 127.0.0.1:9080
dataDir: %s
security:
  zpk: 0123456789ABCDEFFEDCBA9876543210
  dataKey: 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F
programs:
  - name: demo-mc
    bin: "535110"
    scheme: mastercard
    currency: EUR
    panLength: 16
    keys:
      imkAc: 0123456789ABCDEFFEDCBA9876543210
      cvk: 0123456789ABCDEFFEDCBA9876543210
      pvk: 0123456789ABCDEFFEDCBA9876543210
      pvki: 1
`

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "cardswitch.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The contract's YAML keys load as written, and flags override the file.
func TestYAMLKeysAndFlagOverrides(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, strings.Replace(goodYAML, "%s", dir, 1))
	c, err := Load(p, Overrides{ISOAddr: "127.0.0.1:1234"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ISO.Addr != "127.0.0.1:1234" || c.HTTP.Addr != "127.0.0.1:9080" || c.ISO.MaxFrameBytes != 4096 || c.DataDir != dir {
		t.Fatalf("loaded %+v %+v %s", c.ISO, c.HTTP, c.DataDir)
	}
	if c.DevProfile || c.Programs[0].Keys.PVKI != 1 || c.Programs[0].ExpiryMonths != 36 {
		t.Fatalf("program: %+v", c.Programs[0])
	}
}

// Bad configuration is refused with the key named and never its value.
func TestInvalidConfigurationNamesTheKey(t *testing.T) {
	for name, tc := range map[string]struct{ from, to, want string }{
		"short zpk":     {"zpk: 0123456789ABCDEFFEDCBA9876543210", "zpk: 0123", "security.zpk"},
		"bad bin":       {`bin: "535110"`, `bin: "53511"`, "programs[0].bin"},
		"bad scheme":    {"scheme: mastercard", "scheme: amex", "programs[0].scheme"},
		"bad currency":  {"currency: EUR", "currency: XXX", "programs[0].currency"},
		"bad cvk":       {"cvk: 0123456789ABCDEFFEDCBA9876543210", "cvk: ZZ23456789ABCDEFFEDCBA9876543210", "programs[0].keys.cvk"},
		"unknown key":   {"maxFrameBytes: 4096", "maxFrameBytes: 4096\n  maxFrames: 1", "maxFrames"},
		"frame too big": {"maxFrameBytes: 4096", "maxFrameBytes: 100000", "iso.maxFrameBytes"},
		"bad dataKeyId": {"  zpk:", "  dataKeyId: 300\n  zpk:", "security.dataKeyId"},
	} {
		body := strings.Replace(strings.Replace(goodYAML, "%s", t.TempDir(), 1), tc.from, tc.to, 1)
		_, err := Load(writeConfig(t, body), Overrides{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to name %s", name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "ZZ23456789") {
			t.Errorf("%s: the error repeats the key value", name)
		}
	}
}

// The development profile's hub section: issuer CARDSWITCH, key dev-1 generated once into the
// data directory (key 0600), reused on the next start.
func TestDevProfileTSHKey(t *testing.T) {
	dir := t.TempDir()
	var warned []string
	c, err := Load("", Overrides{DataDir: dir}, func(m string) { warned = append(warned, m) })
	if err != nil {
		t.Fatal(err)
	}
	if c.TSH.IssuerID != "CARDSWITCH" || len(c.TSH.Keys) != 1 || c.TSH.Keys[0].PublicKeyIdentifier != "dev-1" {
		t.Fatalf("%+v", c.TSH)
	}
	keyPath := filepath.Join(dir, "tsh-dev-1.key")
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tsh-dev-1.crt")); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(keyPath)
	if _, err := Load("", Overrides{DataDir: dir}, nil); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(keyPath)
	if string(first) != string(again) {
		t.Fatal("the development key was made anew")
	}
	found := false
	for _, w := range warned {
		found = found || strings.Contains(w, "tsh-dev-1.key")
	}
	if !found {
		t.Fatalf("no warning: %v", warned)
	}
}

func TestTSHValidation(t *testing.T) {
	key := TSHKey{PublicKeyIdentifier: "k1", PrivateKeyFile: "a.key", CertificateFile: "a.crt"}
	for name, c := range map[string]TSH{
		"short issuer": {IssuerID: "SHORT", Keys: []TSHKey{key}},
		"no keys":      {IssuerID: "CARDSWITCH"},
		"keys, no id":  {Keys: []TSHKey{key}},
		"repeated key": {IssuerID: "CARDSWITCH", Keys: []TSHKey{key, key}},
		"long key id":  {IssuerID: "CARDSWITCH", Keys: []TSHKey{{PublicKeyIdentifier: strings.Repeat("k", 33), PrivateKeyFile: "a", CertificateFile: "b"}}},
		"no files":     {IssuerID: "CARDSWITCH", Keys: []TSHKey{{PublicKeyIdentifier: "k"}}},
		"negative ttl": {IssuerID: "CARDSWITCH", Keys: []TSHKey{key}, OTPTTL: -1},
		"empty wallet": {IssuerID: "CARDSWITCH", Keys: []TSHKey{key}, WalletProviderIDs: []string{""}},
	} {
		if errs := c.validate(); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
	if errs := (&TSH{}).validate(); len(errs) != 0 {
		t.Errorf("no tsh section: %v", errs)
	}
	if errs := (&TSH{IssuerID: "CARDSWITCH", Keys: []TSHKey{key}}).validate(); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	if p := key.Path("/data", "a.key"); p != "/data/a.key" {
		t.Errorf("relative path: %s", p)
	}
	if p := key.Path("/data", "/etc/a.key"); p != "/etc/a.key" {
		t.Errorf("absolute path: %s", p)
	}
}
