package loyalty

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/simulators/mrs"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// EngineTimeout bounds a wait for the engine; past it the flow answers as the host being
// unavailable would (the change may still be applied: the engine never drops a queued command).
const EngineTimeout = 10 * time.Second

// Deps are what the loyalty service runs on.
type Deps struct {
	Config  config.Loyalty
	DataDir string // partner key files; the page key (DataDir/loyalty)
	// CardHashKey keys the HMAC-SHA-256 card hash of the SDK token (seed §4.3).
	CardHashKey []byte
	Engine      *engine.Engine
	PANHash     func(pan string) string // the ledger's PAN lookup hash
	Clock       func() time.Time        // nil: time.Now
	Log         *slog.Logger
	// Host is the rewards host; nil: a SOAP client of Config.RewardsHost, or with it empty the
	// in-process simulator.
	Host Host
	// HostClient configures the SOAP client (timeouts, retries) when Host is nil.
	HostClient ClientConfig
	// ProgramBINs are the card programs' BINs (name -> BIN): the in-process host's ranges.
	ProgramBINs map[string]string
}

// Service is cardswitch as the loyalty platform: the initialization endpoints, the pages, the
// enrollment flows and the read-out.
type Service struct {
	cfg      config.Loyalty
	rules    *ledger.LoyaltyRules
	partners map[string]*Partner
	hashKey  []byte
	eng      *engine.Engine
	panHash  func(string) string
	clock    func() time.Time
	log      *slog.Logger
	host     Host
	pageKey  *rsa.PrivateKey
	signKey  *rsa.PrivateKey // signs the confirmations (confirm.go)
	// confirmClient posts the confirmations: no redirects followed.
	confirmClient *http.Client
	sessions      *sessions
	jtis          *replay
	dataDir       string
	api           *mgmt.Server // the channel rules of the API (api.go)
	// Sim is the in-process rewards host when no rewardsHost is configured (nil otherwise).
	Sim *mrs.Sim
}

// New builds the service: it reads the partners' public keys, loads (or on first start makes)
// the page key, and picks the rewards host.
func New(d Deps) (*Service, error) {
	if d.Engine == nil || d.PANHash == nil || len(d.CardHashKey) == 0 {
		return nil, errors.New("loyalty: Engine, PANHash and CardHashKey are required")
	}
	s := &Service{cfg: d.Config, rules: d.Config.LoyaltyRules(), partners: map[string]*Partner{}, hashKey: d.CardHashKey,
		eng: d.Engine, panHash: d.PANHash, clock: d.Clock, log: d.Log, host: d.Host, sessions: newSessions(), jtis: newReplay(),
		dataDir: d.DataDir}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range d.Config.Partners {
		raw, err := os.ReadFile(p.PublicKeyPath(d.DataDir))
		if err != nil {
			return nil, fmt.Errorf("loyalty: partner %s: %w", p.ID, err)
		}
		k, err := ParseRSAPublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("loyalty: partner %s: %w", p.ID, err)
		}
		if k.N.BitLen() < RSABitsMin {
			return nil, fmt.Errorf("loyalty: partner %s: key shorter than %d bits", p.ID, RSABitsMin)
		}
		s.partners[p.ID] = &Partner{ID: p.ID, Key: k, Programs: p.Programs}
	}
	dir := filepath.Join(d.DataDir, "loyalty")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("loyalty: %w", err)
	}
	var err error
	if s.pageKey, err = loadOrCreateKey(filepath.Join(dir, "page-key.pem")); err != nil {
		return nil, err
	}
	if s.signKey, err = loadOrCreateKey(filepath.Join(dir, "confirmation-key.pem")); err != nil {
		return nil, err
	}
	s.confirmClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if s.host == nil {
		if d.Config.RewardsHost != "" {
			cc := d.HostClient
			cc.URL = d.Config.RewardsHost
			s.host = NewClient(cc)
		} else {
			hk, err := loadOrCreateKey(filepath.Join(dir, "rewards-host-sim-key.pem"))
			if err != nil {
				return nil, err
			}
			var ps []mrs.Program
			for _, p := range d.Config.Programs {
				ps = append(ps, mrs.Program{ID: p.ProgramID, BINs: binsOf(d, p)})
			}
			if s.Sim, err = mrs.New(mrs.Config{Key: hk, Programs: ps, StatePath: filepath.Join(dir, "rewards-host-sim.json")}); err != nil {
				return nil, err
			}
			s.host = InProcessClient(s.Sim.Handler(), d.HostClient)
		}
	}
	return s, nil
}

// binsOf lists the BINs of a programme's card programs (the in-process host's ranges); the
// card programs come with the config the app passes (CardPrograms names them).
func binsOf(d Deps, p config.LoyaltyProgram) []string {
	var out []string
	for _, name := range append(append([]string(nil), p.CardPrograms...), p.BusinessCardPrograms...) {
		if bin, ok := d.ProgramBINs[name]; ok {
			out = append(out, bin)
		}
	}
	return out
}

// loadOrCreateKey reads an RSA private key (PKCS#8 PEM), making a 2048-bit one (0600) on first
// start.
func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("loyalty: key: %w", err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("loyalty: key: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("loyalty: key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loyalty: key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, fmt.Errorf("loyalty: key %s: not PEM", filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("loyalty: key %s: %w", filepath.Base(path), err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("loyalty: key %s: not RSA", filepath.Base(path))
	}
	return rk, nil
}

// CardHash is the seed's cardHash of a PAN: HMAC-SHA-256 under the card hash key, lowercase hex.
func (s *Service) CardHash(pan tokenvault.PAN) string {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte(pan.Reveal()))
	return hex.EncodeToString(m.Sum(nil))
}

// CustomerLoyalty is the read-out (mgmt.LoyaltyReader).
func (s *Service) CustomerLoyalty(customerID string) mgmt.LoyaltySummary {
	return Readout{State: s.eng.State()}.CustomerLoyalty(customerID)
}

// PagePublicKeyDER is the key the page seals card numbers to (SPKI DER).
func (s *Service) PagePublicKeyDER() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.pageKey.PublicKey)
	return der
}

func (s *Service) partner(id string) (*Partner, bool) {
	p, ok := s.partners[id]
	return p, ok
}

func (s *Service) partnerList() []*Partner {
	out := make([]*Partner, 0, len(s.partners))
	for _, p := range s.partners {
		out = append(out, p)
	}
	return out
}

// do runs a ledger command and waits until it is durable.
func do[T any](s *Service, cmd ledger.Command[ledger.Result[T]]) (T, *ledger.Refusal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), EngineTimeout)
	defer cancel()
	r, err := engine.Do(ctx, s.eng, cmd)
	if err != nil {
		var zero T
		return zero, nil, fmt.Errorf("loyalty: engine: %w", err)
	}
	return r.Value, r.Refusal, nil
}
