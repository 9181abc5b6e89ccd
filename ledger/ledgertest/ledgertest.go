// Package ledgertest holds what the specification tests of ledger, journal and engine share: a
// fake security verifier, an identity PAN hasher, request builders, a fixture that sets up a funded
// card, and the books check every scenario ends with.
package ledgertest

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// Epoch is the fixture clock's start: 2026-05-01 12:00 UTC.
var Epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// IdentityHash is a PAN hasher for tests: the hash of a PAN is the PAN.
func IdentityHash(pan string) string { return pan }

// Verifier is a fake of the card-security checks with plain-text rules:
//   - CVC2 (field 48.92) passes when it equals the card's CVC2;
//   - PIN (field 52) passes when the PIN block's bytes equal the card's PVV;
//   - ICC (field 55) "ATC=n" is a good ARQC with ATC n, "BAD" a failed one.
type Verifier struct{}

// Verify implements ledger.Verifier.
func (Verifier) Verify(req *authz.Request, card *ledger.Card, _ *ledger.Token) ledger.Checks {
	var c ledger.Checks
	if req.CVC2 != "" {
		c.CardData = result(req.CVC2 == card.CVC2)
	}
	if len(req.PINBlock) > 0 {
		c.PIN = result(string(req.PINBlock) == card.PVV)
	}
	if len(req.ICC) > 0 {
		c.ARQCSeen = true
		s := string(req.ICC)
		if n, ok := strings.CutPrefix(s, "ATC="); ok {
			atc, err := strconv.Atoi(n)
			c.Cryptogram, c.ATC = result(err == nil), atc
		} else {
			c.Cryptogram = authz.CheckFailed
		}
	}
	return c
}

// ICCResponse implements ledger.Verifier: "91:" and the action code.
func (Verifier) ICCResponse(_ tokenvault.ICCSession, a authz.ActionCode) []byte {
	return []byte("91:" + a.String())
}

func result(ok bool) authz.CheckResult {
	if ok {
		return authz.CheckPassed
	}
	return authz.CheckFailed
}

// Acquirer, F7 and the currency the builders use.
const (
	Acquirer = "12345"
	F7       = "0501120000"
	EUR      = "978"
	USD      = "840"
)

// Req builds a request as the codec would decode it: the MTI (a repeat MTI is folded onto its
// base), the kind from MTI and processing code, the PAN, amount and STAN; field 7, 32, 37 and 49
// are fixed (RRN derived from the STAN).
func Req(mti, proc, pan string, amountMinor int64, stan string) *authz.Request {
	base := mti
	if mti[3] == '1' {
		base = mti[:3] + "0"
	}
	r := &authz.Request{MTI: mti, BaseMTI: base, PAN: pan, ProcessingCode: proc,
		AmountMinor: amountMinor, HasAmount: true, F7: F7, STAN: stan, AcquirerID: Acquirer,
		RRN: "RRN000" + stan, CurrencyNum: EUR, TerminalID: "TERM0001", MerchantID: "MERCHANT0000001"}
	r.Kind = KindOf(base, proc)
	return r
}

// KindOf derives the request kind from the base MTI and processing code (contract §2 MTI table).
func KindOf(base, proc string) authz.Kind {
	switch base {
	case "0100":
		if strings.HasPrefix(proc, "30") || strings.HasPrefix(proc, "31") {
			return authz.KindBalanceInquiry
		}
		return authz.KindAuthorization
	case "0200":
		if strings.HasPrefix(proc, "20") {
			return authz.KindRefund
		}
		return authz.KindFinancial
	case "0120":
		return authz.KindAuthAdvice
	case "0220":
		return authz.KindCompletion
	case "0400":
		return authz.KindReversal
	case "0420":
		return authz.KindReversalAdvice
	case "0800":
		return authz.KindNetworkMgmt
	}
	return authz.KindUnknown
}

// Auth is a 0100 purchase authorization.
func Auth(pan string, amountMinor int64, stan string) *authz.Request {
	return Req("0100", "000000", pan, amountMinor, stan)
}

// FollowUp builds a 0220/0400/0420 naming orig in field 90, with the amount of field 4.
func FollowUp(mti string, orig *authz.Request, amountMinor int64, stan string) *authz.Request {
	r := Req(mti, orig.ProcessingCode, orig.PAN, amountMinor, stan)
	r.Original = &authz.OriginalData{MTI: orig.MTI, STAN: orig.STAN, F7: orig.F7, AcquirerID: "000000" + orig.AcquirerID}
	return r
}

