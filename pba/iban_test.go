package pba

import "testing"

func TestValidIBAN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"DE89370400440532013000", true},
		{"GB82WEST12345698765432", true},
		{"NL91ABNA0417164300", true},
		{"NO9386011117947", true}, // shortest in use
		{"FR1420041010050500013M02606", true},
		{"DE89370400440532013001", false}, // check digits do not match
		{"DE8937040044053201300", false},  // one digit short: mod-97 fails
		{"de89370400440532013000", false}, // not electronic format
		{"D189370400440532013000", false},
		{"DEX9370400440532013000", false},
		{"DE89 3704 0044 0532 0130 00", false},
		{"DE89370400440532013000-", false},
		{"", false},
		{"DE8937040044", false},                             // too short
		{"DE89370400440532013000370400440532013000", false}, // too long
	} {
		if got := ValidIBAN(tc.in); got != tc.want {
			t.Errorf("ValidIBAN(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestElectronicIBANAndID(t *testing.T) {
	e := ElectronicIBAN(" de89 3704 0044 0532 0130 00 ")
	if e != "DE89370400440532013000" {
		t.Fatalf("electronic: %q", e)
	}
	// sha256("DE89370400440532013000"), lower-case hex (contract §6), computed with sha256sum.
	const want = "faf7e1c0107370ff6f5d03205da7d8ae41ba8e22b31e94b986a65210075d9a1d"
	got := IBANID(e)
	if got != want || !validIBANID(got) {
		t.Fatalf("ibanId %q", got)
	}
	if IBANID(e) != IBANID("DE89370400440532013000") || IBANID(e) == IBANID("GB82WEST12345698765432") {
		t.Fatal("ibanId not a function of the IBAN")
	}
	if validIBANID("A5C2") || validIBANID(got[:63]+"G") {
		t.Fatal("validIBANID accepts a malformed id")
	}
}

func TestMaskIBANAndCountry(t *testing.T) {
	if m := maskIBAN("DE89370400440532013000"); m != "DE****************3000" {
		t.Fatalf("mask %q", m)
	}
	for c, want := range map[string]bool{"DE": true, "PL": true, "XX": false, "de": false, "D": false} {
		if validCountry(c) != want {
			t.Errorf("validCountry(%q) != %v", c, want)
		}
	}
}
