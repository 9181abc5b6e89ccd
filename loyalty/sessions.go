package loyalty

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Limits of the page sessions and the SDK token replay cache (ARCHITECTURE rule 5).
const (
	// SessionTTL is how long an enrollment or member page stays open after its initialization.
	SessionTTL = 15 * time.Minute
	// SessionsMax bounds the open sessions; when full (after dropping expired ones) an
	// initialization is answered 503 UNAVAILABLE.
	SessionsMax = 10_000
	// JTIsMax bounds the SDK token ids remembered for replay (each for its token's lifetime);
	// when full an SDK initialization is answered 503 UNAVAILABLE rather than forgetting one.
	JTIsMax = 100_000
)

// ErrFull is a bound reached.
var ErrFull = errors.New("loyalty: too many open sessions")

// Session kinds.
const (
	kindEnroll = "enroll" // the enrollment widget (non_auth_initialize)
	kindMember = "member" // the member webview (initialize_sdk)
)

// session is one page opened by a signed initialization. It lives in memory only: a restart
// closes the open pages (the partner initializes again); nothing of value is lost with it.
type session struct {
	id         string
	kind       string
	website    WebsiteClaims
	sdk        SDKClaims
	widget     string // goal or full (member sessions)
	returnURL  string
	customerID string
	expires    time.Time
	done       bool    // the one submission was made
	result     *Result // its outcome, shown again on reload
}

// sessions are the open sessions, by id.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func randomID() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("loyalty: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// open registers s with a fresh id; ErrFull when SessionsMax are open.
func (ss *sessions) open(s *session, now time.Time) (string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= SessionsMax {
		for id, o := range ss.m {
			if !now.Before(o.expires) {
				delete(ss.m, id)
			}
		}
		if len(ss.m) >= SessionsMax {
			return "", ErrFull
		}
	}
	s.id = randomID()
	s.expires = now.Add(SessionTTL)
	ss.m[s.id] = s
	return s.id, nil
}

// get returns a copy of an open session.
func (ss *sessions) get(id string, now time.Time) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok || !now.Before(s.expires) {
		return session{}, false
	}
	return *s, true
}

// claim marks a session's one submission as taken; false when it was taken already or the
// session is gone.
func (ss *sessions) claim(id string, now time.Time) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok || !now.Before(s.expires) || s.done {
		return session{}, false
	}
	s.done = true
	return *s, true
}

// finish records the submission's outcome.
func (ss *sessions) finish(id string, r Result) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		s.result = &r
	}
}

// release gives a claimed session back (the submission was refused as malformed: nothing ran).
func (ss *sessions) release(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok && s.result == nil {
		s.done = false
	}
}

// replay remembers SDK token ids until their tokens expire.
type replay struct {
	mu   sync.Mutex
	seen map[string]time.Time // jti -> when it may be forgotten
}

func newReplay() *replay { return &replay{seen: map[string]time.Time{}} }

// first records jti (partner-scoped) until forgetAt; false when it was seen already. ErrFull
// when JTIsMax are remembered and none may be forgotten yet.
func (r *replay) first(key string, forgetAt, now time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.seen[key]; ok && now.Before(at) {
		return false, nil
	}
	if len(r.seen) >= JTIsMax {
		for k, at := range r.seen {
			if !now.Before(at) {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= JTIsMax {
			return false, ErrFull
		}
	}
	r.seen[key] = forgetAt
	return true, nil
}
