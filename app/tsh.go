package app

import (
	"fmt"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/tsh"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

// mountTSH serves the token service hub's calls under /tsh on the management listener when the
// configuration has a tsh section (contract §5): it loads the envelope keys and mounts the
// handler, which shares the listener's panic boundary and request metrics.
func (a *App) mountTSH(h *mgmt.Server, panHash func(string) string) error {
	cfg := a.cfg
	if cfg.TSH.IssuerID == "" {
		return nil
	}
	keys := make([]cms.Key, 0, len(cfg.TSH.Keys))
	for _, k := range cfg.TSH.Keys {
		key, err := cms.LoadKey(k.PublicKeyIdentifier, k.Path(cfg.DataDir, k.PrivateKeyFile), k.Path(cfg.DataDir, k.CertificateFile))
		if err != nil {
			return fmt.Errorf("tsh: %w", err)
		}
		keys = append(keys, key)
	}
	ring, err := cms.NewKeyring(keys...)
	if err != nil {
		return fmt.Errorf("tsh: %w", err)
	}
	svc, err := tsh.New(tsh.Deps{IssuerID: cfg.TSH.IssuerID, Keys: ring, Engine: a.engine, PANHash: panHash,
		Transport: h, Rules: trustRules(cfg.TSH.TrustRules), WalletProviderIDs: cfg.TSH.WalletProviderIDs, Webhook: cfg.HTTP.WebhookURL != "",
		OTPTTL: cfg.TSH.OTPTTL, Ready: a.ready.Load, Logger: a.log})
	if err != nil {
		return err
	}
	h.Mount(tsh.Prefix, svc.Handler)
	return nil
}

func trustRules(rs []config.TSHTrustRule) []tsh.TrustRule {
	out := make([]tsh.TrustRule, 0, len(rs))
	for _, r := range rs {
		out = append(out, tsh.TrustRule{Program: r.Program, WalletProviderID: r.WalletProviderID,
			AlwaysStepUp: r.AlwaysStepUp, GreenWithoutCVV: r.GreenWithoutCVV})
	}
	return out
}
