package ledger_test

import (
	"fmt"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	lt "github.com/cardswitch/cardswitch/ledger/ledgertest"
)

// loyaltyFixture is the ledger fixture with the demo programme and its card enrolled.
func loyaltyFixture(t testing.TB) *lt.Fixture {
	t.Helper()
	f := lt.NewFixture(t, 1_000_000_00)
	p := demoProgram()
	f.Env.Loyalty = &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{p.ID: p}}
	enroll(t, f, lt.CardID)
	return f
}

func enroll(t testing.TB, f *lt.Fixture, cardID string) {
	t.Helper()
	f.Manage("enroll", func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.EnrollLoyalty{CardID: cardID, ProgramID: "DEMO-PROGRAM", RANAC: "0364378261047641873" + cardID[len(cardID)-1:],
			Role: ledger.RoleNonRedeemer}.Apply(tx, env).Refusal
	})
}

func points(t testing.TB, f *lt.Fixture, cardID string) int64 {
	t.Helper()
	b, ok := f.State.Balance(ledger.PointsBalanceID(cardID))
	if !ok {
		t.Fatalf("no points balance for %s", cardID)
	}
	if b.Currency != ledger.PointsUnit || b.Kind != ledger.BalanceLoyalty {
		t.Fatalf("points balance %+v", b)
	}
	return b.CurrentMinor
}

// checkPointsBooks: a points balance is the sum of its card's earnings (nothing is redeemed here).
func checkPointsBooks(t testing.TB, f *lt.Fixture, cardID string) {
	t.Helper()
	var sum int64
	for _, e := range f.State.LoyaltyEarningsOfCard(cardID) {
		sum += e.Points
	}
	if got := points(t, f, cardID); got != sum {
		t.Fatalf("points %d != sum of earnings %d", got, sum)
	}
}

func purchase(amount int64, stan, merchantID, mcc string) *authz.Request {
	r := lt.Req("0200", "000000", lt.PAN, amount, stan)
	r.CVC2 = lt.CVC2
	r.MerchantID, r.MCC = merchantID, mcc
	return r
}

func TestLoyaltyEnrollment(t *testing.T) {
	f := loyaltyFixture(t)
	m, ok := f.State.LoyaltyMember(lt.CardID)
	if !ok || m.Status != ledger.LoyaltyEnrolled || m.ProgramID != "DEMO-PROGRAM" || m.Last4 != "0001" ||
		m.CustomerID != lt.Customer || m.Role != ledger.RoleRedeemer {
		t.Fatalf("member %+v", m)
	}
	if got := points(t, f, lt.CardID); got != 0 {
		t.Fatalf("points %d", got)
	}
	for _, tc := range []struct {
		name string
		cmd  ledger.EnrollLoyalty
		code string
	}{
		{"again", ledger.EnrollLoyalty{CardID: lt.CardID, ProgramID: "DEMO-PROGRAM", RANAC: "1"}, "ALREADY_ENROLLED"},
		{"unknown card", ledger.EnrollLoyalty{CardID: "nope", ProgramID: "DEMO-PROGRAM", RANAC: "1"}, "CARD_NOT_FOUND"},
		{"unknown programme", ledger.EnrollLoyalty{CardID: lt.CardID, ProgramID: "OTHER", RANAC: "1"}, "INVALID_PROGRAM"},
	} {
		tx := f.State.Begin()
		env := f.Env
		env.Now = f.Now
		r := tc.cmd.Apply(tx, &env)
		if r.Refusal == nil || r.Refusal.Code != tc.code || !tx.Empty() {
			t.Errorf("%s: refusal %v, empty %v; want %s and nothing written", tc.name, r.Refusal, tx.Empty(), tc.code)
		}
		tx.Rollback()
	}
}

// TestLoyaltyNotInProgram: a card of a programme outside the loyalty programme is refused.
func TestLoyaltyNotInProgram(t *testing.T) {
	f := loyaltyFixture(t)
	p, _ := f.Env.Loyalty.Program("DEMO-PROGRAM")
	p.CardPrograms, p.BusinessCardPrograms = []string{"other"}, nil
	f.IssueCard("card-2", lt.BalanceID, "5351100000000019")
	tx := f.State.Begin()
	env := f.Env
	r := ledger.EnrollLoyalty{CardID: "card-2", ProgramID: "DEMO-PROGRAM", RANAC: "1"}.Apply(tx, &env)
	if r.Refusal == nil || r.Refusal.Code != "CARD_NOT_IN_PROGRAM" {
		t.Fatalf("refusal %v", r.Refusal)
	}
}

