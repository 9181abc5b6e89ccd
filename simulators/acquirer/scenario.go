package acquirer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/switch/codec"
)

// Scenario is a scripted sequence of messages with the answers the switch must give.
// See docs/simulator.md for the file format.
type Scenario struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Setup       Setup         `yaml:"setup"`
	Timeout     time.Duration `yaml:"timeout"` // per answer, default 5s
	Steps       []Step        `yaml:"steps"`
}

// Setup is what the simulator provisions through the management API before the steps.
type Setup struct {
	Customer CustomerSpec  `yaml:"customer"`
	Balances []BalanceSpec `yaml:"balances"`
	Cards    []CardSpec    `yaml:"cards"`
}

// CustomerSpec is the demo customer; empty fields get generated values.
type CustomerSpec struct {
	ExternalID string `yaml:"externalId"`
	FirstName  string `yaml:"firstName"`
	LastName   string `yaml:"lastName"`
	Email      string `yaml:"email"`
	Phone      string `yaml:"phone"`
}

// BalanceSpec is a balance of the customer, reloaded with an amount.
type BalanceSpec struct {
	Ref      string `yaml:"ref"`
	Currency string `yaml:"currency"` // alpha-3, default EUR
	Reload   string `yaml:"reload"`   // major units, e.g. "100.00"
}

// CardSpec is a card on a balance.
type CardSpec struct {
	Ref     string `yaml:"ref"`
	Balance string `yaml:"balance"` // balance ref, default the first
	Program string `yaml:"program"` // default: the switch picks
	Type    string `yaml:"type"`    // VIRTUAL (default), PHYSICAL, DIGITAL_FIRST
	PIN     string `yaml:"pin"`     // set through the customer channel when given
}

// Step is one message (or management action) and what must come back.
type Step struct {
	Name string `yaml:"name"`
	// Kind: echo, signon, signoff, purchase, sale, cash, refund, balance, advice, completion,
	// reversal, reversal-advice, retransmit, lock, unlock, cancel-agreement, pause.
	Kind string `yaml:"kind"`
	Card string `yaml:"card"` // card ref of the setup
	PAN  string `yaml:"pan"`  // a PAN instead of a card ("unknown" draws one no card has)

	Amount   string `yaml:"amount"`   // major units; completion: captured amount; reversal: the new amount (partial)
	Currency string `yaml:"currency"` // alpha-3 or numeric; default the card's
	Entry    string `yaml:"entry"`    // ecommerce, manual, chip, contactless, magstripe
	CVC2     string `yaml:"cvc2"`     // "", wrong, none or 3 digits
	PIN      string `yaml:"pin"`      // "", wrong, none or digits
	Expiry   string `yaml:"expiry"`   // "", wrong, none or YYMM
	BadARQC  bool   `yaml:"badArqc"`
	MCC      string `yaml:"mcc"`
	// MerchantID is field 42 (up to 15 characters, padded with spaces); default the simulator's
	// shop. A stored-credential agreement belongs to the merchant of its initial operation.
	MerchantID string `yaml:"merchantId"`
	// StoredCredential is field 48 subelements 20, 21 and 22 (contract §2).
	StoredCredential *StoredCredentialSpec `yaml:"storedCredential"`

	// Ref names an earlier step: the original of a completion or reversal, or the message a
	// retransmit sends again. A reversal may name a later step: that step's message is built
	// now and sent when its turn comes, after its reversal (a late original).
	Ref    string `yaml:"ref"`
	Repeat bool   `yaml:"repeat"` // retransmit with the repeat MTI (0101, 0401, ...)

	Reason int `yaml:"reason"` // lock: reason code 1..8
	// Agreement names the card's stored-credential agreement that cancel-agreement cancels
	// (its reference, field 48 subelement 21).
	Agreement string        `yaml:"agreement"`
	Delay     time.Duration `yaml:"delay"` // wait before sending

	Expect Expect `yaml:"expect"`
}

