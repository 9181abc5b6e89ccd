package journal

import (
	"reflect"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
)

// Every field of every row survives the binary encoding (format 2), zero values and nil/empty
// distinctions included.
func TestCodecRoundTrip(t *testing.T) {
	rows := map[string][]any{
		"customer": {&ledger.Customer{ID: "c1", ExternalID: "e1", FirstName: "Ada", LastName: "Lovelace",
			Email: "a@example.org", Phone: "+33", KYC: ledger.KYCVerified, CreatedAtUnixNano: 1700000000123456789}, &ledger.Customer{}},
		"balance": {&ledger.Balance{ID: "b1", Kind: ledger.BalancePartnerCredit, CustomerID: "c1", Program: "p",
			Currency: "EUR", CurrentMinor: -5, HeldMinor: 7, CreditLimitMinor: 1 << 40, LowMarkMinor: 3,
			State: ledger.BalanceActive, LoadedMinor: 9, CreatedAtUnixNano: -1}, &ledger.Balance{}},
		"card": {&ledger.Card{ID: "k1", BalanceID: "b1", CustomerID: "c1", Program: "p", Type: ledger.CardPhysical,
			State: ledger.CardLocked, LockReason: authz.LockStolen, StateBeforeLock: ledger.CardInactive, PANHash: "abcd", PAN: "5351100000000001",
			Last4: "0001", ExpiryYYMM: "3012", PSN: "001", CVC2: "123", PVV: "4567", PINTries: 2, HighestATC: 65535,
			Personalised: true, Limits: ledger.Limits{MaxAmountMinor: 1, MaxCountPerDay: 2, MaxAmountPerDay: 3},
			Usage: ledger.Usage{UnixDay: 20000, Count: 4, AmountMinor: 5}, CreatedAtUnixNano: 6, Labels: map[string]string{"a": "b", "c": ""}},
			&ledger.Card{ID: "k2", State: ledger.CardLocked, LockReason: authz.LockPendingQuery, StateBeforeLock: ledger.CardActive},
			&ledger.Card{}},
		"token": {&ledger.Token{ID: "t1", CardID: "k1", PANHash: "h", PAN: "p", Last4: "l", ExpiryYYMM: "2812", PSN: "0",
			State: authz.TokenActive, Type: ledger.TokenHCE, WalletProvider: "w", AssuranceLevel: 3, HighestATC: 9, CreatedAtUnixNano: 1},
			&ledger.Token{}},
		ledger.TableAgreement: {&ledger.Agreement{Key: "k1|SUB-1", ID: "agr_0123456789abcdef0123", Reference: "SUB-1", CardID: "k1", TokenID: "t1",
			CustomerID: "c1", MerchantID: "MERCHANT0000001", State: ledger.AgreementCancelled, HasTerms: true,
			MinMinor: 500, MaxMinor: 4999, IntervalDays: 30, EndUnixDay: 20999, InitialVerified: true, Registration: true,
			Payments:          []ledger.AgreementPayment{{AuthKey: "0200|1|2|3", UnixDay: 20500}, {AuthKey: "0200|4|5|6", UnixDay: 20530}},
			CreatedAtUnixNano: 1, LastUsedAtUnixNano: 2, CancelledAtUnixNano: 3, CancelledBy: "partner", InitialAuthKey: "0200|1|2|3"},
			&ledger.Agreement{}},
		ledger.TableWalletToken: {&ledger.WalletToken{TokenID: "tok_1", VirtualCardID: "vc", WalletProviderID: "APPLE_PAY",
			WalletCardRefID: "w", IsPrimary: true, TokenAssuranceLevel: "12", StandIn: true, Erased: true,
			Bindings: []ledger.DeviceBinding{{Reference: "d", Bound: true, AtUnixNano: 5, CorrelationID: "c"}},
			StepUps:  []string{"CARDHOLDER_STEPUP_OTP"},
			History:  []ledger.WalletTokenChange{{AtUnixNano: 1, CorrelationID: "c", Operation: "o", Action: "ACTIVATE", State: authz.TokenActive, ErrorCode: 911}}},
			&ledger.WalletToken{}},
		ledger.TableAudit: {&ledger.AuditRecord{Seq: 3, AtUnixNano: 4, Actor: "a", Channel: "tsh", Action: "tsh.sendOTP",
			ResourceType: "card", ResourceID: "k1", After: []byte(`{"x":1}`), CorrelationID: "enrol-1"},
			&ledger.AuditRecord{Seq: 1, Actor: "a"},
			&ledger.AuditRecord{Seq: 2, Actor: "op", Channel: "admin", Action: "card.lock", Reason: "customer called: card lost"}},
		"auth": {&ledger.Auth{Key: "0100|1|2|00000000003", CardID: "k1", BalanceID: "b1", PartnerID: "p1",
			Kind: authz.KindRefund, State: ledger.AuthPosted, Action: authz.InsufficientFunds, AmountMinor: 1,
			HeldMinor: -2, PostedMinor: -3, ExpiresAtUnixNano: 4, CreatedAtUnixNano: 5, Merchant: "ACME  BERLIN DE", MCC: "5411"}, &ledger.Auth{}},
		"reply": {&ledger.Reply{Key: "k", ContentHash: 1<<64 - 1, Response: authz.Response{Action: authz.Approved,
			AuthCode: "ABC123", HasBalance: true, AvailableMinor: -7, CurrencyNum: "978", ICCResponse: []byte{0x91, 0}},
			AtUnixNano: 8, CurrentMinor: 9, HeldMinor: 10},
			&ledger.Reply{Response: authz.Response{ICCResponse: []byte{}}}, &ledger.Reply{}},
	}
	for table, rs := range rows {
		for _, r := range rs {
			b, err := encodeRow(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRow(table, b, newInterner())
			if err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("%s: round trip\n got %+v\nwant %+v", table, got, r)
			}
			// Auth rows written before the merchant tail existed end right after CreatedAt, so that
			// one cut decodes (as such an older row); the AES-GCM seal detects truncation at rest.
			oldEnd := -1
			if a, ok := r.(*ledger.Auth); ok {
				short := *a
				short.Merchant, short.MCC = "", ""
				full, _ := encodeRow(nil, &short)
				oldEnd = len(full) - 2 // two empty strings: one length byte each
			}
			// Likewise card rows written before the state before a lock existed end right after
			// the labels: the row without that tail decodes (as a card locked back then).
			if c, ok := r.(*ledger.Card); ok && c.StateBeforeLock != "" {
				short := *c
				short.StateBeforeLock = ""
				full, _ := encodeRow(nil, &short)
				oldEnd = len(full)
				if got, err := decodeRow(table, b[:oldEnd], nil); err != nil || !reflect.DeepEqual(got, &short) {
					t.Errorf("card: the row without its state before lock decodes as %+v, %v; want %+v", got, err, &short)
				}
			}
			// Audit rows written before correlation ids end right after After.
			if a, ok := r.(*ledger.AuditRecord); ok && a.CorrelationID != "" {
				short := *a
				short.CorrelationID = ""
				full, _ := encodeRow(nil, &short)
				oldEnd = len(full)
				if got, err := decodeRow(table, b[:oldEnd], nil); err != nil || !reflect.DeepEqual(got, &short) {
					t.Errorf("audit: the row without its correlation id decodes as %+v, %v; want %+v", got, err, &short)
				}
			}
			// Audit rows written before reasons end after the correlation id, or right after After
			// (without one): both cuts decode, as rows without a reason.
			reasonEnds := map[int]bool{}
			if a, ok := r.(*ledger.AuditRecord); ok && a.Reason != "" {
				short := *a
				short.Reason = ""
				full, _ := encodeRow(nil, &short)
				reasonEnds[len(full)] = true
				if a.CorrelationID == "" {
					reasonEnds[len(full)+1] = true // the empty correlation id before the reason
				}
				if got, err := decodeRow(table, b[:len(full)], nil); err != nil || !reflect.DeepEqual(got, &short) {
					t.Errorf("audit: the row without its reason decodes as %+v, %v; want %+v", got, err, &short)
				}
			}
			for cut := 0; cut < len(b); cut++ { // every other truncation is an error, never a panic
				if cut == oldEnd || reasonEnds[cut] {
					continue
				}
				if _, err := decodeRow(table, b[:cut], nil); err == nil {
					t.Errorf("%s: truncated at %d of %d decodes without error", table, cut, len(b))
				}
			}
		}
	}
}

// A card row whose state before lock is neither ACTIVE nor INACTIVE (no lock remembers another)
// is refused rather than loaded.
func TestCodecCardStateBeforeLockChecked(t *testing.T) {
	for _, st := range []authz.CardState{ledger.CardLocked, ledger.CardRemoved, "WEIRD"} {
		b, err := encodeRow(nil, &ledger.Card{ID: "k", State: ledger.CardLocked, StateBeforeLock: st})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRow("card", b, newInterner()); err == nil {
			t.Errorf("a card row with state before lock %q decodes", st)
		}
	}
}

// Arbitrary bytes never panic the decoder (a corrupt or foreign value is an error).
func FuzzDecodeRow(f *testing.F) {
	for _, r := range []any{&ledger.Card{ID: "k", Labels: map[string]string{"a": "b"}}, &ledger.Reply{Key: "r"}} {
		b, _ := encodeRow(nil, r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tb := range tables {
			_, _ = decodeRow(tb.name, b, newInterner())
		}
	})
}