// TestLoyaltyEarning is the points scenario of issue 19: purchases earn (more at the partner
// merchant), retransmissions earn once, a reversal and a refund take points back, an
// authorization earns only when it is captured.
func TestLoyaltyEarning(t *testing.T) {
	f := loyaltyFixture(t)
	type step struct {
		name string
		req  func() *authz.Request
		want int64 // points after the step
	}
	var steps []step
	p1 := purchase(25_50, "000001", "SHOP0000000001", "5999")
	p2 := purchase(10_00, "000002", "PARTNER0000001 ", "5999")
	p3 := purchase(20_00, "000003", "GROCER00000001", "5411")
	auth := lt.Auth(lt.PAN, 40_00, "000004")
	auth.CVC2 = lt.CVC2
	auth.MerchantID, auth.MCC = "SHOP0000000001", "5999"
	refund := lt.Req("0200", "200000", lt.PAN, 5_00, "000007")
	refund.MerchantID, refund.MCC = "PARTNER0000001", "5999"
	steps = append(steps,
		step{"purchase earns the base rate", func() *authz.Request { return p1 }, 25},
		step{"retransmission earns nothing more", func() *authz.Request { return p1 }, 25},
		step{"partner merchant earns three times", func() *authz.Request { return p2 }, 25 + 30},
		step{"grocery MCC adds the bonus", func() *authz.Request { return p3 }, 55 + 70},
		step{"an authorization earns nothing yet", func() *authz.Request { return auth }, 125},
		step{"its completion earns on the captured amount", func() *authz.Request { return lt.FollowUp("0220", auth, 30_00, "000005") }, 155},
		step{"a second completion earns nothing", func() *authz.Request { return lt.FollowUp("0220", auth, 30_00, "000055") }, 155},
		step{"partial reversal of the partner purchase", func() *authz.Request { return lt.PartialReversal(p2, 5_00, "000006") }, 155 - 15},
		step{"refund at the partner takes back three times", func() *authz.Request { return refund }, 140 - 15},
		step{"reversal of the grocery purchase takes back all with the bonus", func() *authz.Request { return lt.FollowUp("0400", p3, 20_00, "000008") }, 125 - 70},
		step{"repeated reversal takes back nothing more", func() *authz.Request { return lt.FollowUp("0400", p3, 20_00, "000008") }, 55},
		step{"reversal of the refund gives its points back", func() *authz.Request { return lt.FollowUp("0400", refund, 5_00, "000009") }, 70},
	)
	for _, s := range steps {
		if resp := f.Process(s.req()); resp.Action != authz.Approved {
			t.Fatalf("%s: answered %s", s.name, resp.Action)
		}
		if got := points(t, f, lt.CardID); got != s.want {
			t.Fatalf("%s: points %d, want %d", s.name, got, s.want)
		}
		checkPointsBooks(t, f, lt.CardID)
	}
}

// TestLoyaltyNotEnrolledEarnsNothing: a card that is not enrolled has no points balance and its
// purchases write no loyalty row.
func TestLoyaltyNotEnrolledEarnsNothing(t *testing.T) {
	f := lt.NewFixture(t, 1_000_00)
	p := demoProgram()
	f.Env.Loyalty = &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{p.ID: p}}
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	req := purchase(10_00, "000001", "PARTNER0000001", "5411")
	f.LoadMessage(tx, req, &env)
	if resp := tx.Process(req, &env); resp.Action != authz.Approved {
		t.Fatal(resp.Action)
	}
	for _, c := range tx.Changes(nil) {
		if c.Table == ledger.TableLoyaltyEarning || c.Table == ledger.TableLoyaltyMember {
			t.Fatalf("loyalty row %s written for a card not enrolled", c.Table)
		}
	}
	f.CommitTx(tx)
	if _, ok := f.State.Balance(ledger.PointsBalanceID(lt.CardID)); ok {
		t.Fatal("points balance for a card not enrolled")
	}
}