// StoredCredentialSpec is field 48 subelements 20 (indicator), 21 (agreement reference) and 22
// (recurring terms) of a step.
type StoredCredentialSpec struct {
	Indicator string `yaml:"indicator"` // 1 cardholder-initiated, 2 merchant recurring, 3 merchant unscheduled
	Agreement string `yaml:"agreement"` // up to 32 characters; may be left out (the switch then declines a MIT)
	// Terms are MIN|MAX|DAYS|END as the wire carries them. END is a date DD.MM.YYYY, or a date
	// relative to the simulator's clock (UTC): +Nd, +Nm, +Ny (or -N... for a date already past),
	// so that a scenario file does not go stale.
	Terms string `yaml:"terms"`
}

// Resolve returns the subelements to send, with a relative end date of the terms replaced by
// the date it names from now.
func (sc StoredCredentialSpec) Resolve(now time.Time) (authz.StoredCredential, error) {
	out := authz.StoredCredential{Indicator: sc.Indicator, Agreement: sc.Agreement, Terms: sc.Terms}
	i := strings.LastIndexByte(sc.Terms, '|')
	if i < 0 {
		return out, nil
	}
	end := sc.Terms[i+1:]
	if !strings.HasPrefix(end, "+") && !strings.HasPrefix(end, "-") {
		return out, nil
	}
	n, err := strconv.Atoi(end[:len(end)-1])
	if len(end) < 3 || err != nil {
		return out, fmt.Errorf("terms end %q: want DD.MM.YYYY or +N/-N followed by d, m or y", end)
	}
	t := now.UTC()
	switch end[len(end)-1] {
	case 'd':
		t = t.AddDate(0, 0, n)
	case 'm':
		t = t.AddDate(0, n, 0)
	case 'y':
		t = t.AddDate(n, 0, 0)
	default:
		return out, fmt.Errorf("terms end %q: want DD.MM.YYYY or +N/-N followed by d, m or y", end)
	}
	out.Terms = sc.Terms[:i+1] + t.Format("02.01.2006")
	return out, nil
}

// Expect is what the answer must be. An empty expectation of a message step means "00".
type Expect struct {
	Code      string `yaml:"code"`      // field 39
	Same      bool   `yaml:"same"`      // retransmit: the very answer of the step it repeats (39, 38, 54)
	Available string `yaml:"available"` // field 54 available balance, major units
	AuthCode  bool   `yaml:"authCode"`  // field 38 present
}

// UnmarshalYAML accepts `expect: "00"` as a shorthand for `expect: {code: "00"}`.
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "same" {
			e.Same = true
			return nil
		}
		e.Code = n.Value
		return nil
	}
	type plain Expect
	return n.Decode((*plain)(e))
}

// Step kinds that are not messages.
const (
	StepRetransmit      = "retransmit"
	StepLock            = "lock"
	StepUnlock          = "unlock"
	StepCancelAgreement = "cancel-agreement"
	StepPause           = "pause"
)

// storedCredentialKinds are the message kinds that may carry stored-credential data.
var storedCredentialKinds = map[string]bool{
	KindPurchase: true, KindSale: true, KindCash: true, KindRefund: true, KindBalance: true, KindAdvice: true,
}

// merchantIDMax is the length of field 42.
const merchantIDMax = 15

var messageKinds = map[string]bool{
	KindEcho: true, KindSignOn: true, KindSignOff: true, KindPurchase: true, KindSale: true, KindCash: true,
	KindRefund: true, KindBalance: true, KindAdvice: true, KindCompletion: true, KindReversal: true,
	KindReversalAdvice: true,
}

