package mgmt

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/cardswitch/cardswitch/config"
)

// Operator sessions (seed: the admin channel authenticates with a "Session token"): an operator
// named in http.operators logs in on POST /admin/sessions with a password, checked against its
// bcrypt hash, and, when it has a TOTP secret, a one-time code (RFC 6238); the answer is a
// session token that expires after http.operatorSessionTTL. DELETE /admin/session ends it.
// Static tokens (http.adminTokens) stay for automation. Sessions live in memory, like the
// customers': a restart logs every operator out. docs/operators.md is the operator's guide.

// Limits of operator logins (ARCHITECTURE rule 5), each with its behaviour when hit.
const (
	// OperatorSessionTTLDefault is an operator session's lifetime when
	// http.operatorSessionTTL is not set; past it the token answers 401 SESSION_EXPIRED.
	OperatorSessionTTLDefault = 10 * time.Minute
	// MaxOperatorSessions bounds live operator sessions; when full (after dropping expired
	// ones) a login is refused with 503 UNAVAILABLE.
	MaxOperatorSessions = 1000
	// LoginFailuresMax failed logins in a row for one operator name lock that name out for
	// LoginLockout: every login for it is then answered 429 LOGIN_LOCKED (with Retry-After),
	// right password or not. A success resets the count. Unknown names are counted the same
	// way, so the answers do not tell which names exist.
	LoginFailuresMax = 5
	LoginLockout     = 15 * time.Minute
	// LoginFailuresPerAddressMax failed logins from one client address within LoginLockout
	// refuse further logins from it with 429 LOGIN_LOCKED until the window passes (one
	// address trying many names).
	LoginFailuresPerAddressMax = 20
	// LoginsInFlightMax bounds the password checks running at once: bcrypt is slow on purpose
	// (a check at the default cost takes a good part of a second of one core), and a flood of
	// logins must not take the cores the authorizations run on. A login waits up to
	// LoginSlotWait for its turn, then is answered 429 LOGIN_BUSY.
	LoginsInFlightMax = 1
	LoginSlotWait     = 2 * time.Second
	// loginTrackedMax bounds the failure counters kept (names and addresses); when full, those
	// whose window has passed are dropped, and if none has, the oldest is.
	loginTrackedMax = 10_000
	// PasswordBytesMin and PasswordBytesMax bound a password `cardswitch hash-password`
	// accepts: bcrypt reads at most 72 bytes.
	PasswordBytesMin = 12
	PasswordBytesMax = 72
	// BcryptCostDefault is the cost hash-password uses; a configured hash below
	// BcryptCostMin is refused at start (tests build their own server with cheaper hashes
	// through operatorCostMin).
	BcryptCostDefault = 12
	BcryptCostMin     = 10
)

// TOTP parameters (RFC 6238 as authenticator apps use it), set explicitly (ARCHITECTURE rule 6):
// six digits, SHA-1, 30-second steps, one step of clock drift either way. A code is accepted
// once: a step at or before the last one used by the operator is refused (a replay).
const (
	totpPeriodSeconds = 30
	totpDriftSteps    = 1
	totpSecretBytes   = 20 // 160 bits, RFC 4226's recommendation
	totpSecretMin     = 16 // 128 bits, the least a configured secret may have
)

