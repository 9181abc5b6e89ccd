package ledger

import (
	"math/bits"
	"sort"

	"github.com/cardswitch/cardswitch/authz"
)

// Cross-currency authorizations (docs/users-balances.md, "Company balance and FX"): an
// authorization whose currency (field 49) differs from its balance's is converted at the
// configured rate into the balance's currency and decided and held in it, instead of being
// declined 1030. The rate is an integer ratio in minor units (config turns "0.92" into it), so
// the ledger converts with integer arithmetic only.

// FXRate converts minor units of From into minor units of To: to = from × Num / Den, rounded
// half away from zero (a half minor unit goes to the larger amount).
type FXRate struct {
	FromNum, ToNum string // ISO 4217 numeric codes, as field 49 carries them
	From, To       string // alphabetic codes (for logs and history)
	Num, Den       uint64
}

// FXTable is the configured rates, looked up by (from, to) numeric codes, and the company
// balance of each balance currency. The zero value (or nil) has no rates: every cross-currency
// authorization is declined 1030, as before.
type FXTable struct {
	rates     map[[2]string]FXRate
	companies map[string]string // balance currency (alphabetic) -> company balance id
}

// NewFXTable builds the table; a later rate for the same pair replaces an earlier one.
// companies names the company balance of each balance currency (may be nil).
func NewFXTable(rates []FXRate, companies map[string]string) *FXTable {
	t := &FXTable{rates: make(map[[2]string]FXRate, len(rates)), companies: companies}
	for _, r := range rates {
		if r.Num == 0 || r.Den == 0 {
			continue
		}
		t.rates[[2]string{r.FromNum, r.ToNum}] = r
	}
	return t
}

// Rate finds the rate from one numeric currency to another.
func (t *FXTable) Rate(fromNum, toNum string) (FXRate, bool) {
	if t == nil || len(t.rates) == 0 {
		return FXRate{}, false
	}
	r, ok := t.rates[[2]string{fromNum, toNum}]
	return r, ok
}

// Company is the company balance that takes the FX differences of balances in currency.
func (t *FXTable) Company(currency string) (string, bool) {
	if t == nil {
		return "", false
	}
	id, ok := t.companies[currency]
	return id, ok && id != ""
}

// Convert converts an amount in minor units; ok is false when the result does not fit (an
// amount no balance could hold: the caller declines it).
func (r FXRate) Convert(amountMinor int64) (int64, bool) {
	neg := amountMinor < 0
	a := uint64(amountMinor)
	if neg {
		a = uint64(-amountMinor)
	}
	hi, lo := bits.Mul64(a, r.Num)
	lo, carry := bits.Add64(lo, r.Den/2, 0)
	hi += carry
	if hi >= r.Den {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, r.Den)
	if q > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(q), true
	}
	return int64(q), true
}

// BalanceCompany is the kind of a company balance (the seed's Partner Balance used "for
// transaction settlements in case of foreign exchange transactions"): it takes the difference
// between what a cross-currency capture costs at the rate in force and what the cardholder is
// debited. It may go negative (the company pays a difference) and funds no card.
const BalanceCompany = "COMPANY"

// OpenCompanyBalance opens the company balance id in currency unless it exists (a balance of
// another kind or currency under that id is refused).
func (tx *Tx) OpenCompanyBalance(id, currency string, env *Env) (Balance, *Refusal) {
	if b, ok := tx.Balance(id); ok {
		if b.Kind != BalanceCompany || b.Currency != currency {
			return Balance{}, refuse(Conflict, "BALANCE_EXISTS", "balance id in use by another kind or currency")
		}
		return b, nil
	}
	if _, ok := CurrencyByAlpha(currency); !ok {
		return Balance{}, &Refusal{Kind: Invalid, Code: "UNKNOWN_CURRENCY", Message: "unknown currency", Field: "currency"}
	}
	b := Balance{ID: id, Kind: BalanceCompany, Currency: currency, State: BalanceActive, CreatedAtUnixNano: env.Now.UnixNano()}
	tx.PutBalance(b)
	return b, nil
}

// OpenCompanyBalances opens the configured company balances (currency -> id) that do not
// exist; the result is how many it opened.
type OpenCompanyBalances struct{ ByCurrency map[string]string }

func (OpenCompanyBalances) Kind() OpKind { return OpOpenCompanyBalances }
func (OpenCompanyBalances) Keys(*Keys)   {}

