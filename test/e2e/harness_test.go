// Package e2e drives a real cardswitch (the same wiring as `cardswitch serve`, a temporary data
// directory, loopback listeners) over real TCP with the moov-io connection client, as an acquirer
// would. Provisioning goes straight to the engine; the REST API has its own tests.
package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/switch/codec"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// sw is a running switch and an acquirer connection to it.
type sw struct {
	t    *testing.T
	app  *app.App
	conn *connection.Connection
	dir  string
	hash func(string) string
	stan atomic.Int64
}

func startSwitch(t *testing.T) *sw {
	t.Helper()
	dir := t.TempDir()
	return startSwitchIn(t, dir)
}

func startSwitchIn(t *testing.T, dir string) *sw {
	t.Helper()
	return startSwitchWith(t, dir, nil)
}

// startSwitchWith is startSwitchIn with the development configuration changed by edit first
// (nil: as is).
func startSwitchWith(t *testing.T, dir string, edit func(*config.Config)) *sw {
	t.Helper()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, dir: dir, hash: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	s.stan.Store(time.Now().UnixNano() % 500000)
	s.connect()
	t.Cleanup(s.stop)
	return s
}

func (s *sw) connect() {
	c, err := connection.New(s.app.ISOAddr(), codec.Spec, readLen, writeLen,
		connection.SendTimeout(5*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Connect(); err != nil {
		s.t.Fatal(err)
	}
	s.conn = c
}

func (s *sw) stop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if s.app != nil {
		if err := s.app.Shutdown(context.Background()); err != nil {
			s.t.Errorf("shutdown: %v", err)
		}
		s.app = nil
	}
}

func readLen(r io.Reader) (int, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b[:])), nil
}

func writeLen(w io.Writer, n int) (int, error) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(n))
	return w.Write(b[:])
}

// send packs req with the codec, sends it through the moov-io client and decodes the answer.
func (s *sw) send(req *authz.Request) *codec.ResponseMessage {
	s.t.Helper()
	raw, err := codec.BuildRequest(req)
	if err != nil {
		s.t.Fatalf("build %s: %v", req.MTI, err)
	}
	msg := iso8583.NewMessage(codec.Spec)
	if err := msg.Unpack(raw); err != nil {
		s.t.Fatalf("moov unpack of our request: %v", err)
	}
	resp, err := s.conn.Send(msg)
	if err != nil {
		s.t.Fatalf("send %s: %v", req.MTI, err)
	}
	out, err := resp.Pack()
	if err != nil {
		s.t.Fatalf("moov pack of the answer: %v", err)
	}
	r, err := codec.DecodeResponse(out)
	if err != nil {
		s.t.Fatalf("decode answer: %v", err)
	}
	return r
}

// card is a provisioned card.
type card struct {
	id, balanceID, pan, expiry string
}

var panSeq atomic.Int64

// provision creates a verified customer with a EUR balance loaded with loadMinor and a virtual
// card of the Mastercard development program.
func (s *sw) provision(loadMinor int64) card {
	s.t.Helper()
	n := panSeq.Add(1)
	body := fmt.Sprintf("535110%09d", n)
	d, _ := cardcrypto.LuhnCheckDigit(body)
	p := body + string(d)
	exp := time.Now().UTC().AddDate(3, 0, 0).Format("0601")
	c := card{id: "card-" + strconv.FormatInt(n, 10), balanceID: "bal-" + strconv.FormatInt(n, 10), pan: p, expiry: exp}
	cust := "cust-" + strconv.FormatInt(n, 10)
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, r := tx.CreateCustomer(ledger.Customer{ID: cust, FirstName: "Ada", LastName: "Tester"}, env); r != nil {
			return r
		}
		if _, r := tx.SetKYC(cust, ledger.KYCVerified); r != nil {
			return r
		}
		if _, r := tx.CreateBalance(ledger.Balance{ID: c.balanceID, CustomerID: cust, Currency: "EUR"}, env); r != nil {
			return r
		}
		if loadMinor > 0 {
			if _, r := tx.Reload(c.balanceID, loadMinor, "", env); r != nil {
				return r
			}
		}
		cvc2, _ := cardcrypto.CVV(config.Key(s.app.Config().Programs[0].Keys.CVK), p, exp, "000")
		_, r := tx.IssueCard(ledger.Card{ID: c.id, BalanceID: c.balanceID, Program: "demo-mc", Type: ledger.CardVirtual,
			PANHash: s.hash(p), PAN: p, Last4: p[len(p)-4:], ExpiryYYMM: exp, PSN: "00", CVC2: cvc2}, env)
		if r != nil {
			return r
		}
		return nil
	})
	return c
}

// setup is test set-up run inside the engine as a command of its own; it reports a refusal.
type setup func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal

func (setup) Kind() ledger.OpKind { return ledger.OpOther }
func (setup) Keys(*ledger.Keys)   {}

func (f setup) Apply(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal { return f(tx, env) }

// do runs a management change through the engine and fails the test on a refusal.
func (s *sw) do(f setup) {
	s.t.Helper()
	r, err := engine.Do(context.Background(), s.app.Engine(), f)
	if err != nil {
		s.t.Fatal(err)
	}
	if r != nil {
		s.t.Fatal(r)
	}
}

func (s *sw) balance(id string) ledger.Balance {
	b, ok := s.app.Engine().State().Balance(id)
	if !ok {
		s.t.Fatalf("no balance %s", id)
	}
	return b
}

// next returns a fresh STAN, RRN and field 7 so that every request has its own key.
func (s *sw) next() (stan, rrn, f7 string) {
	n := s.stan.Add(1)
	return fmt.Sprintf("%06d", n%1000000), fmt.Sprintf("%012d", n), time.Now().UTC().Format("0102150405")
}

// auth builds a request of the given MTI and processing code on a card.
func (s *sw) req(mti, proc string, c card, amountMinor int64) *authz.Request {
	stan, rrn, f7 := s.next()
	return &authz.Request{MTI: mti, PAN: c.pan, ProcessingCode: proc, AmountMinor: amountMinor, HasAmount: true,
		F7: f7, STAN: stan, LocalTime: f7[4:], LocalDate: f7[:4], ExpiryYYMM: c.expiry, POSEntryMode: "010",
		AcquirerID: "123456", RRN: rrn, TerminalID: "TERM0001", MerchantID: "MERCHANT0000001",
		MerchantName: "CARDSWITCH TEST SHOP     BERLIN       DE", CurrencyNum: "978", MCC: "5999"}
}

// followUp builds a 0220/0400/0420 naming orig in field 90.
func (s *sw) followUp(mti string, orig *authz.Request, amountMinor int64) *authz.Request {
	r := s.req(mti, orig.ProcessingCode, card{pan: orig.PAN, expiry: orig.ExpiryYYMM}, amountMinor)
	r.Original = &authz.OriginalData{MTI: codec.BaseMTI(orig.MTI), STAN: orig.STAN, F7: orig.F7, AcquirerID: orig.AcquirerID}
	return r
}
