package authz

import (
	"errors"
	"testing"
	"time"
)

// unixDay is the test's own day count (from package time) to check the package's against.
func unixDay(year int, month time.Month, day int) int64 {
	return time.Date(year, month, day, 12, 0, 0, 0, time.UTC).Unix() / 86400
}

var (
	day0     = unixDay(2026, time.May, 14) // "today" in these tests
	endDay   = unixDay(2027, time.December, 31)
	theTerms = Terms{MinMinor: 500, MaxMinor: 4999, IntervalDays: 30, EndUnixDay: endDay}
)

// liveAgreement is an agreement every rule accepts for merchant M1 with the terms of contract
// §2's example (5.00|49.99|30|31.12.2027), last charged 30 days ago.
func liveAgreement() AgreementView {
	return AgreementView{Found: true, MerchantID: "M1", Active: true, HasTerms: true, Terms: theTerms,
		LastRecurringUnixDay: day0 - 30}
}

// recurring is a recurring MIT that every rule lets through. Each case below changes one thing.
func recurring() StoredCredentialInput {
	return StoredCredentialInput{Indicator: "2", Reference: "SUB-1", MerchantID: "M1", AmountMinor: 1000,
		NowUnixDay: day0, Agreement: liveAgreement()}
}

func indicator(ind string) func(*StoredCredentialInput) {
	return func(in *StoredCredentialInput) { in.Indicator = ind }
}

// initial turns the request into a CIT with a reference the card does not have.
func initial(verified bool) func(*StoredCredentialInput) {
	return func(in *StoredCredentialInput) {
		in.Indicator, in.Agreement, in.CardDataVerified = "1", AgreementView{}, verified
	}
}