// PartialReversal is a 0400 whose field 95 carries the new, actual amount.
func PartialReversal(orig *authz.Request, newAmountMinor int64, stan string) *authz.Request {
	r := FollowUp("0400", orig, orig.AmountMinor, stan)
	r.HasReplacement, r.ReplacementAmountMinor = true, newAmountMinor
	return r
}

// Fixture is a ledger with one verified customer, one EUR balance and a virtual card on it, and an
// optional program with a partner balance.
type Fixture struct {
	T     testing.TB
	State *ledger.State
	Env   ledger.Env
	Now   time.Time

	Programs map[string]ledger.ProgramPolicy
	// Commit, when set, is given every batch's changes before the batch is merged (a journal).
	Commit func(changes []ledger.Change) error
}

// Card of the fixture.
const (
	PAN       = "5351100000000001"
	CardID    = "card-1"
	BalanceID = "bal-1"
	Customer  = "cust-1"
	Program   = "demo-mc"
	Expiry    = "2712"
	CVC2      = "123"
	PVV       = "1234"
)

// NewFixture builds the fixture with loadedMinor on the balance and the card issued, over an
// in-memory journal (the State reads its auth records and replies from it, as the switch's
// reads them from Badger).
func NewFixture(t testing.TB, loadedMinor int64) *Fixture {
	f, _ := NewMemoryJournalFixture(t, loadedMinor)
	return f
}

// NewMemoryJournalFixture is NewFixture that also returns its journal, which every batch is
// committed to first.
func NewMemoryJournalFixture(t testing.TB, loadedMinor int64) (*Fixture, *journaltest.Memory) {
	mem := journaltest.NewMemory()
	return NewHistoryFixture(t, loadedMinor, mem), mem
}

// HistoryJournal is a journal the ledger also reads its history from.
type HistoryJournal interface {
	Commit(changes []ledger.Change) error
	ledger.History
}

// NewHistoryFixture is the fixture over j: every batch, the set-up included, is committed to j
// first, and the State reads its auth records and replies from j.
func NewHistoryFixture(t testing.TB, loadedMinor int64, j HistoryJournal) *Fixture {
	return NewFixtureOn(t, ledger.NewState(j), loadedMinor, j.Commit)
}

// NewFixtureOn builds the fixture on an empty State the test prepared.
func NewFixtureOn(t testing.TB, st *ledger.State, loadedMinor int64, commit func([]ledger.Change) error) *Fixture {
	f := &Fixture{T: t, State: st, Now: Epoch, Commit: commit,
		Programs: map[string]ledger.ProgramPolicy{Program: {Name: Program}}}
	f.Env = ledger.Env{Verifier: Verifier{}, PANHasher: IdentityHash,
		Program: func(name string) (ledger.ProgramPolicy, bool) { p, ok := f.Programs[name]; return p, ok }}
	f.AddCustomerBalance(Customer, BalanceID, "EUR", loadedMinor)
	f.IssueCard(CardID, BalanceID, PAN)
	return f
}

// Manage runs a management command in a batch of its own and commits it; it fails the test on a
// refusal.
func (f *Fixture) Manage(what string, fn func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal) {
	f.T.Helper()
	f.ManageReading(what, nil, fn)
}

// ManageReading is Manage for a command that reads the records k names (nil: none).
func (f *Fixture) ManageReading(what string, k *ledger.Keys, fn func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal) {
	f.T.Helper()
	tx := f.State.Begin()
	env := f.env()
	if k != nil {
		f.Load(tx, k, &env)
	}
	if r := fn(tx, &env); r != nil {
		f.T.Fatalf("%s refused: %v", what, r)
	}
	f.commit(tx)
}

// CommitTx makes a batch the test built itself durable (Commit) and merges it.
func (f *Fixture) CommitTx(tx *ledger.Tx) { f.T.Helper(); f.commit(tx) }

func (f *Fixture) commit(tx *ledger.Tx) {
	f.T.Helper()
	if f.Commit != nil {
		changes := tx.Changes(nil)
		if err := tx.Err(); err != nil {
			tx.Rollback()
			f.T.Fatalf("journal read: %v", err)
		}
		ledger.AssertBatch(tx, changes) // as the engine does (build tag invariants)
		if err := f.Commit(changes); err != nil {
			tx.Rollback()
			f.T.Fatalf("journal commit: %v", err)
		}
	}
	tx.Commit()
}

func (f *Fixture) env() ledger.Env {
	env := f.Env
	env.Now = f.Now
	return env
}

