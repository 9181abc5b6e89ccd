package tokenvault

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
)

var (
	testCVK = []byte("0123456789ABCDEF")
	testPVK = []byte("FEDCBA9876543210")
)

func testVault(t *testing.T) *Vault {
	t.Helper()
	v, err := New(Config{Programs: []Program{
		{Name: "mc", BIN: "535110", PANLength: 16, ExpiryMonths: 24, CVK: testCVK, PVK: testPVK, PVKI: 1},
		{Name: "visa", BIN: "42345678", PANLength: 19, CVK: testCVK, PVK: testPVK},
	}, Hash: func(p string) string { return "h:" + p }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// index is a store of card and token PAN hashes.
type index struct{ cards, tokens map[string]string }

func (x index) CardIDByPANHash(h string) (string, bool)  { id, ok := x.cards[h]; return id, ok }
func (x index) TokenIDByPANHash(h string) (string, bool) { id, ok := x.tokens[h]; return id, ok }

// fullIndex says every number is in use.
type fullIndex struct{ asked *int }

func (x fullIndex) CardIDByPANHash(string) (string, bool)  { *x.asked++; return "c", true }
func (x fullIndex) TokenIDByPANHash(string) (string, bool) { return "", false }

func TestIssueDrawsANumberAndDerivesItsSecrets(t *testing.T) {
	v := testVault(t)
	now := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	for _, prog := range []struct {
		name, bin string
		length    int
		expiry    string
	}{{"mc", "535110", 16, "2811"}, {"visa", "42345678", 19, "2911"}} {
		c, err := v.Issue(IssueRequest{Program: prog.name, Now: now, PIN: "4321"}, index{})
		if err != nil {
			t.Fatal(err)
		}
		pan := c.PAN.Reveal()
		if len(pan) != prog.length || !strings.HasPrefix(pan, prog.bin) || !cardcrypto.LuhnValid(pan) {
			t.Errorf("%s: drawn number %s does not fit the program", prog.name, c.PAN)
		}
		if c.ExpiryYYMM != prog.expiry || c.PSN != "00" || c.PANHash != "h:"+pan {
			t.Errorf("%s: expiry %s PSN %s hash %s", prog.name, c.ExpiryYYMM, c.PSN, c.PANHash)
		}
		if want, _ := cardcrypto.CVV2(testCVK, pan, c.ExpiryYYMM); c.CVC2.Reveal() != want {
			t.Errorf("%s: CVC2 is not the CVV2 under the CVK", prog.name)
		}
		pvki := map[string]int{"mc": 1, "visa": 0}[prog.name]
		if want, _ := cardcrypto.PVV(testPVK, pan, pvki, "4321"); c.PVV.Reveal() != want {
			t.Errorf("%s: PVV is not the PIN's under the PVK", prog.name)
		}
	}
	other, _ := v.Issue(IssueRequest{Program: "mc", Now: now}, nil)
	if other.PVV != "" {
		t.Error("a PVV without a PIN")
	}
}

func TestIssueGivenNumber(t *testing.T) {
	v := testVault(t)
	c, err := v.Issue(IssueRequest{Program: "mc", PAN: "5351100000000018", ExpiryYYMM: "3012"}, index{})
	if err != nil || c.PAN != "5351100000000018" || c.ExpiryYYMM != "3012" {
		t.Fatalf("given number: %v %v", c.PAN, err)
	}
	for _, pan := range []PAN{"4234567800000000", "535110000000001", "53511000000000x8"} {
		if _, err := v.Issue(IssueRequest{Program: "mc", PAN: pan, ExpiryYYMM: "3012"}, nil); !errors.Is(err, ErrBadPAN) {
			t.Errorf("%s: %v, want ErrBadPAN", pan, err)
		}
	}
	used := index{cards: map[string]string{}, tokens: map[string]string{"h:5351100000000018": "tok"}}
	if _, err := v.Issue(IssueRequest{Program: "mc", PAN: "5351100000000018", ExpiryYYMM: "3012"}, used); !errors.Is(err, ErrPANInUse) {
		t.Errorf("a token's number: %v, want ErrPANInUse", err)
	}
	if _, err := v.Issue(IssueRequest{Program: "nope"}, nil); !errors.Is(err, ErrUnknownProgram) {
		t.Errorf("unknown program: %v", err)
	}
	if _, err := v.Issue(IssueRequest{Program: "mc", Now: time.Now(), PIN: "12"}, nil); !errors.Is(err, ErrBadPIN) {
		t.Errorf("short PIN: %v", err)
	}
}

func TestIssueDrawsAgainWhileTheNumberIsUsed(t *testing.T) {
	v := testVault(t)
	asked := 0
	if _, err := v.Issue(IssueRequest{Program: "mc", Now: time.Now()}, fullIndex{&asked}); !errors.Is(err, ErrPANInUse) {
		t.Fatalf("full BIN: %v, want ErrPANInUse", err)
	}
	if asked != panDraws {
		t.Errorf("drew %d numbers, want %d", asked, panDraws)
	}
}

func TestReplacementCVC2sDiffer(t *testing.T) {
	for i := 0; i < 200; i++ {
		c := ReplacementCVC2s()
		if c[0] == c[1] || len(c[0]) != 3 || len(c[1]) != 3 || !cardcrypto.IsDigits(c[0].Reveal()) || !cardcrypto.IsDigits(c[1].Reveal()) {
			t.Fatalf("candidates %v %v", c[0].Reveal(), c[1].Reveal())
		}
	}
}

func TestNewRefusesUnusablePrograms(t *testing.T) {
	good := Program{Name: "p", BIN: "535110", PANLength: 16, CVK: testCVK, PVK: testPVK}
	hash := func(p string) string { return p }
	for name, mut := range map[string]func(p *Program){
		"no name": func(p *Program) { p.Name = "" },
		"bin":     func(p *Program) { p.BIN = "53511x" },
		"length":  func(p *Program) { p.PANLength = 7 },
		"cvk":     func(p *Program) { p.CVK = p.CVK[:8] },
		"pvki":    func(p *Program) { p.PVKI = 10 },
	} {
		p := good
		mut(&p)
		if _, err := New(Config{Programs: []Program{p}, Hash: hash}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{Programs: []Program{good, good}, Hash: hash}); err == nil {
		t.Error("repeated name accepted")
	}
	if _, err := New(Config{Programs: []Program{good}}); err == nil {
		t.Error("no hash accepted")
	}
}

type row struct{ id, cardID string }

// lookup is a store of card and token rows by PAN hash.
type lookup struct{ cards, tokens map[string]row }

func (l lookup) CardByPANHash(h string) (row, bool)  { r, ok := l.cards[h]; return r, ok }
func (l lookup) TokenByPANHash(h string) (row, bool) { r, ok := l.tokens[h]; return r, ok }
func (l lookup) CardOfToken(t *row) (row, bool) {
	for _, c := range l.cards {
		if c.id == t.cardID {
			return c, true
		}
	}
	return row{}, false
}

func TestResolve(t *testing.T) {
	l := lookup{
		cards:  map[string]row{"h:1111": {id: "card-1"}},
		tokens: map[string]row{"h:2222": {id: "tok-1", cardID: "card-1"}, "h:3333": {id: "tok-2", cardID: "gone"}},
	}
	hash := func(p string) string { return "h:" + p }
	if c, tok, ok := Resolve[row, row](l, hash, "1111"); !ok || c.id != "card-1" || tok != nil {
		t.Errorf("card PAN: %v %v %v", c, tok, ok)
	}
	if c, tok, ok := Resolve[row, row](l, hash, "2222"); !ok || c.id != "card-1" || tok == nil || tok.id != "tok-1" {
		t.Errorf("token PAN: %v %v %v", c, tok, ok)
	}
	for _, pan := range []PAN{"3333", "4444"} {
		if _, tok, ok := Resolve[row, row](l, hash, pan); ok || tok != nil {
			t.Errorf("%s resolved", pan)
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	states := []authz.TokenState{authz.TokenInactive, authz.TokenActive, authz.TokenSuspended, authz.TokenDeleted}
	for _, from := range states {
		for _, to := range append(states, "LOST") {
			err := TokenTransition(from, to)
			switch {
			case from == authz.TokenDeleted:
				if !errors.Is(err, ErrTokenDeleted) {
					t.Errorf("%s -> %s: %v, want ErrTokenDeleted", from, to, err)
				}
			case to == "LOST":
				if !errors.Is(err, ErrUnknownTokenState) {
					t.Errorf("%s -> %s: %v, want ErrUnknownTokenState", from, to, err)
				}
			case err != nil:
				t.Errorf("%s -> %s: %v", from, to, err)
			}
		}
	}
	if s, err := InitialTokenState(""); s != authz.TokenActive || err != nil {
		t.Errorf("default initial state %s %v", s, err)
	}
	if s, err := InitialTokenState(authz.TokenInactive); s != authz.TokenInactive || err != nil {
		t.Errorf("asked initial state %s %v", s, err)
	}
	if _, err := InitialTokenState("LOST"); !errors.Is(err, ErrUnknownTokenState) {
		t.Errorf("unknown initial state: %v", err)
	}
}

// A token PAN from a token service is 13 to 19 digits passing the Luhn check; it is recorded
// under the vault's lookup hash, as card numbers are.
func TestTokenPAN(t *testing.T) {
	v := testVault(t)
	for _, bad := range []PAN{"", "489537000000005", "4895370000000013X", "48953700000", "48953700000000000000", "4895370000000013"} {
		if _, err := v.TokenPAN(bad); !errors.Is(err, ErrBadTokenPAN) {
			t.Errorf("%q: %v, want ErrBadTokenPAN", bad.Reveal(), err)
		}
	}
	h, err := v.TokenPAN("4895370000000015")
	if err != nil || h != v.Hash("4895370000000015") {
		t.Fatalf("valid token PAN: %q, %v", h, err)
	}
}