var totpOpts = totp.ValidateOpts{Period: totpPeriodSeconds, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// operatorCostMin is BcryptCostMin; tests lower it to build servers with fast hashes.
var operatorCostMin = BcryptCostMin

// operatorTokenPrefix marks operator session tokens, so a customer session token is never
// looked up among them (and the other way round).
const operatorTokenPrefix = "os_"

type operator struct {
	name string
	role role
	hash []byte
	totp string // base32 secret, "" without TOTP
}

type operatorSession struct {
	name    string
	role    role
	expires time.Time
}

// loginFailures counts failed logins of one name or address within a window.
type loginFailures struct {
	count int
	first time.Time // start of the window
	until time.Time // locked until (zero: not locked)
}

type operators struct {
	byName map[string]*operator
	dummy  []byte // a hash to compare against for unknown names (the highest cost configured)
	ttl    time.Duration
	slots  chan struct{} // LoginsInFlightMax
	wait   time.Duration // LoginSlotWait (tests shorten it)

	mu         sync.Mutex
	sessions   map[string]operatorSession // sha256(token) hex -> session
	failByName map[string]*loginFailures
	failByAddr map[string]*loginFailures
	lastStep   map[string]int64 // operator -> last TOTP step used
}

func newOperators(cfg []config.Operator, admins []adminToken, ttl time.Duration) (*operators, error) {
	if ttl <= 0 {
		ttl = OperatorSessionTTLDefault
	}
	o := &operators{byName: map[string]*operator{}, ttl: ttl, slots: make(chan struct{}, LoginsInFlightMax), wait: LoginSlotWait,
		sessions: map[string]operatorSession{}, failByName: map[string]*loginFailures{},
		failByAddr: map[string]*loginFailures{}, lastStep: map[string]int64{}}
	taken := map[string]bool{}
	for _, a := range admins {
		taken[a.name] = true
	}
	cost := 0 // the highest cost configured: the dummy hash's
	for i, c := range cfg {
		where := fmt.Sprintf("mgmt: http.operators[%d]", i)
		r, ok := parseRole(c.Role)
		switch {
		case c.Name == "" || !reExtID.MatchString(c.Name):
			return nil, errors.New(where + ": name: 1-64 letters, digits or ._:-")
		case taken[c.Name]:
			return nil, fmt.Errorf("%s: name %q is taken by another operator or admin token (the audit trail names operators)", where, c.Name)
		case !ok:
			return nil, errors.New(where + ": role must be Admin, Manager or Employee")
		}
		hc, err := bcrypt.Cost([]byte(c.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("%s: passwordHash is not a bcrypt hash (make one with cardswitch hash-password)", where)
		}
		if hc < operatorCostMin {
			return nil, fmt.Errorf("%s: passwordHash has bcrypt cost %d, below %d", where, hc, operatorCostMin)
		}
		cost = max(cost, hc)
		if c.TOTPSecret != "" {
			key, err := decodeTOTPSecret(c.TOTPSecret)
			if err != nil || len(key) < totpSecretMin {
				return nil, fmt.Errorf("%s: totpSecret: want base32 of at least %d bytes (make one with cardswitch totp-secret)", where, totpSecretMin)
			}
		}
		taken[c.Name] = true
		// The secret as the TOTP library reads it: upper case, no padding or spaces.
		secret := strings.ToUpper(strings.TrimRight(strings.TrimSpace(c.TOTPSecret), "="))
		o.byName[c.Name] = &operator{name: c.Name, role: r, hash: []byte(c.PasswordHash), totp: secret}
	}
	if len(o.byName) == 0 {
		return o, nil // no names to tell apart: every login fails at once
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no operator has this password"), cost)
	if err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	o.dummy = dummy
	return o, nil
}

func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.TrimSpace(s), "="))
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// Login errors.
var (
	errLoginFailed = &apiError{Status: 401, Code: "INVALID_CREDENTIALS", Message: "unknown operator, wrong password or wrong one-time code"}
	errOTPRequired = &apiError{Status: 401, Code: "OTP_REQUIRED", Message: "this operator logs in with a one-time code too: send otp", Field: "otp"}
	errLoginBusy   = &apiError{Status: 429, Code: "LOGIN_BUSY", Message: "other logins are being checked; retry"}
)

func errLoginLocked(retry time.Duration) *apiError {
	return &apiError{Status: 429, Code: "LOGIN_LOCKED",
		Message: "too many failed logins; retry in " + strconv.Itoa(int(retry.Seconds()+0.999)) + " seconds"}
}

// lockedFor reports how long a name or address is still locked out (0: not).
func lockedFor(f *loginFailures, now time.Time) time.Duration {
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// fail counts a failed login in m under key and locks it when it reaches max.
func (o *operators) fail(m map[string]*loginFailures, key string, max int, now time.Time) {
	f := m[key]
	if f == nil || now.Sub(f.first) >= LoginLockout {
		if f == nil && len(m) >= loginTrackedMax {
			dropStale(m, now)
		}
		f = &loginFailures{first: now}
		m[key] = f
	}
	f.count++
	if f.count >= max {
		f.until = now.Add(LoginLockout)
	}
}

// dropStale makes room in a full failure table: entries whose window and lock have passed go;
// if none has, the one whose window started first.
func dropStale(m map[string]*loginFailures, now time.Time) {
	var oldest string
	for k, f := range m {
		if now.Sub(f.first) >= LoginLockout && !now.Before(f.until) {
			delete(m, k)
			continue
		}
		if oldest == "" || f.first.Before(m[oldest].first) {
			oldest = k
		}
	}
	if len(m) >= loginTrackedMax && oldest != "" {
		delete(m, oldest)
	}
}

// acquire takes a password-check slot, waiting at most o.wait.
func (o *operators) acquire() bool {
	select {
	case o.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(o.wait)
	defer t.Stop()
	select {
	case o.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// checkTOTP accepts a code of the current step or one step either side, newer than the last
// step the operator used; it returns the step it matched.
func (o *operators) checkTOTP(op *operator, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriodSeconds
	matched := int64(-1)
	for d := int64(-totpDriftSteps); d <= totpDriftSteps; d++ {
		want, err := totp.GenerateCodeCustom(op.totp, time.Unix((step+d)*totpPeriodSeconds, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = step + d
		}
	}
	if matched < 0 {
		return 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if last, ok := o.lastStep[op.name]; ok && matched <= last {
		return 0, false // a code used before (or an older one)
	}
	o.lastStep[op.name] = matched
	return matched, true
}

// createSession issues a session for an operator; ok is false when the table is full.
func (o *operators) createSession(op *operator, now time.Time) (string, bool) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("mgmt: no randomness: " + err.Error())
	}
	tok := operatorTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sessions) >= MaxOperatorSessions {
		for k, v := range o.sessions {
			if !now.Before(v.expires) {
				delete(o.sessions, k)
			}
		}
		if len(o.sessions) >= MaxOperatorSessions {
			return "", false
		}
	}
	o.sessions[tokenHash(tok)] = operatorSession{name: op.name, role: op.role, expires: now.Add(o.ttl)}
	return tok, true
}

// lookup resolves an operator session token: 401 INVALID_TOKEN when unknown, SESSION_EXPIRED
// past its time (the entry is then dropped).
func (o *operators) lookup(tok string, now time.Time) (adminToken, string, *apiError) {
	hash := tokenHash(tok)
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.sessions[hash]
	if !ok {
		return adminToken{}, "", errInvalidToken
	}
	if !now.Before(v.expires) {
		delete(o.sessions, hash)
		return adminToken{}, "", errSessionExpired
	}
	return adminToken{name: v.name, role: v.role}, hash, nil
}

func (o *operators) end(hash string) {
	o.mu.Lock()
	delete(o.sessions, hash)
	o.mu.Unlock()
}

// hOperatorLogin is POST /admin/sessions: {"name","password","otp"?} → 201 {"sessionToken",
// "expiresIn","name","role"}.
func (s *Server) hOperatorLogin(c *call) (int, any, *apiError) {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		OTP      string `json:"otp"`
	}
	err := c.decode(&in)
	clear(c.body)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case in.Name == "":
		return 0, nil, errMissing("name")
	case len(in.Name) > 64:
		return 0, nil, errInvalid("name", "name: at most 64 characters")
	case in.Password == "":
		return 0, nil, errMissing("password")
	}
	o, now, addr := s.operators, s.clock(), c.ctx.RemoteIP().String()
	o.mu.Lock()
	wait := max(lockedFor(o.failByName[in.Name], now), lockedFor(o.failByAddr[addr], now))
	o.mu.Unlock()
	if wait > 0 {
		c.ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return 0, nil, errLoginLocked(wait)
	}
	if !o.acquire() {
		return 0, nil, errLoginBusy
	}
	op, known := o.byName[in.Name]
	hash := o.dummy
	if known {
		hash = op.hash
	}
	// bcrypt compares in constant time; an unknown name costs the same as a known one.
	pwOK := bcrypt.CompareHashAndPassword(hash, []byte(in.Password)) == nil && known && len(in.Password) <= PasswordBytesMax
	<-o.slots
	c.who = actor{Name: in.Name, Channel: "admin"}
	if pwOK && op.totp != "" {
		if in.OTP == "" {
			// The password was right: not a failure, but no session either.
			return 0, nil, errOTPRequired
		}
		if _, ok := o.checkTOTP(op, in.OTP, now); !ok {
			pwOK = false
		}
	}
	if !pwOK {
		o.mu.Lock()
		o.fail(o.failByName, in.Name, LoginFailuresMax, now)
		o.fail(o.failByAddr, addr, LoginFailuresPerAddressMax, now)
		locked := lockedFor(o.failByName[in.Name], now) > 0
		o.mu.Unlock()
		s.log.Info("operator login failed", "operator", in.Name, "addr", addr, "locked", locked)
		c.audit("operator.login_failed", "operator", in.Name, nil, map[string]any{"address": addr, "lockedOut": locked})
		return 0, nil, errLoginFailed
	}
	o.mu.Lock()
	delete(o.failByName, in.Name)
	o.mu.Unlock()
	tok, ok := o.createSession(op, now)
	if !ok {
		return 0, nil, errUnavailable
	}
	c.who.Role = op.role.String()
	c.audit("operator.login", "operator", op.name, nil, map[string]any{"address": addr, "totp": op.totp != ""})
	return 201, map[string]any{"sessionToken": tok, "expiresIn": int(o.ttl.Seconds()), "name": op.name,
		"role": op.role.String()}, nil
}

// hOperatorLogout is DELETE /admin/session: it ends the caller's operator session; a static
// admin token has none (409 NOT_A_SESSION).
func (s *Server) hOperatorLogout(c *call) (int, any, *apiError) {
	if c.session == "" {
		return 0, nil, errConflict("NOT_A_SESSION", "a static admin token has no session to end")
	}
	s.operators.end(c.session)
	c.audit("operator.logout", "operator", c.who.Name, nil, nil)
	return 204, nil, nil
}

// adminFor resolves a bearer token on the admin channel: a static admin token, or an operator
// session token (sessionHash set). An operator session token that is unknown or expired is
// answered as such; any other token is not an admin's (ok false, err nil).
func (s *Server) adminFor(tok string) (adm adminToken, sessionHash string, ok bool, err *apiError) {
	if a, found := s.adminByToken(tok); found {
		return a, "", true, nil
	}
	if !strings.HasPrefix(tok, operatorTokenPrefix) {
		return adminToken{}, "", false, nil
	}
	a, hash, aerr := s.operators.lookup(tok, s.clock())
	if aerr != nil {
		return adminToken{}, "", false, aerr
	}
	return a, hash, true, nil
}

// HashOperatorPassword makes the bcrypt hash of an operator's password for http.operators
// (cardswitch hash-password).
func HashOperatorPassword(password []byte, cost int) (string, error) {
	switch {
	case len(password) < PasswordBytesMin:
		return "", fmt.Errorf("a password needs at least %d bytes", PasswordBytesMin)
	case len(password) > PasswordBytesMax:
		return "", fmt.Errorf("a password has at most %d bytes (bcrypt reads no more)", PasswordBytesMax)
	case cost < BcryptCostMin || cost > bcrypt.MaxCost:
		return "", fmt.Errorf("cost must be %d..%d", BcryptCostMin, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewTOTPSecret makes a TOTP secret for an operator (cardswitch totp-secret): the base32 secret
// for http.operators[].totpSecret and the otpauth:// URI an authenticator app reads (as a QR
// code or typed in).
func NewTOTPSecret(issuer, account string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriodSeconds,
		SecretSize: totpSecretBytes, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}
