package e2e

import (
	"encoding/base64"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// agedClock is the engine's clock in these tests: the real time moved on by an offset the test
// sets, so that records age by days in seconds.
type agedClock struct{ offset atomic.Int64 }

func (c *agedClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *agedClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// startAgedSwitch is startSwitchIn with the engine on clk and the given engine.journal.
func startAgedSwitch(t *testing.T, dir string, clk *agedClock, journal string) *sw {
	t.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine.Journal = journal
	a, err := app.StartWith(cfg, slog.New(slog.DiscardHandler), app.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, dir: dir, hash: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	s.stan.Store(time.Now().UnixNano() % 500000)
	s.connect()
	t.Cleanup(s.stop)
	return s
}

// waitFor polls cond, on the engine's one-second expiry tick, for at most ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An approval captured and older than engine.archiveAfter (30 days by default) leaves the hot
// store for <dataDir>/archive, and GET /secure/cards/{id}/transactions still lists it, with the
// same fields, merged in time order with a newer hot one; so after a restart. With either journal.
func TestArchivedApprovalStaysInHistory(t *testing.T) {
	for _, j := range []string{config.JournalBadger, config.JournalWAL} {
		t.Run(j, func(t *testing.T) { archivedApprovalStaysInHistory(t, j) })
	}
}

func archivedApprovalStaysInHistory(t *testing.T, journal string) {
	dir := t.TempDir()
	clk := &agedClock{}
	s := startAgedSwitch(t, dir, clk, journal)
	c := s.provision(100000)
	old := s.req("0100", "000000", c, 1234)
	if r := s.send(old); r.ResponseCode != "00" {
		t.Fatalf("authorization: %s", r.ResponseCode)
	}
	if r := s.send(s.followUp("0220", old, 1234)); r.ResponseCode != "00" {
		t.Fatalf("completion: %s", r.ResponseCode)
	}
	oldKey := ledger.OriginalKey("0100", old.STAN, old.F7, old.AcquirerID)
	before := s.history(c.id)
	if len(before) != 1 {
		t.Fatalf("history before archiving: %v", before)
	}

	st := s.app.Engine().State()
	clk.Advance(8 * 24 * time.Hour) // past the reply retention: handed to the archiving index
	waitFor(t, "retention", func() bool { return st.ArchivingPending() })
	clk.Advance(31 * 24 * time.Hour) // past engine.archiveAfter
	waitFor(t, "archiving", func() bool { _, hot := st.Auth(oldKey); return !hot })
	if n := st.Counts()["auths"]; n != 0 {
		t.Fatalf("hot auth records after archiving: %d", n)
	}

	young := s.req("0100", "000000", c, 99)
	if r := s.send(young); r.ResponseCode != "00" {
		t.Fatalf("authorization: %s", r.ResponseCode)
	}
	after := s.history(c.id)
	if len(after) != 2 {
		t.Fatalf("history after archiving: %v", after)
	}
	if after[1]["transactionId"] != base64.RawURLEncoding.EncodeToString([]byte(oldKey)) {
		t.Fatalf("the archived approval is not the older item: %v", after)
	}
	for _, f := range []string{"transactionId", "state", "amount", "posted", "createdAt", "merchant", "maskedPan", "actionCode"} {
		if after[1][f] != before[0][f] {
			t.Fatalf("field %s of the archived approval: %v, was %v", f, after[1][f], before[0][f])
		}
	}
	if after[1]["state"] != "CAPTURED" || after[0]["state"] != "OPEN" {
		t.Fatalf("states: %v", after)
	}

	s.stop()
	s2 := startAgedSwitch(t, dir, clk, journal)
	if again := s2.history(c.id); len(again) != 2 || again[1]["transactionId"] != after[1]["transactionId"] {
		t.Fatalf("history after a restart: %v", again)
	}
}

// history is the card's transaction history (one page).
func (s *sw) history(cardID string) []map[string]any {
	s.t.Helper()
	code, body := s.api("GET", "/secure/cards/"+cardID+"/transactions", nil)
	if code != 200 {
		s.t.Fatalf("history: %d %v", code, body)
	}
	raw, _ := body["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		out = append(out, it.(map[string]any))
	}
	return out
}
