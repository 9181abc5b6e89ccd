package journal_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/journal"
	"github.com/cardswitch/cardswitch/ledger/journal/journaltest"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// walMode runs the tests that open their journal with open over the write-ahead log
// (CARDSWITCH_TEST_JOURNAL=wal; `make test` runs the package both ways).
var walMode = os.Getenv("CARDSWITCH_TEST_JOURNAL") == "wal"

func open(t *testing.T, dir string, key []byte) *journal.Badger {
	t.Helper()
	j, err := journal.OpenBadger(journal.Options{Dir: dir, DataKey: key, WAL: walMode})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// Secrets the at-rest test looks for; the CVC2 is written as JSON would carry it, since three
// digits alone occur by chance in any binary file.
const (
	secretPAN   = "5351104242424242"
	secretEmail = "ada.lovelace.secret@example.org"
	secretCVC2  = "739"
	tokenPAN    = "5351109876543210"
)

// populate drives a fixture through every kind of row and change (deletes included), each batch
// committed to j first, on a store marked as the switch's first start marks it.
func populate(t *testing.T, j *journal.Badger) *lt.Fixture {
	markEmpty(t, j)
	return fill(t, lt.NewHistoryFixture(t, 50000, j))
}

// fill is populate on a given fixture.
func fill(t *testing.T, f *lt.Fixture) *lt.Fixture {
	f.Env.HoldTTL = time.Hour
	f.AddPartner("partner-1", 90000)
	f.Manage("secret customer", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		if _, r := tx.CreateCustomer(ledger.Customer{ID: "cust-9", ExternalID: "ext-9", FirstName: "Ada",
			LastName: "Lovelace", Email: secretEmail, Phone: "+3312345678"}, env); r != nil {
			return r
		}
		if _, r := tx.SetKYC("cust-9", ledger.KYCVerified); r != nil {
			return r
		}
		if _, r := tx.CreateBalance(ledger.Balance{ID: "bal-9", CustomerID: "cust-9", Currency: "EUR"}, env); r != nil {
			return r
		}
		if _, r := tx.Reload("bal-9", 7000, "idem-9", env); r != nil {
			return r
		}
		if _, r := tx.IssueCard(ledger.Card{ID: "card-9", BalanceID: "bal-9", Program: lt.Program,
			Type: ledger.CardVirtual, PANHash: secretPAN, PAN: secretPAN, Last4: "4242",
			ExpiryYYMM: lt.Expiry, CVC2: secretCVC2, PVV: "5678"}, env); r != nil {
			return r
		}
		_, r := tx.AddToken(ledger.Token{ID: "tok-9", CardID: "card-9", PANHash: tokenPAN, PAN: tokenPAN,
			ExpiryYYMM: "2812", Type: ledger.TokenHCE}, env)
		return r
	})
	a1 := lt.Auth(lt.PAN, 1000, "000001")
	a2 := lt.Auth(secretPAN, 2000, "000002")
	f.Expect(a1, authz.Approved)
	f.Expect(a2, authz.Approved)
	f.Expect(lt.Auth(tokenPAN, 300, "000003"), authz.Approved)
	completion := lt.FollowUp("0220", a1, 900, "000004")
	f.Expect(completion, authz.Approved)
	f.Expect(lt.FollowUp("0400", lt.Auth(lt.PAN, 5, "000099"), 5, "000005"), authz.OriginalNotFound)
	f.Expect(lt.Req("0200", "200000", secretPAN, 150, "000006"), authz.Approved)
	f.Manage("lock", func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		_, r := tx.ChangeCard(lt.CardID, ledger.ChangeLock, authz.LockPendingQuery)
		return r
	})
	// Retention: a forgotten reply is deleted from the journal too (a follow-up's: the answer
	// to an original is kept in its auth record).
	f.ManageReading("retention", &ledger.Keys{Replies: []string{ledger.MessageKey(completion)}}, func(tx *ledger.Tx, _ *ledger.Env) *ledger.Refusal {
		if _, ok := tx.Reply(ledger.MessageKey(completion)); !ok {
			return &ledger.Refusal{Code: "TEST", Message: "the completion's reply is not a row of its own"}
		}
		tx.DeleteReply(ledger.MessageKey(completion))
		return nil
	})
	return f
}

