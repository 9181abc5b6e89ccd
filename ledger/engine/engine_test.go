package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// clock is an injected engine clock.
type clock struct{ nanos atomic.Int64 }

func newClock(t time.Time) *clock        { c := &clock{}; c.nanos.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time          { return time.Unix(0, c.nanos.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// rig is an engine over a fixture whose set-up rows are in the Memory journal, so that a replay of
// the journal can be compared with the live state.
type rig struct {
	f     *lt.Fixture
	mem   historyJournal
	fj    *journaltest.Faulty
	e     *engine.Engine
	clock *clock
}

// historyJournal is the journal under a rig, which the State also reads its history from.
type historyJournal interface {
	journal.Journal
	ledger.History
}

// walMode runs the rigs over the Badger journal with its write-ahead log instead of the Memory
// journal (CARDSWITCH_TEST_JOURNAL=wal).
var walMode = os.Getenv("CARDSWITCH_TEST_JOURNAL") == "wal"

func newRig(t *testing.T, cfg engine.Config, loadedMinor int64, setup ...func(*lt.Fixture)) *rig {
	t.Helper()
	var f *lt.Fixture
	var mem historyJournal
	if walMode {
		bj, err := journal.OpenBadger(journal.Options{Dir: t.TempDir(), DataKey: make([]byte, 32), WAL: true,
			ValueLogGCInterval: -1, WALOptions: journal.WALOptions{SegmentBytes: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bj.Close() })                     // after the engine's Stop (cleanups run last first)
		if err := bj.Load(ledger.NewState(bj)); err != nil { // marks the store for History mode
			t.Fatal(err)
		}
		f, mem = lt.NewHistoryFixture(t, loadedMinor, bj), bj
	} else {
		f, mem = lt.NewMemoryJournalFixture(t, loadedMinor)
	}
	for _, fn := range setup { // before the engine takes the fixture's Env
		fn(f)
	}
	r := &rig{f: f, mem: mem, fj: &journaltest.Faulty{Inner: mem, FailAt: map[int]bool{}}, clock: newClock(f.Now)}
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = time.Hour // expiries only when the test asks (ExpireNow)
	}
	r.e = engine.New(cfg, f.State, r.fj, f.Env, r.clock.Now, nil, nil)
	r.e.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

func process(req *authz.Request) ledger.Authorize { return ledger.Authorize{Req: req} }

// call is a command of the tests only: a function applied inside the batch Tx.
type call[R any] func(tx *ledger.Tx, env *ledger.Env) R

func (call[R]) Kind() ledger.OpKind { return ledger.OpOther }

func (call[R]) Keys(*ledger.Keys) {}

func (f call[R]) Apply(tx *ledger.Tx, env *ledger.Env) R { return f(tx, env) }

// answer submits a money message whose answer goes to done.
func answer(e *engine.Engine, req *authz.Request, done func(authz.Response, error)) error {
	return engine.Submit(e, process(req), func(r authz.Response, err error) {
		if done != nil {
			done(r, err)
		}
	})
}

// hold blocks the engine goroutine inside an op until release is called: the ops submitted
// meanwhile wait in the queue and then make one batch.
func hold(t *testing.T, e *engine.Engine) (release func()) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	if err := engine.Submit(e, call[struct{}](func(*ledger.Tx, *ledger.Env) struct{} {
		close(started)
		<-rel
		return struct{}{}
	}), nil); err != nil {
		t.Fatal(err)
	}
	<-started
	return func() { close(rel) }
}

type result struct {
	v   authz.Response
	err error
}

// batch submits the requests as one engine batch and returns their results in order.
func (r *rig) batch(t *testing.T, reqs ...*authz.Request) []result {
	t.Helper()
	release := hold(t, r.e)
	out := make([]result, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		if err := answer(r.e, req, func(v authz.Response, err error) {
			out[i] = result{v, err}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	wg.Wait()
	return out
}

// replayEquals loads a fresh State from the journal and compares it with the live one.
func (r *rig) replayEquals(t *testing.T, cardIDs ...string) {
	t.Helper()
	st := ledger.NewState(r.mem)
	if err := r.mem.Load(st); err != nil {
		t.Fatal(err)
	}
	if d := lt.Diff(lt.Take(r.e.State(), cardIDs...), lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("replayed journal differs from the acknowledged state:\n%s", d)
	}
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
}

// Rule 2 (one serialization point for money): many goroutines authorizing on one hot balance
// never overspend it, and the approvals are exactly the holds.
func TestConcurrentAuthorizationsOnHotBalance(t *testing.T) {
	const loaded = 100_000
	r := newRig(t, engine.Config{MaxBatch: 64}, loaded)
	const workers, each = 32, 50
	var approvedMinor, approvals, declines atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				amount := int64(1 + (w*each+i)%97*13)
				req := lt.Auth(lt.PAN, amount, fmt.Sprintf("%03d%03d", w, i))
				v, err := engine.Do(context.Background(), r.e, process(req))
				if err != nil {
					t.Error(err)
					return
				}
				switch resp := v; resp.Action {
				case authz.Approved:
					approvedMinor.Add(amount)
					approvals.Add(1)
					if resp.AvailableMinor < 0 {
						t.Errorf("approval left available %d", resp.AvailableMinor)
					}
				case authz.InsufficientFunds:
					declines.Add(1)
				default:
					t.Errorf("unexpected answer %s", resp.Action)
				}
			}
		}()
	}
	wg.Wait()
	b, _ := r.e.State().Balance(lt.BalanceID)
	if b.HeldMinor != approvedMinor.Load() || b.CurrentMinor != loaded || b.AvailableMinor() < 0 {
		t.Fatalf("balance current %d held %d; approved %d in %d approvals", b.CurrentMinor, b.HeldMinor,
			approvedMinor.Load(), approvals.Load())
	}
	if declines.Load() == 0 {
		t.Fatal("the test never ran the balance dry; raise the load")
	}
	if auths, err := r.e.State().Auths(); err != nil || len(auths) != workers*each {
		t.Fatalf("%d auth records for %d requests (%v)", len(auths), workers*each, err)
	}
	if st := r.e.Stats(); st.Batches >= uint64(workers*each) {
		t.Logf("no batching happened (%d batches)", st.Batches)
	}
	r.replayEquals(t, lt.CardID)
}

// Rule 8 / contract §2 overload: a full queue is answered at once with ErrQueueFull, never blocks.
func TestQueueFull(t *testing.T) {
	r := newRig(t, engine.Config{QueueDepth: 2}, 1000)
	release := hold(t, r.e)
	var done sync.WaitGroup
	for i := range 2 {
		done.Add(1)
		if err := answer(r.e, lt.Auth(lt.PAN, 1, fmt.Sprintf("00000%d", i)),
			func(authz.Response, error) { done.Done() }); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	start := time.Now()
	err := answer(r.e, lt.Auth(lt.PAN, 1, "000009"), nil)
	if !errors.Is(err, engine.ErrQueueFull) {
		t.Fatalf("third op: %v, want ErrQueueFull", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("a full queue blocked the caller")
	}
	if _, err := engine.Do(context.Background(), r.e, process(lt.Auth(lt.PAN, 1, "000010"))); !errors.Is(err, engine.ErrQueueFull) {
		t.Fatalf("Do on a full queue: %v", err)
	}
	if st := r.e.Stats(); st.Rejected != 2 || st.QueueDepth != 2 {
		t.Fatalf("stats %+v, want 2 rejected and 2 queued", st)
	}
	release()
	done.Wait()
	r.f.State = r.e.State()
	r.f.ExpectBalance(lt.BalanceID, 1000, 2)
}

// Stop stops accepting ops, applies and answers every op already queued, then returns.
func TestStopDrains(t *testing.T) {
	r := newRig(t, engine.Config{MaxBatch: 3}, 1000)
	release := hold(t, r.e)
	var answered atomic.Int32
	for i := range 10 {
		if err := answer(r.e, lt.Auth(lt.PAN, 10, fmt.Sprintf("0000%02d", i)),
			func(v authz.Response, err error) {
				if err == nil && v.Action == authz.Approved {
					answered.Add(1)
				}
			}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.e.Stop(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	accepted := int64(0) // probes that raced ahead of Stop are queued and applied too
	for {
		err := answer(r.e, lt.Auth(lt.PAN, 10, fmt.Sprintf("9%05d", accepted)), nil)
		if err == engine.ErrStopped {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		if time.Now().After(deadline) {
			t.Fatal("Submit still accepted ops after Stop")
		}
		time.Sleep(time.Millisecond)
	}
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if answered.Load() != 10 {
		t.Fatalf("%d of 10 queued ops answered by Stop", answered.Load())
	}
	b, _ := r.e.State().Balance(lt.BalanceID)
	if want := 100 + 10*accepted; b.HeldMinor != want {
		t.Fatalf("held %d after drain, want %d", b.HeldMinor, want)
	}
	r.replayEquals(t, lt.CardID)
}

// Persist before reply, with an injected write failure (Pebble errorfs style): every op of the
// failed batch gets the error and changes nothing; replaying the journal gives exactly the
// acknowledged state.
func TestFailedCommitRefusesWholeBatch(t *testing.T) {
	r := newRig(t, engine.Config{}, 10000)
	r.fj.FailAt[2] = true
	a1 := lt.Auth(lt.PAN, 1000, "000001")
	res := r.batch(t, a1, lt.Auth(lt.PAN, 1000, "000002"))
	for _, x := range res {
		if x.err != nil || x.v.Action != authz.Approved {
			t.Fatalf("batch 1: %+v", x)
		}
	}
	acked := lt.Take(r.e.State(), lt.CardID)

	// Batch 2 fails: an authorization, a completion, a reversal before its original, a lock.
	release := hold(t, r.e)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	record := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		wg.Done()
	}
	wg.Add(5)
	for _, req := range []*authz.Request{lt.Auth(lt.PAN, 500, "000003"), lt.FollowUp("0220", a1, 900, "000004"),
		lt.FollowUp("0400", lt.Auth(lt.PAN, 7, "000050"), 7, "000005")} {
		answer(r.e, req, func(_ authz.Response, err error) { record(err) })
	}
	engine.Submit(r.e, ledger.LockCard{CardID: lt.CardID, Reason: authz.LockLost},
		func(_ ledger.Result[ledger.Card], err error) { record(err) })
	engine.Submit(r.e, ledger.ExpireHolds{Max: 100}, func(_ int, err error) { record(err) })
	r.clock.Advance(30 * 24 * time.Hour) // the holds are due in the failing batch
	release()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, journaltest.ErrInjected) {
			t.Fatalf("op %d of the failed batch: err %v, want ErrInjected", i, err)
		}
	}
	if d := lt.Diff(acked, lt.Take(r.e.State(), lt.CardID)); d != "" {
		t.Fatalf("the failed batch changed the state:\n%s", d)
	}
	r.replayEquals(t, lt.CardID)

	// The engine goes on; the original whose reversal failed is now approved; the holds whose
	// release failed are released by the next expiry.
	res = r.batch(t, lt.Auth(lt.PAN, 7, "000050"))
	if res[0].err != nil || res[0].v.Action != authz.Approved {
		t.Fatalf("after the failure: %+v", res[0])
	}
	if err := r.e.ExpireNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := r.e.State().Balance(lt.BalanceID)
	if b.HeldMinor != 7 {
		t.Fatalf("held %d after expiry, want 7 (only the new hold)", b.HeldMinor)
	}
	r.replayEquals(t, lt.CardID)
	st := r.e.Stats()
	if st.Failures != 1 {
		t.Fatalf("stats %+v, want 1 failure", st)
	}
	// Every op is counted under its kind: the hold, 3+1+1 money messages, the lock, the expiry
	// of the failed batch and the expiry after it.
	if st.OpsByKind[ledger.OpAuthorize] != 6 || st.OpsByKind[ledger.OpLockCard] != 1 ||
		st.OpsByKind[ledger.OpExpireHolds] != 2 || st.OpsByKind[ledger.OpOther] != 3 {
		t.Fatalf("ops by kind %v", st.OpsByKind)
	}
	var sum uint64
	for _, n := range st.OpsByKind {
		sum += n
	}
	if sum != st.Ops {
		t.Fatalf("ops by kind sum to %d, ops %d", sum, st.Ops)
	}
}

// Full disk (FailAll): every batch fails and changes nothing until the disk recovers; then the
// engine works again without a restart.
func TestFullDiskThenRecover(t *testing.T) {
	r := newRig(t, engine.Config{}, 10000)
	res := r.batch(t, lt.Auth(lt.PAN, 1000, "000001"))
	if res[0].err != nil {
		t.Fatal(res[0].err)
	}
	acked := lt.Take(r.e.State(), lt.CardID)
	r.fj.SetFailAll(true)
	for i := range 5 {
		for _, x := range r.batch(t, lt.Auth(lt.PAN, 100, fmt.Sprintf("00010%d", i)), lt.Req("0120", "000000", lt.PAN, 50, fmt.Sprintf("00020%d", i))) {
			if !errors.Is(x.err, journaltest.ErrInjected) {
				t.Fatalf("full disk: %+v", x)
			}
		}
		_, err := engine.Do(context.Background(), r.e, ledger.Reload{BalanceID: lt.BalanceID, AmountMinor: 100})
		if !errors.Is(err, journaltest.ErrInjected) {
			t.Fatalf("reload on a full disk: %v", err)
		}
	}
	if d := lt.Diff(acked, lt.Take(r.e.State(), lt.CardID)); d != "" {
		t.Fatalf("failed batches changed the state:\n%s", d)
	}
	r.fj.SetFailAll(false)
	// The same requests, retried after recovery, are new to the ledger: nothing was remembered.
	for _, x := range r.batch(t, lt.Auth(lt.PAN, 100, "000100"), lt.Auth(lt.PAN, 1000, "000001")) {
		if x.err != nil || x.v.Action != authz.Approved {
			t.Fatalf("after recovery: %+v", x)
		}
	}
	b, _ := r.e.State().Balance(lt.BalanceID)
	if b.HeldMinor != 1100 {
		t.Fatalf("held %d, want 1100", b.HeldMinor)
	}
	r.replayEquals(t, lt.CardID)
}

// Holds expire on the engine's clock; ExpireNow releases due holds as a batch through the journal.
func TestEngineExpiry(t *testing.T) {
	r := newRig(t, engine.Config{HoldTTL: time.Hour}, 10000)
	r.batch(t, lt.Auth(lt.PAN, 1000, "000001"))
	r.clock.Advance(30 * time.Minute)
	r.batch(t, lt.Auth(lt.PAN, 2000, "000002"))
	r.clock.Advance(31 * time.Minute)
	if err := r.e.ExpireNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := r.e.State().Balance(lt.BalanceID)
	if b.HeldMinor != 2000 {
		t.Fatalf("held %d, want 2000 (the first hold expired)", b.HeldMinor)
	}
	r.replayEquals(t, lt.CardID)
}

// The engine's own expiry tick releases due holds without being asked.
func TestEngineExpiryTick(t *testing.T) {
	r := newRig(t, engine.Config{HoldTTL: time.Hour, ExpiryInterval: 5 * time.Millisecond}, 10000)
	r.batch(t, lt.Auth(lt.PAN, 1000, "000001"))
	r.clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := r.e.State().Balance(lt.BalanceID)
		if b.HeldMinor == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expiry tick never released the hold")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.replayEquals(t, lt.CardID)
}

func BenchmarkEngineBatch(b *testing.B) {
	f, mem := lt.NewMemoryJournalFixture(b, 1<<60)
	e := engine.New(engine.Config{ExpiryInterval: time.Hour}, f.State, mem, f.Env, nil, nil, nil)
	e.Start()
	defer e.Stop(context.Background())
	const inFlight = 256
	reqs := make([]*authz.Request, b.N)
	for i := range reqs {
		reqs[i] = lt.Auth(lt.PAN, 100, fmt.Sprintf("%06d", i%1000000))
		reqs[i].RRN = fmt.Sprintf("%012d", i)
		reqs[i].F7 = fmt.Sprintf("%010d", i/1000000)
	}
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		req := reqs[i]
		for {
			err := answer(e, req, func(authz.Response, error) { <-sem; wg.Done() })
			if err == nil {
				break
			}
			time.Sleep(time.Microsecond)
		}
	}
	wg.Wait()
	b.StopTimer()
	st := e.Stats()
	b.ReportMetric(float64(st.Ops)/float64(st.Batches), "ops/batch")
}

// Retention: on the expiry tick, replies and money-less closed auth records older than
// ReplyRetention are forgotten through the journal; records that moved money stay (they are the
// books), and so does a reply younger than the retention.
func TestEngineRetention(t *testing.T) {
	r := newRig(t, engine.Config{HoldTTL: time.Hour, ReplyRetention: 2 * time.Hour, ExpiryInterval: 5 * time.Millisecond}, 10000)
	expired := lt.Auth(lt.PAN, 1000, "000001")
	captured := lt.Auth(lt.PAN, 2000, "000002")
	r.batch(t, expired, captured, lt.Auth("5351100000009999", 10, "000003")) // the last: unknown card, declined
	r.batch(t, lt.FollowUp("0220", captured, 2000, "000004"))
	r.clock.Advance(3 * time.Hour)
	young := lt.Auth(lt.PAN, 5, "000005")
	r.batch(t, young)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := r.e.State().Counts()
		// Left: the captured record and the young one, each with its answer; the completion's
		// reply went.
		if c["replies"] == 0 && c["auths"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention never pruned: %v", c)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := r.e.State().Auth(ledger.OriginalKey("0100", "000002", captured.F7, captured.AcquirerID)); !ok {
		t.Fatal("the captured auth record (money moved) was forgotten")
	}
	st := ledger.NewState(r.mem)
	if err := r.mem.Load(st); err != nil {
		t.Fatal(err)
	}
	if c := st.Counts(); c["replies"] != 0 || c["auths"] != 2 {
		t.Fatalf("the journal still holds %v: deletions were not journaled", c)
	}
	r.replayEquals(t, lt.CardID)
	// A retransmission of the young message is still answered, from its auth record.
	if res := r.batch(t, young); res[0].v.Action != authz.Approved {
		t.Fatalf("retransmission: %+v", res[0])
	}
}
