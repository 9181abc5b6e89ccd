package e2e

import (
	"log/slog"
	"testing"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// A journal that cannot write (a full disk) makes the switch answer 96 and change nothing; when
// the disk has room again the switch recovers by itself.
func TestFullDiskAnswers96AndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var faulty *journaltest.Faulty
	a, err := app.StartWith(cfg, slog.New(slog.DiscardHandler), app.Options{WrapJournal: func(j journal.Journal) journal.Journal {
		faulty = &journaltest.Faulty{Inner: j}
		return faulty
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, dir: dir, hash: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	s.connect()
	t.Cleanup(s.stop)
	c := s.provision(10000)
	ok := s.req("0100", "000000", c, 1000)
	if r := s.send(ok); r.ResponseCode != "00" {
		t.Fatal(r.ResponseCode)
	}

	faulty.SetFailAll(true)
	refused := s.req("0100", "000000", c, 2000)
	if r := s.send(refused); r.ResponseCode != "96" {
		t.Fatalf("full disk: 39=%s, want 96", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 1000 {
		t.Fatalf("refused request changed the balance: %+v", b)
	}

	faulty.SetFailAll(false)
	// The refused request was never booked: its retransmission is decided afresh.
	if r := s.send(refused); r.ResponseCode != "00" {
		t.Fatalf("after recovery: 39=%s", r.ResponseCode)
	}
	if b := s.balance(c.balanceID); b.HeldMinor != 3000 {
		t.Fatalf("after recovery: %+v", b)
	}
}
