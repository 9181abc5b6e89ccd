package security

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Test keys. The IMK, CVK and PVK are those of the published vectors (vectors/card-crypto.md:
// pyemv, the Visa CVV sample table, psec), so the end-to-end tests can check published outputs.
// The ZPK has different halves so a KL/KR swap would show.
const (
	testZPK   = "0123456789ABCDEFFEDCBA9876543210"
	vectorKey = "0123456789ABCDEFFEDCBA9876543210"
	mcIMK     = "A1B2C3D4E5F60718293A4B5C6D7E8F90" // a second IMK, so the programs' keys differ
)

func testConfig() *config.Config {
	return &config.Config{
		Security: config.Security{ZPK: testZPK, DataKey: strings.Repeat("AB", 32)},
		Programs: []config.Program{
			{Name: "demo-visa", BIN: "423456", Scheme: "visa", Currency: "EUR", PANLength: 16,
				Keys: config.Keys{IMKAC: vectorKey, CVK: vectorKey, PVK: vectorKey, PVKI: 1}},
			{Name: "demo-mc", BIN: "535110", Scheme: "mastercard", Currency: "EUR", PANLength: 16,
				Keys: config.Keys{IMKAC: mcIMK, CVK: "89ABCDEF0123456776543210FEDCBA98", PVK: vectorKey, PVKI: 3}},
			// lenient-mc shares demo-mc's BIN: the tests use one card number under both.
			{Name: "lenient-mc", BIN: "535110", Scheme: "mastercard", Currency: "EUR", PANLength: 16,
				AllowUncheckedARQC: true,
				Keys:               config.Keys{IMKAC: mcIMK, CVK: vectorKey, PVK: vectorKey, PVKI: 1}},
		},
	}
}

func newTestVerifier(t testing.TB) (*Verifier, *config.Config) {
	t.Helper()
	cfg := testConfig()
	v, err := New(ConfigOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return v, cfg
}

func mustProgram(t testing.TB, cfg *config.Config, name string) *config.Program {
	t.Helper()
	p, ok := cfg.Program(name)
	if !ok {
		t.Fatalf("no program %s", name)
	}
	return p
}

func mustKeys(t testing.TB, cfg *config.Config, name string) Keys {
	t.Helper()
	k, err := ProgramKeys(mustProgram(t, cfg, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	visaPAN   = "4234560000000017"
	mcPAN     = "5351100000000018"
	tokenPAN  = "5351109999999914"
	cardExp   = "2912"
	tokenExp  = "3006"
	goodPIN   = "4524"
	currEUR   = "978"
	testUN    = "\x52\xBF\x45\x85"
	amount    = int64(12345)
	serviceCd = "201"
)

// testCard returns an active card of the program with the CVC2 and PVV the token vault issues
// it, from the test configuration's keys.
func testCard(t testing.TB, _ *Verifier, program, pan string) *ledger.Card {
	t.Helper()
	vault, err := tokenvault.New(tokenvault.Config{Programs: testConfig().VaultPrograms(),
		Hash: func(p string) string { return p }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := vault.Issue(tokenvault.IssueRequest{Program: program, PAN: tokenvault.PAN(pan),
		ExpiryYYMM: cardExp, PIN: goodPIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &ledger.Card{ID: "card-1", Program: program, State: ledger.CardActive, PAN: c.PAN.Reveal(),
		Last4: c.PAN.Last4(), ExpiryYYMM: c.ExpiryYYMM, PSN: c.PSN, CVC2: c.CVC2.Reveal(), PVV: c.PVV.Reveal()}
}

func testToken(card *ledger.Card) *ledger.Token {
	return &ledger.Token{ID: "tok-1", CardID: card.ID, PAN: tokenPAN, Last4: tokenPAN[12:],
		ExpiryYYMM: tokenExp, PSN: "01", State: authz.TokenActive, Type: ledger.TokenSE, HighestATC: 0}
}

func baseRequest(pan, posEntry string) *authz.Request {
	return &authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: pan,
		ProcessingCode: "000000", AmountMinor: amount, HasAmount: true, STAN: "000001",
		F7: "0101120000", POSEntryMode: posEntry, CurrencyNum: currEUR, AcquirerID: "12345678",
		RRN: "000000000001"}
}

func un4() [4]byte {
	var u [4]byte
	copy(u[:], testUN)
	return u
}
