package acquirer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// World is what the simulator provisioned: the customer, balances and cards the steps use.
type World struct {
	CustomerID string                   `json:"customerId"`
	Balances   map[string]*WorldBalance `json:"balances"`
	Cards      map[string]*Card         `json:"cards"`
}

// WorldBalance is a provisioned balance.
type WorldBalance struct {
	Ref         string `json:"ref"`
	BalanceID   string `json:"balanceId"`
	Currency    string `json:"currency"`
	CurrencyNum string `json:"currencyNum"`
	Exponent    int    `json:"exponent"`
	LoadedMinor int64  `json:"loaded"`
}

// DemoSetup is what `sim --provision-demo` provisions: a KYC-verified customer with a EUR
// balance reloaded with 100.00, a virtual Mastercard card and a virtual Visa card (PIN 1234).
var DemoSetup = Setup{
	Balances: []BalanceSpec{{Ref: "eur", Currency: "EUR", Reload: "100.00"}},
	Cards: []CardSpec{
		{Ref: "mc", Balance: "eur", Program: "demo-mc", Type: "VIRTUAL", PIN: "1234"},
		{Ref: "visa", Balance: "eur", Program: "demo-visa", Type: "VIRTUAL", PIN: "1234"},
	},
}

// Provision creates the setup through the management API: customer (KYC VERIFIED), balances
// (reloaded), cards (full card data fetched over the encrypted endpoint, PIN set when asked).
// logf, when not nil, reports progress without card data.
func Provision(m *Mgmt, s Setup, logf func(format string, a ...any)) (*World, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w := &World{Balances: map[string]*WorldBalance{}, Cards: map[string]*Card{}}
	if len(s.Balances) == 0 && len(s.Cards) == 0 {
		return w, nil
	}
	c := s.Customer
	stamp := time.Now().UTC().Format("20060102T150405.000000000")
	if c.ExternalID == "" {
		c.ExternalID = "sim-" + stamp
	} else {
		c.ExternalID += "-" + stamp
	}
	if c.FirstName == "" {
		c.FirstName, c.LastName = "Ada", "Simulator"
	}
	if c.Email == "" {
		c.Email = "sim+" + strings.NewReplacer(".", "", ":", "").Replace(stamp) + "@example.com"
	}
	if c.Phone == "" {
		c.Phone = "+4915100000000"
	}
	id, err := m.CreateCustomer(c)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			return nil, fmt.Errorf("provision: the switch at %s does not serve the management API: %w", m.BaseURL, err)
		}
		return nil, err
	}
	w.CustomerID = id
	if err := m.SetKYC(id, "VERIFIED"); err != nil {
		return nil, err
	}
	logf("customer %s created, KYC VERIFIED", id)
	for _, bs := range s.Balances {
		cur := bs.Currency
		if cur == "" {
			cur = "EUR"
		}
		info, _ := ledger.CurrencyByAlpha(cur)
		b, err := m.CreateBalance(id, cur)
		if err != nil {
			return nil, err
		}
		wb := &WorldBalance{Ref: bs.Ref, BalanceID: b.BalanceID, Currency: cur, CurrencyNum: info.Numeric, Exponent: info.Exponent}
		if bs.Reload != "" {
			minor, err := ParseAmount(bs.Reload, cur)
			if err != nil {
				return nil, err
			}
			if _, err := m.Reload(id, b.BalanceID, bs.Reload, "sim-"+stamp+"-"+bs.Ref); err != nil {
				return nil, err
			}
			wb.LoadedMinor = minor
		}
		w.Balances[bs.Ref] = wb
		logf("balance %s (%s) %s, reloaded %s", bs.Ref, b.BalanceID, cur, bs.Reload)
	}
	for _, cs := range s.Cards {
		wb, ok := w.Balances[cs.Balance]
		if !ok {
			return nil, fmt.Errorf("provision: card %s: unknown balance %q", cs.Ref, cs.Balance)
		}
		typ := cs.Type
		if typ == "" {
			typ = "VIRTUAL"
		}
		res, err := m.IssueCard(id, wb.BalanceID, typ, cs.Program)
		if err != nil {
			return nil, err
		}
		full, err := m.FullCard(res.CardID)
		if err != nil {
			return nil, err
		}
		exp, err := full.ExpiryYYMM()
		if err != nil {
			return nil, err
		}
		card := &Card{Ref: cs.Ref, CardID: res.CardID, BalanceID: wb.BalanceID, Program: res.Program, PAN: full.PAN,
			ExpiryYYMM: exp, CVC2: full.CVC2, PSN: res.PANSequenceNumber, CurrencyNum: wb.CurrencyNum}
		if card.PSN == "" {
			card.PSN = "00"
		}
		if cs.PIN != "" {
			if err := m.SetPIN(id, res.CardID, cs.PIN); err != nil {
				return nil, fmt.Errorf("provision: card %s: set PIN: %w", cs.Ref, err)
			}
			card.PIN = cs.PIN
		}
		w.Cards[cs.Ref] = card
		logf("card %s (%s) %s %s %s", cs.Ref, res.CardID, res.Program, typ, maskPAN(full.PAN))
	}
	return w, nil
}

// SaveWorld writes the provisioned world (with clear card data: development use only) to path
// with mode 0600, for `cardswitch client --cards`.
func SaveWorld(path string, w *World) error {
	raw, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// LoadWorld reads a file written by SaveWorld.
func LoadWorld(path string) (*World, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w World
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for ref, c := range w.Cards {
		c.Ref = ref
	}
	return &w, nil
}
