package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevProfileLoyalty: contract §7's development profile, with the demo partner's key pair
// made once (private key 0600).
func TestDevProfileLoyalty(t *testing.T) {
	dir := t.TempDir()
	c, err := Load("", Overrides{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Loyalty
	if l.RewardsHost != "" || l.GracePeriod != 720*time.Hour || len(l.Partners) != 1 || l.Partners[0].ID != "demo-partner" ||
		len(l.Programs) != 1 || l.Programs[0].ProgramID != "DEMO-PROGRAM" || l.Programs[0].PointsPerUnit != 1 ||
		len(l.Programs[0].Offers) != 2 || l.Programs[0].Offers[0].Multiplier != 3 || l.Programs[0].Offers[1].Bonus != 50 {
		t.Fatalf("loyalty %+v", l)
	}
	st, err := os.Stat(DevPartnerKeyPath(dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", st, err)
	}
	pub := l.Partners[0].PublicKeyPath(dir)
	first, err := os.ReadFile(pub)
	if err != nil || !strings.Contains(string(first), "PUBLIC KEY") {
		t.Fatalf("public key: %v", err)
	}
	if _, err := Load("", Overrides{DataDir: dir}, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(pub); string(again) != string(first) {
		t.Fatal("the key pair was made again on the second start")
	}
	r := l.LoyaltyRules()
	p, ok := r.Program("DEMO-PROGRAM")
	if !ok || p.PointsPerUnit != 1 || len(p.Offers) != 2 || p.Offers[0].MerchantID != "PARTNER0000001" {
		t.Fatalf("rules %+v", p)
	}
}

func TestLoyaltyValidationNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown card program", "programs: [{programId: P, cardPrograms: [nope], pointsPerUnit: 1}]", "loyalty.programs[0].cardPrograms"},
		{"offer without condition", "programs: [{programId: P, cardPrograms: [demo-mc], offers: [{bonus: 5}]}]", "loyalty.programs[0].offers[0]: want merchantId"},
		{"offer with two kinds", "programs: [{programId: P, cardPrograms: [demo-mc], offers: [{mcc: '5411', bonus: 5, multiplier: 2}]}]", "want one of"},
		{"bad mcc", "programs: [{programId: P, cardPrograms: [demo-mc], offers: [{mcc: '54', bonus: 5}]}]", "offers[0].mcc"},
		{"rate too high", "programs: [{programId: P, cardPrograms: [demo-mc], pointsPerUnit: 100000}]", "pointsPerUnit"},
		{"partner names unknown programme", "partners: [{id: x, publicKeyFile: k.pem, programs: [Q]}]", "loyalty.partners[0].programs"},
		{"partner without key", "partners: [{id: x}]", "loyalty.partners[0].publicKeyFile"},
		{"negative grace", "gracePeriod: -1h", "loyalty.gracePeriod"},
		{"host not a URL", "rewardsHost: mrs.example", "loyalty.rewardsHost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			body := `security: {zpk: 0123456789ABCDEF0123456789ABCDEF, dataKey: 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF}
programs: [{name: demo-mc, bin: "535110", scheme: mastercard, currency: EUR, keys: {imkAc: 0123456789ABCDEF0123456789ABCDEF, cvk: 0123456789ABCDEF0123456789ABCDEF, pvk: 0123456789ABCDEF0123456789ABCDEF}}]
loyalty:
  ` + tc.yaml + "\n"
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, Overrides{DataDir: t.TempDir()}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
