// Package config reads the cardswitch YAML configuration (contract §1), applies the command-line
// overrides and the defaults, and builds the development profile with generated keys.
package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cardswitch/cardswitch/ledger"
)

// Config is the whole configuration. The keys of contract §1 are fixed; the others are ours.
type Config struct {
	ISO      ISO       `yaml:"iso"`
	HTTP     HTTP      `yaml:"http"`
	DataDir  string    `yaml:"dataDir"`
	Security Security  `yaml:"security"`
	Programs []Program `yaml:"programs"`
	Engine   Engine    `yaml:"engine"`
	Log      Log       `yaml:"log"`
	PBA      PBA       `yaml:"pba"` // Pay by Account (pba.go)
	TSH      TSH       `yaml:"tsh"` // the token service hub's calls (/tsh, config/tsh.go)
	// KYC and FX: the eKYC provider and the cross-currency rate table (kyc_fx.go).
	KYC     KYC     `yaml:"kyc"`
	FX      FX      `yaml:"fx"`
	Loyalty Loyalty `yaml:"loyalty"` // contract §7 (loyalty.go)
	// Cluster is the replicated group `serve --cluster` joins (cluster.go).
	Cluster Cluster `yaml:"cluster"`

	// DevProfile is set when no config file was given and the development profile is in use.
	DevProfile bool `yaml:"-"`
}

// ISO is the ISO 8583 listener.
type ISO struct {
	Addr               string        `yaml:"addr"`
	MaxFrameBytes      int           `yaml:"maxFrameBytes"`      // default 8192
	MaxInFlightPerConn int           `yaml:"maxInFlightPerConn"` // default 256
	MaxSessions        int           `yaml:"maxSessions"`        // default 1024
	IdleTimeout        time.Duration `yaml:"idleTimeout"`        // default 5m
	DrainTimeout       time.Duration `yaml:"drainTimeout"`       // default 10s
}

// HTTP is the management API listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// RequireEncryptedIssuance makes /secure refuse plain requests that issue a PHYSICAL or
	// DIGITAL_FIRST card (400 ENCRYPTION_REQUIRED), as the seed's JWE column says; off by
	// default because contract §4 fixes that route as taking plain requests.
	RequireEncryptedIssuance bool          `yaml:"requireEncryptedIssuance"`
	TLSCert                  string        `yaml:"tlsCert"`     // server certificate (PEM); empty: plain HTTP (loopback only)
	TLSKey                   string        `yaml:"tlsKey"`      // server key (PEM)
	ClientCA                 string        `yaml:"clientCA"`    // CA for partner client certificates on /secure
	SessionTTL               time.Duration `yaml:"sessionTTL"`  // customer session tokens, default 10m
	AdminTokens              []AdminToken  `yaml:"adminTokens"` // operators of /admin
	MaxBodyBytes             int           `yaml:"maxBodyBytes"`
	RateLimitPerSec          int           `yaml:"rateLimitPerSec"` // API calls per client per second, default 200
	WebhookURL               string        `yaml:"webhookUrl"`
	WebhookSecret            string        `yaml:"webhookSecret"`
	// Operators log in on POST /admin/sessions with a password and, when they have a TOTP
	// secret, a one-time code, for an expiring session token (docs/operators.md); adminTokens
	// stay for automation.
	Operators []Operator `yaml:"operators"`
	// OperatorSessionTTL is the lifetime of an operator session, default 10m.
	OperatorSessionTTL time.Duration `yaml:"operatorSessionTTL"`
}

// Operator is a person who logs in to /admin: a bcrypt hash of the password (made with
// `cardswitch hash-password`), the role, and an optional TOTP secret (base32, RFC 6238, made
// with `cardswitch totp-secret`).
type Operator struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // Admin | Manager | Employee
	PasswordHash string `yaml:"passwordHash"`
	TOTPSecret   string `yaml:"totpSecret"`
}

// AdminToken is an operator's bearer token and role (Admin, Manager, Employee).
type AdminToken struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	Role  string `yaml:"role"`
}

// Security holds the switch-wide keys.
type Security struct {
	ZPK     string `yaml:"zpk"`     // zone PIN key, 2-key 3DES hex (field 52)
	DataKey string `yaml:"dataKey"` // AES-256 key for card data and PII at rest, 64 hex
	// DataKeyID names dataKey in every value it seals (0..255, default 0). To rotate: move the
	// old key to previousDataKeys with its id, set a new dataKey with a new id, restart; the
	// switch serves at once and re-encrypts the store under the new key in the background.
	DataKeyID int `yaml:"dataKeyId"`
	// PreviousDataKeys are earlier data keys still needed to read what is not re-encrypted yet.
	PreviousDataKeys []DataKey `yaml:"previousDataKeys"`
}

