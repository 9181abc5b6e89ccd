package acquirer

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/authz"
)

// Message kinds the simulator and the client send.
const (
	KindEcho           = "echo"            // 0800 / 301
	KindSignOn         = "signon"          // 0800 / 001
	KindSignOff        = "signoff"         // 0800 / 002
	KindPurchase       = "purchase"        // 0100, processing code 000000: authorization (hold)
	KindSale           = "sale"            // 0200, processing code 000000: debit at once
	KindCash           = "cash"            // 0200, processing code 010000: ATM cash with PIN
	KindRefund         = "refund"          // 0200, processing code 200000: credit
	KindBalance        = "balance"         // 0100, processing code 300000: balance inquiry
	KindAdvice         = "advice"          // 0120: stand-in authorization advice
	KindCompletion     = "completion"      // 0220 naming an earlier authorization
	KindReversal       = "reversal"        // 0400 naming an earlier request; partial with an amount
	KindReversalAdvice = "reversal-advice" // 0420
)

// Entry modes (field 22) the simulator can play.
const (
	EntryECommerce   = "ecommerce"   // 812: card not present, CVC2 in field 48.92
	EntryManual      = "manual"      // 010: key entry, CVC2
	EntryChip        = "chip"        // 051: ARQC in field 55, track 2 equivalent with iCVV, field 23
	EntryContactless = "contactless" // 071: as chip
	EntryMagstripe   = "magstripe"   // 901: track 2 with CVV
	// EntryCredentialOnFile is a stored credential used without the card (subsequent CIT, MIT):
	// 102, expiry, no CVC2 unless the step gives one.
	EntryCredentialOnFile = "cof"
)

var entryModes = map[string]string{
	EntryECommerce: "812", EntryManual: "010", EntryChip: "051", EntryContactless: "071", EntryMagstripe: "901",
	EntryCredentialOnFile: "102",
}

// Terminal is the acquirer and merchant data every request carries.
type Terminal struct {
	AcquirerID   string // field 32
	TerminalID   string // field 41, 8 characters
	MerchantID   string // field 42, 15 characters
	MerchantName string // field 43, 40 characters
	MCC          string // field 18
}

// DefaultTerminal is the simulator's shop.
var DefaultTerminal = Terminal{AcquirerID: "400001", TerminalID: "SIMTRM01", MerchantID: "SIMMERCHANT0001",
	MerchantName: "CARDSWITCH SIM SHOP    BERLIN       DE", MCC: "5411"}

// Spec describes one message to build.
type Spec struct {
	Kind        string
	Card        *Card
	PAN         string // overrides Card.PAN (an unknown card, a token)
	AmountMinor int64
	CurrencyNum string // default: the card's
	Entry       string // default: ecommerce; chip for cash, and for balance when the builder has keys
	CVC2        string // "": the card's for ecommerce/manual; "wrong"; "none"; or 3 digits
	PIN         string // "": the card's for cash; "wrong"; "none"; or digits
	Expiry      string // "": the card's; "wrong"; "none"; or YYMM
	BadARQC     bool
	MCC         string
	MerchantID  string                 // field 42; default the terminal's
	Stored      authz.StoredCredential // field 48 subelements 20, 21, 22

	Original         *authz.Request // completion and reversal: the request they name
	ReplacementMinor int64          // partial reversal: field 95 (only with HasReplacement)
	HasReplacement   bool
	// A completion captures AmountMinor (0: the original amount); a reversal ignores it.
}

// Builder numbers and dates messages and fills in the card data.
type Builder struct {
	Keys     *Keys
	Terminal Terminal
	Now      func() time.Time

	mu   sync.Mutex
	stan int
}

// NewBuilder returns a builder whose STANs start at a time-derived value, so that two runs
// against the same switch do not collide on message keys.
func NewBuilder(keys *Keys, t Terminal) *Builder {
	return &Builder{Keys: keys, Terminal: t, Now: time.Now, stan: int(time.Now().UnixNano()/1e3) % 900000}
}

func (b *Builder) nextSTAN() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stan = b.stan%999999 + 1
	return fmt.Sprintf("%06d", b.stan)
}

