package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/notify"
)

type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
	fail   int // answer 500 to this many requests first
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(500)
		return
	}
	t := strings.TrimPrefix(strings.Split(req.Header.Get("Cardswitch-Signature"), ",")[0], "t=")
	var ts int64
	for _, c := range t {
		ts = ts*10 + int64(c-'0')
	}
	if req.Header.Get("Cardswitch-Signature") != notify.Signature([]byte("s3cret"), ts, body) {
		w.WriteHeader(400)
		return
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	r.bodies = append(r.bodies, m)
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.bodies) }

func commit(t *testing.T, mem *journaltest.Memory, events ...ledger.Event) {
	t.Helper()
	var ch []ledger.Change
	for i := range events {
		ch = append(ch, ledger.Change{Table: ledger.TableEvent, Key: ledger.EventKey(events[i].Seq), Row: &events[i]})
	}
	if err := mem.Commit(ch); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Events committed before the outbox opened and after are delivered, signed, with retries; the
// delivery state survives a restart, and an event without a record is delivered again.
func TestOutboxDeliversJournalEvents(t *testing.T) {
	rcv := &receiver{fail: 1}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	mem := journaltest.NewMemory()
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC).UnixNano()
	commit(t, mem, ledger.Event{Seq: 1, Type: ledger.EventAuthorizationDecided, AtUnixNano: at, CardID: "crd_1",
		BalanceID: "bal_1", Currency: "EUR", MTI: "0100", Kind: authz.KindAuthorization, AmountMinor: 1234, Action: authz.Approved})
	cfg := notify.Config{URL: srv.URL, Secret: []byte("s3cret"), Path: filepath.Join(t.TempDir(), "deliveries.log"),
		BackoffBase: 10 * time.Millisecond}
	o, err := notify.Open(cfg, mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	o.Start()
	commit(t, mem, ledger.Event{Seq: 2, Type: ledger.EventCardStateChanged, AtUnixNano: at, CardID: "crd_1",
		BalanceID: "bal_1", PreviousState: ledger.CardActive, State: ledger.CardLocked, LockReason: 3, Source: "admin", Actor: "eve"})
	o.Published(2)
	waitFor(t, func() bool { return rcv.count() == 2 })
	waitFor(t, func() bool { return len(o.List(0, 10, notify.StatusDelivered)) == 2 })
	rcv.mu.Lock()
	first := rcv.bodies[0]
	if first["type"] != "authorization.decided" { // the first attempt failed: retried after the second event
		first = rcv.bodies[1]
	}
	rcv.mu.Unlock()
	data := first["data"].(map[string]any)
	if first["type"] != "authorization.decided" || data["amount"] != "12.34" || data["approved"] != true ||
		data["at"] != "2026-03-15T12:00:00Z" || data["actionCode"] != authz.Approved.String() {
		t.Fatalf("delivered %v", first)
	}
	if d := o.List(0, 10, ""); d[1].Attempts+d[0].Attempts != 3 {
		t.Fatalf("attempts %+v", d)
	}
	o.Close()

	// A third event committed while the outbox was down is delivered after the restart; the
	// delivered ones are not sent again.
	commit(t, mem, ledger.Event{Seq: 3, Type: ledger.EventBalanceLow, AtUnixNano: at, BalanceID: "bal_1", Currency: "JPY",
		AvailableMinor: 5, ThresholdMinor: 100})
	o, err = notify.Open(cfg, mem, 3)
	if err != nil {
		t.Fatal(err)
	}
	o.Start()
	defer o.Close()
	waitFor(t, func() bool { return rcv.count() == 3 })
	time.Sleep(50 * time.Millisecond)
	if rcv.count() != 3 {
		t.Fatalf("%d deliveries, want 3", rcv.count())
	}
	rcv.mu.Lock()
	low := rcv.bodies[2]["data"].(map[string]any)
	rcv.mu.Unlock()
	if low["available"] != "5" || low["threshold"] != "100" {
		t.Fatalf("balance.low %v", low)
	}
	if n := o.Replay(nil, 2); n != 2 {
		t.Fatalf("replayed %d", n)
	}
	waitFor(t, func() bool { return rcv.count() == 5 })
}

// A tsh.otp event's OTP is hidden from listings and forgotten once delivered.
func TestRedactedOTP(t *testing.T) {
	ev := notify.Event{Type: "tsh.otp", Data: json.RawMessage(`{"cardId":"c","otpValue":"123456","type":"SMS"}`)}
	got := notify.Redacted(ev)
	if strings.Contains(string(got.Data), "123456") || !strings.Contains(string(got.Data), `"otpValue":"[redacted]"`) ||
		!strings.Contains(string(got.Data), `"cardId":"c"`) {
		t.Fatalf("%s", got.Data)
	}
	if string(ev.Data) != `{"cardId":"c","otpValue":"123456","type":"SMS"}` {
		t.Fatal("the original was changed")
	}
	other := notify.Event{Type: "card.state_changed", Data: json.RawMessage(`{"otpValue":"x"}`)}
	if string(notify.Redacted(other).Data) != `{"otpValue":"x"}` {
		t.Fatal("another type redacted")
	}
	if bad := notify.Redacted(notify.Event{Type: "tsh.otp", Data: json.RawMessage(`not json`)}); string(bad.Data) != `{}` {
		t.Fatalf("unreadable data kept: %s", bad.Data)
	}
}

// An event written but not yet published (a pipelined engine merges a batch before its record
// is durable) is not delivered until Published says its batch is durable.
func TestOutboxDeliversOnlyPublishedEvents(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	mem := journaltest.NewMemory()
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC).UnixNano()
	cfg := notify.Config{URL: srv.URL, Secret: []byte("s3cret"), Path: filepath.Join(t.TempDir(), "deliveries.log"),
		BackoffBase: 10 * time.Millisecond}
	o, err := notify.Open(cfg, mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	o.Start()
	defer o.Close()
	for seq := uint64(1); seq <= 2; seq++ {
		commit(t, mem, ledger.Event{Seq: seq, Type: ledger.EventBalanceLow, AtUnixNano: at, BalanceID: "bal_1",
			Currency: "EUR", AvailableMinor: 5, ThresholdMinor: 100})
	}
	o.Published(1) // the batch of event 1 is durable; event 2's is not yet
	waitFor(t, func() bool { return rcv.count() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := rcv.count(); n != 1 || len(o.List(0, 10, "")) != 1 {
		t.Fatalf("%d deliveries and %d listed before event 2 was published, want 1", n, len(o.List(0, 10, "")))
	}
	o.Published(2)
	waitFor(t, func() bool { return rcv.count() == 2 })
}
