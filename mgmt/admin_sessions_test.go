package mgmt

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/cardswitch/cardswitch/config"
)

const (
	olgaPassword = "correct horse battery"
	tinaPassword = "tina's long password"
	tinaTOTP     = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // 20 bytes
)

// fastHash is a bcrypt hash at the least cost, so the tests do not spend seconds hashing.
func fastHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func withOperators(ops ...config.Operator) option {
	return func(c *config.Config, _ *Deps) { c.HTTP.Operators = ops }
}

func cheapOperatorHashes(t *testing.T) {
	operatorCostMin = bcrypt.MinCost
	t.Cleanup(func() { operatorCostMin = BcryptCostMin })
}

func operatorHarness(t *testing.T) *harness {
	cheapOperatorHashes(t)
	return newHarness(t, withOperators(
		config.Operator{Name: "olga", Role: "Manager", PasswordHash: fastHash(t, olgaPassword)},
		config.Operator{Name: "tina", Role: "Employee", PasswordHash: fastHash(t, tinaPassword), TOTPSecret: tinaTOTP}))
}

func (h *harness) login(name, password, otp string) resp {
	h.t.Helper()
	body := `{"name":"` + name + `","password":"` + password + `"`
	if otp != "" {
		body += `,"otp":"` + otp + `"`
	}
	return h.do("POST", "/admin/sessions", body+"}")
}

func TestOperatorSessionLifecycle(t *testing.T) {
	h := operatorHarness(t)
	cust := h.customer(true)

	expect(t, h.login("olga", "wrong password!!", ""), 401, "INVALID_CREDENTIALS")
	expect(t, h.login("nobody", olgaPassword, ""), 401, "INVALID_CREDENTIALS")
	expect(t, h.do("POST", "/admin/sessions", `{"name":"olga"}`), 400, "MISSING_FIELD", "password")
	r := h.login("olga", olgaPassword, "")
	expect(t, r, 201)
	m := r.json(t)
	tok := m["sessionToken"].(string)
	if m["expiresIn"] != float64(600) || m["role"] != "Manager" || m["name"] != "olga" || !strings.HasPrefix(tok, operatorTokenPrefix) {
		t.Fatalf("login answer %s", r.body)
	}
	// The session carries the operator's role, on the admin channel only.
	expect(t, h.do("GET", "/admin/customers/"+cust, "", bearerH(tok)...), 200)
	expect(t, h.do("POST", "/admin/customers/"+cust+"/kyc", `{"status":"VERIFIED"}`, bearerH(tok)...), 200)
	expect(t, h.do("GET", "/admin/audit", "", bearerH(tok)...), 403, "INSUFFICIENT_ROLE")
	expect(t, h.do("GET", "/customers/me", "", bearerH(tok)...), 403, "WRONG_CHANNEL")
	audit := h.do("GET", "/admin/audit?actor=olga", "", bearerH(tokAdmin)...)
	for _, want := range []string{`"action":"operator.login"`, `"action":"customer.kyc"`, `"role":"Manager"`} {
		if !strings.Contains(string(audit.body), want) {
			t.Fatalf("audit lacks %s: %s", want, audit.body)
		}
	}
	if strings.Contains(string(audit.body), olgaPassword) {
		t.Fatal("the audit trail carries a password")
	}
	// It expires.
	h.clock.Add(OperatorSessionTTLDefault)
	expect(t, h.do("GET", "/admin/customers/"+cust, "", bearerH(tok)...), 401, "SESSION_EXPIRED")
	expect(t, h.do("GET", "/customers/me", "", bearerH(tok)...), 403, "WRONG_CHANNEL")
	// Logout ends it; a static token has no session to end.
	tok = h.login("olga", olgaPassword, "").str(t, "sessionToken")
	expect(t, h.do("DELETE", "/admin/session", "", bearerH(tok)...), 204)
	expect(t, h.do("GET", "/admin/customers/"+cust, "", bearerH(tok)...), 401, "INVALID_TOKEN")
	expect(t, h.do("DELETE", "/admin/session", "", bearerH(tokAdmin)...), 409, "NOT_A_SESSION")
	expect(t, h.do("DELETE", "/admin/session", "", bearerH(h.session(cust))...), 403, "WRONG_CHANNEL")
	// Static tokens still work.
	expect(t, h.do("GET", "/admin/audit", "", bearerH(tokAdmin)...), 200)
}

