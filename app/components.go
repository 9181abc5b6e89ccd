package app

import (
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
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