// TestLoyaltyRollbackBooksNothing: points are booked in the purchase's batch: a batch rolled
// back (its journal write failed) leaves no points, like it leaves no money.
func TestLoyaltyRollbackBooksNothing(t *testing.T) {
	f := loyaltyFixture(t)
	tx := f.State.Begin()
	env := f.Env
	env.Now = f.Now
	req := purchase(10_00, "000001", "PARTNER0000001", "5999")
	f.LoadMessage(tx, req, &env)
	tx.Process(req, &env)
	tx.Rollback()
	if got := points(t, f, lt.CardID); got != 0 {
		t.Fatalf("points %d after rollback", got)
	}
	if resp := f.Process(req); resp.Action != authz.Approved || points(t, f, lt.CardID) != 30 {
		t.Fatalf("the repeated purchase: %s, points %d", resp.Action, points(t, f, lt.CardID))
	}
}

// TestLoyaltyBusinessCard: a business card earns the offers but not the always-on base rate.
func TestLoyaltyBusinessCard(t *testing.T) {
	f := lt.NewFixture(t, 1_000_00)
	p := demoProgram()
	p.CardPrograms, p.BusinessCardPrograms = nil, []string{lt.Program}
	f.Env.Loyalty = &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{p.ID: p}}
	enroll(t, f, lt.CardID)
	f.Process(purchase(10_00, "000001", "SHOP0000000001", "5999"))
	f.Process(purchase(10_00, "000002", "PARTNER0000001", "5999"))
	if got := points(t, f, lt.CardID); got != 20 {
		t.Fatalf("points %d, want 20 (the offer's part only)", got)
	}
}

// TestLoyaltyRecovery: members, earnings and points come back from the journal, and a reversal
// after the restart takes back what was earned before it.
func TestLoyaltyRecovery(t *testing.T) {
	f, mem := lt.NewMemoryJournalFixture(t, 1_000_00)
	p := demoProgram()
	rules := &ledger.LoyaltyRules{Programs: map[string]*ledger.LoyaltyProgram{p.ID: p}}
	f.Env.Loyalty = rules
	enroll(t, f, lt.CardID)
	p2 := purchase(10_00, "000002", "PARTNER0000001", "5999")
	f.Process(p2)
	st := ledger.NewState(mem)
	if err := mem.Load(st); err != nil {
		t.Fatal(err)
	}
	st.FinishLoad()
	g := &lt.Fixture{T: t, State: st, Env: f.Env, Now: f.Now, Programs: f.Programs, Commit: mem.Commit}
	if m, ok := st.LoyaltyMember(lt.CardID); !ok || m.Status != ledger.LoyaltyEnrolled {
		t.Fatalf("member after recovery %+v %v", m, ok)
	}
	if got := points(t, g, lt.CardID); got != 30 {
		t.Fatalf("points after recovery %d", got)
	}
	g.Process(lt.FollowUp("0400", p2, 10_00, "000003"))
	if got := points(t, g, lt.CardID); got != 0 {
		t.Fatalf("points after the reversal %d", got)
	}
	checkPointsBooks(t, g, lt.CardID)
}

// TestLoyaltyManyCards: earnings are kept per card; two members of one customer are listed in
// enrollment order.
func TestLoyaltyManyCards(t *testing.T) {
	f := loyaltyFixture(t)
	f.IssueCard("card-2", lt.BalanceID, "5351100000000019")
	enroll(t, f, "card-2")
	for i := range 3 {
		r := purchase(10_00, fmt.Sprintf("%06d", 100+i), "SHOP", "5999")
		r.PAN = "5351100000000019"
		f.Process(r)
	}
	if got := points(t, f, "card-2"); got != 30 {
		t.Fatalf("card-2 points %d", got)
	}
	if got := points(t, f, lt.CardID); got != 0 {
		t.Fatalf("card-1 points %d", got)
	}
	ms := f.State.LoyaltyMembersOfCustomer(lt.Customer)
	if len(ms) != 2 || ms[0].CardID != lt.CardID || ms[1].CardID != "card-2" {
		t.Fatalf("members %+v", ms)
	}
}