// DataKey is an earlier data key and its id.
type DataKey struct {
	ID  int    `yaml:"id"`
	Key string `yaml:"key"`
}

// DataKeys returns the current data key id and every configured data key by id.
func (c *Config) DataKeys() (current byte, keys map[byte][]byte) {
	keys = map[byte][]byte{byte(c.Security.DataKeyID): Key(c.Security.DataKey)}
	for _, k := range c.Security.PreviousDataKeys {
		keys[byte(k.ID)] = Key(k.Key)
	}
	return byte(c.Security.DataKeyID), keys
}

// Program is a card program (a BIN with its scheme, currency and keys).
type Program struct {
	Name      string `yaml:"name"`
	BIN       string `yaml:"bin"`
	Scheme    string `yaml:"scheme"`
	Currency  string `yaml:"currency"`
	PANLength int    `yaml:"panLength"`
	Keys      Keys   `yaml:"keys"`
	// ExpiryMonths is the validity of issued cards, default 36.
	ExpiryMonths int `yaml:"expiryMonths"`
	// AllowUncheckedARQC lets through chip requests whose ARQC cannot be checked (unknown CVN,
	// missing tags); default false: they are declined 1029.
	AllowUncheckedARQC bool `yaml:"allowUncheckedArqc"`
	// PartnerBalanceID names the partner balance that also bounds the program's spending.
	PartnerBalanceID string `yaml:"partnerBalanceId"`
	// TokensOnly is set for a program a Pay by Account institution names (pba.go): it issues
	// token PANs only and is never a default program for cards.
	TokensOnly bool `yaml:"-"`
}

// Keys are the program's card keys, 2-key 3DES in hex.
type Keys struct {
	IMKAC string `yaml:"imkAc"`
	CVK   string `yaml:"cvk"`
	PVK   string `yaml:"pvk"`
	PVKI  int    `yaml:"pvki"`
}

// Engine are the single writer's limits.
type Engine struct {
	QueueDepth int           `yaml:"queueDepth"` // default 16384
	MaxBatch   int           `yaml:"maxBatch"`   // default 2048
	HoldTTL    time.Duration `yaml:"holdTTL"`    // default 168h
	// ReplyRetention is how long remembered replies (retransmission answers) and closed auth
	// records that moved no money are kept; default 168h, negative keeps everything.
	ReplyRetention time.Duration `yaml:"replyRetention"`
	// MemoryLimitMiB is the Go soft memory limit set once recovery is done (0: the default, 1.75
	// times the live heap after recovery and at least 800; negative sets none). GOMEMLIMIT in the
	// environment takes precedence.
	MemoryLimitMiB int `yaml:"memoryLimitMiB"`
	// Journal is how a batch is made durable: "wal" (default: one record of the write-ahead log
	// and its fdatasync, the engine pipelined over it; Badger is the checkpoint, written in the
	// background: ledger/journal/wal.go, docs/decisions/0008) or "badger" (one synced Badger
	// transaction per batch, the engine waiting for each).
	Journal string `yaml:"journal"`
	// CheckpointInterval (engine.journal: wal) bounds the time between checkpoints: Badger
	// synced, the log truncated behind it (default 30s; one also follows every 64 MiB of log).
	CheckpointInterval time.Duration `yaml:"checkpointInterval"`
	// ArchiveAfter is how old a closed auth record that moved money is when it leaves the hot
	// store for the archive (<dataDir>/archive, ledger/archive); default 720h (30 days),
	// negative: never (records stay in the hot store, as before archiving).
	ArchiveAfter time.Duration `yaml:"archiveAfter"`
}

// Journal modes (Engine.Journal).
const (
	JournalBadger = "badger"
	JournalWAL    = "wal"
)

// WAL reports whether the journal's durability is the write-ahead log (engine.journal: wal, the
// default).
func (e Engine) WAL() bool { return e.Journal != JournalBadger }

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error; default info
}

// Overrides are the command-line flags; empty values do not override.
type Overrides struct {
	DataDir, ISOAddr, HTTPAddr string
}

// Defaults of contract §1.
const (
	DefaultISOAddr  = "127.0.0.1:8583"
	DefaultHTTPAddr = "127.0.0.1:8080"
	DefaultDataDir  = "./var"
	DefaultFrame    = 8192
)