// AddCustomerBalance creates a verified customer with a balance loaded with loadedMinor.
func (f *Fixture) AddCustomerBalance(customerID, balanceID, currency string, loadedMinor int64) {
	f.T.Helper()
	f.Manage("customer", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, ok := tx.Customer(customerID); !ok {
			if _, r := tx.CreateCustomer(ledger.Customer{ID: customerID, ExternalID: "ext-" + customerID,
				FirstName: "Ada", LastName: "Lovelace", Email: customerID + "@example.org"}, env); r != nil {
				return r
			}
			if _, r := tx.SetKYC(customerID, ledger.KYCVerified); r != nil {
				return r
			}
		}
		if _, r := tx.CreateBalance(ledger.Balance{ID: balanceID, CustomerID: customerID, Currency: currency}, env); r != nil {
			return r
		}
		if loadedMinor > 0 {
			_, r := tx.Reload(balanceID, loadedMinor, "", env)
			return r
		}
		return nil
	})
}

// IssueCard issues a virtual card with the fixture's expiry, CVC2 and PVV.
func (f *Fixture) IssueCard(cardID, balanceID, pan string) {
	f.T.Helper()
	f.Manage("issue card", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		_, r := tx.IssueCard(ledger.Card{ID: cardID, BalanceID: balanceID, Program: Program,
			Type: ledger.CardVirtual, PANHash: f.Env.PANHasher(pan), PAN: pan, Last4: pan[len(pan)-4:],
			ExpiryYYMM: Expiry, PSN: "00", CVC2: CVC2, PVV: PVV}, env)
		return r
	})
}

// AddPartner gives the fixture's program a partner deposit balance loaded with loadedMinor.
func (f *Fixture) AddPartner(balanceID string, loadedMinor int64) {
	f.T.Helper()
	f.Manage("partner", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, r := tx.CreatePartnerBalance(ledger.Balance{ID: balanceID, Kind: ledger.BalancePartnerDeposit,
			Program: Program, Currency: "EUR"}, env); r != nil {
			return r
		}
		_, r := tx.Reload(balanceID, loadedMinor, "", env)
		return r
	})
	f.Programs[Program] = ledger.ProgramPolicy{Name: Program, PartnerBalanceID: balanceID}
}

// Process runs one message in a batch of its own, commits it and checks the books.
func (f *Fixture) Process(req *authz.Request) authz.Response {
	f.T.Helper()
	tx := f.State.Begin()
	env := f.env()
	f.LoadMessage(tx, req, &env)
	resp := tx.Process(req, &env)
	f.commit(tx)
	if err := CheckBooks(f.State); err != nil {
		f.T.Fatalf("after %s STAN %s: %v", req.MTI, req.STAN, err)
	}
	return resp
}

// LoadMessage loads into tx what processing req reads (as the engine does before a batch).
func (f *Fixture) LoadMessage(tx *ledger.Tx, req *authz.Request, env *ledger.Env) {
	f.T.Helper()
	var k ledger.Keys
	ledger.KeysOf(req, &k)
	f.Load(tx, &k, env)
}

// Load loads into tx the records k names (as the engine does before a batch).
func (f *Fixture) Load(tx *ledger.Tx, k *ledger.Keys, env *ledger.Env) {
	f.T.Helper()
	if err := tx.Load(k, env); err != nil {
		f.T.Fatalf("load: %v", err)
	}
}

// Expect runs a message and fails the test unless it is answered with want.
func (f *Fixture) Expect(req *authz.Request, want authz.ActionCode) authz.Response {
	f.T.Helper()
	resp := f.Process(req)
	if resp.Action != want {
		f.T.Fatalf("%s STAN %s amount %d: answered %s (%s), want %s (%s)", req.MTI, req.STAN,
			req.AmountMinor, resp.Action, resp.Action.Field39(), want, want.Field39())
	}
	return resp
}

// Balance returns the committed balance or fails.
func (f *Fixture) Balance(id string) ledger.Balance {
	f.T.Helper()
	b, ok := f.State.Balance(id)
	if !ok {
		f.T.Fatalf("no balance %s", id)
	}
	return b
}

// ExpectBalance checks a balance's current and held amounts.
func (f *Fixture) ExpectBalance(id string, currentMinor, heldMinor int64) {
	f.T.Helper()
	b := f.Balance(id)
	if b.CurrentMinor != currentMinor || b.HeldMinor != heldMinor {
		f.T.Fatalf("balance %s: current %d held %d available %d, want current %d held %d available %d",
			id, b.CurrentMinor, b.HeldMinor, b.AvailableMinor(), currentMinor, heldMinor, currentMinor-heldMinor)
	}
}

// Card returns the committed card or fails.
func (f *Fixture) Card(id string) ledger.Card {
	f.T.Helper()
	c, ok := f.State.Card(id)
	if !ok {
		f.T.Fatalf("no card %s", id)
	}
	return c
}

