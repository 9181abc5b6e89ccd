package config

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Loyalty is the `loyalty:` block of contract §7: the rewards host, the opt-out grace period,
// the partners that may sign initialization tokens and the programmes points are earned in.
type Loyalty struct {
	// RewardsHost is the rewards host's URL; empty: the in-process simulator.
	RewardsHost string `yaml:"rewardsHost"`
	// GracePeriod is the opt-out grace before personal data is purged; default 720h.
	GracePeriod time.Duration    `yaml:"gracePeriod"`
	Partners    []LoyaltyPartner `yaml:"partners"`
	// CardHashKey keys the SDK token's cardHash (HMAC-SHA-256 of the PAN, seed §4.3), 64 hex,
	// given to the partners (ours); empty: derived from security.dataKey.
	CardHashKey string           `yaml:"cardHashKey"`
	Programs    []LoyaltyProgram `yaml:"programs"`
}

// LoyaltyPartner may sign initialization tokens (its id is the token's iss).
type LoyaltyPartner struct {
	ID string `yaml:"id"`
	// PublicKeyFile is the partner's RSA public key (PEM, PKIX or PKCS#1); under dataDir if
	// relative.
	PublicKeyFile string   `yaml:"publicKeyFile"`
	Programs      []string `yaml:"programs"` // programIds it may name
	// The partner's look on the enrollment page (ours): name, brand colour (#RRGGBB, default
	// #cf4500) and logo (PNG, under dataDir if relative; default the embedded one).
	DisplayName  string `yaml:"displayName"`
	PrimaryColor string `yaml:"primaryColor"`
	LogoFile     string `yaml:"logoFile"`
}

// LoyaltyProgram is a rewards programme.
type LoyaltyProgram struct {
	ProgramID    string   `yaml:"programId"`
	CardPrograms []string `yaml:"cardPrograms"` // card programs whose captured purchases earn
	// BusinessCardPrograms are card programs of business cards: they earn the offers but not
	// the always-on base rate (ours; seed §6.5).
	BusinessCardPrograms []string       `yaml:"businessCardPrograms"`
	PointsPerUnit        int64          `yaml:"pointsPerUnit"` // points per 1.00 captured, rounded down
	Offers               []LoyaltyOffer `yaml:"offers"`
}

// LoyaltyOffer is an offer on top of the base rate; the first that matches applies. It matches
// by merchantId (field 42) and/or mcc (field 18), and gives a multiplier, a bonus or (ours)
// cashbackPercent.
type LoyaltyOffer struct {
	MerchantID      string `yaml:"merchantId"`
	MCC             string `yaml:"mcc"`
	Multiplier      int64  `yaml:"multiplier"`
	Bonus           int64  `yaml:"bonus"`
	CashbackPercent int64  `yaml:"cashbackPercent"`
}

// DefaultLoyaltyGracePeriod is the opt-out grace (seed §6.3: 30 days).
const DefaultLoyaltyGracePeriod = 30 * 24 * time.Hour

// The development profile's partner and programme (contract §7).
const (
	DevLoyaltyPartner = "demo-partner"
	DevLoyaltyProgram = "DEMO-PROGRAM"
	devPartnerKeyFile = "loyalty-demo-partner.key.pem"
	devPartnerPubFile = "loyalty-demo-partner.pub.pem"
)

// devLoyalty is the development profile's `loyalty:` block.
func devLoyalty() Loyalty {
	return Loyalty{
		Partners: []LoyaltyPartner{{ID: DevLoyaltyPartner, PublicKeyFile: devPartnerPubFile,
			Programs: []string{DevLoyaltyProgram}, DisplayName: "Demo Bank", PrimaryColor: "#1a5fb4"}},
		Programs: []LoyaltyProgram{{ProgramID: DevLoyaltyProgram, CardPrograms: []string{"demo-mc"}, PointsPerUnit: 1,
			Offers: []LoyaltyOffer{{MerchantID: "PARTNER0000001", Multiplier: 3}, {MCC: "5411", Bonus: 50}}}},
	}
}

// DevPartnerKeyPath is where the development profile keeps the demo partner's private key
// (for the demo and tests that sign initialization tokens as the partner).
func DevPartnerKeyPath(dataDir string) string { return filepath.Join(dataDir, devPartnerKeyFile) }

// loadDevLoyalty makes the demo partner's RSA-2048 key pair on first start (private key 0600).
func (c *Config) loadDevLoyalty(warn func(string)) error {
	return ensureDevKeyPair(DevPartnerKeyPath(c.DataDir), filepath.Join(c.DataDir, devPartnerPubFile),
		"the loyalty demo partner's key pair", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }, warn)
}

func (l *Loyalty) applyDefaults() {
	if l.GracePeriod == 0 {
		l.GracePeriod = DefaultLoyaltyGracePeriod
	}
}

// LogoPath resolves a partner's logo file against the data directory ("" without one).
func (p *LoyaltyPartner) LogoPath(dataDir string) string {
	if p.LogoFile == "" || filepath.IsAbs(p.LogoFile) {
		return p.LogoFile
	}
	return filepath.Join(dataDir, p.LogoFile)
}

// PublicKeyPath resolves a partner's key file against the data directory.
func (p *LoyaltyPartner) PublicKeyPath(dataDir string) string {
	if filepath.IsAbs(p.PublicKeyFile) {
		return p.PublicKeyFile
	}
	return filepath.Join(dataDir, p.PublicKeyFile)
}

