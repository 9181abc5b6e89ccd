package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/loyalty"
	"github.com/cardswitch/cardswitch/mgmt"
)

// The loyalty platform (contract §7, docs/loyalty.md): its service answers the read-out on the
// card management channels, serves /company/, /issuer/ and /loyalty/ on the management listener,
// and runs the purge job.

// newLoyalty builds the loyalty service of cfg.
func newLoyalty(cfg *config.Config, eng *engine.Engine, panHash func(string) string, log *slog.Logger) (*loyalty.Service, error) {
	bins := map[string]string{}
	for _, p := range cfg.Programs {
		bins[p.Name] = p.BIN
	}
	return loyalty.New(loyalty.Deps{Config: cfg.Loyalty, DataDir: cfg.DataDir, CardHashKey: cardHashKey(cfg),
		Engine: eng, PANHash: panHash, Log: log, ProgramBINs: bins})
}

// cardHashKey is loyalty.cardHashKey, or one derived from the data key (the same on every start).
func cardHashKey(cfg *config.Config) []byte {
	if cfg.Loyalty.CardHashKey != "" {
		return config.Key(cfg.Loyalty.CardHashKey)
	}
	m := hmac.New(sha256.New, config.Key(cfg.Security.DataKey))
	m.Write([]byte("cardswitch loyalty cardHash key"))
	return m.Sum(nil)
}

// mountLoyalty serves the service's prefixes on the management listener and starts its purge
// job; the returned stop ends the job and waits for it.
func mountLoyalty(h *mgmt.Server, svc *loyalty.Service) (stop func()) {
	svc.Attach(h)
	for _, p := range loyalty.Prefixes {
		h.Mount(p, svc.Handler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Loyalty is the loyalty service (tests: the in-process rewards host, the purge with a clock).
func (a *App) Loyalty() *loyalty.Service { return a.loyalty }