// ParseScenario reads a scenario from YAML and checks it.
func ParseScenario(raw []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := ParseScenario(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Validate checks names, references and values, and fills in step names and defaults.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("scenario: "+format, a...)) }
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	balances := map[string]bool{}
	for i := range s.Setup.Balances {
		b := &s.Setup.Balances[i]
		if b.Ref == "" {
			b.Ref = fmt.Sprintf("balance%d", i+1)
		}
		if b.Currency == "" {
			b.Currency = "EUR"
		}
		if _, ok := ledger.CurrencyByAlpha(b.Currency); !ok {
			bad("balance %s: unknown currency %q", b.Ref, b.Currency)
		}
		if b.Reload != "" {
			if _, err := ParseAmount(b.Reload, b.Currency); err != nil {
				bad("balance %s: reload: %v", b.Ref, err)
			}
		}
		if balances[b.Ref] {
			bad("balance ref %q repeated", b.Ref)
		}
		balances[b.Ref] = true
	}
	cards := map[string]string{} // ref -> currency
	for i := range s.Setup.Cards {
		c := &s.Setup.Cards[i]
		if c.Ref == "" {
			bad("card %d: ref missing", i+1)
			continue
		}
		if c.Balance == "" && len(s.Setup.Balances) > 0 {
			c.Balance = s.Setup.Balances[0].Ref
		}
		if !balances[c.Balance] {
			bad("card %s: unknown balance %q", c.Ref, c.Balance)
		}
		if c.Type == "" {
			c.Type = "VIRTUAL"
		}
		if _, dup := cards[c.Ref]; dup {
			bad("card ref %q repeated", c.Ref)
		}
		cur := "EUR"
		for _, b := range s.Setup.Balances {
			if b.Ref == c.Balance {
				cur = b.Currency
			}
		}
		cards[c.Ref] = cur
	}
	names := map[string]int{}
	for i := range s.Steps {
		st := &s.Steps[i]
		if st.Name == "" {
			st.Name = fmt.Sprintf("%d-%s", i+1, st.Kind)
		}
		if _, dup := names[st.Name]; dup {
			bad("step %q: name repeated", st.Name)
		}
		names[st.Name] = i
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		at := fmt.Sprintf("step %q", st.Name)
		if st.Delay < 0 {
			bad("%s: negative delay", at)
		}
		ref, hasRef := names[st.Ref]
		switch {
		case st.Kind == StepPause:
			continue
		case st.Kind == StepLock || st.Kind == StepUnlock || st.Kind == StepCancelAgreement:
			if _, ok := cards[st.Card]; !ok {
				bad("%s: unknown card %q", at, st.Card)
			}
			if st.Kind == StepCancelAgreement && st.Agreement == "" {
				bad("%s: agreement (the reference to cancel) is required", at)
			}
			if st.Kind == StepLock && (st.Reason < 1 || st.Reason > 8) {
				bad("%s: reason must be 1..8", at)
			}
			continue
		case st.Kind == StepRetransmit:
			if !hasRef || ref >= i {
				bad("%s: ref must name an earlier step", at)
			} else if !messageKinds[s.Steps[ref].Kind] {
				bad("%s: ref %q is not a message", at, st.Ref)
			}
			if st.Expect.Code == "" && !st.Expect.Same {
				st.Expect.Same = true
			}
		case !messageKinds[st.Kind]:
			bad("%s: unknown kind %q", at, st.Kind)
			continue
		case st.Kind == KindCompletion || st.Kind == KindReversal || st.Kind == KindReversalAdvice:
			if !hasRef || ref == i {
				bad("%s: ref must name another step", at)
				break
			}
			o := s.Steps[ref].Kind
			if o == StepRetransmit || o == StepLock || o == StepUnlock || o == StepCancelAgreement || o == StepPause || o == KindEcho ||
				o == KindSignOn || o == KindSignOff {
				bad("%s: ref %q is not a financial message", at, st.Ref)
			}
			if ref > i && st.Kind == KindCompletion {
				bad("%s: a completion must name an earlier step", at)
			}
		case st.Kind == KindEcho || st.Kind == KindSignOn || st.Kind == KindSignOff:
		default:
			if st.Card == "" && st.PAN == "" {
				bad("%s: card or pan needed", at)
			} else if _, ok := cards[st.Card]; st.Card != "" && !ok {
				bad("%s: unknown card %q", at, st.Card)
			}
			if st.Amount == "" && st.Kind != KindBalance {
				bad("%s: amount needed", at)
			}
		}
		if st.Amount != "" {
			cur := cards[st.Card]
			if cur == "" {
				cur = "EUR"
			}
			if _, err := ParseAmount(st.Amount, cur); err != nil {
				bad("%s: amount: %v", at, err)
			}
		}
		if st.Entry != "" {
			if _, ok := entryModes[st.Entry]; !ok {
				bad("%s: unknown entry %q", at, st.Entry)
			}
		}
		if len(st.MerchantID) > merchantIDMax {
			bad("%s: merchantId longer than %d characters", at, merchantIDMax)
		}
		if sc := st.StoredCredential; sc != nil {
			if err := validStoredCredential(st.Kind, *sc); err != nil {
				bad("%s: storedCredential: %v", at, err)
			}
		}
		if c := st.Expect.Code; c != "" && !validField39(c) {
			bad("%s: expect code %q is not a field 39 value", at, c)
		}
		if st.Expect.Code == "" && !st.Expect.Same {
			st.Expect.Code = "00"
		}
		if a := st.Expect.Available; a != "" {
			if _, err := ParseAmount(strings.TrimPrefix(a, "-"), "EUR"); err != nil {
				bad("%s: expect available: %v", at, err)
			}
		}
	}
	return errors.Join(errs...)
}

