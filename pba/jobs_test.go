package pba

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// flakyACS fails every call until healed.
type flakyACS struct {
	*LocalThreeDS
	mu     sync.Mutex
	broken bool
}

func (f *flakyACS) Enroll(ctx context.Context, r ThreeDSRecord) error {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return errors.New("acs down")
	}
	return f.LocalThreeDS.Enroll(ctx, r)
}

// Issue 18 item 6: a job step is durable. A failing 3-D Secure enrolment is retried with a
// back-off (each failure audited); a restart in between resumes it from the journal; a success
// deletes the step with its audit entry.
func TestJobStepsRetryAndSurviveRestart(t *testing.T) {
	h := newHarness(t)
	acs := &flakyACS{LocalThreeDS: NewLocalThreeDS(), broken: true}
	h.restart(Adapters{TokenService: h.tsp, ThreeDS: acs})
	sess, _ := h.pair("alice", "dev-1")
	tok := h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	h.jobs()
	j, ok := get[Job](stateView{h.eng.State()}, jobKey(jobACS, tok))
	if !ok || j.Attempts != 1 || j.LastError == "" || j.NextAt <= h.clock.Now().UnixNano() {
		t.Fatalf("failed step %+v", j)
	}
	h.jobs() // not due yet: no second attempt
	if j2, _ := get[Job](stateView{h.eng.State()}, jobKey(jobACS, tok)); j2.Attempts != 1 {
		t.Fatalf("attempted before its time: %+v", j2)
	}
	h.clock.Add(2 * time.Hour)
	h.jobs()
	if j2, _ := get[Job](stateView{h.eng.State()}, jobKey(jobACS, tok)); j2.Attempts != 2 {
		t.Fatalf("second attempt: %+v", j2)
	}
	// Crash and restart with the 3-D Secure server back: the step is still there and is made.
	healthy := NewLocalThreeDS()
	h.restart(Adapters{TokenService: h.tsp, ThreeDS: healthy})
	if _, ok := get[Job](stateView{h.eng.State()}, jobKey(jobACS, tok)); !ok {
		t.Fatal("job step lost in the restart")
	}
	h.clock.Add(2 * time.Hour)
	h.jobs()
	if _, ok := get[Job](stateView{h.eng.State()}, jobKey(jobACS, tok)); ok {
		t.Fatal("job step kept after success")
	}
	if _, ok := healthy.Enrolled(h.tokenTUR(tok)); !ok {
		t.Fatal("not enrolled after the restart")
	}
	pt, _ := get[PaymentToken](stateView{h.eng.State()}, tokenKey(tok))
	if !pt.Enrolled3DS {
		t.Fatal("enrolment not noted on the token")
	}
	var failed, done int
	h.mem.Audits(0, 1000, func(r *ledger.AuditRecord) bool {
		switch r.Action {
		case "pba.job.failed":
			failed++
		case "pba.job.done":
			done++
		}
		return true
	})
	if failed != 2 || done < 1 {
		t.Fatalf("audit trail: %d failed, %d done", failed, done)
	}
}

// A later change replaces a step not yet made: suspend then unsuspend is one call (ACTIVE).
func TestJobStepReplaced(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	tok := h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	h.jobs()
	h.server("suspendStaticToken", map[string]string{"paymentTokenId": tok})
	h.server("unsuspendStaticToken", map[string]string{"paymentTokenId": tok})
	h.jobs()
	h.tsp.mu.Lock()
	suspends := h.tsp.calls["SUSPENDED"]
	h.tsp.mu.Unlock()
	if suspends != 0 || h.tsp.State(h.tokenTUR(tok)) != "ACTIVE" {
		t.Fatalf("token service: %d suspends, state %s", suspends, h.tsp.State(h.tokenTUR(tok)))
	}
}

// Messages are announced through the push service (seed §1.7), once each.
func TestMessagesPushed(t *testing.T) {
	h := newHarness(t)
	push := NewLocalPush()
	h.restart(Adapters{TokenService: h.tsp, ThreeDS: h.acs, Push: push})
	sess, _ := h.pair("alice", "dev-1")
	h.registerAndDigitize(sess) // one mdesRemoteMessage
	h.jobs()
	h.jobs()
	if n := push.Pushes("fcm-dev-1"); n != 1 {
		t.Fatalf("pushes %d", n)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {30, jobBackoffMax}} {
		if got := backoff(tc.attempts, time.Second); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}