func (c OpenCompanyBalances) Apply(tx *Tx, env *Env) Result[int] {
	n := 0
	for _, cur := range sortedKeys(c.ByCurrency) {
		_, existed := tx.Balance(c.ByCurrency[cur])
		if _, r := tx.OpenCompanyBalance(c.ByCurrency[cur], cur, env); r != nil {
			return Result[int]{Refusal: r}
		}
		if !existed {
			n++
		}
	}
	return Result[int]{Value: n}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fxAmount converts a request's amount into the balance's currency (numeric balanceNum) when
// the request is in another currency and a rate exists: (amount, true). Otherwise the request's
// own amount and false (same currency, or no rate: the decision then declines 1030).
func (env *Env) fxAmount(req *authz.Request, balanceNum string) (int64, bool) {
	if req.CurrencyNum == balanceNum || env.FX == nil {
		return req.AmountMinor, false
	}
	r, ok := env.FX.Rate(req.CurrencyNum, balanceNum)
	if !ok {
		return req.AmountMinor, false
	}
	amt, ok := r.Convert(req.AmountMinor)
	if !ok {
		return req.AmountMinor, false
	}
	return amt, true
}

// markFX records on an auth record that it was converted: its own currency and amount, and
// the converted amount as the approved one.
func markFX(a *Auth, req *authz.Request, convertedMinor int64) {
	a.FX = &AuthFX{TxnCurrencyNum: req.CurrencyNum, TxnAmountMinor: req.AmountMinor}
	a.AmountMinor = convertedMinor
}

// atAuthRate converts txnMinor (in the auth's own currency) at the rate the authorization was
// approved at: approved × txn / authorized, rounded half away from zero. A capture of what was
// authorized is therefore exactly what was approved.
func atAuthRate(a *Auth, txnMinor int64) int64 {
	if a.FX == nil || a.FX.TxnAmountMinor <= 0 || a.AmountMinor < 0 {
		return 0
	}
	v, ok := FXRate{Num: uint64(a.AmountMinor), Den: uint64(a.FX.TxnAmountMinor)}.Convert(txnMinor)
	if !ok {
		return 0
	}
	return v
}

// fxSettle splits the settlement of txnMinor (an amount in the auth's own currency: captured,
// or left after a partial reversal) of a cross-currency auth: the cardholder's debit at the
// authorization's rate, and the company balance's share, the rest of what txnMinor costs at the
// rate in force now. Without a company balance for the balance's currency the cardholder is
// debited the amount at the rate in force (company ""), so nothing is left unbooked.
func (tx *Tx) fxSettle(a *Auth, txnMinor int64, env *Env) (cardholderMinor int64, companyID string, companyMinor int64) {
	b, ok := tx.Balance(a.BalanceID)
	if !ok || a.FX == nil {
		return atAuthRate(a, txnMinor), "", 0
	}
	cur, _ := CurrencyByAlpha(b.Currency)
	cardholderMinor = atAuthRate(a, txnMinor)
	nowMinor := cardholderMinor
	if r, ok := env.FX.Rate(a.FX.TxnCurrencyNum, cur.Numeric); ok {
		if v, ok := r.Convert(txnMinor); ok {
			nowMinor = v
		}
	}
	id, ok := env.FX.Company(b.Currency)
	if !ok {
		return nowMinor, "", 0
	}
	if c, ok := tx.Balance(id); !ok || c.Kind != BalanceCompany {
		return nowMinor, "", 0
	}
	return cardholderMinor, id, nowMinor - cardholderMinor
}

// moveCompany books deltaMinor (debit > 0) of a cross-currency auth's difference on the company
// balance.
func (tx *Tx) moveCompany(a *Auth, companyID string, deltaMinor int64) {
	if a.FX == nil || deltaMinor == 0 && a.FX.CompanyID == companyID {
		return
	}
	c, ok := tx.Balance(companyID)
	if !ok {
		return // fxSettle named it: it exists in this batch
	}
	c.CurrentMinor -= deltaMinor
	tx.PutBalance(c)
	f := *a.FX // a new value: the committed record's must not change
	f.CompanyID, f.CompanyPostedMinor = companyID, f.CompanyPostedMinor+deltaMinor
	a.FX = &f
}

// setTxnAmount records the amount left of a cross-currency auth in its own currency (a new
// value: the committed record's must not change).
func (a *Auth) setTxnAmount(txnMinor int64) {
	f := *a.FX
	f.TxnAmountMinor = txnMinor
	a.FX = &f
}
