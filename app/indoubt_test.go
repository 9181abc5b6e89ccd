package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
)

// A batch in doubt is never answered: the switch goes not ready at once and Run returns the
// failure (serve exits 1 for its supervisor to restart it); the authorization's connection is
// closed without an answer.
func TestBatchInDoubtStopsTheSwitchWithoutAnswering(t *testing.T) {
	cfg := testConfig(t)
	cfg.ISO.DrainTimeout = 100 * time.Millisecond // the unanswered request is not waited for long
	fl := &journaltest.InDoubt{}
	a := app.New(cfg, slog.New(slog.DiscardHandler), app.Options{WrapJournal: func(j journal.Journal) journal.Journal {
		fl.Journal = j
		return fl
	}})
	ran := make(chan error, 1)
	go func() { ran <- a.Run(context.Background()) }()
	select {
	case <-a.Started():
	case err := <-ran:
		t.Fatalf("start: %v", err)
	}
	c, err := net.Dial("tcp", a.ISOAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fl.Arm()
	answered := make(chan error, 1)
	go func() { answered <- exchange(c, authFrame(t)) }()
	select {
	case err := <-ran:
		if !errors.Is(err, journal.ErrInDoubt) {
			t.Fatalf("Run returned %v, want the batch in doubt", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the switch kept running after a batch in doubt")
	}
	if a.Ready() {
		t.Fatal("still ready after a batch in doubt")
	}
	if err := <-answered; err == nil {
		t.Fatal("the authorization of the batch in doubt was answered")
	}
}