// validStoredCredential checks what the simulator can send: an indicator 1-3, a reference of 1
// to 32 characters when given, and terms of the wire grammar (MIN > MAX, DAYS 0 or a past end
// date are sendable: the switch answers them 30).
func validStoredCredential(kind string, sc StoredCredentialSpec) error {
	if !storedCredentialKinds[kind] {
		return fmt.Errorf("not on a %s step", kind)
	}
	if sc.Indicator != authz.IndicatorCIT && sc.Indicator != authz.IndicatorMITRecurring && sc.Indicator != authz.IndicatorMITUnscheduled {
		return fmt.Errorf("indicator %q: want 1, 2 or 3", sc.Indicator)
	}
	if len(sc.Agreement) > 32 {
		return errors.New("agreement longer than 32 characters")
	}
	v, err := sc.Resolve(time.Now())
	if err != nil {
		return err
	}
	if _, err := codec.BuildRequest(&authz.Request{MTI: "0100", StoredCredential: v}); err != nil {
		return fmt.Errorf("terms %q: want MIN|MAX|DAYS|DD.MM.YYYY with two decimals (%v)", sc.Terms, err)
	}
	return nil
}

func validField39(c string) bool {
	if len(c) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		ch := c[i]
		if !(ch >= '0' && ch <= '9' || ch >= 'A' && ch <= 'Z') {
			return false
		}
	}
	return true
}

// ParseAmount reads a decimal amount in major units with exactly the currency's decimals
// ("12.34" for EUR; "12" for JPY) and returns minor units.
func ParseAmount(s, currency string) (int64, error) {
	exp := 2
	if c, ok := ledger.CurrencyByAlpha(strings.ToUpper(currency)); ok {
		exp = c.Exponent
	} else if c, ok := ledger.CurrencyByNumeric(currency); ok {
		exp = c.Exponent
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (exp == 0 && hasDot) || (exp > 0 && (!hasDot || len(frac) != exp)) {
		return 0, fmt.Errorf("%q: want %d decimals", s, exp)
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v < 0 || strings.ContainsAny(whole+frac, "+-") {
		return 0, fmt.Errorf("%q: not an amount", s)
	}
	return v, nil
}

// FormatAmount writes minor units as a decimal with exp decimals.
func FormatAmount(minor int64, exp int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
