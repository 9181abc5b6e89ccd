package app

import (
	"fmt"
	"net"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/mgmt"
)

// startHTTP starts the management API (with /healthz and /metrics) on the HTTP listener.
func startHTTP(a *App, env ledger.Env) (*mgmt.Server, error) {
	srv, err := mgmt.New(mgmt.Deps{Config: a.cfg, Engine: a.engine, PANHash: env.PANHasher, Logger: a.log,
		Ready: a.ready.Load, Clock: time.Now, Events: a.events, Webhooks: a.hooks, Metrics: a.metrics, MetricsHandler: a.metrics.Handler()})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("http listener: %w", err)
	}
	a.httpAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil {
			a.log.Error("management API stopped", "err", err)
		}
	}()
	return srv, nil
}