// Load reads the file (or, with path "", the development profile), applies the overrides and
// the defaults and validates the result. The development profile's keys are generated on first
// start into the data directory (mode 0600); warn is called to say so.
func Load(path string, o Overrides, warn func(msg string)) (*Config, error) {
	var c Config
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	} else {
		c = devProfile()
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if o.ISOAddr != "" {
		c.ISO.Addr = o.ISOAddr
	}
	if o.HTTPAddr != "" {
		c.HTTP.Addr = o.HTTPAddr
	}
	c.applyDefaults()
	c.PBA.applyDefaults()
	c.markTokensOnly()
	if c.DevProfile {
		if err := c.loadDevKeys(warn); err != nil {
			return nil, err
		}
		if err := c.loadDevPBAKey(warn); err != nil {
			return nil, err
		}
		if err := c.ensureDevTSHKey(warn); err != nil {
			return nil, err
		}
		if err := c.loadDevLoyalty(warn); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	if c.ISO.Addr == "" {
		c.ISO.Addr = DefaultISOAddr
	}
	if c.ISO.MaxFrameBytes == 0 {
		c.ISO.MaxFrameBytes = DefaultFrame
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	if c.HTTP.SessionTTL == 0 {
		c.HTTP.SessionTTL = 10 * time.Minute
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	c.Loyalty.applyDefaults()
	for i := range c.Programs {
		p := &c.Programs[i]
		if p.PANLength == 0 {
			p.PANLength = 16
		}
		if p.ExpiryMonths == 0 {
			p.ExpiryMonths = 36
		}
		if p.Keys.PVKI == 0 {
			p.Keys.PVKI = 1
		}
	}
}

var (
	hex32 = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
	hex64 = regexp.MustCompile(`^[0-9A-Fa-f]{64}$`)
	digit = regexp.MustCompile(`^[0-9]+$`)
)

// Validate checks every key; errors name the key, never its value.
func (c *Config) Validate() error {
	var errs []error
	if !hex32.MatchString(c.Security.ZPK) {
		errs = append(errs, errors.New("security.zpk: want 32 hex characters"))
	}
	if !hex64.MatchString(c.Security.DataKey) {
		errs = append(errs, errors.New("security.dataKey: want 64 hex characters"))
	}
	if c.Security.DataKeyID < 0 || c.Security.DataKeyID > 255 {
		errs = append(errs, errors.New("security.dataKeyId: want 0..255"))
	}
	for i, k := range c.Security.PreviousDataKeys {
		if k.ID < 0 || k.ID > 255 || k.ID == c.Security.DataKeyID {
			errs = append(errs, fmt.Errorf("security.previousDataKeys[%d].id: want 0..255 and not dataKeyId", i))
		}
		if !hex64.MatchString(k.Key) {
			errs = append(errs, fmt.Errorf("security.previousDataKeys[%d].key: want 64 hex characters", i))
		}
	}
	if j := c.Engine.Journal; j != "" && j != JournalBadger && j != JournalWAL {
		errs = append(errs, errors.New("engine.journal: want badger or wal"))
	}
	if c.Engine.CheckpointInterval < 0 {
		errs = append(errs, errors.New("engine.checkpointInterval: want a positive duration (0: the default)"))
	}
	if c.ISO.MaxFrameBytes < 64 || c.ISO.MaxFrameBytes > 65535 {
		errs = append(errs, errors.New("iso.maxFrameBytes: want 64..65535"))
	}
	if len(c.Programs) == 0 {
		errs = append(errs, errors.New("programs: at least one program is needed"))
	}
	names := map[string]bool{}
	for i, p := range c.Programs {
		at := fmt.Sprintf("programs[%d]", i)
		if p.Name == "" || names[p.Name] {
			errs = append(errs, fmt.Errorf("%s.name: missing or repeated", at))
		}
		names[p.Name] = true
		if !digit.MatchString(p.BIN) || (len(p.BIN) != 6 && len(p.BIN) != 8) {
			errs = append(errs, fmt.Errorf("%s.bin: want 6 or 8 digits", at))
		}
		if p.Scheme != "mastercard" && p.Scheme != "visa" {
			errs = append(errs, fmt.Errorf("%s.scheme: want mastercard or visa", at))
		}
		if _, ok := ledger.CurrencyByAlpha(p.Currency); !ok {
			errs = append(errs, fmt.Errorf("%s.currency: unknown ISO 4217 code", at))
		}
		if p.PANLength < 13 || p.PANLength > 19 || p.PANLength <= len(p.BIN)+1 {
			errs = append(errs, fmt.Errorf("%s.panLength: want 13..19 and longer than the BIN", at))
		}
		for k, v := range map[string]string{"imkAc": p.Keys.IMKAC, "cvk": p.Keys.CVK, "pvk": p.Keys.PVK} {
			if !hex32.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s.keys.%s: want 32 hex characters", at, k))
			}
		}
		if p.Keys.PVKI < 0 || p.Keys.PVKI > 6 {
			errs = append(errs, fmt.Errorf("%s.keys.pvki: want 0..6", at))
		}
	}
	errs = append(errs, c.validatePBA()...)
	errs = append(errs, c.TSH.validate()...)
	errs = append(errs, c.validateKYCFX()...)
	errs = append(errs, c.validateLoyalty()...)
	errs = append(errs, c.validateCluster()...)
	return errors.Join(errs...)
}

// Program finds a program by name.
func (c *Config) Program(name string) (*Program, bool) {
	for i := range c.Programs {
		if c.Programs[i].Name == name {
			return &c.Programs[i], true
		}
	}
	return nil, false
}

// Key decodes a hex key known to be valid.
func Key(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic("config: key not validated")
	}
	return b
}

// devProfile is the embedded development profile of contract §1: one Mastercard program and one
// Visa program in EUR. Its keys are left empty and generated on first start.
func devProfile() Config {
	return Config{DevProfile: true, TSH: devTSH(), Programs: []Program{
		{Name: "demo-mc", BIN: "535110", Scheme: "mastercard", Currency: "EUR", PANLength: 16},
		{Name: "demo-visa", BIN: "423456", Scheme: "visa", Currency: "EUR", PANLength: 16},
		devPBAProgram(), // Pay by Account token PANs only (pba.go)
	}, PBA: devPBA(), Loyalty: devLoyalty()}
}

// devKeysFile holds the generated development keys in the data directory.
const devKeysFile = "dev-keys.json"

type devKeys struct {
	ZPK      string          `json:"zpk"`
	DataKey  string          `json:"dataKey"`
	Programs map[string]Keys `json:"programs"`
}

func (c *Config) loadDevKeys(warn func(string)) error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("config: data directory: %w", err)
	}
	path := filepath.Join(c.DataDir, devKeysFile)
	var k devKeys
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &k); err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		k = devKeys{ZPK: randHex(16), DataKey: randHex(32), Programs: map[string]Keys{}}
		for _, p := range c.Programs {
			k.Programs[p.Name] = Keys{IMKAC: randHex(16), CVK: randHex(16), PVK: randHex(16), PVKI: 1}
		}
		out, _ := json.MarshalIndent(k, "", "  ")
		if err := writeFile0600(path, out); err != nil {
			return err
		}
		if warn != nil {
			warn("development profile: generated random development keys in " + path + " (mode 0600); do not use them in production")
		}
	default:
		return fmt.Errorf("config: %w", err)
	}
	if warn != nil && err == nil {
		warn("development profile: using the development keys of " + path + "; do not use them in production")
	}
	if missing := k.addMissing(c.Programs); missing && err == nil {
		// A program added to the development profile since the keys were made (the Pay by
		// Account program) gets keys of its own; the others keep theirs.
		out, _ := json.MarshalIndent(k, "", "  ")
		if err := writeFile0600(path, out); err != nil {
			return err
		}
	}
	c.Security.ZPK, c.Security.DataKey = k.ZPK, k.DataKey
	for i := range c.Programs {
		if pk, ok := k.Programs[c.Programs[i].Name]; ok {
			c.Programs[i].Keys = pk
		}
	}
	return nil
}

// addMissing generates keys for the programs that have none; it reports whether it did.
func (k *devKeys) addMissing(programs []Program) bool {
	added := false
	for _, p := range programs {
		if _, ok := k.Programs[p.Name]; !ok {
			if k.Programs == nil {
				k.Programs = map[string]Keys{}
			}
			k.Programs[p.Name] = Keys{IMKAC: randHex(16), CVK: randHex(16), PVK: randHex(16), PVKI: 1}
			added = true
		}
	}
	return added
}

func writeFile0600(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("config: write keys: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("config: write keys: %w", err)
	}
	return os.Rename(tmp, path)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("config: no randomness: " + err.Error())
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