// CheckBooks checks the accounting identities on every balance of a committed state:
//   - available = current − held (+ credit limit of a partner credit balance);
//   - held = the sum of HeldMinor of the open auths on the balance, and no closed auth holds money;
//   - current = loaded − the sum of PostedMinor of the auths on it.
func CheckBooks(st *ledger.State) error {
	held := map[string]int64{}
	posted := map[string]int64{}
	var errs []string
	auths, err := st.Auths()
	if err != nil {
		return fmt.Errorf("books not checked: %w", err)
	}
	for _, a := range auths {
		if a.State != ledger.AuthOpen && a.HeldMinor != 0 {
			errs = append(errs, fmt.Sprintf("auth %s is %s but still holds %d", a.Key, a.State, a.HeldMinor))
		}
		for _, id := range []string{a.BalanceID, a.PartnerID} {
			if id == "" {
				continue
			}
			if a.State == ledger.AuthOpen {
				held[id] += a.HeldMinor
			}
			posted[id] += a.PostedMinor
		}
		if a.FX != nil && a.FX.CompanyID != "" { // the company balance's share of a cross-currency capture
			posted[a.FX.CompanyID] += a.FX.CompanyPostedMinor
		}
	}
	for _, b := range st.Balances() {
		if got, want := b.AvailableMinor(), b.CurrentMinor-b.HeldMinor+b.CreditLimitMinor; got != want {
			errs = append(errs, fmt.Sprintf("balance %s: available %d != current − held %d", b.ID, got, want))
		}
		if b.HeldMinor != held[b.ID] {
			errs = append(errs, fmt.Sprintf("balance %s: held %d != sum of open holds %d", b.ID, b.HeldMinor, held[b.ID]))
		}
		if want := b.LoadedMinor - posted[b.ID]; b.CurrentMinor != want {
			errs = append(errs, fmt.Sprintf("balance %s: current %d != loaded %d − posted %d = %d",
				b.ID, b.CurrentMinor, b.LoadedMinor, posted[b.ID], want))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	return fmt.Errorf("books do not balance:\n  %s", strings.Join(errs, "\n  "))
}

// Snapshot is everything observable of a State, for equality checks (rollback, replay).
type Snapshot struct {
	Balances []ledger.Balance
	Auths    []ledger.Auth
	AuthsErr error // the auth records could not be read: Diff reports it
	Cards    map[string]ledger.Card
	Counts   map[string]int
}

// Take snapshots the state; cardIDs lists the cards to include.
func Take(st *ledger.State, cardIDs ...string) Snapshot {
	auths, err := st.Auths()
	s := Snapshot{Balances: st.Balances(), Auths: auths, AuthsErr: err, Cards: map[string]ledger.Card{}, Counts: st.Counts()}
	for _, id := range cardIDs {
		if c, ok := st.Card(id); ok {
			s.Cards[id] = c
		}
	}
	return s
}

// Diff describes how two snapshots differ ("" when equal).
func Diff(a, b Snapshot) string {
	var out []string
	for _, err := range []error{a.AuthsErr, b.AuthsErr} {
		if err != nil {
			out = append(out, fmt.Sprintf("auth records unreadable: %v", err))
		}
	}
	if fmt.Sprint(a.Counts) != fmt.Sprint(b.Counts) {
		out = append(out, fmt.Sprintf("row counts %v != %v", a.Counts, b.Counts))
	}
	if len(a.Balances) != len(b.Balances) {
		out = append(out, fmt.Sprintf("%d balances != %d", len(a.Balances), len(b.Balances)))
	} else {
		for i := range a.Balances {
			if a.Balances[i] != b.Balances[i] {
				out = append(out, fmt.Sprintf("balance %+v != %+v", a.Balances[i], b.Balances[i]))
			}
		}
	}
	if len(a.Auths) != len(b.Auths) {
		out = append(out, fmt.Sprintf("%d auths != %d", len(a.Auths), len(b.Auths)))
	} else {
		for i := range a.Auths {
			if !reflect.DeepEqual(a.Auths[i], b.Auths[i]) {
				out = append(out, fmt.Sprintf("auth %+v != %+v", a.Auths[i], b.Auths[i]))
			}
		}
	}
	for id, c := range a.Cards {
		if fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", b.Cards[id]) {
			out = append(out, fmt.Sprintf("card %+v != %+v", c, b.Cards[id]))
		}
	}
	if len(a.Cards) != len(b.Cards) {
		out = append(out, "card sets differ")
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... and %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}
