package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cardswitch/cardswitch/ledger"
)

// KYC is the eKYC provider (package kyc; docs/users-balances.md).
type KYC struct {
	// ProviderURL is the provider's base address (POST {providerUrl}/verifications); empty:
	// the in-process default, manual review by the issuer's operators.
	ProviderURL string `yaml:"providerUrl"`
	// CallbackURL is where the provider posts results: this API's POST /kyc/callback as the
	// provider reaches it. Required with providerUrl.
	CallbackURL string `yaml:"callbackUrl"`
	// CallbackSecret signs the provider's callbacks (HMAC-SHA256, at least 16 characters).
	// Required with providerUrl; without it POST /kyc/callback answers 404.
	CallbackSecret string `yaml:"callbackSecret"`
	// StartTimeout bounds a start request to the provider (default 5s); when hit the customer
	// stays PENDING and the caller gets 503 KYC_PROVIDER_UNAVAILABLE.
	StartTimeout time.Duration `yaml:"startTimeout"`
}

// FX is the rate table of cross-currency authorizations (ledger/fx.go): an authorization in a
// currency other than its balance's is converted at the rate from its currency to the
// balance's; without a rate it is declined 1030 as before.
type FX struct {
	Rates []FXRate `yaml:"rates"`
	// CompanyBalances names, per balance currency, the company balance (the seed's Partner
	// Balance) that takes the differences between authorized and captured amounts of
	// cross-currency authorizations, e.g. {EUR: company-eur}. It is opened at start when it
	// does not exist. A currency without one books no difference: the cardholder is then
	// debited the converted captured amount.
	CompanyBalances map[string]string `yaml:"companyBalances"`
}

// FXRate is one rate: 1 unit of From is Rate units of To (a decimal string, e.g. "0.92").
type FXRate struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Rate string `yaml:"rate"`
}

// fxRateDecimalsMax bounds a rate's decimals, so that the ledger's integer ratio fits.
const fxRateDecimalsMax = 9

// Table turns the configured rates into the ledger's integer ratios (rates validated).
func (f FX) Table() []ledger.FXRate {
	out := make([]ledger.FXRate, 0, len(f.Rates))
	for _, r := range f.Rates {
		from, _ := ledger.CurrencyByAlpha(r.From)
		to, _ := ledger.CurrencyByAlpha(r.To)
		d, _ := decimal.NewFromString(r.Rate)
		// rate × 10^(exp_to − exp_from) in minor units, as num/den with den a power of ten.
		scale := -d.Exponent()
		if scale < 0 {
			scale = 0
		}
		num := d.Shift(scale).BigInt().Uint64()
		den := uint64(1)
		for range scale {
			den *= 10
		}
		for e := to.Exponent - from.Exponent; e > 0; e-- {
			num *= 10
		}
		for e := from.Exponent - to.Exponent; e > 0; e-- {
			den *= 10
		}
		out = append(out, ledger.FXRate{FromNum: from.Numeric, ToNum: to.Numeric, From: r.From, To: r.To, Num: num, Den: den})
	}
	return out
}

func (c *Config) validateKYCFX() []error {
	var errs []error
	k := &c.KYC
	if k.ProviderURL != "" {
		if u, err := url.Parse(k.ProviderURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("kyc.providerUrl: want an http(s) URL"))
		}
		if u, err := url.Parse(k.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("kyc.callbackUrl: want an http(s) URL with providerUrl"))
		}
		if len(k.CallbackSecret) < 16 {
			errs = append(errs, errors.New("kyc.callbackSecret: want at least 16 characters with providerUrl"))
		}
	}
	if k.StartTimeout < 0 {
		errs = append(errs, errors.New("kyc.startTimeout: want a positive duration"))
	}
	seen := map[string]bool{}
	for i, r := range c.FX.Rates {
		at := fmt.Sprintf("fx.rates[%d]", i)
		_, okF := ledger.CurrencyByAlpha(r.From)
		_, okT := ledger.CurrencyByAlpha(r.To)
		if !okF || !okT || r.From == r.To {
			errs = append(errs, fmt.Errorf("%s: from and to must be two different known currencies", at))
			continue
		}
		if seen[r.From+r.To] {
			errs = append(errs, fmt.Errorf("%s: repeated %s to %s", at, r.From, r.To))
		}
		seen[r.From+r.To] = true
		d, err := decimal.NewFromString(r.Rate)
		if err != nil || !d.IsPositive() || -d.Exponent() > fxRateDecimalsMax || d.GreaterThan(decimal.NewFromInt(1_000_000)) {
			errs = append(errs, fmt.Errorf("%s.rate: want a positive decimal up to 1000000 with at most %d decimals", at, fxRateDecimalsMax))
		}
	}
	for cur, id := range c.FX.CompanyBalances {
		if _, ok := ledger.CurrencyByAlpha(cur); !ok || id == "" {
			errs = append(errs, fmt.Errorf("fx.companyBalances.%s: want a known currency and a balance id", cur))
		}
	}
	return errs
}
