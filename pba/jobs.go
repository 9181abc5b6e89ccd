package pba

import (
	"context"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Jobs (seed §5). Every outgoing call that changes something at an outside party is a job step:
// a j/ record written in the batch of the change that asks for it, carried out by the runner
// after the batch is durable, and deleted (or rescheduled with a back-off) in a batch of its own
// with its audit entry. A crash between the call and that batch repeats the call on the next
// start (at least once; the adapters take a repeated call as the same call). One record per
// token and party holds the state the party must reach (the token service: ACTIVE, SUSPENDED or
// DELETED; the 3-D Secure server: ENROLLED, UPDATED or UNENROLLED), so a suspend followed by an
// unsuspend before the runner came round makes one call, not two.
//
// The cleanup jobs need no records of their own: the pc/ and pp/ marks of static tokens waiting
// for their CVC2 and of device tokens waiting for provisioning are what the runner scans.

// Job parties and targets.
const (
	jobTSP = "tsp"
	jobACS = "acs"

	targetActive     = "ACTIVE"
	targetSuspended  = "SUSPENDED"
	targetDeleted    = "DELETED"
	targetEnrolled   = "ENROLLED"
	targetUpdated    = "UPDATED"
	targetUnenrolled = "UNENROLLED"
)

// Limits of the job runner.
const (
	// jobBackoffMax caps the delay between attempts of a failing job step; steps are retried
	// until they succeed (each failure is in the audit trail and the log).
	jobBackoffMax = 5 * time.Minute
	// jobsPerRun bounds the job steps one run carries out; the rest wait for the next run.
	jobsPerRun = 256
	// callTimeout bounds one call to an outside party.
	callTimeout = 10 * time.Second
)

// Job is one pending job step.
type Job struct {
	Party     string `json:"party"`
	TokenID   string `json:"tokenId"`
	Target    string `json:"target"`
	Version   int    `json:"version"` // bumped by every setJob: a finished step deletes only its own version
	Attempts  int    `json:"attempts"`
	NextAt    int64  `json:"nextAt"` // Unix nanoseconds
	CreatedAt int64  `json:"createdAt"`
	LastError string `json:"lastError,omitempty"`
}

func jobKey(party, tokenID string) string { return "j/" + party + "/" + tokenID }

// setJob asks for a job step in the batch. For the 3-D Secure server an update does not replace
// an enrolment not yet made (the enrolment sends the current contact data anyway).
func setJob(tx *ledger.Tx, party, tokenID, target string, now time.Time) {
	key := jobKey(party, tokenID)
	j, ok := get[Job](txView{tx}, key)
	if ok && party == jobACS && target == targetUpdated && j.Target != targetUpdated {
		return
	}
	v := 1
	if ok {
		v = j.Version + 1
	}
	put(tx, key, Job{Party: party, TokenID: tokenID, Target: target, Version: v, NextAt: now.UnixNano(),
		CreatedAt: now.UnixNano()})
}

// backoff is the delay before attempt n+1 of a failing step.
func backoff(attempts int, base time.Duration) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 1; i < attempts && d < jobBackoffMax; i++ {
		d *= 2
	}
	return min(d, jobBackoffMax)
}

var jobActor = Caller{Name: "pba-jobs", Channel: "pba-job"}

// finishJob records a job step's outcome: done (the record deleted, the token's enrolment noted)
// or failed (attempts counted, the next attempt scheduled). A record changed since the step was
// read (another version) is left alone: its own step follows.
func finishJob(key string, j Job, callErr error, now time.Time, base time.Duration) command[bool] {
	return command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		cur, ok := get[Job](txView{tx}, key)
		if !ok || cur.Version != j.Version {
			return false, nil
		}
		if callErr != nil {
			cur.Attempts++
			cur.NextAt = now.Add(backoff(cur.Attempts, base)).UnixNano()
			cur.LastError = callErr.Error()
			put(tx, key, cur)
			tx.Audit(auditRecord(jobActor, env.Now, "pba.job.failed", "paymentToken", j.TokenID,
				map[string]any{"party": j.Party, "target": j.Target, "attempts": cur.Attempts, "error": cur.LastError}))
			return false, nil
		}
		tx.DeletePBA(key)
		if j.Party == jobACS {
			if pt, ok := get[PaymentToken](txView{tx}, tokenKey(j.TokenID)); ok {
				pt.Enrolled3DS = j.Target != targetUnenrolled
				put(tx, tokenKey(pt.ID), pt)
			}
		}
		tx.Audit(auditRecord(jobActor, env.Now, "pba.job.done", "paymentToken", j.TokenID,
			map[string]any{"party": j.Party, "target": j.Target, "attempts": cur.Attempts + 1}))
		return true, nil
	}}
}

// confirmCVC2 records the static token's CVC2 that the account processing platform made: it is
// stored on the token's account card (sealed at rest like every card's CVC2), which the CVC2
// check of e-commerce authorizations reads, and the token becomes ACTIVE (unless suspended
// meanwhile).
func confirmCVC2(id string, cvc2 tokenvault.CVC2) command[bool] {
	return command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		pt, lt, r := loadToken(tx, id)
		if r != nil || lt.State == authz.TokenDeleted || pt.CVC2Confirmed {
			return false, nil
		}
		if _, r := tx.SetCardSecret(pt.CardID, cvc2.Reveal(), ""); r != nil {
			panic("pba: account card of a live token: " + r.Error())
		}
		pt.CVC2Confirmed = true
		put(tx, tokenKey(id), pt)
		tx.DeletePBA(pendingCVC2Key(id))
		if lt.State == authz.TokenInactive {
			if _, r := tx.SetTokenState(id, authz.TokenActive); r != nil {
				panic("pba: activation of a live token: " + r.Error())
			}
		}
		tx.Audit(auditRecord(jobActor, env.Now, "pba.static_token.cvc2_confirmed", "paymentToken", id, nil))
		return true, nil
	}}
}

