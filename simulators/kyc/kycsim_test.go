package kycsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/kyc"
)

type delivered struct {
	res kyc.Result
	err error // signature check
}

// receiver is cardswitch's callback as far as the simulator sees it: it checks the signature
// and reports every result on a channel (the tests wait on it, never on time).
func receiver(t *testing.T, secret []byte, status *atomic.Int32) (*httptest.Server, chan delivered) {
	ch := make(chan delivered, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		var res kyc.Result
		json.Unmarshal(b.Bytes(), &res)
		ch <- delivered{res: res, err: kyc.Verify(secret, r.Header.Get(kyc.SignatureHeader), b.Bytes(), time.Now())}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func start(t *testing.T, sim *Simulator, callback, ref, lastName string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"reference": ref, "customerId": "cus_" + ref, "firstName": "Ada",
		"lastName": lastName, "callbackUrl": callback})
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, httptest.NewRequest("POST", "/verifications", bytes.NewReader(body)))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
}

func next(t *testing.T, ch chan delivered) delivered {
	t.Helper()
	select {
	case d := <-ch:
		if d.err != nil {
			t.Fatalf("callback signature: %v", d.err)
		}
		return d
	case <-time.After(10 * time.Second): // a hang, not a synchronization
		t.Fatal("no callback")
	}
	return delivered{}
}

// Outcomes by the sandbox rule, after the configured delays (released by the test's clock).
func TestOutcomesAndDelays(t *testing.T) {
	secret := []byte("0123456789abcdef")
	var ok atomic.Int32
	ok.Store(http.StatusOK)
	srv, ch := receiver(t, secret, &ok)
	tick := make(chan time.Time)
	var (
		mu    sync.Mutex // the simulator calls After from a goroutine per check
		waits []time.Duration
	)
	waited := make(chan struct{}, 16)
	sim := New(Config{Secret: secret, Delay: time.Minute, ReviewDelay: time.Hour,
		After: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			waited <- struct{}{}
			return tick
		}})
	defer sim.Close()
	cases := []struct {
		lastName string
		want     []kyc.Outcome
	}{
		{"Lovelace", []kyc.Outcome{kyc.Approved}},
		{"Rejectable", []kyc.Outcome{kyc.Rejected}},
		{"Needs-Review", []kyc.Outcome{kyc.ManualReview, kyc.Approved}},
	}
	for i, c := range cases {
		ref := "kyc_" + string(rune('a'+i))
		start(t, sim, srv.URL, ref, c.lastName)
		for _, want := range c.want {
			<-waited // the simulator is waiting its delay: nothing delivered before it ends
			select {
			case d := <-ch:
				t.Fatalf("delivered before the delay: %+v", d.res)
			default:
			}
			tick <- time.Now()
			d := next(t, ch)
			if d.res.Outcome != want || d.res.Reference != ref || d.res.CustomerID != "cus_"+ref {
				t.Fatalf("%s: got %+v, want %s", c.lastName, d.res, want)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(durations(waits), ",") != "1m0s,1m0s,1m0s,1h0m0s" {
		t.Fatalf("delays %v", waits)
	}
}

func durations(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// A refused callback (4xx) is not retried; a failing one (5xx) is, up to Attempts.
func TestDeliveryRetries(t *testing.T) {
	secret := []byte("0123456789abcdef")
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv, ch := receiver(t, secret, &status)
	sim := New(Config{Secret: secret, Attempts: 3, After: func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}})
	start(t, sim, srv.URL, "kyc_r", "Lovelace")
	for range 3 {
		next(t, ch)
	}
	sim.Close() // waits for the delivery goroutine: no fourth attempt after it
	select {
	case d := <-ch:
		t.Fatalf("a fourth attempt: %+v", d.res)
	default:
	}
	status.Store(http.StatusConflict)
	sim = New(Config{Secret: secret, Attempts: 3})
	start(t, sim, srv.URL, "kyc_s", "Lovelace")
	next(t, ch)
	sim.Close()
	select {
	case d := <-ch:
		t.Fatalf("a refused result retried: %+v", d.res)
	default:
	}
}

func TestBadStart(t *testing.T) {
	sim := New(Config{PendingMax: 1, Delay: time.Hour})
	defer sim.Close()
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/verifications", `{"reference":"r"}`, 400},
		{"POST", "/verifications", `nope`, 400},
		{"GET", "/verifications", ``, 405},
		{"POST", "/other", `{}`, 404},
		{"POST", "/verifications", `{"reference":"r","customerId":"c","callbackUrl":"http://127.0.0.1:1/"}`, 202},
		{"POST", "/verifications", `{"reference":"s","customerId":"c","callbackUrl":"http://127.0.0.1:1/"}`, 503},
	} {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
		if rec.Code != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, rec.Code, tc.want)
		}
	}
}