func TestOperatorTOTP(t *testing.T) {
	h := operatorHarness(t)
	code := func() string {
		c, err := totp.GenerateCodeCustom(tinaTOTP, h.clock.Now(), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	expect(t, h.login("tina", tinaPassword, ""), 401, "OTP_REQUIRED", "otp")
	expect(t, h.login("tina", "not her password", code()), 401, "INVALID_CREDENTIALS")
	wrong := "000000"
	if code() == wrong {
		wrong = "111111"
	}
	expect(t, h.login("tina", tinaPassword, wrong), 401, "INVALID_CREDENTIALS")
	c := code()
	r := h.login("tina", tinaPassword, c)
	expect(t, r, 201)
	if r.str(t, "role") != "Employee" {
		t.Fatalf("login %s", r.body)
	}
	// A code is good once.
	expect(t, h.login("tina", tinaPassword, c), 401, "INVALID_CREDENTIALS")
	// One step of drift is accepted: the previous step's code, read late.
	h.clock.Add(totpPeriodSeconds * time.Second)
	prev := c
	expect(t, h.login("tina", tinaPassword, prev), 401, "INVALID_CREDENTIALS") // used already
	expect(t, h.login("tina", tinaPassword, code()), 201)
}

func TestOperatorLoginLockout(t *testing.T) {
	h := operatorHarness(t)
	for range LoginFailuresMax {
		expect(t, h.login("olga", "wrong password!!", ""), 401, "INVALID_CREDENTIALS")
	}
	r := h.login("olga", olgaPassword, "")
	expect(t, r, 429, "LOGIN_LOCKED")
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra <= 0 || ra > int(LoginLockout.Seconds()) {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	audit := h.do("GET", "/admin/audit?action=operator.login_failed&actor=olga", "", bearerH(tokAdmin)...)
	if n := strings.Count(string(audit.body), `"action":"operator.login_failed"`); n != LoginFailuresMax {
		t.Fatalf("%d failed logins audited", n)
	}
	h.clock.Add(LoginLockout)
	expect(t, h.login("olga", olgaPassword, ""), 201)
	// A success resets the count: four failures do not lock.
	for range LoginFailuresMax - 1 {
		expect(t, h.login("olga", "wrong password!!", ""), 401, "INVALID_CREDENTIALS")
	}
	expect(t, h.login("olga", olgaPassword, ""), 201)

	// One address trying many names is locked out too.
	h.clock.Add(LoginLockout)
	for i := range LoginFailuresPerAddressMax {
		expect(t, h.login("guess"+strconv.Itoa(i), "wrong password!!", ""), 401, "INVALID_CREDENTIALS")
	}
	expect(t, h.login("olga", olgaPassword, ""), 429, "LOGIN_LOCKED")
	expect(t, h.send(req{method: "POST", path: "/admin/sessions", client: h.remote,
		body: `{"name":"olga","password":"` + olgaPassword + `"}`}), 201)
}

func TestOperatorConfigRefused(t *testing.T) {
	cheapOperatorHashes(t)
	good := fastHash(t, olgaPassword)
	for name, ops := range map[string][]config.Operator{
		"not a hash":       {{Name: "a", Role: "Admin", PasswordHash: "secret"}},
		"bad role":         {{Name: "a", Role: "Root", PasswordHash: good}},
		"no name":          {{Role: "Admin", PasswordHash: good}},
		"twice":            {{Name: "a", Role: "Admin", PasswordHash: good}, {Name: "a", Role: "Admin", PasswordHash: good}},
		"admin token name": {{Name: "alice", Role: "Admin", PasswordHash: good}},
		"short TOTP":       {{Name: "a", Role: "Admin", PasswordHash: good, TOTPSecret: "JBSWY3DPEHPK3PXP"}},
		"not base32":       {{Name: "a", Role: "Admin", PasswordHash: good, TOTPSecret: "not base 32 at all!!"}},
	} {
		admins := []adminToken{{name: "alice", token: []byte(tokAdmin), role: roleAdmin}}
		if _, err := newOperators(ops, admins, 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	operatorCostMin = BcryptCostMin
	if _, err := newOperators([]config.Operator{{Name: "a", Role: "Admin", PasswordHash: good}}, nil, 0); err == nil {
		t.Error("a hash below the least cost was accepted")
	}
}

func TestHashOperatorPassword(t *testing.T) {
	if _, err := HashOperatorPassword([]byte("short"), BcryptCostMin); err == nil {
		t.Error("a short password was hashed")
	}
	if _, err := HashOperatorPassword([]byte(strings.Repeat("x", PasswordBytesMax+1)), BcryptCostMin); err == nil {
		t.Error("a password bcrypt would cut was hashed")
	}
	if _, err := HashOperatorPassword([]byte(olgaPassword), BcryptCostMin-1); err == nil {
		t.Error("a cost below the least was used")
	}
	h, err := HashOperatorPassword([]byte(olgaPassword), BcryptCostMin)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(olgaPassword)) != nil {
		t.Fatal("the hash does not verify")
	}
	secret, uri, err := NewTOTPSecret("cardswitch", "olga")
	if err != nil {
		t.Fatal(err)
	}
	if key, err := decodeTOTPSecret(secret); err != nil || len(key) != totpSecretBytes || !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("secret %q uri %q", secret, uri)
	}
}

// A TOTP secret written in lower case or with padding works as the authenticator app has it.
func TestOperatorTOTPSecretSpelling(t *testing.T) {
	cheapOperatorHashes(t)
	h := newHarness(t, withOperators(config.Operator{Name: "tina", Role: "Employee",
		PasswordHash: fastHash(t, tinaPassword), TOTPSecret: strings.ToLower(tinaTOTP) + "===="}))
	c, err := totp.GenerateCodeCustom(tinaTOTP, h.clock.Now(), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, h.login("tina", tinaPassword, c), 201)
}

// Password checks run one at a time; a login that cannot get its turn in time is LOGIN_BUSY and
// counts as no failure.
func TestOperatorLoginBusy(t *testing.T) {
	h := operatorHarness(t)
	o := h.srv.operators
	o.wait = 10 * time.Millisecond
	o.slots <- struct{}{} // a check in progress
	expect(t, h.login("olga", olgaPassword, ""), 429, "LOGIN_BUSY")
	<-o.slots
	expect(t, h.login("olga", olgaPassword, ""), 201)
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.failByName) != 0 || len(o.failByAddr) != 0 {
		t.Fatal("a busy login was counted as a failure")
	}
}
