package mrs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/loyalty"
	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/simulators/mrs"
	"github.com/cardswitch/cardswitch/tokenvault"
)

var (
	keyOnce sync.Once
	simKey  *rsa.PrivateKey
)

func newSim(t *testing.T) (*mrs.Sim, *loyalty.Client) {
	t.Helper()
	keyOnce.Do(func() { simKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	sim, err := mrs.New(mrs.Config{Key: simKey, Programs: []mrs.Program{{ID: "DEMO-PROGRAM", BINs: []string{"535110"}}, {ID: "OTHER", BINs: []string{"535110"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cl := loyalty.InProcessClient(sim.Handler(), loyalty.ClientConfig{AttemptTimeout: 2 * time.Second,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	return sim, cl
}

const (
	pan1 = "5351100000000002" // Luhn-valid, in the BIN range
	pan2 = "5351100000000010"
)

type enrollArgs struct {
	program, customer, product, pan string
	clear                           bool // send the PAN without the envelope
}

func enroll(t *testing.T, cl *loyalty.Client, a enrollArgs) mrswire.Response {
	t.Helper()
	if a.program == "" {
		a.program = "DEMO-PROGRAM"
	}
	if a.product == "" {
		a.product = mrs.DefaultBankProductCode
	}
	value := a.pan
	if !a.clear {
		env, err := cl.SealPAN(context.Background(), tokenvault.PAN(a.pan))
		if err != nil {
			t.Fatal(err)
		}
		value = env.JSON()
	}
	resp, err := cl.Call(context.Background(), mrswire.OpEnroll, []mrswire.Field{{Name: "programId", Value: a.program},
		{Name: "bankCustomerNumber", Value: a.customer}, {Name: "bankProductCode", Value: a.product},
		{Name: "bankAccountNumber", Value: value, Encrypted: !a.clear}, {Name: "firstName", Value: "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func call(t *testing.T, cl *loyalty.Client, op string, kv ...string) mrswire.Response {
	t.Helper()
	var fs []mrswire.Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, mrswire.Field{Name: kv[i], Value: kv[i+1]})
	}
	resp, err := cl.Call(context.Background(), op, fs)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func want(t *testing.T, r mrswire.Response, code string) {
	t.Helper()
	if r.StatusCode != code {
		t.Fatalf("statusCode %s (%s), want %s", r.StatusCode, r.StatusMessage, code)
	}
}

// One test per status code of seed §7.1, each from the situation that causes it.

func TestStatus0Success(t *testing.T) {
	sim, cl := newSim(t)
	r := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, r, mrswire.StatusSuccess)
	if len(r.RANAC) != 20 || r.AccountID == "" || r.HouseholdID == "" {
		t.Fatalf("%+v", r)
	}
	accs := call(t, cl, mrswire.OpGetCustomerAccounts, "bankCustomerNumber", "parent-1")
	if len(accs.Accounts) != 1 || accs.Accounts[0].RANAC != r.RANAC || accs.Accounts[0].Last4 != "0002" || accs.Accounts[0].RoleID != "P" {
		t.Fatalf("%+v", accs)
	}
	d := call(t, cl, mrswire.OpGetCustomerDetails, "bankCustomerNumber", "parent-1")
	if d.Customer == nil || d.Customer.CustomerStatus != "Good-standing" || d.Customer.FirstName != "Ada" {
		t.Fatalf("%+v", d)
	}
	sim.SetPoints(r.RANAC, 42)
	p := call(t, cl, mrswire.OpGetPointDetails, "ranac", r.RANAC)
	if p.Points != "42" || p.HouseholdID != r.HouseholdID {
		t.Fatalf("%+v", p)
	}
	cat := call(t, cl, mrswire.OpGetRewardCatalog, "programId", "DEMO-PROGRAM")
	items := call(t, cl, mrswire.OpGetRewardItems, "programId", "DEMO-PROGRAM", "rewardCategoryId", "TRAVEL")
	if len(cat.Categories) == 0 || len(items.Items) != 2 || items.Items[0].RewardMatrixItemPointValue == 0 {
		t.Fatalf("%+v %+v", cat, items)
	}
	if sim.Calls(mrswire.OpGetPointDetails) != 1 {
		t.Fatalf("getPointDetails calls %d", sim.Calls(mrswire.OpGetPointDetails))
	}
}

func TestStatusMinus1InvalidParameters(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{customer: "", pan: pan1}), mrswire.StatusInvalidParameters)
	want(t, call(t, cl, mrswire.OpGetCustomerAccounts), mrswire.StatusInvalidParameters)
	want(t, call(t, cl, mrswire.OpGetRewardItems, "programId", "DEMO-PROGRAM", "rewardCategoryId", "NOPE"), mrswire.StatusInvalidParameters)
}

func TestStatusMinus5AccountNotFound(t *testing.T) {
	_, cl := newSim(t)
	want(t, call(t, cl, mrswire.OpGetPointDetails, "ranac", "03640000000000009999"), mrswire.StatusAccountNotFound)
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", "03640000000000009999", "accountStatusCode", "CANCELLED"), mrswire.StatusAccountNotFound)
}

func TestStatusMinus10InvalidAccountStatus(t *testing.T) {
	_, cl := newSim(t)
	r := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", r.RANAC, "accountStatusCode", "CANCELLED"), mrswire.StatusSuccess)
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", r.RANAC, "accountStatusCode", "CANCELLED"), mrswire.StatusInvalidAccountStatus)
	// Opting back in reactivates it.
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", r.RANAC, "accountStatusCode", "ACTIVE"), mrswire.StatusSuccess)
}

func TestStatusMinus32InvalidProgramID(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{program: "UNKNOWN-PROGRAM", customer: "p", pan: pan1}), mrswire.StatusInvalidProgramID)
}

func TestStatusMinus44InvalidBankAccountNumber(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: "5351100000000003"}), mrswire.StatusInvalidBankAccountNumber) // Luhn
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: pan1, clear: true}), mrswire.StatusInvalidBankAccountNumber)  // not sealed
}

