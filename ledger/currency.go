package ledger

// Currency is an ISO 4217 currency: alpha code, numeric code and minor-unit exponent.
type Currency struct {
	Alpha    string
	Numeric  string
	Exponent int
}

// currencies is a subset of ISO 4217 (list one, as published by the ISO 4217 maintenance agency,
// SIX Group): the currencies an issuer in Europe and its partners commonly hold balances in.
var currencies = []Currency{
	{"EUR", "978", 2}, {"USD", "840", 2}, {"GBP", "826", 2}, {"CHF", "756", 2},
	{"SEK", "752", 2}, {"NOK", "578", 2}, {"DKK", "208", 2}, {"PLN", "985", 2},
	{"CZK", "203", 2}, {"HUF", "348", 2}, {"RON", "946", 2}, {"BGN", "975", 2},
	{"JPY", "392", 0}, {"CAD", "124", 2}, {"AUD", "036", 2}, {"ISK", "352", 0},
	{"BHD", "048", 3}, {"KWD", "414", 3}, {"TND", "788", 3}, {"TRY", "949", 2},
}

var byAlpha, byNumeric = func() (map[string]Currency, map[string]Currency) {
	a, n := map[string]Currency{}, map[string]Currency{}
	for _, c := range currencies {
		a[c.Alpha], n[c.Numeric] = c, c
	}
	return a, n
}()

// CurrencyByAlpha looks up an ISO 4217 alpha-3 code.
func CurrencyByAlpha(alpha string) (Currency, bool) { c, ok := byAlpha[alpha]; return c, ok }

// CurrencyByNumeric looks up an ISO 4217 numeric code.
func CurrencyByNumeric(num string) (Currency, bool) { c, ok := byNumeric[num]; return c, ok }
