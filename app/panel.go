package app

import (
	"context"
	"log/slog"

	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/internal/metrics"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/mgmt/panel"
)

// The operator panel (issue 22, docs/operations.md "Operator panel"): HTML pages under /panel/
// on the management listener, over the /admin API, with a live traffic page fed by the metrics
// registry and the dispatcher's feed of decided authorizations.

// mountPanel serves the panel on h and starts its metrics sampler; the returned stop ends the
// live streams and the sampler (call it before the listener drains).
func mountPanel(h *mgmt.Server, m *metrics.Metrics, feed *authfeed.Feed, log *slog.Logger) (stop func()) {
	p := panel.New(panel.Deps{API: h.Handler(), Auth: h.AdminCaller, SecureCookies: h.TLS(),
		Metrics: m.Registry, Feed: feed, Log: log})
	h.Mount(panel.Prefix, p.Handler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() {
		p.Close()
		cancel()
		<-done
	}
}