func TestStatusMinus45AccountAlreadyEnrolled(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1}), mrswire.StatusSuccess)
	want(t, enroll(t, cl, enrollArgs{customer: "parent-2", pan: pan1}), mrswire.StatusAccountAlreadyEnrolled)
}

func TestStatusMinus46InvalidBankProductCode(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: pan1, product: "XYZ"}), mrswire.StatusInvalidBankProductCode)
}

func TestStatusMinus47InvalidAccountStatusCode(t *testing.T) {
	_, cl := newSim(t)
	r := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", r.RANAC, "accountStatusCode", "SUSPENDED"), mrswire.StatusInvalidAccountStatusCode)
}

func TestStatusMinus48InvalidProgramIdentifier(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{program: "not a program!", customer: "p", pan: pan1}), mrswire.StatusInvalidProgramIdentifier)
	want(t, call(t, cl, mrswire.OpGetRewardCatalog, "programId", "<script>"), mrswire.StatusInvalidProgramIdentifier)
}

func TestStatusMinus50CustomerAlreadyEnrolled(t *testing.T) {
	_, cl := newSim(t)
	first := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	again := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, again, mrswire.StatusCustomerAlreadyEnrolled)
	if again.RANAC != first.RANAC {
		t.Fatalf("-50 names %s, the first enroll made %s", again.RANAC, first.RANAC)
	}
}

func TestStatusMinus52AccountNotQualified(t *testing.T) {
	_, cl := newSim(t)
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: "4111111111111111"}), mrswire.StatusAccountNotQualified)
}

