package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/cardswitch/cardswitch/config"
)

// TestDevOperator: the development profile gets dev-admin with a generated password kept in a
// 0600 file (the log names the file, never the password); a second start reuses it; a
// configuration with operators, or a config file, gets none.
func TestDevOperator(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := &config.Config{DevProfile: true, DataDir: dir}
	if err := devOperator(cfg, log); err != nil {
		t.Fatal(err)
	}
	pwPath := filepath.Join(dir, "mgmt", devOperatorPasswordFile)
	pw, err := os.ReadFile(pwPath)
	if err != nil {
		t.Fatal(err)
	}
	pw = bytes.TrimSpace(pw)
	if st, _ := os.Stat(pwPath); st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v", st.Mode().Perm())
	}
	if len(cfg.HTTP.Operators) != 1 || cfg.HTTP.Operators[0].Name != "dev-admin" || cfg.HTTP.Operators[0].Role != "Admin" ||
		bcrypt.CompareHashAndPassword([]byte(cfg.HTTP.Operators[0].PasswordHash), pw) != nil {
		t.Fatalf("operators %+v", cfg.HTTP.Operators)
	}
	if !strings.Contains(logs.String(), pwPath) || strings.Contains(logs.String(), string(pw)) {
		t.Fatalf("log: %s", logs.String())
	}
	again := &config.Config{DevProfile: true, DataDir: dir}
	if err := devOperator(again, log); err != nil || again.HTTP.Operators[0].PasswordHash != cfg.HTTP.Operators[0].PasswordHash {
		t.Fatalf("second start: %v %+v", err, again.HTTP.Operators)
	}
	for _, c := range []*config.Config{{DataDir: t.TempDir()},
		{DevProfile: true, DataDir: t.TempDir(), HTTP: config.HTTP{Operators: []config.Operator{{Name: "olga"}}}}} {
		if err := devOperator(c, log); err != nil || len(c.HTTP.Operators) > 1 || (len(c.HTTP.Operators) == 1 && c.HTTP.Operators[0].Name != "olga") {
			t.Fatalf("no dev operator expected: %v %+v", err, c.HTTP.Operators)
		}
	}
}
