package app

import (
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/pba"
)

// startPBA builds Pay by Account when institutions are configured (contract §6), mounts /pba/ on
// the management listener and starts its job runner. The App owns it: stop closes it before the
// management API stops (its event streams end first).
func (a *App) startPBA(h *mgmt.Server, env ledger.Env) error {
	cfg := a.cfg
	if len(cfg.PBA.Institutions) == 0 {
		return nil
	}
	var specs []pba.KeySpec
	for _, in := range cfg.PBA.Institutions {
		for _, k := range in.Keys {
			specs = append(specs, pba.KeySpec{KID: k.KID, Institution: in.ID, Path: cfg.PBAKeyPath(k.PublicKeyFile)})
		}
	}
	svc, err := pba.New(pba.Deps{Config: cfg.PBA, Programs: cfg.Programs, KeySpecs: specs, Engine: a.engine,
		PANHash: env.PANHasher, Gate: h, Logger: a.log.With("component", "pba"), Adapters: a.opts.PBAAdapters,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes})
	if err != nil {
		return err
	}
	h.Mount("/pba/", svc.Handler())
	svc.Start()
	a.pba = svc
	return nil
}

// PBA is the Pay by Account service (nil when no institution is configured).
func (a *App) PBA() *pba.Service { return a.pba }