func TestStatusMinus85BankAccountDoesNotExist(t *testing.T) {
	_, cl := newSim(t)
	env, _ := cl.SealPAN(context.Background(), tokenvault.PAN(pan2))
	resp, err := cl.Call(context.Background(), mrswire.OpGetCustomerAccounts, []mrswire.Field{{Name: "bankAccountNumber", Value: env.JSON(), Encrypted: true}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, resp, mrswire.StatusBankAccountDoesNotExist)
}

func TestStatusMinus1001ServerError(t *testing.T) {
	sim, cl := newSim(t)
	sim.SetFaults(mrs.Faults{ServerErrors: 10})
	resp, err := cl.Call(context.Background(), mrswire.OpGetRewardCatalog, []mrswire.Field{{Name: "programId", Value: "DEMO-PROGRAM"}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, resp, mrswire.StatusServerError)
	if n := sim.Calls(mrswire.OpGetRewardCatalog); n != 0 {
		t.Fatalf("a -1001 answer applied the operation %d times", n)
	}
}

// Households (seed §6.6, checklist 9).
func TestHouseholds(t *testing.T) {
	_, cl := newSim(t)
	a := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	b := enroll(t, cl, enrollArgs{customer: "parent-2", pan: pan2})
	mv := call(t, cl, mrswire.OpMoveAccountToExistingHousehold, "accountId", b.AccountID, "householdId", a.HouseholdID)
	want(t, mv, mrswire.StatusSuccess)
	if mv.NewHouseholdID != a.HouseholdID {
		t.Fatalf("move: new household %s, want %s", mv.NewHouseholdID, a.HouseholdID)
	}
	accs := call(t, cl, mrswire.OpGetCustomerAccounts, "bankCustomerNumber", "parent-2")
	if accs.Accounts[0].RoleID != "N" {
		t.Fatalf("a moved account's customer starts as %s", accs.Accounts[0].RoleID)
	}
	bad := call(t, cl, mrswire.OpUpdateHouseholdRole, "householdId", a.HouseholdID, "roleId", "X", "childCustomerId", b.CustomerID)
	if bad.StatusCode != mrswire.StatusInvalidParameters || bad.Success != "false" {
		t.Fatalf("role X: %+v", bad)
	}
	ok := call(t, cl, mrswire.OpUpdateHouseholdRole, "householdId", a.HouseholdID, "roleId", "R", "childCustomerId", b.CustomerID)
	if ok.StatusCode != mrswire.StatusSuccess || ok.Success != "true" {
		t.Fatalf("role R: %+v", ok)
	}
	want(t, call(t, cl, mrswire.OpRemoveAccountFromHousehold, "accountId", b.AccountID, "householdId", "H-other"), mrswire.StatusInvalidParameters)
	rm := call(t, cl, mrswire.OpRemoveAccountFromHousehold, "accountId", b.AccountID, "householdId", a.HouseholdID)
	want(t, rm, mrswire.StatusSuccess)
	if rm.NewHouseholdID == "" || rm.NewHouseholdID == a.HouseholdID {
		t.Fatalf("remove: new household %q", rm.NewHouseholdID)
	}
}

// Faults and the client's retry policy.

func TestRetryAfterServerError(t *testing.T) {
	sim, cl := newSim(t)
	sim.SetFaults(mrs.Faults{ServerErrors: 1})
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: pan1}), mrswire.StatusSuccess)
	// A mutation is repeated after -1001 too: the host said it did nothing.
	accs := call(t, cl, mrswire.OpGetCustomerAccounts, "bankCustomerNumber", "p")
	sim.SetFaults(mrs.Faults{ServerErrors: 1, Op: mrswire.OpUpdateCustomerAccount})
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", accs.Accounts[0].RANAC, "accountStatusCode", "CANCELLED"), mrswire.StatusSuccess)
}

