package pba

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// The outside parties of Pay by Account, each an interface with an in-process default (seed
// glossary): the token service (MDES), the account processing platform (Zapp), the 3-D Secure
// server (ACS) and the push service (FCM). Calls that change something at the party are made by
// the job runner (jobs.go) and may be repeated after a crash: every implementation must treat a
// repeated call as the same call (at least once).

// TokenizeRequest asks the token service for a token of an IBAN.
type TokenizeRequest struct {
	Institution string
	Country     string
	IBANID      string
	Kind        string // KindStatic or KindDevice
	TokenLast4  string
	// PaymentAppInstanceID names the device's payment application (device tokens).
	PaymentAppInstanceID string
}

// TokenService is the token service: it tokenizes IBANs and keeps each token's state in step
// with the switch's (which is what authorizations read).
type TokenService interface {
	Tokenize(ctx context.Context, r TokenizeRequest) (tur string, err error)
	// SetState moves the token to ACTIVE, SUSPENDED or DELETED at the token service.
	SetState(ctx context.Context, tur string, state string) error
}

// StaticTokenRef is what the account processing platform is asked about a static token.
type StaticTokenRef struct {
	TUR        string
	Program    string
	TokenPAN   tokenvault.PAN
	ExpiryYYMM string
	CreatedAt  time.Time
}

// AccountPlatform is the account processing platform: it makes and holds the CVC2 of static
// tokens (searchToken in the seed). ok is false while it has none yet.
type AccountPlatform interface {
	SearchToken(ctx context.Context, ref StaticTokenRef) (cvc2 tokenvault.CVC2, ok bool, err error)
}

// ThreeDSRecord is a static token as the 3-D Secure server enrolls it.
type ThreeDSRecord struct {
	TUR        string
	TokenLast4 string
	IBANID     string
	Phone      string
	Email      string
}

// ThreeDS is the 3-D Secure server (ACS): static tokens are enrolled after creation, updated
// when the user's contact data changes, and unenrolled when deleted.
type ThreeDS interface {
	Enroll(ctx context.Context, r ThreeDSRecord) error
	Update(ctx context.Context, r ThreeDSRecord) error
	Unenroll(ctx context.Context, tur string) error
}

// Push is the remote notification service (FCM): it wakes the device to fetch its messages.
type Push interface {
	Push(ctx context.Context, registrationToken string, m Message) error
}

// Adapters are the outside parties; a nil one is replaced by its in-process default.
type Adapters struct {
	TokenService    TokenService
	AccountPlatform AccountPlatform
	ThreeDS         ThreeDS
	Push            Push
}

func randRef(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// LocalTokenService is the in-process token service: it hands out token unique references and
// remembers each token's state (for tests and the demo).
type LocalTokenService struct {
	mu     sync.Mutex
	states map[string]string
	calls  map[string]int
}

// NewLocalTokenService returns an empty in-process token service.
func NewLocalTokenService() *LocalTokenService {
	return &LocalTokenService{states: map[string]string{}, calls: map[string]int{}}
}

func (l *LocalTokenService) Tokenize(_ context.Context, r TokenizeRequest) (string, error) {
	tur := randRef("DWSPMC")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states[tur] = "ACTIVE"
	l.calls["tokenize"]++
	return tur, nil
}

func (l *LocalTokenService) SetState(_ context.Context, tur, state string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states[tur] = state
	l.calls[state]++
	return nil
}

// State is a token's state at the token service ("" unknown).
func (l *LocalTokenService) State(tur string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.states[tur]
}

// LocalAccountPlatform is the in-process account processing platform. It needs no memory of its
// own: a static token's CVC2 is the CVV of the token PAN and expiry under the program's CVK (as
// the vault computes card CVC2s), available Delay after the token was created.
type LocalAccountPlatform struct {
	CVK   map[string][]byte // by program
	Delay time.Duration
	Clock func() time.Time
}

// ErrUnknownProgram: the platform holds no key of the token's program.
var ErrUnknownProgram = errors.New("pba: account platform: unknown program")

func (l *LocalAccountPlatform) SearchToken(_ context.Context, ref StaticTokenRef) (tokenvault.CVC2, bool, error) {
	if l.Clock().Before(ref.CreatedAt.Add(l.Delay)) {
		return "", false, nil
	}
	cvk, ok := l.CVK[ref.Program]
	if !ok {
		return "", false, ErrUnknownProgram
	}
	c, err := cardcrypto.CVV2(cvk, ref.TokenPAN.Reveal(), ref.ExpiryYYMM)
	if err != nil {
		return "", false, err
	}
	return tokenvault.CVC2(c), true, nil
}

// LocalThreeDS is the in-process 3-D Secure server: it remembers the enrolled tokens.
type LocalThreeDS struct {
	mu       sync.Mutex
	enrolled map[string]ThreeDSRecord
	calls    map[string]int
}

// NewLocalThreeDS returns an empty in-process 3-D Secure server.
func NewLocalThreeDS() *LocalThreeDS {
	return &LocalThreeDS{enrolled: map[string]ThreeDSRecord{}, calls: map[string]int{}}
}

func (l *LocalThreeDS) Enroll(_ context.Context, r ThreeDSRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.enrolled[r.TUR] = r
	l.calls["enroll"]++
	return nil
}

func (l *LocalThreeDS) Update(_ context.Context, r ThreeDSRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.enrolled[r.TUR] = r
	l.calls["update"]++
	return nil
}

func (l *LocalThreeDS) Unenroll(_ context.Context, tur string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.enrolled, tur)
	l.calls["unenroll"]++
	return nil
}

// Enrolled reports whether a token is enrolled, with its record.
func (l *LocalThreeDS) Enrolled(tur string) (ThreeDSRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.enrolled[tur]
	return r, ok
}

// Calls counts the calls of a kind (enroll, update, unenroll).
func (l *LocalThreeDS) Calls(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[kind]
}

// LocalPush is the in-process push service: it counts the pushes per registration token (the
// device fetches its messages on the SSE stream or with getPendingMessages).
type LocalPush struct {
	mu     sync.Mutex
	pushes map[string]int
}

// NewLocalPush returns an in-process push service.
func NewLocalPush() *LocalPush { return &LocalPush{pushes: map[string]int{}} }

func (l *LocalPush) Push(_ context.Context, token string, _ Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pushes[token]++
	return nil
}

// Pushes counts the pushes to a registration token.
func (l *LocalPush) Pushes(token string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pushes[token]
}
