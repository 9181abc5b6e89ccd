package app

import (
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/switch/dispatch"
	"github.com/cardswitch/cardswitch/switch/server"
)

// Each component takes its own configuration, built here from the keys of the configuration file
// that concern it: no package below app reads the whole config.Config.

func isoConfig(cfg *config.Config) server.Config {
	return server.Config{Addr: cfg.ISO.Addr, MaxFrameBytes: cfg.ISO.MaxFrameBytes,
		MaxInFlightPerConn: cfg.ISO.MaxInFlightPerConn, MaxSessions: cfg.ISO.MaxSessions,
		IdleTimeout: cfg.ISO.IdleTimeout, DrainTimeout: cfg.ISO.DrainTimeout}
}

func engineConfig(cfg *config.Config) engine.Config {
	return engine.Config{QueueDepth: cfg.Engine.QueueDepth, MaxBatch: cfg.Engine.MaxBatch,
		HoldTTL: cfg.Engine.HoldTTL, ReplyRetention: cfg.Engine.ReplyRetention}
}

func mgmtConfig(cfg *config.Config) mgmt.Config {
	return mgmt.Config{DataDir: cfg.DataDir, HTTP: cfg.HTTP, Programs: cfg.Programs}
}

// dispatchConfig publishes authorization events to the management API's webhook outbox, and only
// when a webhook receives them: the outbox costs a write per message. h is built before the
// dispatcher and never changes, so its encoders read it without synchronization.
func dispatchConfig(cfg *config.Config, h *mgmt.Server) dispatch.Config {
	var c dispatch.Config
	if cfg.HTTP.WebhookURL != "" {
		c.Notify = func(n dispatch.Notice) {
			if n.CardID != "" {
				h.NotifyAuthorization(mgmt.AuthorizationNotice{CardID: n.CardID, BalanceID: n.BalanceID,
					MTI: n.Request.BaseMTI, Kind: n.Request.Kind, AmountMinor: n.Request.AmountMinor,
					Action: n.Response.Action, At: time.Now()})
			}
		}
	}
	return c
}
