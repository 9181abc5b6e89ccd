package dispatch

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

// fullQueue is an engine whose queue is always full.
type fullQueue struct{}

func (fullQueue) Submit(engine.Op) error { return engine.ErrQueueFull }

// inline applies each op at once on a ledger with one funded card, as a durable batch would.
type inline struct {
	mu  sync.Mutex
	st  *ledger.State
	mem *journaltest.Memory // the State's history: every batch is committed to it
	env ledger.Env
	err error // a journal failure: Done gets it and nothing is merged
}

func (e *inline) Submit(op engine.Op) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := e.st.Begin()
	env := e.env
	env.Now = time.Now()
	var k ledger.Keys
	op.Keys(&k)
	if err := tx.Load(&k, &env); err != nil {
		tx.Rollback()
		op.Done(err)
		return nil
	}
	op.Apply(tx, &env)
	changes := tx.Changes(nil)
	err := e.err
	if err == nil {
		err = tx.Err()
	}
	if err == nil {
		err = e.mem.Commit(changes)
	}
	if err != nil {
		tx.Rollback()
		op.Done(err)
		return nil
	}
	tx.Commit()
	op.Done(nil)
	return nil
}

const testPAN = "5351100000000018"

func newInline(t testing.TB) *inline {
	mem := journaltest.NewMemory()
	st := ledger.NewState(mem)
	e := &inline{st: st, mem: mem, env: ledger.Env{PANHasher: func(p string) string { return p }}}
	tx := st.Begin()
	env := e.env
	env.Now = time.Now()
	tx.CreateCustomer(ledger.Customer{ID: "cu"}, &env)
	tx.SetKYC("cu", ledger.KYCVerified)
	tx.CreateBalance(ledger.Balance{ID: "ba", CustomerID: "cu", Currency: "EUR"}, &env)
	tx.Reload("ba", 10000, "", &env)
	if _, r := tx.IssueCard(ledger.Card{ID: "ca", BalanceID: "ba", Program: "p", Type: ledger.CardVirtual,
		PANHash: testPAN, PAN: testPAN, ExpiryYYMM: "4912", PSN: "00"}, &env); r != nil {
		t.Fatal(r)
	}
	if err := mem.Commit(tx.Changes(nil)); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	return e
}

func auth(t testing.TB, stan string) []byte {
	msg, err := codec.BuildRequest(&authz.Request{MTI: "0100", PAN: testPAN, ProcessingCode: "000000",
		AmountMinor: 100, HasAmount: true, F7: "1122101530", STAN: stan, AcquirerID: "1234", RRN: "000000" + stan,
		CurrencyNum: "978"})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// handle sends one frame and returns the answer (nil: dropped).
func handle(t *testing.T, d *Dispatcher, frame []byte) *codec.ResponseMessage {
	t.Helper()
	got := make(chan []byte, 1)
	d.HandleFrame(server.ConnInfo{ID: 1}, frame, func(b []byte) { got <- b })
	select {
	case b := <-got:
		if b == nil {
			return nil
		}
		r, err := codec.DecodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
		return nil
	}
}

// Contract §2: when the engine cannot take the request the answer is 96 at once, not silence.
func TestQueueFullAnswers96AtOnce(t *testing.T) {
	d := New(fullQueue{}, nil, nil, Config{})
	defer d.Close()
	if r := handle(t, d, auth(t, "000001")); r.MTI != "0110" || r.ResponseCode != "96" {
		t.Fatalf("queue full: %s 39=%s", r.MTI, r.ResponseCode)
	}
	if d.Stats().Overloaded != 1 {
		t.Fatalf("overload not counted: %+v", d.Stats())
	}
}

// A batch that could not be made durable is answered 96.
func TestJournalFailureAnswers96(t *testing.T) {
	e := newInline(t)
	e.err = errors.New("disk full")
	d := New(e, nil, nil, Config{})
	defer d.Close()
	if r := handle(t, d, auth(t, "000002")); r.ResponseCode != "96" {
		t.Fatalf("journal failure: 39=%s", r.ResponseCode)
	}
}

// Network management is answered in place; malformed messages get 30 or are dropped.
func TestNetworkManagementAndMalformed(t *testing.T) {
	d := New(fullQueue{}, nil, nil, Config{}) // never reaches the engine
	defer d.Close()
	echo, _ := codec.BuildRequest(&authz.Request{MTI: "0800", F7: "1122101530", STAN: "000003", NetworkCode: "301"})
	if r := handle(t, d, echo); r.MTI != "0810" || r.ResponseCode != "00" {
		t.Fatalf("echo: %s 39=%s", r.MTI, r.ResponseCode)
	}
	bad := auth(t, "000004")
	bad[len(bad)-1] = 'X' // field 49, numeric
	if r := handle(t, d, bad); r.ResponseCode != "30" || r.STAN != "000004" {
		t.Fatalf("malformed: 39=%s stan=%s", r.ResponseCode, r.STAN)
	}
	if r := handle(t, d, []byte("junk")); r != nil {
		t.Fatalf("unreadable message answered %s", r.MTI)
	}
	if d.Stats().Dropped != 1 {
		t.Fatalf("drop not counted: %+v", d.Stats())
	}
}

// An engine that answers after Close (its Stop timed out at shutdown) gets its answer written on
// its own goroutine instead of sending on the closed encoder queue (a panic before).
func TestAnswerAfterCloseIsWrittenInPlace(t *testing.T) {
	d := New(newInline(t), nil, nil, Config{})
	d.Close()
	if r := handle(t, d, auth(t, "000009")); r.MTI != "0110" || r.ResponseCode != "00" {
		t.Fatalf("after Close: %s 39=%s", r.MTI, r.ResponseCode)
	}
}