// TestStoredCredentialRules has one row per rule of contract §2 (field 48 subelements 20-22) and
// issue 17: each allowed case and each reason for a violation (1019, field 39 "57").
func TestStoredCredentialRules(t *testing.T) {
	tests := []struct {
		name      string
		change    func(*StoredCredentialInput)
		use       StoredCredentialUse
		violation bool
	}{
		// No indicator: an ordinary payment; a reference or an agreement alone changes nothing.
		{"no indicator", func(in *StoredCredentialInput) { *in = StoredCredentialInput{NowUnixDay: day0} }, SCNone, false},
		{"reference without indicator is ignored", indicator(""), SCNone, false},
		{"no indicator, cancelled agreement, amount out of terms", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.Active, in.AmountMinor = "", false, 1e9
		}, SCNone, false},
		// Issue 17 item 1: an initial operation must carry verified card data.
		{"initial with verified card data", initial(true), SCInitial, false},
		{"zero-amount registration", func(in *StoredCredentialInput) { initial(true)(in); in.AmountMinor = 0 }, SCInitial, false},
		{"1019 initial without verified card data", initial(false), SCInitial, true},
		{"1019 initial without reference", func(in *StoredCredentialInput) { initial(true)(in); in.Reference = "" }, SCInitial, true},
		{"1019 initial without merchant", func(in *StoredCredentialInput) { initial(true)(in); in.MerchantID = "" }, SCInitial, true},
		// Issue 17 item 2: a subsequent CIT needs an active agreement of the merchant, no CVC2.
		{"subsequent CIT without card data", indicator("1"), SCSubsequentCIT, false},
		{"subsequent CIT ignores amount, interval and end date", func(in *StoredCredentialInput) {
			in.Indicator, in.AmountMinor, in.NowUnixDay = "1", 1e9, endDay+1
		}, SCSubsequentCIT, false},
		{"1019 subsequent CIT on a cancelled agreement", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.Active = "1", false
		}, SCSubsequentCIT, true},
		{"1019 subsequent CIT from another merchant", func(in *StoredCredentialInput) {
			in.Indicator, in.MerchantID = "1", "M2"
		}, SCSubsequentCIT, true},
		{"1019 subsequent CIT on an API agreement without card data", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.NeedsCardData = "1", true
		}, SCSubsequentCIT, true},
		{"subsequent CIT on an API agreement with card data", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.NeedsCardData, in.CardDataVerified = "1", true, true
		}, SCSubsequentCIT, false},
		// Issue 17 item 3 and contract §2: a recurring MIT within the terms.
		{"recurring within terms", func(*StoredCredentialInput) {}, SCRecurring, false},
		{"recurring at MIN", func(in *StoredCredentialInput) { in.AmountMinor = 500 }, SCRecurring, false},
		{"recurring at MAX", func(in *StoredCredentialInput) { in.AmountMinor = 4999 }, SCRecurring, false},
		{"recurring on the end day", func(in *StoredCredentialInput) { in.NowUnixDay = endDay }, SCRecurring, false},
		{"first recurring after a registration", func(in *StoredCredentialInput) { in.Agreement.LastRecurringUnixDay = 0 }, SCRecurring, false},
		{"recurring without terms", func(in *StoredCredentialInput) {
			in.Agreement.HasTerms, in.Agreement.Terms, in.AmountMinor = false, Terms{}, 1e9
		}, SCRecurring, false},
		{"1019 recurring below MIN", func(in *StoredCredentialInput) { in.AmountMinor = 499 }, SCRecurring, true},
		{"1019 recurring above MAX", func(in *StoredCredentialInput) { in.AmountMinor = 5000 }, SCRecurring, true},
		{"1019 recurring too early", func(in *StoredCredentialInput) { in.Agreement.LastRecurringUnixDay = day0 - 29 }, SCRecurring, true},
		{"1019 recurring twice the same day", func(in *StoredCredentialInput) { in.Agreement.LastRecurringUnixDay = day0 }, SCRecurring, true},
		{"1019 recurring after the end day", func(in *StoredCredentialInput) { in.NowUnixDay = endDay + 1 }, SCRecurring, true},
		{"1019 recurring on a cancelled agreement", func(in *StoredCredentialInput) { in.Agreement.Active = false }, SCRecurring, true},
		{"1019 recurring from another merchant", func(in *StoredCredentialInput) { in.MerchantID = "M2" }, SCRecurring, true},
		{"1019 recurring without merchant", func(in *StoredCredentialInput) { in.MerchantID = "" }, SCRecurring, true},
		{"1019 recurring without reference", func(in *StoredCredentialInput) {
			in.Reference, in.Agreement = "", AgreementView{}
		}, SCRecurring, true},
		{"1019 recurring on an unknown agreement", func(in *StoredCredentialInput) { in.Agreement = AgreementView{} }, SCRecurring, true},
		{"1019 recurring with verified card data but no agreement", func(in *StoredCredentialInput) {
			in.Agreement, in.CardDataVerified = AgreementView{}, true
		}, SCRecurring, true},
		// Contract §2: an unscheduled MIT needs only a live agreement of the card and merchant.
		{"unscheduled", indicator("3"), SCUnscheduled, false},
		{"unscheduled ignores amount and interval", func(in *StoredCredentialInput) {
			in.Indicator, in.AmountMinor, in.Agreement.LastRecurringUnixDay = "3", 1e9, day0
		}, SCUnscheduled, false},
		{"unscheduled on the end day", func(in *StoredCredentialInput) { in.Indicator, in.NowUnixDay = "3", endDay }, SCUnscheduled, false},
		{"unscheduled without terms", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.HasTerms, in.Agreement.Terms, in.NowUnixDay = "3", false, Terms{}, endDay+1
		}, SCUnscheduled, false},
		{"1019 unscheduled after the end day", func(in *StoredCredentialInput) { in.Indicator, in.NowUnixDay = "3", endDay+1 }, SCUnscheduled, true},
		{"1019 unscheduled on a cancelled agreement", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement.Active = "3", false
		}, SCUnscheduled, true},
		{"1019 unscheduled from another merchant", func(in *StoredCredentialInput) { in.Indicator, in.MerchantID = "3", "M2" }, SCUnscheduled, true},
		{"1019 unscheduled without reference", func(in *StoredCredentialInput) {
			in.Indicator, in.Reference, in.Agreement = "3", "", AgreementView{}
		}, SCUnscheduled, true},
		{"1019 unscheduled on an unknown agreement", func(in *StoredCredentialInput) {
			in.Indicator, in.Agreement = "3", AgreementView{}
		}, SCUnscheduled, true},
		// The codec accepts only 1, 2 and 3; the rules stay total.
		{"1019 unknown indicator", indicator("4"), SCNone, true},
		{"1019 indicator 0", indicator("0"), SCNone, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := recurring()
			tt.change(&in)
			use, violation := CheckStoredCredential(in)
			if use != tt.use || violation != tt.violation {
				t.Fatalf("CheckStoredCredential = (%s, %v), want (%s, %v)", use, violation, tt.use, tt.violation)
			}
		})
	}
}

