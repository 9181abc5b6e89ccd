package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	kycsim "github.com/cardswitch/cardswitch/simulators/kyc"
)

// The switch as configured: fx.companyBalances are opened at start and fx.rates reach the
// ledger; kyc.providerUrl sends verifications to the provider (the simulator), whose signed
// callback verifies the customer.
func TestFXAndKYCWiring(t *testing.T) {
	const secret = "0123456789abcdef-kyc"
	answered := make(chan int, 4) // the status of each callback the switch answered
	sim := kycsim.New(kycsim.Config{Secret: []byte(secret),
		Client: &http.Client{Timeout: 10 * time.Second, Transport: reportingTransport(answered)}})
	defer sim.Close()
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()

	cfg := testConfig(t)
	cfg.FX = config.FX{Rates: []config.FXRate{{From: "USD", To: "EUR", Rate: "0.92"}},
		CompanyBalances: map[string]string{"EUR": "company-eur"}}
	httpAddr := freePort(t)
	cfg.HTTP.Addr = httpAddr
	cfg.KYC = config.KYC{ProviderURL: simSrv.URL, CallbackURL: "http://" + httpAddr + "/kyc/callback", CallbackSecret: secret}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := app.New(cfg, slog.New(slog.DiscardHandler), app.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	select {
	case <-a.Started():
	case err := <-ran:
		t.Fatal(err)
	}
	b, ok := a.Engine().State().Balance("company-eur")
	if !ok || b.Kind != ledger.BalanceCompany || b.Currency != "EUR" {
		t.Fatalf("company balance %+v %v", b, ok)
	}

	post := func(path, body string) map[string]string {
		t.Helper()
		resp, err := http.Post("http://"+a.HTTPAddr()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, m)
		}
		return m
	}
	cust := post("/secure/customers", `{"firstName":"Ada","lastName":"Lovelace"}`)["customerId"]
	if got := post("/secure/customers/"+cust+"/register", "")["kycStatus"]; got != "PENDING" {
		t.Fatalf("register: %s", got)
	}
	select {
	case st := <-answered:
		if st != http.StatusOK {
			t.Fatalf("callback answered %d", st)
		}
	case <-time.After(20 * time.Second): // a hang, not a synchronization
		t.Fatal("the provider's result never arrived")
	}
	if c, _ := a.Engine().State().Customer(cust); c.KYC != ledger.KYCVerified {
		t.Fatalf("customer %s after the provider approved", c.KYC)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reportingTransport reports the status of every answered request on ch. It keeps no idle
// connection, which would hold up the switch's shutdown.
func reportingTransport(ch chan int) http.RoundTripper {
	tr := &http.Transport{DisableKeepAlives: true}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := tr.RoundTrip(r)
		if err == nil {
			ch <- resp.StatusCode
		}
		return resp, err
	})
}