// stamp sets fields 7, 11, 12, 13, 32, 37 on r.
func (b *Builder) stamp(r *authz.Request) {
	now := b.Now().UTC()
	r.STAN = b.nextSTAN()
	r.F7 = now.Format("0102150405")
	r.LocalTime = now.Format("150405")
	r.LocalDate = now.Format("0102")
	r.AcquirerID = b.Terminal.AcquirerID
	r.RRN = now.Format("0602") + r.STAN[:] + "00" // 12 characters, unique per STAN and day
	r.RRN = r.RRN[:12]
}

// Network builds an 0800 with field 70 code (001, 002, 301).
func (b *Builder) Network(code string) *authz.Request {
	r := &authz.Request{MTI: "0800", Kind: authz.KindNetworkMgmt, NetworkCode: code}
	b.stamp(r)
	r.LocalTime, r.LocalDate, r.RRN = "", "", ""
	return r
}

// Build makes the request for s.
func (b *Builder) Build(s Spec) (*authz.Request, error) {
	switch s.Kind {
	case KindEcho:
		return b.Network("301"), nil
	case KindSignOn:
		return b.Network("001"), nil
	case KindSignOff:
		return b.Network("002"), nil
	case KindCompletion, KindReversal, KindReversalAdvice:
		return b.followUp(s)
	}
	r := &authz.Request{HasAmount: true, AmountMinor: s.AmountMinor}
	entry := s.Entry
	switch s.Kind {
	case KindPurchase:
		r.MTI, r.Kind, r.ProcessingCode = "0100", authz.KindAuthorization, "000000"
	case KindBalance:
		r.MTI, r.Kind, r.ProcessingCode, r.AmountMinor = "0100", authz.KindBalanceInquiry, "300000", 0
		if entry == "" && b.Keys != nil {
			entry = EntryChip
		}
	case KindSale:
		r.MTI, r.Kind, r.ProcessingCode = "0200", authz.KindFinancial, "000000"
	case KindCash:
		r.MTI, r.Kind, r.ProcessingCode = "0200", authz.KindFinancial, "010000"
		if entry == "" {
			entry = EntryChip
		}
	case KindRefund:
		r.MTI, r.Kind, r.ProcessingCode = "0200", authz.KindRefund, "200000"
	case KindAdvice:
		r.MTI, r.Kind, r.ProcessingCode = "0120", authz.KindAuthAdvice, "000000"
	default:
		return nil, fmt.Errorf("acquirer: unknown message kind %q", s.Kind)
	}
	if entry == "" {
		entry = EntryECommerce
	}
	mode, ok := entryModes[entry]
	if !ok {
		return nil, fmt.Errorf("acquirer: unknown entry mode %q", entry)
	}
	card := s.Card
	if card == nil {
		card = &Card{}
	}
	r.PAN = card.PAN
	if s.PAN != "" {
		r.PAN = s.PAN
	}
	if r.PAN == "" {
		return nil, fmt.Errorf("acquirer: %s needs a card or a PAN", s.Kind)
	}
	r.CurrencyNum = s.CurrencyNum
	if r.CurrencyNum == "" {
		r.CurrencyNum = card.CurrencyNum
	}
	if r.CurrencyNum == "" {
		r.CurrencyNum = "978"
	}
	b.stamp(r)
	r.POSEntryMode = mode
	r.MCC = b.Terminal.MCC
	if s.MCC != "" {
		r.MCC = s.MCC
	} else if s.Kind == KindCash {
		r.MCC = "6011"
	}
	r.TerminalID, r.MerchantID, r.MerchantName = b.Terminal.TerminalID, b.Terminal.MerchantID, fixed(b.Terminal.MerchantName, 40)
	if s.MerchantID != "" {
		r.MerchantID = fixed(s.MerchantID, 15)
	}
	r.StoredCredential = s.Stored

	expiry := pick(s.Expiry, card.ExpiryYYMM)
	switch entry {
	case EntryECommerce, EntryManual:
		r.ExpiryYYMM = expiry
		if s.Kind != KindRefund && s.Kind != KindAdvice || s.CVC2 != "" {
			r.CVC2 = pick(s.CVC2, card.CVC2)
		}
	case EntryCredentialOnFile:
		r.ExpiryYYMM = expiry
		if s.CVC2 != "" && s.CVC2 != "none" {
			r.CVC2 = pick(s.CVC2, card.CVC2)
		}
	case EntryChip, EntryContactless, EntryMagstripe:
		chip := entry != EntryMagstripe
		if expiry == "" {
			return nil, fmt.Errorf("acquirer: %s entry needs the card's expiry", entry)
		}
		t2, err := b.Keys.Track2(&Card{Program: card.Program, PAN: r.PAN, ExpiryYYMM: expiry}, chip)
		if err != nil {
			return nil, err
		}
		r.Track2 = t2
		if chip {
			r.CardSeq = card.psn3()
			icc, err := b.Keys.ICC(card, ARQCInput{AmountMinor: r.AmountMinor, CurrencyNum: r.CurrencyNum,
				TxnType: txnType(r.ProcessingCode), When: b.Now(), Corrupt: s.BadARQC})
			if err != nil {
				return nil, err
			}
			r.ICC = icc
		}
		if s.CVC2 != "" && s.CVC2 != "none" {
			r.CVC2 = pick(s.CVC2, card.CVC2)
		}
	}
	pin := s.PIN
	if pin == "" && s.Kind == KindCash {
		pin = card.PIN
		if pin == "" {
			return nil, fmt.Errorf("acquirer: cash needs the card's PIN")
		}
	}
	if pin != "" && pin != "none" {
		pin = pick(pin, card.PIN)
		blk, err := b.Keys.PINBlock(pin, r.PAN)
		if err != nil {
			return nil, err
		}
		r.PINBlock = blk
	}
	return r, nil
}

