package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// A batch in doubt is not answered at all (neither approved nor refused), the engine calls
// Fatal once and stops: what was queued behind it is refused with ErrStopped, and so is every
// later Submit. Nothing of the batch is merged into the State.
func TestBatchInDoubtIsNotAnsweredAndStopsTheEngine(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 50000)
	j := &journaltest.InDoubt{Journal: mem}
	fatal := make(chan error, 2)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour, Fatal: func(err error) { fatal <- err }},
		f.State, j, f.Env, func() time.Time { return f.Now }, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	if res, err := engine.Do(context.Background(), e, process(lt.Auth(lt.PAN, 100, "000001"))); err != nil || res.Action != authz.Approved {
		t.Fatalf("before the failure: %+v %v", res, err)
	}
	before := lt.Take(f.State, lt.CardID)

	release := hold(t, e) // the next two ops make one batch
	j.Arm()
	answered := make(chan error, 3)
	for i, stan := range []string{"000002", "000003"} {
		if err := answer(e, lt.Auth(lt.PAN, int64(200+i), stan), func(_ authz.Response, err error) { answered <- err }); err != nil {
			t.Fatal(err)
		}
	}
	release()
	select {
	case err := <-fatal:
		if !errors.Is(err, journal.ErrInDoubt) {
			t.Fatalf("Fatal with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fatal not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("the engine did not end: %v", err)
	}
	// The held op's batch (the hold itself) was durable; the in-doubt batch got no answer.
	select {
	case err := <-answered:
		t.Fatalf("an op of the batch in doubt was answered: %v", err)
	default:
	}
	if err := answer(e, lt.Auth(lt.PAN, 5, "000009"), nil); !errors.Is(err, engine.ErrStopped) {
		t.Fatalf("Submit after the failure: %v, want ErrStopped", err)
	}
	if d := lt.Diff(before, lt.Take(f.State, lt.CardID)); d != "" {
		t.Fatalf("the batch in doubt changed the state:\n%s", d)
	}
	if len(fatal) != 0 {
		t.Fatal("Fatal called twice")
	}
}