var (
	reLoyaltyID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	reMCC       = regexp.MustCompile(`^[0-9]{4}$`)
	reColor     = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
)

// validateLoyalty checks the block; errors name the key.
func (c *Config) validateLoyalty() []error {
	l := &c.Loyalty
	var errs []error
	if l.CardHashKey != "" && !hex64.MatchString(l.CardHashKey) {
		errs = append(errs, errors.New("loyalty.cardHashKey: want 64 hex characters"))
	}
	if l.GracePeriod < 0 {
		errs = append(errs, errors.New("loyalty.gracePeriod: must not be negative"))
	}
	if l.RewardsHost != "" && !regexp.MustCompile(`^https?://`).MatchString(l.RewardsHost) {
		errs = append(errs, errors.New("loyalty.rewardsHost: want an http or https URL"))
	}
	programs := map[string]bool{}
	for i, p := range l.Programs {
		at := fmt.Sprintf("loyalty.programs[%d]", i)
		if !reLoyaltyID.MatchString(p.ProgramID) || programs[p.ProgramID] {
			errs = append(errs, fmt.Errorf("%s.programId: missing, repeated or not 1-64 of A-Za-z0-9._:-", at))
		}
		programs[p.ProgramID] = true
		if len(p.CardPrograms)+len(p.BusinessCardPrograms) == 0 {
			errs = append(errs, fmt.Errorf("%s.cardPrograms: at least one card program", at))
		}
		for _, cp := range append(append([]string(nil), p.CardPrograms...), p.BusinessCardPrograms...) {
			if _, ok := c.Program(cp); !ok {
				errs = append(errs, fmt.Errorf("%s.cardPrograms: no card program %q", at, cp))
			}
		}
		if p.PointsPerUnit < 0 || p.PointsPerUnit > ledger.PointsPerUnitMax {
			errs = append(errs, fmt.Errorf("%s.pointsPerUnit: want 0..%d", at, ledger.PointsPerUnitMax))
		}
		for j, o := range p.Offers {
			oat := fmt.Sprintf("%s.offers[%d]", at, j)
			if o.MerchantID == "" && o.MCC == "" {
				errs = append(errs, fmt.Errorf("%s: want merchantId, mcc or both", oat))
			}
			if len(o.MerchantID) > ledger.MerchantIDLen {
				errs = append(errs, fmt.Errorf("%s.merchantId: at most 15 characters", oat))
			}
			if o.MCC != "" && !reMCC.MatchString(o.MCC) {
				errs = append(errs, fmt.Errorf("%s.mcc: want 4 digits", oat))
			}
			kinds := 0
			for _, v := range []int64{o.Multiplier, o.Bonus, o.CashbackPercent} {
				if v != 0 {
					kinds++
				}
			}
			switch {
			case kinds != 1:
				errs = append(errs, fmt.Errorf("%s: want one of multiplier, bonus or cashbackPercent", oat))
			case o.Multiplier < 0 || o.Multiplier > ledger.OfferMultiplierMax:
				errs = append(errs, fmt.Errorf("%s.multiplier: want 1..%d", oat, ledger.OfferMultiplierMax))
			case o.Bonus < 0 || o.Bonus > ledger.OfferBonusMax:
				errs = append(errs, fmt.Errorf("%s.bonus: want 1..%d", oat, ledger.OfferBonusMax))
			case o.CashbackPercent < 0 || o.CashbackPercent > ledger.OfferCashbackPercentMax:
				errs = append(errs, fmt.Errorf("%s.cashbackPercent: want 1..%d", oat, ledger.OfferCashbackPercentMax))
			}
		}
	}
	partners := map[string]bool{}
	for i, p := range l.Partners {
		at := fmt.Sprintf("loyalty.partners[%d]", i)
		if !reLoyaltyID.MatchString(p.ID) || partners[p.ID] {
			errs = append(errs, fmt.Errorf("%s.id: missing, repeated or not 1-64 of A-Za-z0-9._:-", at))
		}
		partners[p.ID] = true
		if p.PrimaryColor != "" && !reColor.MatchString(p.PrimaryColor) {
			errs = append(errs, fmt.Errorf("%s.primaryColor: want #RRGGBB", at))
		}
		if p.PublicKeyFile == "" {
			errs = append(errs, fmt.Errorf("%s.publicKeyFile: required", at))
		}
		for _, id := range p.Programs {
			if !programs[id] {
				errs = append(errs, fmt.Errorf("%s.programs: no loyalty programme %q", at, id))
			}
		}
	}
	return errs
}

// LoyaltyRules are the programmes as the ledger applies them (ledger.Env.Loyalty); nil without
// any programme.
func (l *Loyalty) LoyaltyRules() *ledger.LoyaltyRules {
	if len(l.Programs) == 0 {
		return nil
	}
	r := &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{}}
	for _, p := range l.Programs {
		lp := &ledger.LoyaltyProgram{ID: p.ProgramID, CardPrograms: p.CardPrograms,
			BusinessCardPrograms: p.BusinessCardPrograms, PointsPerUnit: p.PointsPerUnit}
		for _, o := range p.Offers {
			lp.Offers = append(lp.Offers, ledger.LoyaltyOffer{MerchantID: o.MerchantID, MCC: o.MCC,
				Multiplier: o.Multiplier, Bonus: o.Bonus, CashbackPercent: o.CashbackPercent})
		}
		r.Programs[p.ProgramID] = lp
	}
	return r
}
