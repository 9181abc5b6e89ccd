package ledger

import "math/bits"

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

// FXTable is the configured rates, looked up by (from, to) numeric codes. The zero value (or
// nil) has no rates: every cross-currency authorization is declined 1030, as before.
type FXTable struct {
	rates map[[2]string]FXRate
}

// NewFXTable builds the table; a later rate for the same pair replaces an earlier one.
func NewFXTable(rates []FXRate) *FXTable {
	t := &FXTable{rates: make(map[[2]string]FXRate, len(rates))}
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
