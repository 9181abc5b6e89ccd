package app

import (
	"net/http"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/kyc"
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
