package pba

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/security"
	"github.com/cardswitch/cardswitch/tokenvault"
)

const testKey = "0123456789ABCDEFFEDCBA9876543210"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeGate lets the server channel through and takes the admin role from X-Role (mgmt's own
// tests check the real channel rules).
type fakeGate struct{}

func (fakeGate) SecureCaller(ctx *fasthttp.RequestCtx) (mgmt.Caller, bool) {
	if string(ctx.Request.Header.Peek("X-Deny")) != "" {
		mgmt.WriteError(ctx, 403, "WRONG_CHANNEL", "not a bank server", "")
		return mgmt.Caller{}, false
	}
	return mgmt.Caller{Name: "bank", Channel: "secure"}, true
}

var roleRank = map[string]int{mgmt.RoleEmployee: 1, mgmt.RoleManager: 2, mgmt.RoleAdmin: 3}

func (fakeGate) AdminCaller(ctx *fasthttp.RequestCtx, minRole string) (mgmt.Caller, bool) {
	r := string(ctx.Request.Header.Peek("X-Role"))
	if roleRank[r] == 0 {
		mgmt.WriteError(ctx, 401, "INVALID_TOKEN", "no operator token", "")
		return mgmt.Caller{}, false
	}
	if roleRank[r] < roleRank[minRole] {
		mgmt.WriteError(ctx, 403, "INSUFFICIENT_ROLE", "role too low", "")
		return mgmt.Caller{}, false
	}
	return mgmt.Caller{Name: "op", Channel: "admin", Role: r}, true
}

type harness struct {
	t      *testing.T
	svc    *Service
	eng    *engine.Engine
	clock  *clock
	key    *ecdsa.PrivateKey
	prog   config.Program
	h      fasthttp.RequestHandler
	tsp    *LocalTokenService
	acs    *LocalThreeDS
	jti    atomic.Int64
	stan   atomic.Int64
	mem    *journaltest.Memory
	hasher func(string) string
	cfg    config.PBA
	pub    string
}

func newHarness(t *testing.T, mod ...func(*config.PBA)) *harness {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := writePub(t, dir, "bank.pub.pem", &key.PublicKey)
	prog := config.Program{Name: "demo-pba-mc", BIN: "522223", Scheme: "mastercard", Currency: "EUR", PANLength: 16,
		ExpiryMonths: 36, TokensOnly: true, Keys: config.Keys{IMKAC: testKey, CVK: testKey, PVK: testKey, PVKI: 1}}
	cfg := config.PBA{Institutions: []config.PBAInstitution{{ID: "demo-bank", Currency: "EUR", Program: prog.Name,
		Keys: []config.PBAKey{{KID: "demo-bank-1", PublicKeyFile: pub}}}},
		SessionTTL: 10 * time.Minute, CVC2GracePeriod: time.Hour, ProvisioningGracePeriod: time.Hour,
		JobInterval: time.Hour, CredentialsPerReplenish: 5, CredentialsThreshold: 2}
	for _, m := range mod {
		m(&cfg)
	}
	h := &harness{t: t, clock: &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}, key: key, prog: prog, cfg: cfg, pub: pub}
	h.hasher = tokenvault.Hasher([]byte(strings.Repeat("k", 32)))
	h.mem = journaltest.NewMemory()
	h.tsp, h.acs = NewLocalTokenService(), NewLocalThreeDS()
	h.boot(Adapters{TokenService: h.tsp, ThreeDS: h.acs})
	t.Cleanup(func() {
		h.svc.Close()
		h.eng.Stop(context.Background())
	})
	return h
}

// boot starts the engine over the harness's journal (recovering what it holds) and the service.
func (h *harness) boot(ad Adapters) {
	t, prog, cfg, pub := h.t, h.prog, h.cfg, h.pub
	st := ledger.NewState(h.mem)
	if err := h.mem.Load(st); err != nil {
		t.Fatal(err)
	}
	ver, err := security.New(security.Config{ZPK: testKey, Programs: []config.Program{prog}})
	if err != nil {
		t.Fatal(err)
	}
	env := ledger.Env{PANHasher: h.hasher, Verifier: ver, Program: func(n string) (ledger.ProgramPolicy, bool) {
		return ledger.ProgramPolicy{Name: n, TokensOnly: n == prog.Name}, n == prog.Name
	}}
	h.eng = engine.New(engine.Config{}, st, h.mem, env, h.clock.Now, nil, nil)
	h.eng.Start()
	h.svc, err = New(Deps{Config: cfg, Programs: []config.Program{prog},
		KeySpecs: []KeySpec{{KID: "demo-bank-1", Institution: "demo-bank", Path: pub}}, Engine: h.eng,
		PANHash: h.hasher, Gate: fakeGate{}, Clock: h.clock.Now, Adapters: ad})
	if err != nil {
		t.Fatal(err)
	}
	h.h = h.svc.Handler()
}

