package app

import (
	"fmt"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger"
)

type healthOnly struct {
	srv *fasthttp.Server
}

func (h *healthOnly) Shutdown() error { return h.srv.Shutdown() }

// startHTTP starts the management API listener.
func startHTTP(a *App, env ledger.Env) (httpServer, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	metricsHandler := a.metrics.Handler()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			metricsHandler(ctx)
			return
		}
		if string(ctx.Path()) == "/healthz" {
			ctx.SetContentType("application/json")
			if a.ready.Load() {
				ctx.SetBodyString(`{"status":"ok"}`)
				return
			}
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString(`{"status":"starting"}`)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}}
	a.httpAddr = ln.Addr().String()
	go srv.Serve(ln)
	return &healthOnly{srv: srv}, nil
}
