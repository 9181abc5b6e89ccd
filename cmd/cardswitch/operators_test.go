package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/cardswitch/cardswitch/mgmt"
)

func TestHashPasswordCommand(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "pw"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("correct horse battery\n")
	f.Seek(0, 0)
	var out, errOut bytes.Buffer
	if err := hashPasswordCmd([]string{"--cost", "10"}, f, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse battery")) != nil {
		t.Fatalf("hash %q does not verify", h)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != 10 {
		t.Fatalf("cost %d", c)
	}
	f.Seek(0, 0)
	if err := hashPasswordCmd([]string{"--cost", "4"}, f, &out, &errOut); err == nil {
		t.Fatalf("cost below %d accepted", mgmt.BcryptCostMin)
	}
}

func TestTOTPSecretCommand(t *testing.T) {
	var out bytes.Buffer
	if err := totpSecretCmd([]string{"--name", "olga"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "totpSecret: ") || !strings.Contains(out.String(), "otpauth://totp/cardswitch:olga") {
		t.Fatalf("output %q", out.String())
	}
	if err := totpSecretCmd(nil, &out); err == nil {
		t.Fatal("no name accepted")
	}
}