// pick resolves a scenario value: "" means the card's own value, "wrong" a value that differs
// from it, "none" leaves the field out, anything else is sent as given.
func pick(v, own string) string {
	switch v {
	case "":
		return own
	case "wrong":
		return wrongDigits(own)
	case "none":
		return ""
	}
	return v
}

func txnType(processingCode string) byte {
	if len(processingCode) < 2 {
		return 0
	}
	return (processingCode[0]-'0')<<4 | (processingCode[1] - '0')
}

// followUp builds a completion or reversal naming s.Original in field 90.
func (b *Builder) followUp(s Spec) (*authz.Request, error) {
	o := s.Original
	if o == nil {
		return nil, fmt.Errorf("acquirer: %s needs the original it names", s.Kind)
	}
	r := &authz.Request{PAN: o.PAN, ProcessingCode: o.ProcessingCode, HasAmount: true, AmountMinor: o.AmountMinor,
		CurrencyNum: o.CurrencyNum, ExpiryYYMM: o.ExpiryYYMM, MCC: o.MCC, POSEntryMode: o.POSEntryMode,
		TerminalID: o.TerminalID, MerchantID: o.MerchantID}
	if o.MerchantName != "" {
		r.MerchantName = fixed(o.MerchantName, 40)
	}
	switch s.Kind {
	case KindCompletion:
		r.MTI, r.Kind = "0220", authz.KindCompletion
		if s.AmountMinor != 0 {
			r.AmountMinor = s.AmountMinor
		}
	case KindReversal:
		r.MTI, r.Kind = "0400", authz.KindReversal
	case KindReversalAdvice:
		r.MTI, r.Kind = "0420", authz.KindReversalAdvice
	}
	if s.Kind != KindCompletion && s.HasReplacement {
		r.HasReplacement, r.ReplacementAmountMinor = true, s.ReplacementMinor
	}
	b.stamp(r)
	if o.RRN != "" {
		r.RRN = o.RRN // the acquirer's retrieval reference stays with the transaction
	}
	r.Original = &authz.OriginalData{MTI: mtiOf(o), STAN: o.STAN, F7: o.F7, AcquirerID: pad11(o.AcquirerID)}
	return r, nil
}

// fixed pads s with spaces or cuts it to n characters (fixed-length fields such as 43).
func fixed(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

func pad11(s string) string {
	if len(s) >= 11 {
		return s
	}
	return strings.Repeat("0", 11-len(s)) + s
}

// Repeat turns r into its repeat MTI (0100 -> 0101): the same request sent again.
func Repeat(r *authz.Request) *authz.Request {
	c := *r
	if len(c.MTI) == 4 && c.MTI[3] == '0' && c.MTI != "0800" {
		c.MTI = c.MTI[:3] + "1"
	}
	return &c
}
