package acquirer

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/switch/codec"
)

const subscriptionsPath = "../../scenarios/subscriptions.yaml"

func TestParseSubscriptionsScenario(t *testing.T) {
	s, err := LoadScenario(subscriptionsPath)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Step{}
	for _, st := range s.Steps {
		byName[st.Name] = st
	}
	init := byName["initial"]
	if sc := init.StoredCredential; sc == nil || sc.Indicator != "1" || sc.Agreement != "STREAM-MONTHLY" || sc.Terms != "5.00|49.99|30|+1y" {
		t.Errorf("initial stored credential %+v", init.StoredCredential)
	}
	if st := byName["mit-other-merchant"]; st.MerchantID != "OTHERMERCHANT01" || st.Entry != EntryCredentialOnFile {
		t.Errorf("mit-other-merchant %+v", st)
	}
	if e := byName["mit-out-of-range"].Expect; e.Code != "57" {
		t.Errorf("mit-out-of-range expect %+v", e)
	}
}

func TestParseStoredCredentialErrors(t *testing.T) {
	head := "setup:\n  balances: [{ref: eur}]\n  cards: [{ref: c}]\nsteps:\n"
	p := `  - {kind: sale, card: c, amount: "1.00", `
	for _, tc := range []struct{ name, steps, want string }{
		{"unknown key", p + "storedCredential: {indicator: 1, agreement: A, colour: red}}", "field colour not found"},
		{"no indicator", p + "storedCredential: {agreement: A}}", `indicator "": want 1, 2 or 3`},
		{"bad indicator", p + "storedCredential: {indicator: 4, agreement: A}}", `indicator "4"`},
		{"long agreement", p + "storedCredential: {indicator: 1, agreement: " + strings.Repeat("A", 33) + "}}", "longer than 32"},
		{"terms grammar", p + "storedCredential: {indicator: 1, agreement: A, terms: \"5|49.99|30|+1y\"}}", "want MIN|MAX|DAYS|DD.MM.YYYY"},
		{"relative end", p + "storedCredential: {indicator: 1, agreement: A, terms: \"5.00|49.99|30|+1w\"}}", "followed by d, m or y"},
		{"on a reversal", "  - {name: o, kind: sale, card: c, amount: \"1.00\"}\n  - {kind: reversal, ref: o, storedCredential: {indicator: 1, agreement: A}}", "not on a reversal step"},
		{"long merchant", p + "merchantId: MERCHANT-OF-VENICE}", "merchantId longer than 15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(head + tc.steps + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Terms that make no sense are sendable (the switch answers 30); so is a MIT without a
	// reference (57).
	if _, err := ParseScenario([]byte(head + p + "storedCredential: {indicator: 1, agreement: A, terms: \"50.00|49.99|0|01.01.2001\"}}\n" +
		p + "storedCredential: {indicator: 2}}\n")); err != nil {
		t.Fatal(err)
	}
}

func TestStoredCredentialResolve(t *testing.T) {
	now := time.Date(2026, 1, 31, 23, 0, 0, 0, time.FixedZone("X", 3600))
	for _, tc := range []struct{ terms, want string }{
		{"", ""},
		{"5.00|49.99|30|31.12.2027", "5.00|49.99|30|31.12.2027"},
		{"5.00|49.99|30|+1y", "5.00|49.99|30|31.01.2027"},
		{"5.00|49.99|30|+10d", "5.00|49.99|30|10.02.2026"},
		{"5.00|49.99|30|-1d", "5.00|49.99|30|30.01.2026"},
		{"5.00|49.99|30|+2m", "5.00|49.99|30|31.03.2026"},
	} {
		got, err := StoredCredentialSpec{Indicator: "1", Agreement: "A", Terms: tc.terms}.Resolve(now)
		if err != nil || got.Terms != tc.want || got.Indicator != "1" || got.Agreement != "A" {
			t.Errorf("Resolve(%q) = %+v, %v; want terms %q", tc.terms, got, err, tc.want)
		}
	}
}

// TestBuildStoredCredential checks field 48 and 42 as the switch decodes them, and that a
// credential-on-file payment carries no CVC2.
func TestBuildStoredCredential(t *testing.T) {
	b := NewBuilder(nil, DefaultTerminal)
	card := &Card{PAN: "5351100000000001", ExpiryYYMM: "2812", CVC2: "123", CurrencyNum: "978"}
	for _, tc := range []struct {
		name, entry, cvc2, merchant, wantCVC2, wantMerchant string
		sc                                                  authz.StoredCredential
	}{
		{"initial", EntryECommerce, "", "", "123", DefaultTerminal.MerchantID,
			authz.StoredCredential{Indicator: "1", Agreement: "SUB-1", Terms: "5.00|49.99|30|31.12.2099"}},
		{"mit", EntryCredentialOnFile, "", "", "", DefaultTerminal.MerchantID,
			authz.StoredCredential{Indicator: "2", Agreement: "SUB-1"}},
		{"cit with cvc2", EntryCredentialOnFile, "456", "SHOP2", "456", "SHOP2          ",
			authz.StoredCredential{Indicator: "1", Agreement: "SUB-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := b.Build(Spec{Kind: KindSale, Card: card, AmountMinor: 999, Entry: tc.entry, CVC2: tc.cvc2,
				MerchantID: tc.merchant, Stored: tc.sc})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := codec.BuildRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := codec.Decode(msg)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.StoredCredential != tc.sc || got.CVC2 != tc.wantCVC2 || got.MerchantID != tc.wantMerchant {
				t.Errorf("decoded 48 %+v cvc2 %q 42 %q", got.StoredCredential, got.CVC2, got.MerchantID)
			}
			if tc.entry == EntryCredentialOnFile && (got.POSEntryMode != "102" || got.ExpiryYYMM != "2812") {
				t.Errorf("credential on file: 22 %q 14 %q", got.POSEntryMode, got.ExpiryYYMM)
			}
		})
	}
}

// TestSubscriptionsScenarioWithSim plays scenarios/subscriptions.yaml with the `cardswitch sim`
// command's code path against a real switch, as TestDemoScenarioEndToEnd does for the demo.
func TestSubscriptionsScenarioWithSim(t *testing.T) {
	a, cfg := startSwitch(t)
	httpAddr := a.HTTPAddr()
	if _, err := NewMgmt(httpAddr).CreateCustomer(CustomerSpec{ExternalID: "probe"}); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			httpAddr = strings.TrimPrefix(startMgmt(t, a, cfg).BaseURL, "http://")
		}
	}
	var out, errOut bytes.Buffer
	err := runSim([]string{"--addr", a.ISOAddr(), "--http-addr", httpAddr, "--data-dir", cfg.DataDir, "--wait", "5s",
		"--scenario", subscriptionsPath}, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	if !strings.Contains(out.String(), "mismatched 0") || !strings.Contains(out.String(), "PASS") {
		t.Errorf("summary missing or failing")
	}
}
