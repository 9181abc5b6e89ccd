package tokenvault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cardswitch/cardswitch/cardcrypto"
)

// Program is what the vault needs of a card program to issue its cards.
type Program struct {
	Name         string
	BIN          string
	PANLength    int
	ExpiryMonths int    // validity of a new card; <= 0: DefaultExpiryMonths
	CVK          []byte // 16 bytes, CVK A || CVK B
	PVK          []byte // 16 bytes, PVK A || PVK B
	PVKI         int
}

// DefaultExpiryMonths is the validity of a new card when its program does not set one.
const DefaultExpiryMonths = 36

// Config is the vault's configuration: the card programs it issues for and the store's PAN
// lookup hash.
type Config struct {
	Programs []Program
	// Hash is the store's keyed PAN hash: HasherWithKey(LookupKey(...)).
	Hash func(pan string) string
}

// Vault issues card numbers and card secrets for the configured programs and resolves PANs. It
// is immutable after New and safe for concurrent use.
type Vault struct {
	programs map[string]*Program
	hash     func(string) string
}

// New builds the vault. Programs are checked as issuance needs them: a BIN of digits that
// leaves room for random digits and the check digit, PVKI one digit.
func New(c Config) (*Vault, error) {
	if c.Hash == nil {
		return nil, errors.New("tokenvault: no PAN hash")
	}
	v := &Vault{programs: make(map[string]*Program, len(c.Programs)), hash: c.Hash}
	for i := range c.Programs {
		p := c.Programs[i]
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("tokenvault: programs[%d].name: empty", i)
		case v.programs[p.Name] != nil:
			return nil, fmt.Errorf("tokenvault: programs[%d].name: repeated", i)
		case !cardcrypto.IsDigits(p.BIN) || p.PANLength > 19 || p.PANLength-len(p.BIN)-1 < 1:
			return nil, fmt.Errorf("tokenvault: programs[%d]: bin and panLength leave no room for card numbers", i)
		case len(p.CVK) != 16 || len(p.PVK) != 16:
			return nil, fmt.Errorf("tokenvault: programs[%d].keys: want 16-byte CVK and PVK", i)
		case p.PVKI < 0 || p.PVKI > 9:
			return nil, fmt.Errorf("tokenvault: programs[%d].keys.pvki: want one digit", i)
		}
		if p.ExpiryMonths <= 0 {
			p.ExpiryMonths = DefaultExpiryMonths
		}
		p.CVK, p.PVK = append([]byte(nil), p.CVK...), append([]byte(nil), p.PVK...)
		v.programs[p.Name] = &p
	}
	return v, nil
}

// Hash is the keyed hash card and token rows are indexed by.
func (v *Vault) Hash(p PAN) string { return v.hash(string(p)) }

// ErrBadTokenPAN refuses a token PAN that is not 13 to 19 digits passing the Luhn check.
var ErrBadTokenPAN = errors.New("tokenvault: a token PAN is 13 to 19 digits passing the Luhn check")

// TokenPAN checks a token PAN that a token service hands the issuer and gives the lookup hash the
// ledger records the token under (unique across cards and tokens: ledger.Tx.AddToken).
func (v *Vault) TokenPAN(p PAN) (hash string, err error) {
	s := string(p)
	if len(s) < 13 || len(s) > 19 || !cardcrypto.IsDigits(s) || !cardcrypto.LuhnValid(s) {
		return "", ErrBadTokenPAN
	}
	return v.hash(s), nil
}

// Index finds card and token ids by PAN hash; the ledger's Tx and State implement it.
type Index interface {
	CardIDByPANHash(hash string) (string, bool)
	TokenIDByPANHash(hash string) (string, bool)
}

// Errors of Issue. None carries a card number or a secret.
var (
	ErrUnknownProgram = errors.New("tokenvault: unknown program")
	ErrPANInUse       = errors.New("tokenvault: the card number is in use")
	ErrBadPAN         = errors.New("tokenvault: the card number does not fit the program")
	ErrBadPIN         = errors.New("tokenvault: a PIN is 4 to 12 digits")
)

// panDraws is how many card numbers Issue draws before it gives up: with 9 random digits a
// collision is already rare, four in a row means the BIN is full.
const panDraws = 4

// IssueRequest asks for a new card's number and secrets.
type IssueRequest struct {
	Program string
	// PAN is the card number to use (provisioning recomputes its numbers from an index); empty:
	// draw a random number under the program's BIN.
	PAN PAN
	// ExpiryYYMM is the card's expiry; empty: the program's validity counted from Now.
	ExpiryYYMM string
	Now        time.Time
	// PIN, when set, gives the card a PVV (the PIN itself is not kept).
	PIN PIN
}

