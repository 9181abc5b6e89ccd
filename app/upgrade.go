package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/notify"
)

// legacyImportBatch bounds the events one engine batch imports, so a large old outbox never
// makes one oversized journal write.
const legacyImportBatch = 1000

// importLegacyOutbox moves the undelivered events of an earlier version's webhook outbox
// (<dir>/webhooks.log) into the journal, where delivery goes on (ledger.ImportEvents), then sets
// the file aside as webhooks.log.imported. A crash before the rename imports them again at the
// next start: they are delivered twice with the same ids (delivery is at least once).
func importLegacyOutbox(eng *engine.Engine, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, notify.LegacyOutboxFile)
	if _, err := os.Stat(path); err != nil {
		return nil // none: a store of this version
	}
	payloads, err := notify.ReadLegacyOutbox(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for from := 0; from < len(payloads); from += legacyImportBatch {
		to := min(from+legacyImportBatch, len(payloads))
		if _, err := engine.Do(ctx, eng, ledger.ImportEvents{Payloads: payloads[from:to]}); err != nil {
			return fmt.Errorf("import of the earlier webhook outbox: %w", err)
		}
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("import of the earlier webhook outbox: %w", err)
	}
	log.Info("undelivered events of the earlier webhook outbox moved into the journal", "events", len(payloads))
	return nil
}