// restart stops the service and the engine as a crash would leave them (nothing flushed beyond
// what the journal holds) and boots again with the adapters given.
func (h *harness) restart(ad Adapters) {
	h.svc.Close()
	h.eng.Stop(context.Background())
	h.boot(ad)
}

// sign makes signed data of the harness's bank for sub.
func (h *harness) sign(sub, purpose string, extra func(*Claims)) string {
	h.t.Helper()
	now := h.clock.Now()
	c := Claims{Issuer: "demo-bank", Subject: sub, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		ID: fmt.Sprintf("jti-%d", h.jti.Add(1)), Purpose: purpose}
	switch purpose {
	case PurposeAccountInfo:
		c.IBAN, c.CountryCode, c.Email = "DE89370400440532013000", "DE", sub+"@example.com"
	case PurposeIBANInfo:
		c.IBANID = IBANID("DE89370400440532013000")
	}
	if extra != nil {
		extra(&c)
	}
	s, err := Sign(h.key, "demo-bank-1", c)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

// call sends a request through the handler; hdr are header pairs.
func (h *harness) call(method, path string, body any, hdr ...string) answer {
	h.t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		ctx.Request.SetBody(b)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	h.h(&ctx)
	a := answer{status: ctx.Response.StatusCode(), raw: string(ctx.Response.Body())}
	_ = json.Unmarshal(ctx.Response.Body(), &a.body)
	return a
}

func (h *harness) mobile(sess, op string, body any) answer {
	h.t.Helper()
	return h.call("POST", "/pba/"+op, body, "Authorization", "Bearer "+sess)
}
func (h *harness) server(op string, body any, hdr ...string) answer {
	h.t.Helper()
	return h.call("POST", "/pba/server/"+op, body, hdr...)
}
func (h *harness) admin(role, op string, body any) answer {
	h.t.Helper()
	return h.call("POST", "/pba/admin/"+op, body, "X-Role", role)
}

func (h *harness) want(a answer, status int, code string) {
	h.t.Helper()
	if a.status != status || (code != "" && a.str("code") != code) {
		h.t.Fatalf("want %d %s, got %d %s", status, code, a.status, a.raw)
	}
}

// pair adds the user with its IBAN and pairs a device: session and installation id.
func (h *harness) pair(sub, deviceID string) (sess, installID string) {
	h.t.Helper()
	a := h.call("POST", "/pba/pairDeviceByTrustedIdentity", map[string]any{
		"trustedIdentity": h.sign(sub, PurposeAccountInfo, nil), "fcmRegistrationToken": "fcm-" + deviceID,
		"deviceInfo": map[string]any{"deviceId": deviceID, "model": "Pixel"}})
	h.want(a, 200, "")
	return a.str("userSessionToken"), a.str("installationId")
}

var ibanID = IBANID("DE89370400440532013000")

// authorize sends a money message through the engine.
func (h *harness) authorize(pan, expiryYYMM, cvc2 string, icc []byte, amountMinor int64) authz.Response {
	h.t.Helper()
	n := h.stan.Add(1)
	req := &authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: pan, ProcessingCode: "000000",
		AmountMinor: amountMinor, HasAmount: true, F7: h.clock.Now().Format("0102150405"), STAN: fmt.Sprintf("%06d", n),
		AcquirerID: "12345", RRN: fmt.Sprintf("%012d", n), CurrencyNum: "978", ExpiryYYMM: expiryYYMM, CVC2: cvc2,
		TerminalID: "T1", MerchantID: "M1", MerchantName: "SHOP"}
	if icc != nil {
		req.ICC, req.POSEntryMode = icc, "071"
	} else {
		req.POSEntryMode = "010"
	}
	resp, err := engine.Do(context.Background(), h.eng, ledger.Authorize{Req: req})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) jobs() { h.t.Helper(); h.svc.RunJobs(context.Background()) }
