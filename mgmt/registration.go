package mgmt

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Registration from the app (issue 20, defect 5). The public POST /customers creates a customer
// and opens a session, so it must be vouched for by the partner: the partner's server asks
// POST /secure/registration-tokens for a short-lived, single-use registration token and hands it
// to its app, which sends it with the registration. Tokens live in memory only (a restart voids
// the outstanding ones; the partner asks again) and are kept as SHA-256 digests, as sessions are.

// RegistrationTokenHeader carries a registration token; the body field registrationToken is the
// alternative (both given: they must be equal).
const RegistrationTokenHeader = "Registration-Token"

type registrationTokens struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]registrationGrant // sha256(token) hex -> grant
}

// registrationGrant is what a registration token vouches for.
type registrationGrant struct {
	id         string // non-secret id for the audit trail (rgt_…)
	issuer     string // the partner that asked for it (actor name on /secure)
	externalID string // when set, the registration must use this externalId
	expires    time.Time
}

func newRegistrationTokens(ttl time.Duration, max int) *registrationTokens {
	return &registrationTokens{ttl: ttl, max: max, m: map[string]registrationGrant{}}
}

// issue makes a registration token; ok is false when MaxRegistrationTokens are outstanding even
// after dropping the expired ones (the caller answers 429: outstanding tokens are never evicted,
// so a burst cannot void the tokens of users in the middle of registering).
func (r *registrationTokens) issue(issuer, externalID string, now time.Time) (token string, g registrationGrant, ok bool) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("mgmt: no randomness: " + err.Error())
	}
	token = "rt_" + base64.RawURLEncoding.EncodeToString(raw[:])
	g = registrationGrant{id: "rgt_" + randID(12), issuer: issuer, externalID: externalID, expires: now.Add(r.ttl)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		for k, v := range r.m {
			if !now.Before(v.expires) {
				delete(r.m, k)
			}
		}
		if len(r.m) >= r.max {
			return "", registrationGrant{}, false
		}
	}
	r.m[tokenHash(token)] = g
	return token, g, true
}

// check finds the grant of a token that may register a customer with externalID. With spend it
// also uses the token up (atomically: of two registrations racing with one token, one wins).
// Unknown, used and expired tokens are 401 REGISTRATION_TOKEN_INVALID (an expired entry is
// dropped); a token bound to another externalId is 403 REGISTRATION_TOKEN_MISMATCH and is not
// spent.
func (r *registrationTokens) check(token, externalID string, now time.Time, spend bool) (hash string, g registrationGrant, err *apiError) {
	hash = tokenHash(token)
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.m[hash]
	if !ok {
		return "", registrationGrant{}, errRegistrationTokenInvalid
	}
	if !now.Before(g.expires) {
		delete(r.m, hash)
		return "", registrationGrant{}, errRegistrationTokenInvalid
	}
	if g.externalID != "" && g.externalID != externalID {
		return "", registrationGrant{}, errRegistrationTokenMismatch
	}
	if spend {
		delete(r.m, hash)
	}
	return hash, g, nil
}

// giveBack restores a spent token whose registration was refused without any change (say a
// duplicate externalId), so the user can correct and retry within its lifetime.
func (r *registrationTokens) giveBack(hash string, g registrationGrant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) < r.max {
		r.m[hash] = g
	}
}

func (r *registrationTokens) outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// hCreateRegistrationToken is POST /secure/registration-tokens {"externalId"?}: the partner
// vouches for one registration from its app.
func (s *Server) hCreateRegistrationToken(c *call) (int, any, *apiError) {
	var in struct {
		ExternalID string `json:"externalId"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.ExternalID != "" && !reExtID.MatchString(in.ExternalID) {
		return 0, nil, errInvalid("externalId", "externalId: 1-64 letters, digits or ._:-")
	}
	tok, g, ok := s.registrations.issue(c.who.Name, in.ExternalID, s.clock())
	if !ok {
		return 0, nil, errRegistrationTokensFull
	}
	// The audit entry names the grant by its id; the token itself is never recorded or logged.
	after := map[string]any{"externalId": g.externalID, "expiresAt": g.expires.UTC().Format(time.RFC3339)}
	c.audit("registration-token.create", "registration-token", g.id, nil, after)
	out := map[string]any{"registrationToken": tok, "expiresIn": int(s.registrations.ttl.Seconds())}
	if g.externalID != "" {
		out["externalId"] = g.externalID
	}
	return 201, out, nil
}

// selfRegistrationIn is the body of POST /customers: the customer, and the registration token
// unless it comes in the Registration-Token header.
type selfRegistrationIn struct {
	ExternalID        string `json:"externalId"`
	FirstName         string `json:"firstName"`
	LastName          string `json:"lastName"`
	Email             string `json:"email"`
	Phone             string `json:"phone"`
	RegistrationToken string `json:"registrationToken"`
}

// hRegisterSelf is registration from the app (public; the registration token is the
// credential): it creates the customer (KYC PENDING) and opens a session for it. The token is
// checked before the input, and spent only by a registration that goes ahead.
func (s *Server) hRegisterSelf(c *call) (int, any, *apiError) {
	var raw selfRegistrationIn
	if err := c.decode(&raw); err != nil {
		return 0, nil, err
	}
	tok := string(c.ctx.Request.Header.Peek(RegistrationTokenHeader))
	switch {
	case tok == "":
		tok = raw.RegistrationToken
	case raw.RegistrationToken != "" && subtle.ConstantTimeCompare([]byte(raw.RegistrationToken), []byte(tok)) != 1:
		return 0, nil, errBad("INVALID_FIELD", "registrationToken differs from the "+RegistrationTokenHeader+" header; send one", "registrationToken")
	}
	if tok == "" {
		return 0, nil, errRegistrationTokenRequired
	}
	in := customerIn{ExternalID: raw.ExternalID, FirstName: raw.FirstName, LastName: raw.LastName,
		Email: raw.Email, Phone: raw.Phone}
	if _, _, err := s.registrations.check(tok, in.ExternalID, s.clock(), false); err != nil {
		return 0, nil, err
	}
	if err := in.validate(); err != nil {
		return 0, nil, err // the token is not spent: the app corrects the input and retries
	}
	hash, g, err := s.registrations.check(tok, in.ExternalID, s.clock(), true)
	if err != nil {
		return 0, nil, err // spent by a concurrent registration
	}
	c.who.Name = "app:" + g.id + " (vouched by " + g.issuer + ")"
	cu, aerr := s.createCustomer(c, &in)
	if aerr != nil {
		if aerr.Status != errUnavailable.Status {
			// A refusal (such as 409 CUSTOMER_EXISTS) changed nothing. 503 keeps the token spent:
			// the customer may still be created.
			s.registrations.giveBack(hash, g)
		}
		return 0, nil, aerr
	}
	sess, ttl, ok := s.sessions.create(cu.ID, s.clock())
	if !ok {
		return 201, map[string]any{"customerId": cu.ID}, nil
	}
	return 201, map[string]any{"customerId": cu.ID, "sessionToken": sess, "expiresIn": int(ttl.Seconds())}, nil
}
