package config

import (
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

const fxYAML = `
fx:
  rates:
    - {from: USD, to: EUR, rate: "0.92"}
    - {from: USD, to: JPY, rate: "149.5"}
    - {from: JPY, to: EUR, rate: "0.006125"}
  companyBalances: {EUR: company-eur}
kyc:
  providerUrl: http://127.0.0.1:8090
  callbackUrl: http://127.0.0.1:8080/kyc/callback
  callbackSecret: 0123456789abcdef
`

// The fx and kyc keys load; rates become integer ratios in minor units that convert as the
// decimal rate does, across currencies with different decimals.
func TestFXAndKYCKeys(t *testing.T) {
	c, err := Load(writeConfig(t, strings.Replace(goodYAML, "%s", t.TempDir(), 1)+fxYAML), Overrides{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.KYC.ProviderURL != "http://127.0.0.1:8090" || c.FX.CompanyBalances["EUR"] != "company-eur" {
		t.Fatalf("loaded %+v %+v", c.KYC, c.FX)
	}
	tab := ledger.NewFXTable(c.FX.Table(), c.FX.CompanyBalances)
	for _, tc := range []struct {
		from, to string
		in, want int64
	}{
		{"840", "978", 1000, 920},  // 10.00 USD -> 9.20 EUR
		{"840", "392", 1000, 1495}, // 10.00 USD -> 1495 JPY (no decimals)
		{"392", "978", 1000, 613},  // 1000 JPY -> 6.125 EUR -> 6.13 (half away from zero)
	} {
		r, ok := tab.Rate(tc.from, tc.to)
		if !ok {
			t.Fatalf("no rate %s->%s", tc.from, tc.to)
		}
		if got, _ := r.Convert(tc.in); got != tc.want {
			t.Errorf("%s->%s %d = %d, want %d", tc.from, tc.to, tc.in, got, tc.want)
		}
	}
	if id, ok := tab.Company("EUR"); !ok || id != "company-eur" {
		t.Fatalf("company %q", id)
	}
}

func TestFXAndKYCInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ from, to, want string }{
		"same currency":  {"{from: USD, to: EUR", "{from: EUR, to: EUR", "fx.rates[0]"},
		"unknown":        {"{from: USD, to: EUR", "{from: USX, to: EUR", "fx.rates[0]"},
		"zero rate":      {`rate: "0.92"`, `rate: "0"`, "fx.rates[0].rate"},
		"negative rate":  {`rate: "0.92"`, `rate: "-1"`, "fx.rates[0].rate"},
		"too precise":    {`rate: "0.92"`, `rate: "0.0000000001"`, "fx.rates[0].rate"},
		"not a number":   {`rate: "0.92"`, `rate: "abc"`, "fx.rates[0].rate"},
		"repeated":       {`{from: USD, to: JPY, rate: "149.5"}`, `{from: USD, to: EUR, rate: "1"}`, "fx.rates[1]"},
		"company cur":    {"{EUR: company-eur}", "{EUX: company-eur}", "fx.companyBalances.EUX"},
		"short secret":   {"callbackSecret: 0123456789abcdef", "callbackSecret: short", "kyc.callbackSecret"},
		"no callback":    {"callbackUrl: http://127.0.0.1:8080/kyc/callback", "callbackUrl: ''", "kyc.callbackUrl"},
		"bad provider":   {"providerUrl: http://127.0.0.1:8090", "providerUrl: ftp://x", "kyc.providerUrl"},
		"negative start": {"callbackSecret: 0123456789abcdef", "callbackSecret: 0123456789abcdef\n  startTimeout: -1s", "kyc.startTimeout"},
	} {
		body := strings.Replace(strings.Replace(goodYAML, "%s", t.TempDir(), 1)+fxYAML, tc.from, tc.to, 1)
		_, err := Load(writeConfig(t, body), Overrides{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to name %s", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: the error repeats the secret", name)
		}
	}
}