// cleanupToken deletes a token still waiting (for its CVC2 or its provisioning) when its grace
// period is over; a token that got there meanwhile is left alone.
func cleanupToken(id, pendingKey, by string) command[bool] {
	return command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		if _, ok := tx.PBA(pendingKey); !ok {
			return false, nil
		}
		pt, r := changeToken(tx, env, id, "", ChangeDelete, by)
		if r != nil {
			return false, nil
		}
		tx.Audit(auditRecord(jobActor, env.Now, "pba.token.deleted", "paymentToken", id, tokenAudit(pt, authz.TokenDeleted)))
		return true, nil
	}}
}

// RunJobs carries out the due job steps and the cleanup scans once. The runner goroutine calls
// it every jobInterval; tests call it directly.
func (s *Service) RunJobs(ctx context.Context) {
	now := s.clock()
	st := s.eng.State()
	n := 0
	for _, rec := range st.PBAList("j/") {
		if n == jobsPerRun || ctx.Err() != nil {
			return
		}
		j, ok := get[Job](stateView{st}, rec.Key)
		if !ok || j.NextAt > now.UnixNano() {
			continue
		}
		n++
		if !s.durable() { // the job read what a crash could take back: run it once durable
			return
		}
		err := s.runJob(ctx, st, j)
		if err != nil {
			s.log.Warn("pba job step failed", "party", j.Party, "target", j.Target, "token", j.TokenID, "err", err)
		}
		if _, aerr := s.exec(finishJob(rec.Key, j, err, s.clock(), s.cfg.JobInterval)); aerr != nil {
			s.log.Warn("pba job outcome not recorded", "token", j.TokenID, "err", aerr.Message)
			return
		}
	}
	for _, rec := range st.PBAList("pc/") {
		if ctx.Err() != nil || !s.durable() {
			return
		}
		s.checkCVC2(ctx, st, lastPart(rec.Key), now)
	}
	s.sweepJTIs(st, now)
	s.autoReplenish()
	s.newTransactions(ctx)
	s.pushMessages(ctx)
	for _, rec := range st.PBAList("pp/") {
		id := lastPart(rec.Key)
		pt, ok := get[PaymentToken](stateView{st}, tokenKey(id))
		if ok && now.Sub(time.Unix(0, pt.CreatedAt)) > s.cfg.ProvisioningGracePeriod {
			s.execLogged(cleanupToken(id, rec.Key, "job_not_provisioned"))
		}
	}
}

// checkCVC2 asks the account processing platform for a static token's CVC2 (seed: "Remove
// Static Tokens Without CVC2"): confirmed when it has one, deleted once the grace period is over.
func (s *Service) checkCVC2(ctx context.Context, st *ledger.State, id string, now time.Time) {
	pt, ok := get[PaymentToken](stateView{st}, tokenKey(id))
	lt, ok2 := st.Token(id)
	if !ok || !ok2 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	cvc2, found, err := s.adapters.AccountPlatform.SearchToken(cctx, StaticTokenRef{TUR: pt.TUR, Program: s.programOf(pt.Institution),
		TokenPAN: tokenvault.PAN(lt.PAN), ExpiryYYMM: lt.ExpiryYYMM, CreatedAt: time.Unix(0, pt.CreatedAt)})
	cancel()
	switch {
	case err != nil:
		s.log.Warn("pba account platform searchToken failed", "token", id, "err", err)
	case found:
		s.execLogged(confirmCVC2(id, cvc2))
	case now.Sub(time.Unix(0, pt.CreatedAt)) > s.cfg.CVC2GracePeriod:
		s.execLogged(cleanupToken(id, pendingCVC2Key(id), "job_no_cvc2"))
	}
}

// runJob makes a job step's call.
func (s *Service) runJob(ctx context.Context, st *ledger.State, j Job) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	pt, ok := get[PaymentToken](stateView{st}, tokenKey(j.TokenID))
	if !ok {
		return nil // nothing left to tell anyone about
	}
	switch j.Party {
	case jobTSP:
		return s.adapters.TokenService.SetState(ctx, pt.TUR, j.Target)
	case jobACS:
		if j.Target == targetUnenrolled {
			return s.adapters.ThreeDS.Unenroll(ctx, pt.TUR)
		}
		u, _ := get[User](stateView{st}, userKey(pt.Institution, pt.Sub))
		rec := ThreeDSRecord{TUR: pt.TUR, TokenLast4: pt.Last4, IBANID: pt.IBANID, Phone: u.Phone, Email: u.Email}
		if j.Target == targetEnrolled {
			return s.adapters.ThreeDS.Enroll(ctx, rec)
		}
		return s.adapters.ThreeDS.Update(ctx, rec)
	}
	return nil
}

// runJobsLoop is the job runner goroutine: it runs the jobs every jobInterval until stop.
func (s *Service) runJobsLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.JobInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		s.RunJobs(ctx)
		select {
		case <-stop:
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}
