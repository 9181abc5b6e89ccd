package mgmt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// sessions are the customer channel's bearer tokens. They live in memory only: a restart logs
// every customer out (docs/api.md). Tokens are kept as SHA-256 digests, never in clear.
type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]session // sha256(token) hex -> session
}

type session struct {
	customerID string
	expires    time.Time
}

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, m: map[string]session{}}
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// create issues a session for a customer; ok is false when the session table is full.
func (s *sessions) create(customerID string, now time.Time) (token string, ttl time.Duration, ok bool) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("mgmt: no randomness: " + err.Error())
	}
	token = "st_" + base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.max {
			return "", 0, false
		}
	}
	s.m[tokenHash(token)] = session{customerID: customerID, expires: now.Add(s.ttl)}
	return token, s.ttl, true
}

// lookup resolves a token to its customer: 401 INVALID_TOKEN when unknown, SESSION_EXPIRED
// when past its time (the entry is then dropped).
func (s *sessions) lookup(tok string, now time.Time) (customerID, hash string, err *apiError) {
	hash = tokenHash(tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[hash]
	if !ok {
		return "", "", errInvalidToken
	}
	if !now.Before(v.expires) {
		delete(s.m, hash)
		return "", "", errSessionExpired
	}
	return v.customerID, hash, nil
}

func (s *sessions) end(hash string) {
	s.mu.Lock()
	delete(s.m, hash)
	s.mu.Unlock()
}

// rateLimiter is a token bucket per client key (channel, credential, address). Zero rate turns
// it off. The table is bounded: past rateKeysMax keys, idle buckets are dropped.
type rateLimiter struct {
	mu    sync.Mutex
	rate  float64
	burst float64
	clock func() time.Time
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const rateKeysMax = 65536

func newRateLimiter(perSec int, clock func() time.Time) *rateLimiter {
	if perSec == 0 {
		perSec = 200 // config default (http.rateLimitPerSec)
	}
	return &rateLimiter{rate: float64(perSec), burst: float64(perSec), clock: clock, m: map[string]*bucket{}}
}

func (r *rateLimiter) allow(key string) bool {
	if r.rate < 0 {
		return true
	}
	now := r.clock()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[key]
	if !ok {
		if len(r.m) >= rateKeysMax {
			for k, v := range r.m {
				if now.Sub(v.last) > time.Minute {
					delete(r.m, k)
				}
			}
			if len(r.m) >= rateKeysMax {
				return false
			}
		}
		b = &bucket{tokens: r.burst, last: now}
		r.m[key] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * r.rate
	if b.tokens > r.burst {
		b.tokens = r.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
