// Package reliability drives a real cardswitch (app.Start: ISO listener, management API, engine,
// Badger journal on a temporary data directory) with what a hostile or broken peer sends: bad
// input on both interfaces, overload, and a full scenario whose logs, metrics and data files are
// searched for card secrets. Issue 6.
package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt/jwe"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/switch/server"
)

const (
	tokAdmin    = "rel-admin-token-5f1e2d3c4b5a"
	tokEmployee = "rel-employee-token-9a8b7c6d"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// sw is a running switch.
type sw struct {
	t    *testing.T
	app  *app.App
	cfg  *config.Config
	dir  string
	logs *syncBuffer
	http *http.Client
	stan atomic.Int64
}

type configT = config.Config

type swOption func(*config.Config)

// startSwitch starts the development profile (generated keys in dir/dev-keys.json) on loopback
// ports with a JSON logger at DEBUG level writing to a buffer.
func startSwitch(t *testing.T, opts ...swOption) *sw {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.AdminTokens = []config.AdminToken{{Name: "alice", Token: tokAdmin, Role: "Admin"},
		{Name: "eve", Token: tokEmployee, Role: "Employee"}}
	cfg.HTTP.RateLimitPerSec = -1
	for _, o := range opts {
		o(cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, cfg: cfg, dir: dir, logs: logs,
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	s.stan.Store(time.Now().UnixNano() % 400000)
	t.Cleanup(s.stop)
	return s
}

func (s *sw) stop() {
	if s.app == nil {
		return
	}
	s.http.CloseIdleConnections()
	if err := s.app.Shutdown(context.Background()); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	s.app = nil
}

// ---- ISO side ----

type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (s *sw) dial() *rawConn {
	s.t.Helper()
	c, err := net.Dial("tcp", s.app.ISOAddr())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return &rawConn{t: s.t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

func (r *rawConn) write(msg []byte) {
	r.t.Helper()
	if err := server.WriteFrame(r.c, msg); err != nil {
		r.t.Fatal(err)
	}
}

// read waits up to d for one frame; nil, err when none came.
func (r *rawConn) read(d time.Duration) ([]byte, error) {
	r.c.SetReadDeadline(time.Now().Add(d))
	return server.ReadFrame(r.br, 0)
}

func (r *rawConn) roundTrip(msg []byte) *codec.ResponseMessage {
	r.t.Helper()
	r.write(msg)
	out, err := r.read(5 * time.Second)
	if err != nil {
		r.t.Fatalf("no answer: %v", err)
	}
	resp, err := codec.DecodeResponse(out)
	if err != nil {
		r.t.Fatalf("answer does not decode: %v", err)
	}
	return resp
}

// next returns a fresh STAN, RRN and field 7.
func (s *sw) next() (stan, rrn, f7 string) {
	n := s.stan.Add(1)
	return fmt.Sprintf("%06d", n%1000000), fmt.Sprintf("%012d", n), time.Now().UTC().Format("0102150405")
}

// req builds a request on a PAN.
func (s *sw) req(mti, proc, p, expiry string, amountMinor int64) *authz.Request {
	stan, rrn, f7 := s.next()
	return &authz.Request{MTI: mti, PAN: p, ProcessingCode: proc, AmountMinor: amountMinor, HasAmount: true,
		F7: f7, STAN: stan, LocalTime: f7[4:], LocalDate: f7[:4], ExpiryYYMM: expiry, POSEntryMode: "010",
		AcquirerID: "123456", RRN: rrn, TerminalID: "TERM0001", MerchantID: "MERCHANT0000001",
		MerchantName: "CARDSWITCH TEST SHOP     BERLIN       DE", CurrencyNum: "978", MCC: "5999"}
}

func (s *sw) build(r *authz.Request) []byte {
	s.t.Helper()
	b, err := codec.BuildRequest(r)
	if err != nil {
		s.t.Fatalf("build %s: %v", r.MTI, err)
	}
	return b
}

func (s *sw) echo() []byte {
	stan, _, f7 := s.next()
	return s.build(&authz.Request{MTI: "0800", STAN: stan, F7: f7, NetworkCode: "301"})
}

// ---- HTTP side ----

type resp struct {
	status int
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", r.status, r.body)
	}
	return m
}

func (r resp) str(t *testing.T, k string) string {
	t.Helper()
	v, _ := r.json(t)[k].(string)
	return v
}

func (s *sw) do(method, path string, body []byte, hdr map[string]string) resp {
	s.t.Helper()
	r, err := s.tryDo(method, path, body, hdr)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// tryDo is do that returns a transport error instead of failing the test.
func (s *sw) tryDo(method, path string, body []byte, hdr map[string]string) (resp, error) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	rq, err := http.NewRequest(method, "http://"+s.app.HTTPAddr()+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		rq.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		rq.Header.Set(k, v)
	}
	rs, err := s.http.Do(rq)
	if err != nil {
		return resp{}, err
	}
	defer rs.Body.Close()
	out, _ := io.ReadAll(rs.Body)
	return resp{status: rs.StatusCode, body: out}, nil
}

func (s *sw) must(status int, r resp) resp {
	s.t.Helper()
	if r.status != status {
		s.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

var (
	clientKeyOnce sync.Once
	clientKey     *rsa.PrivateKey
)

func testClientKey() *rsa.PrivateKey {
	clientKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		clientKey = k
	})
	return clientKey
}

// serverKey fetches GET /public-key.
func (s *sw) serverKey() *rsa.PublicKey {
	s.t.Helper()
	r := s.must(200, s.do("GET", "/public-key", nil, nil))
	pemText := r.str(s.t, "pem")
	pub, err := jwe.ParseClientKey(b64(pemText))
	if err != nil {
		s.t.Fatal(err)
	}
	return pub
}

// encrypted returns the headers (and body, for a non-empty plaintext) of an encrypted request.
func (s *sw) encrypted(plain string) (map[string]string, []byte) {
	s.t.Helper()
	pk, err := jwe.EncodePublicKeyHeader(&testClientKey().PublicKey)
	if err != nil {
		s.t.Fatal(err)
	}
	hdr := map[string]string{"Encrypted-Request": "true", "Public-Key": pk}
	if plain == "" {
		return hdr, nil
	}
	payload, err := jwe.Seal(s.serverKey(), []byte(plain), "")
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := json.Marshal(jwe.Envelope{Payload: payload})
	return hdr, b
}

func (s *sw) open(r resp) map[string]any {
	s.t.Helper()
	var env jwe.Envelope
	if err := json.Unmarshal(r.body, &env); err != nil || env.Payload == "" {
		s.t.Fatalf("not an encrypted answer: %s", r.body)
	}
	plain, err := jwe.Open(testClientKey(), env.Payload)
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(plain, &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// issued is a card provisioned through the API, with its full data read through /full.
type issued struct {
	customerID, balanceID, cardID string
	pan, expiry, cvc2, psn        string
}

var extSeq atomic.Int64

// issue creates a verified customer, a EUR balance loaded with amount, and a virtual card of the
// Mastercard development program, all through the API, and reads the full card data (encrypted).
func (s *sw) issue(amount string) issued {
	s.t.Helper()
	ext := fmt.Sprintf("rel-%d-%d", time.Now().UnixNano(), extSeq.Add(1))
	c := s.must(201, s.do("POST", "/secure/customers", []byte(`{"externalId":"`+ext+`","firstName":"Ada","lastName":"Tester","email":"ada@example.com","phone":"+4912345678"}`), nil))
	cust := c.str(s.t, "customerId")
	s.must(200, s.do("POST", "/secure/customers/"+cust+"/kyc", []byte(`{"status":"VERIFIED"}`), nil))
	bal := s.must(201, s.do("POST", "/secure/customers/"+cust+"/balances", []byte(`{"currency":"EUR"}`), nil)).str(s.t, "balanceId")
	if amount != "" {
		s.must(200, s.do("POST", "/secure/customers/"+cust+"/balances/"+bal+"/reload", []byte(`{"amount":"`+amount+`"}`), nil))
	}
	cr := s.must(201, s.do("POST", "/secure/customers/"+cust+"/balances/"+bal+"/cards", []byte(`{"type":"VIRTUAL","program":"demo-mc"}`), nil))
	card := cr.json(s.t)
	id := card["cardId"].(string)
	hdr, _ := s.encrypted("")
	full := s.open(s.must(200, s.do("GET", "/secure/cards/"+id+"/full", nil, hdr)))
	m, y := int(full["expiryMonth"].(float64)), int(full["expiryYear"].(float64))
	return issued{customerID: cust, balanceID: bal, cardID: id, pan: full["pan"].(string),
		expiry: fmt.Sprintf("%02d%02d", y%100, m), cvc2: full["cvc2"].(string), psn: card["panSequenceNumber"].(string)}
}

func (s *sw) session(cust string) string {
	s.t.Helper()
	return s.must(201, s.do("POST", "/secure/customers/"+cust+"/sessions", nil, nil)).str(s.t, "sessionToken")
}

// ledgerState is a comparable picture of the ledger: counts, every balance and every authorization.
func (s *sw) ledgerState() string {
	st := s.app.Engine().State()
	auths, err := st.Auths()
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Counts   map[string]int
		Balances any
		Auths    any
	}{st.Counts(), st.Balances(), auths})
	return string(b)
}

func b64(pemText string) string { return base64.StdEncoding.EncodeToString([]byte(pemText)) }

// waitEngineIdle waits until the engine queue is empty (bounded).
func (s *sw) waitEngineIdle() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for s.app.Engine().QueueDepth() > 0 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

func contains(hay []byte, needle string) bool {
	return needle != "" && bytes.Contains(hay, []byte(needle))
}
