package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt"
)

// The development profile (serve without --config) has no operators configured, so `make run`
// would serve a panel nobody can log in to. serve therefore gives it one operator, dev-admin
// (role Admin): on the first start in a data directory it generates a random password, writes
// it to <dataDir>/mgmt/dev-operator-password (mode 0600) and its bcrypt hash next to it, and
// warns with the file's path (never the password: no secret goes to a log line), as it does for
// the generated development keys. Later starts read the hash again. A configuration file
// (--config) never gets this operator: production operators are configured in http.operators
// with `cardswitch hash-password` (docs/operators.md).

const (
	devOperatorName         = "dev-admin"
	devOperatorPasswordFile = "dev-operator-password"
	devOperatorHashFile     = "dev-operator.bcrypt"
	devOperatorPasswordSize = 18 // random bytes: 24 characters of base64url
)

// devOperator adds the development operator to cfg (development profile without operators only).
func devOperator(cfg *config.Config, log *slog.Logger) error {
	if !cfg.DevProfile || len(cfg.HTTP.Operators) > 0 {
		return nil
	}
	dir := filepath.Join(cfg.DataDir, "mgmt")
	pwPath, hashPath := filepath.Join(dir, devOperatorPasswordFile), filepath.Join(dir, devOperatorHashFile)
	hash, err := os.ReadFile(hashPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("development operator: %w", err)
		}
		var raw [devOperatorPasswordSize]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return fmt.Errorf("development operator: %w", err)
		}
		pw := []byte(base64.RawURLEncoding.EncodeToString(raw[:]))
		h, err := mgmt.HashOperatorPassword(pw, mgmt.BcryptCostMin)
		if err != nil {
			return fmt.Errorf("development operator: %w", err)
		}
		// The password first: a crash between the two writes leaves no hash without its password.
		if err := os.WriteFile(pwPath, append(pw, '\n'), 0o600); err != nil {
			return fmt.Errorf("development operator: %w", err)
		}
		if err := os.WriteFile(hashPath, []byte(h), 0o600); err != nil {
			return fmt.Errorf("development operator: %w", err)
		}
		hash = []byte(h)
		log.Warn("development profile: generated the operator "+devOperatorName+" (role Admin) for the panel at /panel/; "+
			"its password is in the file (mode 0600); do not use the development profile in production", "file", pwPath)
	case err != nil:
		return fmt.Errorf("development operator: %w", err)
	default:
		log.Info("development profile: the operator "+devOperatorName+" logs in at /panel/ with the password in the file", "file", pwPath)
	}
	cfg.HTTP.Operators = []config.Operator{{Name: devOperatorName, Role: mgmt.RoleAdmin, PasswordHash: string(hash)}}
	return nil
}