var cardIDs = []string{lt.CardID, "card-9"}

// Journal round trip: rows committed, the store closed and reopened, Load gives the same State,
// indexes included.
func TestBadgerRoundTrip(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	f := populate(t, j)
	want := lt.Take(f.State, cardIDs...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(nil); err != journal.ErrClosed {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if err := j.Load(ledger.NewState(j)); err != journal.ErrClosed {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}

	j = open(t, dir, key)
	defer j.Close()
	st := ledger.NewState(j)
	if err := j.Load(st); err != nil {
		t.Fatal(err)
	}
	if d := lt.Diff(want, lt.Take(st, cardIDs...)); d != "" {
		t.Fatalf("loaded state differs from the committed one:\n%s", d)
	}
	if err := lt.CheckBooks(st); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{lt.Customer, "cust-9"} {
		a, _ := f.State.Customer(id)
		b, ok := st.Customer(id)
		if !ok || a != b {
			t.Errorf("customer %s: loaded %+v, want %+v", id, b, a)
		}
	}
	if a, _ := f.State.Token("tok-9"); true {
		if b, _ := st.Token("tok-9"); a != b {
			t.Errorf("token: loaded %+v, want %+v", b, a)
		}
	}
	if id, ok := st.CardIDByPANHash(secretPAN); !ok || id != "card-9" {
		t.Errorf("PAN index after load: %q %v", id, ok)
	}
	if id, ok := st.CustomerIDByExternal("ext-9"); !ok || id != "cust-9" {
		t.Errorf("external id index after load: %q %v", id, ok)
	}
	if got := st.TokenIDsOfCard("card-9"); len(got) != 1 || got[0] != "tok-9" {
		t.Errorf("tokens of card after load: %v", got)
	}

	// The loaded state keeps working: retransmissions are recognised, holds expire.
	afterRestart(t, f, j, st)
}

// The data directory never holds a PAN, CVC2 or customer e-mail in clear (contract §1
// security.dataKey; ARCHITECTURE.md: the PAN stops at the edge). The raw files are scanned while
// the store is open (the write-ahead memtable file holds entries uncompressed, so the keys must
// show and prove the scan sees the data) and again after closing (flushed, Snappy-compressed tables).
func TestBadgerNothingInClear(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	populate(t, j)
	// scan reports which needles occur in the raw files, reading them in chunks (the value log
	// and memtable files are large and mostly preallocated zeros).
	scan := func(needles []string) map[string]bool {
		found := map[string]bool{}
		const chunk, overlap = 1 << 20, 256
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fh, err := os.Open(path)
			if err != nil {
				return err
			}
			defer fh.Close()
			buf := make([]byte, overlap+chunk)
			kept := 0
			for {
				n, err := io.ReadFull(fh, buf[kept:])
				window := buf[:kept+n]
				for _, s := range needles {
					if bytes.Contains(window, []byte(s)) {
						found[s] = true
					}
				}
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					return nil
				}
				if err != nil {
					return err
				}
				kept = copy(buf, window[len(window)-overlap:])
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	secrets := []string{secretPAN, tokenPAN, lt.PAN, secretEmail, "Lovelace",
		`"cvc2":"` + secretCVC2 + `"`, `"cvc2"`, `"pan"`, `"email"`}
	check := func(when string, found map[string]bool) {
		for _, secret := range secrets {
			if found[secret] {
				t.Errorf("%s, the data directory holds %q in clear", when, secret)
			}
		}
	}
	controls := []string{"c/card-9", "u/cust-9"}
	found := scan(append(controls, secrets...))
	if !found[controls[0]] || !found[controls[1]] {
		t.Fatal("control failed: the row keys are not found in the raw files, the scan proves nothing")
	}
	check("while open", found)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close", scan(secrets))
}

// A wrong data key fails Load with a clear error rather than loading garbage; a key of the wrong
// size is refused at open.
func TestBadgerWrongKey(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	j := open(t, dir, key)
	populate(t, j)
	j.Close()

	j = open(t, dir, newKey(t))
	defer j.Close()
	err := j.Load(ledger.NewState(j))
	if err == nil || !strings.Contains(err.Error(), "does not decrypt with the data key") {
		t.Fatalf("Load with a wrong key: %v, want a 'does not decrypt with the data key' error", err)
	}
	for _, s := range []string{secretPAN, lt.PAN, "card-9"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error names %q: %v", s, err)
		}
	}
	if _, err := journal.OpenBadger(journal.Options{Dir: t.TempDir(), DataKey: make([]byte, 16)}); err == nil {
		t.Fatal("a 16-byte data key was accepted")
	}
}

// Faulty: a failing commit writes nothing; FailAll is a full disk until cleared.
func TestFaultyJournal(t *testing.T) {
	m := journaltest.NewMemory()
	fj := &journaltest.Faulty{Inner: m, FailAt: map[int]bool{2: true}}
	row := func(id string) []ledger.Change {
		return []ledger.Change{{Table: "balance", Key: id, Row: &ledger.Balance{ID: id, State: ledger.BalanceActive}}}
	}
	if err := fj.Commit(row("b1")); err != nil {
		t.Fatal(err)
	}
	if err := fj.Commit(row("b2")); err != journaltest.ErrInjected {
		t.Fatalf("commit 2: %v, want ErrInjected", err)
	}
	fj.SetFailAll(true)
	if err := fj.Commit(row("b3")); err != journaltest.ErrInjected {
		t.Fatalf("full disk: %v", err)
	}
	fj.SetFailAll(false)
	if err := fj.Commit(row("b4")); err != nil {
		t.Fatal(err)
	}
	st := ledger.NewState(m)
	if err := fj.Load(st); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range st.Balances() {
		ids = append(ids, b.ID)
	}
	if strings.Join(ids, ",") != "b1,b4" {
		t.Fatalf("journal holds %v, want b1,b4", ids)
	}
	if fj.Commits() != 4 {
		t.Fatalf("Commits() = %d", fj.Commits())
	}
}

// A digital-first copy shares its PAN with the card issued first; the PAN index resolves to the
// first-issued card live, and must do the same after recovery, whatever order the store returns
// the rows in (Badger: key order; Memory: map order).
func TestLoadKeepsFirstIssuedCardForSharedPAN(t *testing.T) {
	for _, name := range []string{"badger", "memory"} {
		t.Run(name, func(t *testing.T) {
			var j interface {
				journal.Journal
				ledger.History
			}
			if name == "badger" {
				dir, key := t.TempDir(), newKey(t)
				j = open(t, dir, key)
			} else {
				j = journaltest.NewMemory()
			}
			defer j.Close()
			f := lt.NewHistoryFixture(t, 1000, j)
			const shared = "5351100000000777"
			// The virtual card's id sorts after its copy's, so key order is not issue order.
			f.Manage("virtual", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				_, r := tx.IssueCard(ledger.Card{ID: "z-virtual", BalanceID: lt.BalanceID, Program: lt.Program,
					Type: ledger.CardVirtual, PANHash: shared, PAN: shared, ExpiryYYMM: lt.Expiry}, env)
				return r
			})
			f.Now = f.Now.Add(time.Minute)
			f.Manage("copy", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
				_, r := tx.IssueCard(ledger.Card{ID: "a-physical", BalanceID: lt.BalanceID, Program: lt.Program,
					Type: ledger.CardDigitalFirst, PANHash: shared, PAN: shared, ExpiryYYMM: lt.Expiry}, env)
				return r
			})
			if id, _ := f.State.CardIDByPANHash(shared); id != "z-virtual" {
				t.Fatalf("live PAN index resolves to %q, want z-virtual", id)
			}
			for i := 0; i < 20; i++ { // map order varies between loads
				st := ledger.NewState(j)
				if err := j.Load(st); err != nil {
					t.Fatal(err)
				}
				if id, _ := st.CardIDByPANHash(shared); id != "z-virtual" {
					t.Fatalf("after load the PAN index resolves to %q, want z-virtual (issued first)", id)
				}
				if got := st.CardIDsOfBalance(lt.BalanceID); strings.Join(got, ",") != lt.CardID+",z-virtual,a-physical" {
					t.Fatalf("cards of balance after load: %v", got)
				}
			}
		})
	}
}
