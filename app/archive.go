package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/archive"
	"github.com/cardswitch/cardswitch/ledger/engine"
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

// startHandOver gives, once per store and beside the engine, the auth records a version without
// the archive kept an entry in the archiving index (ledger/archive.HandOver), then marks the
// store. The returned stop cancels it and waits for it (an interrupted hand-over runs again at
// the next start). nil when nothing is to be done.
func startHandOver(cfg *config.Config, s *archive.Store, e *engine.Engine, clock func() time.Time, log *slog.Logger) (stop func()) {
	retention := cfg.Engine.ReplyRetention
	if retention == 0 {
		retention = engine.DefaultReplyRetention
	}
	if cfg.Engine.ArchiveAfter < 0 || retention < 0 || s.HandedOver() {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cutoff := clock().Add(-retention).UnixNano()
		n, err := archive.HandOver(ctx, e.State(), cutoff, func(ctx context.Context, c ledger.ArchiveHandOver) error {
			_, err := engine.Do(ctx, e, c)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				log.Error("archive: hand-over of the records kept before the archive failed; it runs again at the next start", "handedOver", n, "err", err)
			}
			return
		}
		if err := s.MarkHandedOver(); err != nil {
			log.Error("archive: hand-over done but not marked; it runs again at the next start", "err", err)
			return
		}
		if n > 0 {
			log.Info("archive: records kept before the archive handed over", "records", n)
		}
	}()
	return func() { cancel(); <-done }
}