// Issued is a new card's number and secrets, to be stored on the card row.
type Issued struct {
	PAN        PAN
	PANHash    string
	ExpiryYYMM string
	PSN        string // PAN sequence number: "00" for a new card
	CVC2       CVC2
	PVV        PVV // "" when no PIN was given
}

// Issue gives a new card of the program its number and secrets: a given number must have the
// program's BIN and length, otherwise one is drawn (BIN, random digits, Luhn check digit); the CVC2
// is the CVV of the number and expiry with service code 000 under the program's CVK, the PVV
// that of the PIN under its PVK. With an index, the number must be used by no card and no token
// (a drawn number is drawn again, up to panDraws times); the ledger checks again when it stores
// the card, so a nil index only moves the refusal there.
func (v *Vault) Issue(r IssueRequest, idx Index) (Issued, error) {
	p := v.programs[r.Program]
	if p == nil {
		return Issued{}, ErrUnknownProgram
	}
	out := Issued{ExpiryYYMM: r.ExpiryYYMM, PSN: "00"}
	if out.ExpiryYYMM == "" {
		out.ExpiryYYMM = expiryYYMM(r.Now, p.ExpiryMonths)
	}
	if r.PAN != "" {
		s := string(r.PAN)
		if len(s) != p.PANLength || !strings.HasPrefix(s, p.BIN) || !cardcrypto.IsDigits(s) {
			return Issued{}, ErrBadPAN
		}
		out.PAN, out.PANHash = r.PAN, v.hash(s)
		if idx != nil && inUse(idx, out.PANHash) {
			return Issued{}, ErrPANInUse
		}
	} else {
		for i := 0; ; i++ {
			if i == panDraws {
				return Issued{}, ErrPANInUse
			}
			out.PAN = drawPAN(p)
			out.PANHash = v.hash(string(out.PAN))
			if idx == nil || !inUse(idx, out.PANHash) {
				break
			}
		}
	}
	cvc2, err := cardcrypto.CVV2(p.CVK, string(out.PAN), out.ExpiryYYMM)
	if err != nil {
		// Only a malformed expiry gets here: the number was checked above.
		return Issued{}, fmt.Errorf("tokenvault: CVC2: expiry must be YYMM")
	}
	out.CVC2 = CVC2(cvc2)
	if r.PIN != "" {
		if out.PVV, err = v.PVV(r.Program, out.PAN, r.PIN); err != nil {
			return Issued{}, err
		}
	}
	return out, nil
}

// PVV computes the Visa PVV of a new PIN for a card of the program (PIN set or change): the
// card keeps the PVV, never the PIN.
func (v *Vault) PVV(program string, pan PAN, pin PIN) (PVV, error) {
	p := v.programs[program]
	if p == nil {
		return "", ErrUnknownProgram
	}
	if len(pin) < 4 || len(pin) > 12 || !cardcrypto.IsDigits(string(pin)) {
		return "", ErrBadPIN
	}
	pvv, err := cardcrypto.PVV(p.PVK, string(pan), p.PVKI, string(pin))
	if err != nil {
		return "", ErrBadPAN
	}
	return PVV(pvv), nil
}

// ReplacementCVC2s draws the candidates of a CVC2 reset: two different random three-digit values
// (not the CVV algorithm's, which for the same number, expiry and key never changes), so that
// the ledger can always pick one that differs from the card's current value.
func ReplacementCVC2s() [2]CVC2 {
	a := randDigits(3)
	b := randDigits(3)
	for b == a {
		b = randDigits(3)
	}
	return [2]CVC2{CVC2(a), CVC2(b)}
}

func inUse(idx Index, hash string) bool {
	if _, ok := idx.CardIDByPANHash(hash); ok {
		return true
	}
	_, ok := idx.TokenIDByPANHash(hash)
	return ok
}

// drawPAN draws a number under the program's BIN: BIN, random digits, Luhn check digit.
func drawPAN(p *Program) PAN {
	payload := p.BIN + randDigits(p.PANLength-len(p.BIN)-1)
	check, err := cardcrypto.LuhnCheckDigit(payload)
	if err != nil {
		panic("tokenvault: a BIN of digits was checked in New: " + err.Error())
	}
	return PAN(payload + string(check))
}

// randDigits returns n uniformly random decimal digits. crypto/rand.Read does not fail (it ends
// the program when the system has no randomness).
func randDigits(n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if b < 250 && len(out) < n { // 250 = 25*10: no modulo bias
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out)
}

// expiryYYMM is the expiry months after now (the card is valid to the end of that month).
func expiryYYMM(now time.Time, months int) string {
	now = now.UTC()
	m := int(now.Month()) - 1 + months
	y := now.Year() + m/12
	return fmt.Sprintf("%02d%02d", y%100, m%12+1)
}
