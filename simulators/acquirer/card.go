package acquirer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/cardcrypto/tlv"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
)

// Card is what the simulator knows of a card it plays: the data printed on it and the PIN the
// simulator set. The PAN, CVC2 and PIN are test data of a development switch; they are never
// logged, only shown masked.
type Card struct {
	Ref         string `json:"ref"`
	CardID      string `json:"cardId,omitempty"`
	BalanceID   string `json:"balanceId,omitempty"`
	Program     string `json:"program,omitempty"`
	PAN         string `json:"pan"`
	ExpiryYYMM  string `json:"expiry"`
	CVC2        string `json:"cvc2,omitempty"`
	PSN         string `json:"psn,omitempty"` // two digits, "00" for a first issue
	PIN         string `json:"pin,omitempty"`
	CurrencyNum string `json:"currency,omitempty"` // ISO 4217 numeric of its balance

	mu  sync.Mutex
	atc uint16 // last application transaction counter used
}

// nextATC returns a fresh application transaction counter; the switch declines a replayed or
// older ATC (82).
func (c *Card) nextATC() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.atc++
	return c.atc
}

// psn3 is field 23: the PAN sequence number as n3.
func (c *Card) psn3() string {
	p := c.PSN
	if p == "" {
		p = "00"
	}
	return fmt.Sprintf("%03s", p)
}

// ProgramKeys are the card keys of one program, as the switch holds them.
type ProgramKeys struct {
	Name     string
	BIN      string
	Scheme   string // mastercard | visa
	Currency string // alpha-3
	IMKAC    []byte
	CVK      []byte
	PVK      []byte
}

// Keys are the keys the simulator needs to produce valid chip, PIN and magnetic-stripe traffic:
// the same keys as the switch (development profile: <dataDir>/dev-keys.json).
type Keys struct {
	ZPK      []byte
	Programs []ProgramKeys
}

// KeysFromConfig takes the keys of a loaded configuration.
func KeysFromConfig(cfg *config.Config) *Keys {
	k := &Keys{ZPK: config.Key(cfg.Security.ZPK)}
	for _, p := range cfg.Programs {
		k.Programs = append(k.Programs, ProgramKeys{Name: p.Name, BIN: p.BIN, Scheme: p.Scheme, Currency: p.Currency,
			IMKAC: config.Key(p.Keys.IMKAC), CVK: config.Key(p.Keys.CVK), PVK: config.Key(p.Keys.PVK)})
	}
	return k
}

// LoadKeys reads the switch's keys from its config file, or, with configPath "", from the
// development keys of dataDir. It refuses a data directory without dev-keys.json rather than
// let config.Load generate keys the switch does not have.
func LoadKeys(configPath, dataDir string) (*Keys, error) {
	if configPath == "" {
		if dataDir == "" {
			return nil, errors.New("acquirer: keys: give --config or --data-dir")
		}
		if _, err := os.Stat(filepath.Join(dataDir, "dev-keys.json")); err != nil {
			return nil, fmt.Errorf("acquirer: keys: %w (is the switch running with --data-dir %s?)", err, dataDir)
		}
	}
	cfg, err := config.Load(configPath, config.Overrides{DataDir: dataDir}, nil)
	if err != nil {
		return nil, fmt.Errorf("acquirer: keys: %w", err)
	}
	return KeysFromConfig(cfg), nil
}

// Program finds a program by name, or else by the longest BIN that prefixes pan.
func (k *Keys) Program(name, pan string) (*ProgramKeys, bool) {
	if k == nil {
		return nil, false
	}
	var best *ProgramKeys
	for i := range k.Programs {
		p := &k.Programs[i]
		if name != "" && p.Name == name {
			return p, true
		}
		if name == "" && strings.HasPrefix(pan, p.BIN) && (best == nil || len(p.BIN) > len(best.BIN)) {
			best = p
		}
	}
	return best, best != nil
}

// currencyNumeric maps an alpha-3 code to its numeric code (unknown: returned as is).
func currencyNumeric(alpha string) string {
	if c, ok := ledger.CurrencyByAlpha(strings.ToUpper(alpha)); ok {
		return c.Numeric
	}
	return alpha
}

// PINBlock is field 52: the ISO 9564 format 0 block of pin under the ZPK.
func (k *Keys) PINBlock(pin, pan string) ([]byte, error) {
	if k == nil || len(k.ZPK) == 0 {
		return nil, errors.New("acquirer: no ZPK: give --config or --data-dir to send a PIN")
	}
	return cardcrypto.EncryptPINBlockISO0(k.ZPK, pin, pan)
}

// Track2 builds track 2 data PAN=YYMM SVC CVV 00000 with a valid CVV for the service code;
// chip reads (iCVV) use the CVV computed with service code 999 while the track says 201.
func (k *Keys) Track2(card *Card, chip bool) (string, error) {
	p, ok := k.Program(card.Program, card.PAN)
	if !ok {
		return "", errors.New("acquirer: no card keys for this card: give --config or --data-dir")
	}
	sc, cvvSC := "101", "101"
	if chip {
		sc, cvvSC = "201", cardcrypto.ServiceCodeICVV
	}
	cvv, err := cardcrypto.CVV(p.CVK, card.PAN, card.ExpiryYYMM, cvvSC)
	if err != nil {
		return "", err
	}
	return card.PAN + "=" + card.ExpiryYYMM + sc + cvv + "00000", nil
}

