package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/kyc"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
)

// kycProvider is the configured eKYC provider: nil without kyc.providerUrl (the management API
// then uses its in-process default, manual review by the operators).
func kycProvider(cfg *config.Config) kyc.Provider {
	k := cfg.KYC
	if k.ProviderURL == "" {
		return nil
	}
	timeout := k.StartTimeout
	if timeout <= 0 {
		timeout = kyc.DefaultStartTimeout
	}
	return &kyc.HTTPProvider{BaseURL: k.ProviderURL, CallbackURL: k.CallbackURL, Client: &http.Client{Timeout: timeout}}
}

// fxTable is the configured cross-currency rate table and company balances (nil: none, every
// cross-currency authorization is declined 1030).
func fxTable(cfg *config.Config) *ledger.FXTable {
	if len(cfg.FX.Rates) == 0 {
		return nil
	}
	return ledger.NewFXTable(cfg.FX.Table(), cfg.FX.CompanyBalances)
}

// openCompanyBalances opens the configured company balances that do not exist yet, before any
// traffic, so a cross-currency capture finds its company balance.
func openCompanyBalances(eng *engine.Engine, cfg *config.Config, log *slog.Logger) error {
	if len(cfg.FX.CompanyBalances) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := engine.Do(ctx, eng, ledger.OpenCompanyBalances{ByCurrency: cfg.FX.CompanyBalances})
	if err != nil {
		return fmt.Errorf("company balances: %w", err)
	}
	if res.Refusal != nil {
		return fmt.Errorf("company balances: %s", res.Refusal.Error())
	}
	if res.Value > 0 {
		log.Info("company balances opened", "count", res.Value)
	}
	return nil
}
