package pba

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// userSessionTokens (seed §1.2) live in memory only, kept as SHA-256 digests: a restart ends
// every session, and the app logs in again with a fresh trusted identity (USER_UNATHORIZED is
// the answer that tells it to).

// MaxSessions bounds the live sessions; when full (after dropping expired ones) a pairing or
// login is answered 503 UNAVAILABLE.
const MaxSessions = 100_000

type session struct {
	inst, sub, installID string
	expires              time.Time
}

type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]session
}

func newSessions(ttl time.Duration) *sessions { return &sessions{ttl: ttl, m: map[string]session{}} }

func digest(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// create issues a session of an installation; ok is false when the table is full.
func (s *sessions) create(inst, sub, installID string, now time.Time) (string, bool) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("pba: no randomness: " + err.Error())
	}
	tok := "ust_" + base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= MaxSessions {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= MaxSessions {
			return "", false
		}
	}
	s.m[digest(tok)] = session{inst: inst, sub: sub, installID: installID, expires: now.Add(s.ttl)}
	return tok, true
}

// lookup finds a live session.
func (s *sessions) lookup(tok string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := digest(tok)
	v, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if !now.Before(v.expires) {
		delete(s.m, k)
		return session{}, false
	}
	return v, true
}

// dropInstallation ends every session of an installation (unpaired, replaced or deleted).
func (s *sessions) dropInstallation(installID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if v.installID == installID {
			delete(s.m, k)
		}
	}
}

// dropUser ends every session of a user (deleted).
func (s *sessions) dropUser(inst, sub string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if v.inst == inst && v.sub == sub {
			delete(s.m, k)
		}
	}
}
