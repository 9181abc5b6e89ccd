package app

import (
	"log/slog"
	"path/filepath"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/archive"
)

// archivePerTick bounds the records one expiry tick archives (the engine's ExpiryBatchMax
// default: the same bound as the holds it expires and the records it forgets).
const archivePerTick = 1024

// openArchive opens <dataDir>/archive, sealed under the journal's data keys, and makes the
// State's reads of auth records include it. It is opened whatever engine.archiveAfter says, so
// that records archived before archiving was turned off are still read.
func openArchive(cfg *config.Config, keyID byte, keys map[byte][]byte, old map[byte][]byte, st *ledger.State, log *slog.Logger) (*archive.Store, error) {
	s, err := archive.Open(archive.Options{Dir: filepath.Join(cfg.DataDir, "archive"),
		DataKey: keys[keyID], DataKeyID: keyID, OldDataKeys: old, Logger: log})
	if err != nil {
		return nil, err
	}
	st.SetArchive(s)
	st.SetArchiving(cfg.Engine.ArchiveAfter >= 0)
	return s, nil
}

// archiveStep is the engine's archiving step (engine.Config.Archive), nil when
// engine.archiveAfter is negative.
func archiveStep(cfg *config.Config, s *archive.Store, log *slog.Logger) func(*ledger.Tx, *ledger.Env) int {
	after := cfg.Engine.ArchiveAfter
	if after < 0 {
		return nil
	}
	if after == 0 {
		after = archive.DefaultAfter
	}
	return archive.NewArchiver(s, after, archivePerTick, log).Step
}
