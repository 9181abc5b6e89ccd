package ledger_test

import (
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

func TestFXRateConvert(t *testing.T) {
	usdEur := ledger.FXRate{Num: 92, Den: 100}    // 0.92, both 2 decimals
	usdJpy := ledger.FXRate{Num: 1495, Den: 1000} // 149.5 per USD: ×149.5 ÷ 100 minor
	tests := []struct {
		r    ledger.FXRate
		in   int64
		want int64
		ok   bool
	}{
		{usdEur, 1000, 920, true},
		{usdEur, 1, 1, true},                          // 0.92 rounds half away from zero to 1
		{usdEur, 50, 46, true},                        // exact
		{ledger.FXRate{Num: 1, Den: 2}, 1, 1, true},   // exactly half: away from zero
		{ledger.FXRate{Num: 1, Den: 2}, -1, -1, true}, // symmetric for credits
		{ledger.FXRate{Num: 1, Den: 3}, 1, 0, true},
		{usdJpy, 1000, 1495, true},
		{usdEur, 0, 0, true},
		{ledger.FXRate{Num: 1 << 62, Den: 1}, 1 << 40, 0, false}, // does not fit
	}
	for _, tt := range tests {
		got, ok := tt.r.Convert(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%d×%d/%d = %d %v, want %d %v", tt.in, tt.r.Num, tt.r.Den, got, ok, tt.want, tt.ok)
		}
	}
}

const companyID = "company-eur"

// fxFixture: the fixture's EUR balance with 100.00, a USD->EUR rate of 0.92 and the EUR
// company balance.
func fxFixture(t *testing.T, withCompany bool) *lt.Fixture {
	f := lt.NewFixture(t, 10000)
	companies := map[string]string{}
	if withCompany {
		companies["EUR"] = companyID
		f.Manage("company", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
			_, r := tx.OpenCompanyBalance(companyID, "EUR", env)
			return r
		})
	}
	f.Env.FX = ledger.NewFXTable([]ledger.FXRate{{FromNum: lt.USD, ToNum: lt.EUR, From: "USD", To: "EUR", Num: 92, Den: 100}}, companies)
	return f
}

func usd(r *authz.Request) *authz.Request { r.CurrencyNum = lt.USD; return r }

func books(t *testing.T, f *lt.Fixture) {
	t.Helper()
	if err := lt.CheckBooks(f.State); err != nil {
		t.Fatal(err)
	}
}

