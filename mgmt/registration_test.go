package mgmt

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/config"
)

// Defect 5 (issue 20): the public registration must be vouched for by the partner. Without a
// registration token it creates nothing and opens no session.
func TestRegistrationWithoutTokenRefused(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/customers", `{"firstName":"Mallory","lastName":"Anon","email":"m@example.com"}`)
	expect(t, r, 401, "REGISTRATION_TOKEN_REQUIRED")
	if got := r.json(t)["sessionToken"]; got != nil {
		t.Fatalf("a session was handed out: %s", r.body)
	}
	// An empty token field is no token either.
	expect(t, h.do("POST", "/customers", `{"firstName":"Mallory","lastName":"Anon","registrationToken":""}`), 401, "REGISTRATION_TOKEN_REQUIRED")
	r = h.do("GET", "/admin/audit?action=customer.create", "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	if items := r.json(t)["items"].([]any); len(items) != 0 {
		t.Fatalf("a customer was created: %s", r.body)
	}
}

// regToken asks the partner channel for a registration token.
func (h *harness) regToken(body string) map[string]any {
	h.t.Helper()
	r := h.do("POST", "/secure/registration-tokens", body)
	expect(h.t, r, 201)
	return r.json(h.t)
}

func TestRegistrationToken(t *testing.T) {
	h := newHarness(t)
	const grace = `{"firstName":"Grace","lastName":"Hopper","email":"grace@example.com"`

	// Issue: random, prefixed, 10 minutes.
	rt := h.regToken("")
	tok, _ := rt["registrationToken"].(string)
	if !strings.HasPrefix(tok, "rt_") || len(tok) < 40 || rt["expiresIn"] != float64(600) || rt["externalId"] != nil {
		t.Fatalf("registration token %v", rt)
	}
	if other := h.regToken("{}")["registrationToken"]; other == tok {
		t.Fatal("two registration tokens are equal")
	}

	// Unknown token.
	expect(t, h.do("POST", "/customers", grace+`,"registrationToken":"rt_nope"}`), 401, "REGISTRATION_TOKEN_INVALID")
	// Header and body disagree.
	expect(t, h.send(req{method: "POST", path: "/customers", body: grace + `,"registrationToken":"rt_other"}`,
		headers: map[string]string{"Registration-Token": tok}}), 400, "INVALID_FIELD", "registrationToken")
	// Bad input does not spend the token.
	expect(t, h.do("POST", "/customers", `{"firstName":"Grace","registrationToken":"`+tok+`"}`), 400, "MISSING_FIELD", "lastName")

	// The body field: customer, KYC PENDING, a session.
	r := h.do("POST", "/customers", grace+`,"registrationToken":"`+tok+`"}`)
	expect(t, r, 201)
	self := r.json(t)
	if self["customerId"] == nil || self["expiresIn"] != float64(600) {
		t.Fatalf("registration %s", r.body)
	}
	r = h.do("GET", "/customers/me", "", bearerH(self["sessionToken"].(string))...)
	expect(t, r, 200)
	if r.str(t, "kycStatus") != "PENDING" || r.str(t, "firstName") != "Grace" {
		t.Fatalf("self %s", r.body)
	}
	// Single use.
	expect(t, h.do("POST", "/customers", grace+`,"registrationToken":"`+tok+`"}`), 401, "REGISTRATION_TOKEN_INVALID")
	expect(t, h.do("POST", "/customers", grace+`}`, "Registration-Token", tok), 401, "REGISTRATION_TOKEN_INVALID")

	// The header.
	tok2 := h.regToken("")["registrationToken"].(string)
	r = h.do("POST", "/customers", grace+`}`, "Registration-Token", tok2)
	expect(t, r, 201)
	if r.str(t, "customerId") == self["customerId"] {
		t.Fatal("same customer twice")
	}

	// Expired: 10 minutes after issue.
	tok3 := h.regToken("")["registrationToken"].(string)
	h.clock.Add(RegistrationTokenTTL - time.Second)
	tok4 := h.regToken("")["registrationToken"].(string)
	h.clock.Add(time.Second)
	expect(t, h.do("POST", "/customers", grace+`}`, "Registration-Token", tok3), 401, "REGISTRATION_TOKEN_INVALID")
	expect(t, h.do("POST", "/customers", grace+`}`, "Registration-Token", tok4), 201)

	// The registration is audited with the partner that vouched for it.
	r = h.do("GET", "/admin/audit?action=customer.create", "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	items := r.json(t)["items"].([]any)
	if len(items) != 3 || !strings.Contains(items[0].(map[string]any)["actor"].(string), "vouched by loopback") {
		t.Fatalf("audit %s", r.body)
	}
}

func TestRegistrationTokenBoundToExternalID(t *testing.T) {
	h := newHarness(t)
	expect(t, h.do("POST", "/secure/registration-tokens", `{"externalId":"bad id"}`), 400, "INVALID_FIELD", "externalId")
	expect(t, h.do("POST", "/secure/registration-tokens", `{"customerId":"x"}`), 400, "UNKNOWN_FIELD", "customerId")
	rt := h.regToken(`{"externalId":"app-7"}`)
	if rt["externalId"] != "app-7" {
		t.Fatalf("bound token %v", rt)
	}
	tok := rt["registrationToken"].(string)
	// Another externalId, or none: refused, and the token is not spent.
	expect(t, h.do("POST", "/customers", `{"externalId":"app-8","firstName":"A","lastName":"B"}`, "Registration-Token", tok), 403, "REGISTRATION_TOKEN_MISMATCH", "externalId")
	expect(t, h.do("POST", "/customers", `{"firstName":"A","lastName":"B"}`, "Registration-Token", tok), 403, "REGISTRATION_TOKEN_MISMATCH", "externalId")
	r := h.do("POST", "/customers", `{"externalId":"app-7","firstName":"A","lastName":"B"}`, "Registration-Token", tok)
	expect(t, r, 201)
	r = h.do("GET", "/secure/customers/"+r.str(t, "customerId"), "")
	if r.str(t, "externalId") != "app-7" {
		t.Fatalf("customer %s", r.body)
	}

	// A registration the ledger refuses (externalId taken) gives the token back.
	tok = h.regToken(`{"externalId":"app-7"}`)["registrationToken"].(string)
	unbound := h.regToken("")["registrationToken"].(string)
	expect(t, h.do("POST", "/customers", `{"externalId":"app-7","firstName":"A","lastName":"B"}`, "Registration-Token", unbound), 409, "CUSTOMER_EXISTS")
	expect(t, h.do("POST", "/customers", `{"externalId":"app-9","firstName":"A","lastName":"B"}`, "Registration-Token", unbound), 201)
	expect(t, h.do("POST", "/customers", `{"externalId":"app-7","firstName":"A","lastName":"B"}`, "Registration-Token", tok), 409, "CUSTOMER_EXISTS")
}

func TestRegistrationTokenChannel(t *testing.T) {
	h := newHarness(t)
	// Partner channel only: not from a remote plain-HTTP client, not with customer or operator tokens.
	expect(t, h.send(req{method: "POST", path: "/secure/registration-tokens", client: h.remote}), 403, "CHANNEL_NOT_ALLOWED")
	expect(t, h.do("GET", "/secure/registration-tokens", ""), 405, "METHOD_NOT_ALLOWED")
	// Encrypted request: encrypted answer.
	hdr, body := h.encrypted(`{"externalId":"app-1"}`)
	r := h.send(req{method: "POST", path: "/secure/registration-tokens", body: body, headers: hdr})
	expect(t, r, 201)
	if m := h.open(r); !strings.HasPrefix(m["registrationToken"].(string), "rt_") || m["externalId"] != "app-1" {
		t.Fatalf("encrypted answer %v", m)
	}
}

// The bound on outstanding tokens: past it, 429 until some are used or expire.
func TestRegistrationTokenLimit(t *testing.T) {
	h := newHarness(t)
	h.srv.registrations = newRegistrationTokens(RegistrationTokenTTL, 2)
	a := h.regToken("")["registrationToken"].(string)
	h.regToken("")
	expect(t, h.do("POST", "/secure/registration-tokens", ""), 429, "TOO_MANY_REGISTRATION_TOKENS")
	expect(t, h.do("POST", "/customers", `{"firstName":"A","lastName":"B"}`, "Registration-Token", a), 201)
	h.regToken("") // the used one made room
	expect(t, h.do("POST", "/secure/registration-tokens", ""), 429, "TOO_MANY_REGISTRATION_TOKENS")
	h.clock.Add(RegistrationTokenTTL)
	h.regToken("") // expired ones are dropped when full
	if n := h.srv.registrations.outstanding(); n != 1 {
		t.Fatalf("outstanding %d, want 1", n)
	}
}

// Tokens are kept as SHA-256 digests and never reach a log line or the audit trail.
func TestRegistrationTokenNotKept(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, func(_ *config.Config, d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok := h.regToken(`{"externalId":"app-1"}`)["registrationToken"].(string)
	h.srv.registrations.mu.Lock()
	_, byDigest := h.srv.registrations.m[tokenHash(tok)]
	_, byClear := h.srv.registrations.m[tok]
	h.srv.registrations.mu.Unlock()
	if !byDigest || byClear {
		t.Fatalf("kept by digest %v, in clear %v", byDigest, byClear)
	}
	expect(t, h.do("POST", "/customers", `{"externalId":"app-1","firstName":"A","lastName":"B","registrationToken":"`+tok+`"}`), 201)
	expect(t, h.do("POST", "/customers", `{"externalId":"app-1","firstName":"A","lastName":"B","registrationToken":"`+tok+`"}`), 401, "REGISTRATION_TOKEN_INVALID")
	r := h.do("GET", "/admin/audit", "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	secret := strings.TrimPrefix(tok, "rt_")
	if bytes.Contains(r.body, []byte(secret)) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the registration token leaked: audit %s\nlogs %s", r.body, logs.String())
	}
	if !bytes.Contains(r.body, []byte("registration-token.create")) {
		t.Fatalf("issue not audited: %s", r.body)
	}
}

// Two registrations racing with one token: exactly one spends it.
func TestRegistrationTokenSpentOnce(t *testing.T) {
	rt := newRegistrationTokens(time.Minute, 10)
	now := time.Unix(1_700_000_000, 0)
	tok, _, ok := rt.issue("partner:test", "", now)
	if !ok {
		t.Fatal("issue refused")
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := rt.check(tok, "", now, true); err == nil {
				wins.Add(1)
			} else if err != errRegistrationTokenInvalid {
				t.Errorf("check: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("spent %d times", wins.Load())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
