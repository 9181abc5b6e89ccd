package mgmt

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
)

// FuzzDecodeJSONBody feeds arbitrary bytes to the strict JSON decoding of the management API
// (decodeStrict into the request shapes the handlers use) and arbitrary strings to the amount
// parser. Properties: never a panic; every refusal is a 400 with an UPPER_SNAKE code and a
// message (bad input never yields 5xx, contract §4); an accepted amount is within field 4's
// range, has exactly the currency's decimals and formats back to the same string.
func FuzzDecodeJSONBody(f *testing.F) {
	for _, s := range []struct{ body, amount, currency string }{
		{`{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+3312345678"}`, "12.34", "EUR"},
		{`{"amount":"100.00"}`, "100.00", "EUR"},
		{`{"amount":12.34}`, "12", "JPY"},
		{`{"reasonCode":3}`, "1.234", "BHD"},
		{`{"type":"VIRTUAL","program":"demo-mc"}`, "-1.00", "EUR"},
		{`{"pin":"1234"}`, "1.001", "EUR"},
		{`{"firstName":1}`, "1e3", "EUR"},
		{`{"x":true}`, "999999999999.99", "EUR"},
		{`[]`, "0.00", "EUR"},
		{`{"a":{"b":[1,2,{"c":null}]}}{}`, "", "XXX"},
		{`{"firstName":"\ud800"}`, "00.10", "eur"},
		{"", "NaN", "EUR"},
		{`{"status":"VERIFIED"}`, "9999999999.99", "EUR"},
	} {
		f.Add([]byte(s.body), s.amount, s.currency)
	}
	f.Fuzz(func(t *testing.T, body []byte, amount, currency string) {
		var customer struct {
			ExternalID string `json:"externalId"`
			FirstName  string `json:"firstName"`
			LastName   string `json:"lastName"`
			Email      string `json:"email"`
			Phone      string `json:"phone"`
		}
		var reload struct {
			Amount json.RawMessage `json:"amount"`
		}
		var lock struct {
			ReasonCode int `json:"reasonCode"`
		}
		var card struct {
			Type    string `json:"type"`
			Program string `json:"program"`
		}
		var generic map[string]any
		for i, dst := range []any{&customer, &reload, &lock, &card, &generic} {
			for _, optional := range []bool{false, true} {
				if e := decodeStrict(body, dst, optional); e != nil {
					checkAPIError(t, e)
				} else if i == 1 && reload.Amount != nil {
					if v, e := parseAmount("amount", reload.Amount, "EUR", false); e != nil {
						checkAPIError(t, e)
					} else if v <= 0 || v > maxAmountMinor {
						t.Fatalf("amount %s parsed to %d", reload.Amount, v)
					}
				}
			}
		}
		for _, allowZero := range []bool{false, true} {
			v, e := parseAmountString("amount", amount, currency, allowZero)
			if e != nil {
				checkAPIError(t, e)
				continue
			}
			if v < 0 || v > maxAmountMinor || v == 0 && !allowZero {
				t.Fatalf("%q %s parsed to %d", amount, currency, v)
			}
			cur, _ := ledger.CurrencyByAlpha(currency)
			if got := formatAmount(v, currency); got != amount {
				t.Fatalf("%q %s (exponent %d) parsed to %d, formats back as %q", amount, currency, cur.Exponent, v, got)
			}
		}
	})
}

func checkAPIError(t *testing.T, e *apiError) {
	t.Helper()
	if e.Status != 400 {
		t.Fatalf("bad input answered %d: %+v", e.Status, e)
	}
	if e.Code == "" || strings.ToUpper(e.Code) != e.Code || strings.ContainsAny(e.Code, " -") || e.Message == "" {
		t.Fatalf("error body %+v", e)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Fatalf("error body does not encode: %v", err)
	}
}