// TestStoredCredentialBoundaries is the property of contract §2 at every interval and end day:
// a recurring payment exactly DAYS after the last is allowed and one day earlier is not; the end
// day itself is allowed and the day after is not, for recurring and unscheduled payments alike.
func TestStoredCredentialBoundaries(t *testing.T) {
	for _, interval := range []int64{1, 7, 28, 30, 31, 365, 9999} {
		for _, last := range []int64{unixDay(2026, time.January, 31), unixDay(2028, time.February, 29)} {
			in := recurring()
			in.Agreement.Terms.IntervalDays = interval
			in.Agreement.Terms.EndUnixDay = last + 2*interval
			in.Agreement.LastRecurringUnixDay = last

			in.NowUnixDay = last + interval
			if _, v := CheckStoredCredential(in); v {
				t.Errorf("interval %d: payment exactly %d days after the last refused", interval, interval)
			}
			in.NowUnixDay = last + interval - 1
			if _, v := CheckStoredCredential(in); !v {
				t.Errorf("interval %d: payment %d days after the last allowed", interval, interval-1)
			}
		}
	}
	for _, end := range []int64{day0, endDay, unixDay(2028, time.February, 29)} {
		for _, ind := range []string{"2", "3"} {
			in := recurring()
			in.Indicator = ind
			in.Agreement.Terms.EndUnixDay = end
			in.Agreement.LastRecurringUnixDay = end - theTerms.IntervalDays
			in.NowUnixDay = end
			if _, v := CheckStoredCredential(in); v {
				t.Errorf("indicator %s: payment on the end day refused", ind)
			}
			in.NowUnixDay = end + 1
			if _, v := CheckStoredCredential(in); !v {
				t.Errorf("indicator %s: payment the day after the end day allowed", ind)
			}
		}
	}
}

