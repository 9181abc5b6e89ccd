package provision

import (
	"encoding/hex"
	"slices"
	"testing"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Provisioning uses cardcrypto.CVV; the CVV example of the Visa/IBM algorithm descriptions (PAN 4123456789012345, expiry 8701,
// service code 101, CVK A 0123456789ABCDEF, CVK B FEDCBA9876543210): CVV 561.
func TestCVVKnownAnswer(t *testing.T) {
	got, err := cardcrypto.CVV(mustHex(t, "0123456789ABCDEFFEDCBA9876543210"), "4123456789012345", "8701", "101")
	if err != nil || got != "561" {
		t.Fatalf("CVV = %q, %v; want 561", got, err)
	}
}

func TestPVVShape(t *testing.T) {
	pvk := mustHex(t, "0123456789ABCDEFFEDCBA9876543210")
	a, err := cardcrypto.PVV(pvk, "4123456789012345", 1, "1234")
	if err != nil || len(a) != 4 {
		t.Fatalf("PVV = %q, %v", a, err)
	}
	b, _ := cardcrypto.PVV(pvk, "4123456789012345", 1, "1235")
	if a == b {
		t.Fatalf("PVV does not depend on the PIN")
	}
}

func TestPANDeterministicAndLuhn(t *testing.T) {
	p := &Program{BIN: "535110", PANLength: 16}
	if got := PAN(p, 42); got[:15] != "535110000000042" || !cardcrypto.LuhnValid(got) {
		t.Fatalf("PAN(42) = %s", got)
	}
	if PAN(p, 7) == PAN(p, 8) {
		t.Fatal("PANs collide")
	}
	progs := []Program{{Name: "a"}, {Name: "b"}}
	if ProgramOf(progs, 0).Name != "a" || ProgramOf(progs, 3).Name != "b" {
		t.Fatal("ProgramOf")
	}
}

// The development profile's Pay by Account program holds token PANs, not cards: it gets no
// provisioned cards (a card there is answered 14), the card programs keep their order.
func TestProgramsLeaveOutTokenOnlyPrograms(t *testing.T) {
	cfg, err := config.Load("", config.Overrides{DataDir: t.TempDir()}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	progs, err := Programs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range progs {
		names = append(names, p.Name)
	}
	if len(cfg.PBA.Institutions) == 0 || len(progs) != len(cfg.Programs)-1 || slices.Contains(names, config.DevPBAProgram) {
		t.Fatalf("card programs %v of %d configured", names, len(cfg.Programs))
	}
}