// A USD authorization on a EUR balance is converted, decided and held in EUR instead of being
// declined 1030; without a rate it is still declined 1030.
func TestCrossCurrencyAuthorization(t *testing.T) {
	f := lt.NewFixture(t, 10000)
	f.Expect(usd(lt.Auth(lt.PAN, 1000, "000001")), authz.CurrencyNotAccepted)
	f = fxFixture(t, true)
	r := f.Expect(usd(lt.Auth(lt.PAN, 1000, "000002")), authz.Approved)
	if r.CurrencyNum != lt.EUR || r.AvailableMinor != 10000-920 || r.AuthCode == "" {
		t.Fatalf("answer %+v", r)
	}
	f.ExpectBalance(lt.BalanceID, 10000, 920)
	// Funds are judged in EUR: 108.70 USD is 100.00 EUR (100.004), 108.71 is 100.01.
	f.Expect(usd(lt.Auth(lt.PAN, 10000-920+1, "000003")), authz.Approved) // 91.81 USD -> 84.47 EUR
	f.Expect(usd(lt.Auth(lt.PAN, 1000, "000004")), authz.InsufficientFunds)
	books(t, f)
	// A financial request and a refund move the converted amount at once.
	f = fxFixture(t, true)
	f.Expect(usd(lt.Req("0200", "000000", lt.PAN, 500, "000005")), authz.Approved)
	f.Expect(usd(lt.Req("0200", "200000", lt.PAN, 100, "000006")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-460+92, 0)
	books(t, f)
}

// The cardholder pays what was approved; the company balance takes the difference between the
// capture at the rate in force and that (here the rate moved from 0.92 to 0.95 between the
// authorization and its completion). A reversal after the capture gives both back.
func TestCompanyBalanceTakesFXDifference(t *testing.T) {
	f := fxFixture(t, true)
	auth := usd(lt.Auth(lt.PAN, 1000, "000001"))
	f.Expect(auth, authz.Approved)
	f.Env.FX = ledger.NewFXTable([]ledger.FXRate{{FromNum: lt.USD, ToNum: lt.EUR, Num: 95, Den: 100}}, map[string]string{"EUR": companyID})
	f.Expect(usd(lt.FollowUp("0220", auth, 1000, "000002")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-920, 0) // what was approved
	f.ExpectBalance(companyID, -30, 0)          // 9.50 at today's rate − 9.20 approved
	books(t, f)
	f.Expect(usd(lt.FollowUp("0400", auth, 1000, "000003")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 0)
	f.ExpectBalance(companyID, 0, 0)
	books(t, f)
}

// A capture of another amount than authorized is debited at the authorization's rate (a partial
// capture costs the cardholder its part of the approved amount, not the whole); at an unchanged
// rate the company balance books nothing but rounding.
func TestFXCaptureOfAnotherAmount(t *testing.T) {
	f := fxFixture(t, true)
	auth := usd(lt.Auth(lt.PAN, 1000, "000001"))
	f.Expect(auth, authz.Approved)
	f.Expect(usd(lt.FollowUp("0220", auth, 401, "000002")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-369, 0) // 4.01 × 9.20/10.00 = 3.6892 -> 3.69
	f.ExpectBalance(companyID, 0, 0)            // 4.01 × 0.92 = 3.6892 -> 3.69 too
	books(t, f)
	a2 := usd(lt.Auth(lt.PAN, 3, "000003")) // 0.03 USD -> 0.0276 -> 0.03 EUR
	f.Expect(a2, authz.Approved)
	f.Expect(usd(lt.FollowUp("0220", a2, 1, "000004")), authz.Approved) // 0.01 at 3/3: 0.01; today: 0.0092 -> 0.01
	books(t, f)
}

// Without a company balance for the balance's currency the cardholder is debited the capture at
// the rate in force: nothing is left unbooked.
func TestFXWithoutCompanyBalance(t *testing.T) {
	f := fxFixture(t, false)
	auth := usd(lt.Auth(lt.PAN, 1000, "000001"))
	f.Expect(auth, authz.Approved)
	f.Env.FX = ledger.NewFXTable([]ledger.FXRate{{FromNum: lt.USD, ToNum: lt.EUR, Num: 95, Den: 100}}, nil)
	f.Expect(usd(lt.FollowUp("0220", auth, 1000, "000002")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-950, 0)
	books(t, f)
}

// A partial reversal's replacement amount in the authorization's currency is converted at its
// rate; the same-currency path is untouched (a EUR authorization on the FX fixture).
func TestFXPartialReversalAndSameCurrency(t *testing.T) {
	f := fxFixture(t, true)
	auth := usd(lt.Auth(lt.PAN, 1000, "000001"))
	f.Expect(auth, authz.Approved)
	pr := usd(lt.PartialReversal(auth, 500, "000002"))
	f.Expect(pr, authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 460)
	f.Expect(usd(lt.PartialReversal(auth, 2000, "000003")), authz.Approved) // above: nothing to undo
	f.ExpectBalance(lt.BalanceID, 10000, 460)
	f.Expect(usd(lt.FollowUp("0220", auth, 500, "000004")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-460, 0)
	eur := lt.Auth(lt.PAN, 1000, "000005")
	f.Expect(eur, authz.Approved)
	f.Expect(lt.FollowUp("0220", eur, 700, "000006"), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000-460-700, 0)
	f.ExpectBalance(companyID, 0, 0)
	books(t, f)
	a, ok := f.State.Auth(ledger.OriginalKey("0100", "000005", lt.F7, lt.Acquirer))
	if !ok || a.FX != nil {
		t.Fatalf("a same-currency auth record carries FX: %+v", a)
	}
}

// A stand-in advice (0120) in another currency is held converted.
func TestFXAdvice(t *testing.T) {
	f := fxFixture(t, true)
	f.Expect(usd(lt.Req("0120", "000000", lt.PAN, 1000, "000001")), authz.Approved)
	f.ExpectBalance(lt.BalanceID, 10000, 920)
	books(t, f)
}