// ARQCInput is what a terminal and card put into the cryptogram.
type ARQCInput struct {
	AmountMinor int64
	CurrencyNum string // 3 digits
	TxnType     byte   // 9C: 0x00 purchase, 0x01 cash, 0x20 refund, 0x30 inquiry
	When        time.Time
	Corrupt     bool // send a wrong cryptogram (a test of decline 82)
}

// The issuer application data the simulated cards use: Visa CVN 18 (format 0/1/3, whole IAD in
// the cryptogram) and Mastercard M/Chip CVN 16 (18 bytes).
var (
	iadVisaCVN18 = []byte{0x06, 0x01, 0x12, 0x03, 0xA0, 0x00, 0x00}
	iadMCCVN16   = []byte{0x01, 0x10, 0xA0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
)

// ICC builds field 55 with a valid ARQC for the card (BER-TLV), as a chip card answering
// GENERATE AC with a request for online authorization.
func (k *Keys) ICC(card *Card, in ARQCInput) ([]byte, error) {
	p, ok := k.Program(card.Program, card.PAN)
	if !ok {
		return nil, errors.New("acquirer: no card keys for this card: give --config or --data-dir")
	}
	var iad []byte
	var cvn cardcrypto.CVN
	switch p.Scheme {
	case cardcrypto.SchemeVisa:
		iad, cvn = iadVisaCVN18, cardcrypto.VisaCVN18
	default:
		iad, cvn = iadMCCVN16, cardcrypto.MastercardCVN16
	}
	amount, err := bcd(strconv.FormatInt(in.AmountMinor, 10), 6)
	if err != nil {
		return nil, err
	}
	cur, err := bcd(in.CurrencyNum, 2)
	if err != nil {
		return nil, err
	}
	date, err := bcd(in.When.UTC().Format("060102"), 3)
	if err != nil {
		return nil, err
	}
	var atc [2]byte
	binary.BigEndian.PutUint16(atc[:], card.nextATC())
	var un [4]byte
	binary.BigEndian.PutUint32(un[:], uint32(in.When.UnixNano()))
	ac := cardcrypto.ACInput{
		PAN: card.PAN, PSN: card.PSN,
		AmountAuthorised: amount, AmountOther: make([]byte, 6),
		TerminalCountry: []byte{0x02, 0x50}, TVR: make([]byte, 5), TxnCurrency: cur, TxnDate: date,
		TxnType: []byte{in.TxnType}, UN: un[:], AIP: []byte{0x39, 0x00}, ATC: atc[:], IAD: iad,
	}
	arqc, err := cardcrypto.GenerateAC(cvn, p.IMKAC, ac)
	if err != nil {
		return nil, err
	}
	if in.Corrupt {
		arqc[0] ^= 0xFF
	}
	psn, _ := bcd(card.PSN, 1)
	return tlv.Encode(
		tlv.TLV{Tag: tlv.TagApplicationCryptogram, Value: arqc},
		tlv.TLV{Tag: tlv.TagCryptogramInformationData, Value: []byte{0x80}},
		tlv.TLV{Tag: tlv.TagIssuerApplicationData, Value: iad},
		tlv.TLV{Tag: tlv.TagUnpredictableNumber, Value: un[:]},
		tlv.TLV{Tag: tlv.TagATC, Value: atc[:]},
		tlv.TLV{Tag: tlv.TagTVR, Value: ac.TVR},
		tlv.TLV{Tag: tlv.TagTransactionDate, Value: date},
		tlv.TLV{Tag: tlv.TagTransactionType, Value: ac.TxnType},
		tlv.TLV{Tag: tlv.TagAmountAuthorised, Value: amount},
		tlv.TLV{Tag: tlv.TagAmountOther, Value: ac.AmountOther},
		tlv.TLV{Tag: tlv.TagTransactionCurrencyCode, Value: cur},
		tlv.TLV{Tag: tlv.TagAIP, Value: ac.AIP},
		tlv.TLV{Tag: tlv.TagTerminalCountryCode, Value: ac.TerminalCountry},
		tlv.TLV{Tag: tlv.TagPANSequenceNumber, Value: psn},
	)
}

// bcd packs decimal digits right-aligned into n bytes.
func bcd(digits string, n int) ([]byte, error) {
	if digits == "" {
		digits = "0"
	}
	if len(digits) > 2*n {
		return nil, fmt.Errorf("acquirer: %q does not fit %d BCD bytes", digits, n)
	}
	s := strings.Repeat("0", 2*n-len(digits)) + digits
	out := make([]byte, n)
	for i := 0; i < n; i++ {
		hi, lo := s[2*i]-'0', s[2*i+1]-'0'
		if hi > 9 || lo > 9 {
			return nil, fmt.Errorf("acquirer: %q is not decimal", digits)
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

// wrongDigits returns a value of the same length that differs from s in every digit.
func wrongDigits(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = '0' + (c-'0'+5)%10
		}
	}
	return string(b)
}

// maskPAN keeps the first six and last four digits.
func maskPAN(p string) string {
	if len(p) < 11 {
		return "****"
	}
	return p[:6] + strings.Repeat("*", len(p)-10) + p[len(p)-4:]
}