func TestSlowHost(t *testing.T) {
	sim, _ := newSim(t)
	cl := loyalty.InProcessClient(sim.Handler(), loyalty.ClientConfig{AttemptTimeout: 20 * time.Millisecond, Attempts: 2,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	sim.SetFaults(mrs.Faults{Delay: time.Minute})
	if _, err := cl.Call(context.Background(), mrswire.OpGetRewardCatalog, []mrswire.Field{{Name: "programId", Value: "DEMO-PROGRAM"}}); !errors.Is(err, loyalty.ErrHostUnavailable) {
		t.Fatalf("read from a slow host: %v", err)
	}
	if _, err := cl.Call(context.Background(), mrswire.OpUpdateCustomerAccount, []mrswire.Field{{Name: "ranac", Value: "1"}, {Name: "accountStatusCode", Value: "CANCELLED"}}); !errors.Is(err, loyalty.ErrOutcomeUnknown) {
		t.Fatalf("mutation at a slow host: %v", err)
	}
}

// TestDroppedConnection runs the simulator on a real listener: a dropped connection is retried
// for a read and is an unknown outcome for a mutation; a refused connection is retried for both.
func TestDroppedConnection(t *testing.T) {
	sim, _ := newSim(t)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	cl := loyalty.NewClient(loyalty.ClientConfig{URL: srv.URL, AttemptTimeout: 2 * time.Second,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	want(t, enroll(t, cl, enrollArgs{customer: "p", pan: pan1}), mrswire.StatusSuccess)
	ranac := call(t, cl, mrswire.OpGetCustomerAccounts, "bankCustomerNumber", "p").Accounts[0].RANAC
	sim.SetFaults(mrs.Faults{Drops: 1})
	want(t, call(t, cl, mrswire.OpGetPointDetails, "ranac", ranac), mrswire.StatusSuccess)
	sim.SetFaults(mrs.Faults{Drops: 1})
	_, err := cl.Call(context.Background(), mrswire.OpUpdateCustomerAccount, []mrswire.Field{{Name: "ranac", Value: ranac}, {Name: "accountStatusCode", Value: "CANCELLED"}})
	if !errors.Is(err, loyalty.ErrOutcomeUnknown) {
		t.Fatalf("dropped mutation: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every connection is refused
	dead := loyalty.NewClient(loyalty.ClientConfig{URL: "http://" + addr, Sleep: func(context.Context, time.Duration) error { return nil }})
	_, err = dead.Call(context.Background(), mrswire.OpUpdateCustomerAccount, []mrswire.Field{{Name: "ranac", Value: ranac}})
	if !errors.Is(err, loyalty.ErrHostUnavailable) {
		t.Fatalf("refused connection: %v", err)
	}
}

// TestStateSurvivesRestart: with a state file the host keeps its accounts across restarts (the
// in-process host of cardswitch uses one), and a repeated enroll still finds the account.
func TestStateSurvivesRestart(t *testing.T) {
	keyOnce.Do(func() { simKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	path := t.TempDir() + "/state.json"
	open := func() *loyalty.Client {
		sim, err := mrs.New(mrs.Config{Key: simKey, Programs: []mrs.Program{{ID: "DEMO-PROGRAM", BINs: []string{"535110"}}}, StatePath: path})
		if err != nil {
			t.Fatal(err)
		}
		return loyalty.InProcessClient(sim.Handler(), loyalty.ClientConfig{Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	cl := open()
	first := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, first, mrswire.StatusSuccess)
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", first.RANAC, "accountStatusCode", "CANCELLED"), mrswire.StatusSuccess)
	cl = open()
	accs := call(t, cl, mrswire.OpGetCustomerAccounts, "bankCustomerNumber", "parent-1")
	if len(accs.Accounts) != 1 || accs.Accounts[0].RANAC != first.RANAC || accs.Accounts[0].AccountStatus != "CANCELLED" {
		t.Fatalf("after restart: %+v", accs)
	}
	want(t, call(t, cl, mrswire.OpUpdateCustomerAccount, "ranac", first.RANAC, "accountStatusCode", "ACTIVE"), mrswire.StatusSuccess)
	again := enroll(t, cl, enrollArgs{customer: "parent-1", pan: pan1})
	want(t, again, mrswire.StatusCustomerAlreadyEnrolled)
	if again.RANAC != first.RANAC {
		t.Fatalf("-50 names %s, want %s", again.RANAC, first.RANAC)
	}
	if second := enroll(t, cl, enrollArgs{customer: "parent-2", pan: pan2}); second.RANAC == first.RANAC {
		t.Fatal("a RANAC given twice after a restart")
	}
}