// TestParseTerms has one row per reading of contract §2's subelement 22 (MIN|MAX|DAYS|DD.MM.YYYY,
// amounts with two decimals in the balance currency's exponent) and one per format error (30).
func TestParseTerms(t *testing.T) {
	now := day0
	tests := []struct {
		name     string
		s        string
		exponent int
		want     Terms
		wantErr  bool
	}{
		{"EUR: contract example", "5.00|49.99|30|31.12.2027", 2, Terms{500, 4999, 30, endDay}, false},
		{"JPY: whole amounts", "500.00|4900.00|30|31.12.2027", 0, Terms{500, 4900, 30, endDay}, false},
		{"BHD: three decimals", "5.00|49.99|30|31.12.2027", 3, Terms{5000, 49990, 30, endDay}, false},
		{"exponent 1 with whole tenths", "5.10|49.90|30|31.12.2027", 1, Terms{51, 499, 30, endDay}, false},
		{"exponent 4", "0.01|1.00|1|31.12.2027", 4, Terms{100, 10000, 1, endDay}, false},
		{"MIN equal to MAX", "10.00|10.00|30|31.12.2027", 2, Terms{1000, 1000, 30, endDay}, false},
		{"zero MIN", "0.00|49.99|30|31.12.2027", 2, Terms{0, 4999, 30, endDay}, false},
		{"end date today", "5.00|49.99|30|14.05.2026", 2, Terms{500, 4999, 30, day0}, false},
		{"29 February in a leap year", "5.00|49.99|30|29.02.2028", 2, Terms{500, 4999, 30, unixDay(2028, time.February, 29)}, false},
		{"29 February 2400", "5.00|49.99|30|29.02.2400", 2, Terms{500, 4999, 30, unixDay(2400, time.February, 29)}, false},
		{"largest amounts and interval", "9999999999.99|9999999999.99|9999|31.12.9999", 4,
			Terms{99999999999900, 99999999999900, 9999, unixDay(9999, time.December, 31)}, false},
		{"30: JPY amount with decimals", "5.50|49.00|30|31.12.2027", 0, Terms{}, true},
		{"30: exponent 1 with hundredths", "5.05|49.90|30|31.12.2027", 1, Terms{}, true},
		{"30: MIN above MAX", "50.00|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: zero days", "5.00|49.99|0|31.12.2027", 2, Terms{}, true},
		{"30: zero days written 0000", "5.00|49.99|0000|31.12.2027", 2, Terms{}, true},
		{"30: end date yesterday", "5.00|49.99|30|13.05.2026", 2, Terms{}, true},
		{"30: 31 April", "5.00|49.99|30|31.04.2027", 2, Terms{}, true},
		{"30: 29 February in a common year", "5.00|49.99|30|29.02.2027", 2, Terms{}, true},
		{"30: 29 February 2100", "5.00|49.99|30|29.02.2100", 2, Terms{}, true},
		{"30: month 13", "5.00|49.99|30|01.13.2027", 2, Terms{}, true},
		{"30: day 00", "5.00|49.99|30|00.12.2027", 2, Terms{}, true},
		{"30: year 0000", "5.00|49.99|30|01.01.0000", 0, Terms{}, true},
		{"30: ISO date", "5.00|49.99|30|2027-12-31", 2, Terms{}, true},
		{"30: one decimal", "5.0|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: no decimals", "5|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: comma decimal", "5,00|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: no integer digit", ".50|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: negative amount", "-5.00|49.99|30|31.12.2027", 2, Terms{}, true},
		{"30: eleven integer digits", "5.00|10000000000.00|30|31.12.2027", 2, Terms{}, true},
		{"30: five-digit days", "5.00|49.99|10000|31.12.2027", 2, Terms{}, true},
		{"30: days not a number", "5.00|49.99|3O|31.12.2027", 2, Terms{}, true},
		{"30: three parts", "5.00|49.99|30", 2, Terms{}, true},
		{"30: five parts", "5.00|49.99|30|31.12.2027|x", 2, Terms{}, true},
		{"30: trailing bar", "5.00|49.99|30|31.12.2027|", 2, Terms{}, true},
		{"30: empty", "", 2, Terms{}, true},
		{"30: spaces", "5.00 | 49.99 | 30 | 31.12.2027", 2, Terms{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTerms(tt.s, tt.exponent, now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTerms(%q) = %+v, want an error", tt.s, got)
				}
				var te *TermsError
				if !errors.Is(err, ErrBadTerms) || !errors.As(err, &te) {
					t.Fatalf("ParseTerms(%q) error %v is not a TermsError matching ErrBadTerms", tt.s, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTerms(%q, %d) = %+v, %v; want %+v", tt.s, tt.exponent, got, err, tt.want)
			}
		})
	}
}

// TestParseTermsEndDayMatchesTime checks the calendar arithmetic against package time over every
// day from 1900 to 2100 and a few far years.
func TestParseTermsEndDayMatchesTime(t *testing.T) {
	check := func(d time.Time) {
		want := d.Unix() / 86400
		if got, ok := parseDate(d.Format("02.01.2006")); !ok || got != want {
			t.Fatalf("parseDate(%s) = %d, %v; want %d", d.Format("02.01.2006"), got, ok, want)
		}
	}
	for d := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2101; d = d.AddDate(0, 0, 1) {
		check(d)
	}
	for _, y := range []int{1, 4, 100, 399, 400, 1600, 1969, 1970, 9999} {
		check(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
		check(time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC))
	}
}

func TestParseTermsPanicsOnBadExponent(t *testing.T) {
	for _, e := range []int{-1, 5} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ParseTerms with exponent %d did not panic", e)
				}
			}()
			_, _ = ParseTerms("5.00|49.99|30|31.12.2027", e, day0)
		}()
	}
}

func BenchmarkCheckStoredCredential(b *testing.B) {
	in := recurring()
	b.ReportAllocs()
	var v bool
	for b.Loop() {
		_, v = CheckStoredCredential(in)
	}
	if v {
		b.Fatal("violation")
	}
}
