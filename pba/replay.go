package pba

import (
	"encoding/binary"
	"time"

	"github.com/cardswitch/cardswitch/ledger"
)

// Replay protection that survives a restart. The verifier's in-memory table refuses a second use
// of a jti while the process runs; a restart would forget it, and signed data lives up to ten
// minutes. So every accepted jti is also written to the ledger ("jti/<iss>|<jti>", holding the
// time it may be forgotten) before the signed data is acted on: a replay after a restart finds
// the record and is refused. The job runner deletes records past their time, at most
// jtiSweepPerRun per run.

const jtiSweepPerRun = 1000

func jtiKey(issuer, jti string) string { return "jti/" + issuer + "|" + jti }

// errReplayed is a jti the ledger has seen: the signed data is refused as any invalid one.
var errReplayed = &ledger.Refusal{Kind: ledger.Conflict, Code: "JTI_USED", Message: "the signed data was used before"}

// useJTI records a jti until forgetAt; a jti already recorded (and not yet forgettable) is refused.
func useJTI(key string, forgetAt time.Time) command[bool] {
	return command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		if rec, ok := tx.PBA(key); ok && env.Now.Before(jtiForgetAt(rec.Data)) {
			return false, errReplayed
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(forgetAt.UnixNano()))
		tx.PutPBA(ledger.PBARecord{Key: key, Data: b[:]})
		return true, nil
	}}
}

func jtiForgetAt(data []byte) time.Time {
	if len(data) != 8 {
		return time.Time{} // not ours to keep: forgettable
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(data)))
}

// forgetJTIs deletes the jti records whose time has come.
func forgetJTIs(keys []string) command[bool] {
	return command[bool]{apply: func(tx *ledger.Tx, env *ledger.Env) (bool, *ledger.Refusal) {
		for _, k := range keys {
			if rec, ok := tx.PBA(k); ok && !env.Now.Before(jtiForgetAt(rec.Data)) {
				tx.DeletePBA(k)
			}
		}
		return true, nil
	}}
}

// sweepJTIs is the job runner's step that forgets expired jti records.
func (s *Service) sweepJTIs(st *ledger.State, now time.Time) {
	var due []string
	for _, rec := range st.PBAList("jti/") {
		if !now.Before(jtiForgetAt(rec.Data)) {
			due = append(due, rec.Key)
			if len(due) == jtiSweepPerRun {
				break
			}
		}
	}
	if len(due) > 0 {
		s.execLogged(forgetJTIs(due))
	}
}
