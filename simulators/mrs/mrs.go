// Package mrs simulates the rewards host of the rewards seed (Mastercard Rewards System API v2.0,
// loyalty-rewards.txt §7): the ten SOAP operations over HTTP, every status code of §7.1 produced
// by the situation that causes it, and fault injection (slow answers, -1001, dropped
// connections). cardswitch uses it in-process when loyalty.rewardsHost is empty; `cardswitch mrs`
// runs it on its own.
package mrs

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cardswitch/cardswitch/loyalty/mrswire"
	"github.com/cardswitch/cardswitch/loyalty/pancrypt"
)

// Program is a programme the host knows: the BIN prefixes its cards must start with.
type Program struct {
	ID   string
	BINs []string
}

// Config is the simulator's.
type Config struct {
	Key      *rsa.PrivateKey // opens bankAccountNumber envelopes (required)
	Programs []Program
	// BankProductCodes are the product codes enroll accepts; default DefaultBankProductCode.
	BankProductCodes []string
	// StatePath keeps the accounts across restarts (state.go); "" keeps them in memory only.
	StatePath string
}

// DefaultBankProductCode is the product code cardswitch sends (the seed: hard coded).
const DefaultBankProductCode = "RPM"

// Paths of the simulator's HTTP surface: the host's (mrswire.PathSOAP, mrswire.PathPublicKey)
// and the fault injection.
const (
	PathSOAP      = mrswire.PathSOAP
	PathPublicKey = mrswire.PathPublicKey
	PathFaults    = "/mrs/faults" // POST: Faults as JSON (tests, demo)
)

// Faults are injected into the next answers.
type Faults struct {
	Op           string        `json:"op"`           // "" every operation, else only this one
	Delay        time.Duration `json:"delay"`        // answer this much later (ends early if the caller gives up)
	ServerErrors int           `json:"serverErrors"` // the next n calls answer -1001
	Drops        int           `json:"drops"`        // the next n calls: the connection is closed without an answer
}

// Sim is the rewards host.
type Sim struct {
	cfg Config

	mu         sync.Mutex
	faults     Faults
	seq        int
	customers  map[string]*customer // by bankCustomerNumber
	accounts   map[string]*account  // by RANAC
	byID       map[string]*account  // by accountId
	byPAN      map[string]*account  // by SHA-256 of the PAN (the host keeps no PAN)
	households map[string]*household
	calls      map[string]int // per operation, for tests ("one getPointDetails per card")
}

type customer struct {
	id, number, first, last, email string
}

type account struct {
	id, ranac, customerID, number, programID, status, last4, household string
	points                                                             int64
}

type household struct {
	id, programID string
	roles         map[string]string // MRS customer id -> P/R/N
}

// New returns a simulator with the state StatePath holds.
func New(cfg Config) (*Sim, error) {
	if cfg.Key == nil {
		panic("mrs: Config.Key is required")
	}
	if len(cfg.BankProductCodes) == 0 {
		cfg.BankProductCodes = []string{DefaultBankProductCode}
	}
	s := &Sim{cfg: cfg, customers: map[string]*customer{}, accounts: map[string]*account{}, byID: map[string]*account{},
		byPAN: map[string]*account{}, households: map[string]*household{}, calls: map[string]int{}}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// SetFaults replaces the injected faults.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Calls reports how many times op was called.
func (s *Sim) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// SetPoints sets the host-side point balance of an account (the host's own promotions; tests).
func (s *Sim) SetPoints(ranac string, points int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[ranac]
	if ok {
		a.points = points
	}
	return ok
}

// PublicKeyPEM is the key bankAccountNumber envelopes are sealed to.
func (s *Sim) PublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.cfg.Key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Handler serves the simulator's HTTP surface.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathSOAP, s.serveSOAP)
	mux.HandleFunc("GET "+PathPublicKey, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.PublicKeyPEM())
	})
	mux.HandleFunc("POST "+PathFaults, func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&f); err != nil {
			http.Error(w, "faults: want JSON", http.StatusBadRequest)
			return
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (s *Sim) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, mrswire.MaxBodyBytes+1))
	if err != nil || len(body) > mrswire.MaxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := mrswire.DecodeRequest(body)
	if err != nil {
		http.Error(w, "not a SOAP request of the customer namespace", http.StatusBadRequest)
		return
	}
	delay, fail, drop := s.takeFault(req.Op)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if drop {
		panic(http.ErrAbortHandler) // net/http closes the connection without an answer
	}
	var resp mrswire.Response
	if fail {
		resp = mrswire.Response{StatusCode: mrswire.StatusServerError, StatusMessage: "Server Side Error. Internal Error"}
	} else {
		resp = s.Apply(req)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(mrswire.EncodeResponse(req.Op, resp))
}

func (s *Sim) takeFault(op string) (delay time.Duration, fail, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.Op != "" && f.Op != op {
		return 0, false, false
	}
	if f.Drops > 0 {
		f.Drops--
		return f.Delay, false, true
	}
	if f.ServerErrors > 0 {
		f.ServerErrors--
		return f.Delay, true, false
	}
	return f.Delay, false, false
}

func status(code, msg string) mrswire.Response {
	return mrswire.Response{StatusCode: code, StatusMessage: msg}
}

var reProgramID = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

// Apply answers one decoded request (the SOAP layer aside).
func (s *Sim) Apply(r mrswire.Request) mrswire.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.Op]++
	resp := s.apply(r)
	if resp.StatusCode == mrswire.StatusSuccess && mutates(r.Op) {
		if err := s.save(); err != nil {
			// The change is not durable at the host: it answers as a host that failed does.
			return status(mrswire.StatusServerError, "Server Side Error. Internal Error")
		}
	}
	return resp
}

// mutates reports whether op changes the host's accounts.
func mutates(op string) bool {
	switch op {
	case mrswire.OpEnroll, mrswire.OpUpdateCustomerAccount, mrswire.OpMoveAccountToExistingHousehold,
		mrswire.OpRemoveAccountFromHousehold, mrswire.OpUpdateHouseholdRole:
		return true
	}
	return false
}

func (s *Sim) apply(r mrswire.Request) mrswire.Response {
	f := r.Fields
	switch r.Op {
	case mrswire.OpEnroll:
		return s.enroll(r)
	case mrswire.OpGetCustomerAccounts:
		return s.getCustomerAccounts(r)
	case mrswire.OpGetCustomerDetails:
		if f["bankCustomerNumber"] == "" {
			return status(mrswire.StatusInvalidParameters, "bankCustomerNumber is required")
		}
		c, ok := s.customers[f["bankCustomerNumber"]]
		if !ok {
			return status(mrswire.StatusAccountNotFound, "no such customer")
		}
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, Customer: &mrswire.Customer{CustomerID: c.id,
			BankCustomerNumber: c.number, CustomerStatus: s.customerStatus(c), FirstName: c.first, LastName: c.last, Email: c.email}}
	case mrswire.OpUpdateCustomerAccount:
		return s.updateCustomerAccount(f)
	case mrswire.OpGetRewardCatalog:
		if r := s.checkProgram(f["programId"]); r != nil {
			return *r
		}
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, Categories: catalogCategories}
	case mrswire.OpGetRewardItems:
		if r := s.checkProgram(f["programId"]); r != nil {
			return *r
		}
		var items []mrswire.Item
		for _, it := range catalogItems {
			if f["rewardCategoryId"] == "" || it.CategoryID == f["rewardCategoryId"] {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			return status(mrswire.StatusInvalidParameters, "no such reward category")
		}
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, Items: items}
	case mrswire.OpGetPointDetails:
		if f["ranac"] == "" {
			return status(mrswire.StatusInvalidParameters, "ranac is required")
		}
		a, ok := s.accounts[f["ranac"]]
		if !ok {
			return status(mrswire.StatusAccountNotFound, "no such account")
		}
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, RANAC: a.ranac, AccountID: a.id,
			HouseholdID: a.household, Points: strconv.FormatInt(a.points, 10)}
	case mrswire.OpMoveAccountToExistingHousehold:
		return s.moveAccount(f)
	case mrswire.OpRemoveAccountFromHousehold:
		return s.removeAccount(f)
	case mrswire.OpUpdateHouseholdRole:
		return s.updateRole(f)
	}
	return status(mrswire.StatusInvalidParameters, "unknown operation")
}

// checkProgram: -1 missing, -48 not a programme identifier, -32 not a programme of the host.
func (s *Sim) checkProgram(id string) *mrswire.Response {
	var r mrswire.Response
	switch {
	case id == "":
		r = status(mrswire.StatusInvalidParameters, "programId is required")
	case !reProgramID.MatchString(id):
		r = status(mrswire.StatusInvalidProgramIdentifier, "not a program identifier")
	case s.program(id) == nil:
		r = status(mrswire.StatusInvalidProgramID, "no such program")
	default:
		return nil
	}
	return &r
}

func (s *Sim) program(id string) *Program {
	for i := range s.cfg.Programs {
		if s.cfg.Programs[i].ID == id {
			return &s.cfg.Programs[i]
		}
	}
	return nil
}

func (s *Sim) next(prefix string, width int) string {
	s.seq++
	return fmt.Sprintf("%s%0*d", prefix, width, s.seq)
}

// pan opens a bankAccountNumber: the clear form is refused, the envelope must open to digits.
func (s *Sim) pan(r mrswire.Request) (string, bool) {
	if !r.Encrypted["bankAccountNumber"] {
		return "", false
	}
	e, err := pancrypt.Parse([]byte(r.Fields["bankAccountNumber"]))
	if err != nil {
		return "", false
	}
	p, err := pancrypt.Open(s.cfg.Key, e)
	if err != nil {
		return "", false
	}
	return string(p), true
}

func panKey(pan string) string {
	h := sha256.Sum256([]byte(pan))
	return hex.EncodeToString(h[:])
}

// luhn reports whether a 12-19 digit number passes the Luhn check.
func luhn(pan string) bool {
	if len(pan) < 12 || len(pan) > 19 {
		return false
	}
	sum := 0
	for i := range len(pan) {
		c := pan[len(pan)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func (s *Sim) enroll(r mrswire.Request) mrswire.Response {
	f := r.Fields
	for _, k := range []string{"programId", "bankCustomerNumber", "bankProductCode", "bankAccountNumber"} {
		if f[k] == "" {
			return status(mrswire.StatusInvalidParameters, k+" is required")
		}
	}
	known := false
	for _, c := range s.cfg.BankProductCodes {
		known = known || c == f["bankProductCode"]
	}
	if !known {
		return status(mrswire.StatusInvalidBankProductCode, "invalid bank product code")
	}
	if r := s.checkProgram(f["programId"]); r != nil {
		return *r
	}
	pan, ok := s.pan(r)
	if !ok || !luhn(pan) {
		return status(mrswire.StatusInvalidBankAccountNumber, "invalid bank account number")
	}
	p := s.program(f["programId"])
	inRange := false
	for _, b := range p.BINs {
		inRange = inRange || len(pan) >= len(b) && pan[:len(b)] == b
	}
	if !inRange {
		return status(mrswire.StatusAccountNotQualified, "account not qualified for the program")
	}
	number := f["bankCustomerNumber"]
	if a, ok := s.byPAN[panKey(pan)]; ok && a.status != mrswire.AccountCancelled {
		if a.number != number {
			return status(mrswire.StatusAccountAlreadyEnrolled, "bank account number already enrolled")
		}
		// The same card of the same customer: already enrolled, with its account (a repeated
		// enroll, e.g. a retry after a lost answer, finds what the first one made).
		return mrswire.Response{StatusCode: mrswire.StatusCustomerAlreadyEnrolled, StatusMessage: "bank customer number already enrolled",
			RANAC: a.ranac, AccountID: a.id, HouseholdID: a.household, CustomerID: a.customerID}
	}
	c, ok := s.customers[number]
	if !ok {
		c = &customer{id: s.next("C", 9), number: number, first: f["firstName"], last: f["lastName"], email: f["emailAddress"]}
		s.customers[number] = c
	}
	// A customer's cards share one household per programme (seed §6.6): the first card's
	// customer is its primary redeemer; a household's later members start as non-redeemers.
	var hh *household
	for _, a := range s.accounts {
		if a.customerID == c.id && a.programID == p.ID && a.status != mrswire.AccountCancelled {
			hh = s.households[a.household]
			break
		}
	}
	if hh == nil {
		hh = &household{id: s.next("H", 9), programID: p.ID, roles: map[string]string{c.id: "P"}}
		s.households[hh.id] = hh
	}
	a := &account{id: s.next("A", 9), ranac: s.next("0364", 16), customerID: c.id, number: number, programID: p.ID,
		status: mrswire.AccountActive, last4: pan[len(pan)-4:], household: hh.id}
	s.accounts[a.ranac], s.byID[a.id], s.byPAN[panKey(pan)] = a, a, a
	return mrswire.Response{StatusCode: mrswire.StatusSuccess, RANAC: a.ranac, AccountID: a.id, HouseholdID: hh.id, CustomerID: c.id}
}

func (s *Sim) customerStatus(c *customer) string {
	for _, a := range s.accounts {
		if a.customerID == c.id && a.status == mrswire.AccountActive {
			return "Good-standing"
		}
	}
	return mrswire.AccountCancelled
}

func (s *Sim) accountView(a *account) mrswire.Account {
	return mrswire.Account{AccountID: a.id, RANAC: a.ranac, HouseholdID: a.household, CustomerID: a.customerID,
		AccountStatus: a.status, ProgramID: a.programID, Last4: a.last4, RoleID: s.households[a.household].roles[a.customerID]}
}

func (s *Sim) getCustomerAccounts(r mrswire.Request) mrswire.Response {
	f := r.Fields
	switch {
	case f["bankAccountNumber"] != "":
		pan, ok := s.pan(r)
		if !ok || !luhn(pan) {
			return status(mrswire.StatusInvalidBankAccountNumber, "invalid bank account number")
		}
		a, ok := s.byPAN[panKey(pan)]
		if !ok {
			return status(mrswire.StatusBankAccountDoesNotExist, "bank account number does not exist")
		}
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, Accounts: []mrswire.Account{s.accountView(a)}}
	case f["bankCustomerNumber"] != "":
		c, ok := s.customers[f["bankCustomerNumber"]]
		if !ok {
			return status(mrswire.StatusAccountNotFound, "no such customer")
		}
		var out []mrswire.Account
		for _, a := range s.accounts {
			if a.customerID == c.id {
				out = append(out, s.accountView(a))
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
		return mrswire.Response{StatusCode: mrswire.StatusSuccess, Accounts: out}
	}
	return status(mrswire.StatusInvalidParameters, "bankCustomerNumber or bankAccountNumber is required")
}

func (s *Sim) updateCustomerAccount(f map[string]string) mrswire.Response {
	if f["ranac"] == "" || f["accountStatusCode"] == "" {
		return status(mrswire.StatusInvalidParameters, "ranac and accountStatusCode are required")
	}
	code := f["accountStatusCode"]
	if code != mrswire.AccountActive && code != mrswire.AccountCancelled {
		return status(mrswire.StatusInvalidAccountStatusCode, "invalid account status code")
	}
	a, ok := s.accounts[f["ranac"]]
	if !ok {
		return status(mrswire.StatusAccountNotFound, "no such account")
	}
	if a.status == code {
		return status(mrswire.StatusInvalidAccountStatus, "the account has this status")
	}
	if code == mrswire.AccountActive {
		if other, ok := s.byPAN[s.panKeyOf(a)]; ok && other != a && other.status == mrswire.AccountActive {
			return status(mrswire.StatusAccountAlreadyEnrolled, "the card is enrolled again")
		}
	}
	a.status = code
	return mrswire.Response{StatusCode: mrswire.StatusSuccess, RANAC: a.ranac, AccountStatus: a.status}
}

// panKeyOf finds the PAN key an account was enrolled under.
func (s *Sim) panKeyOf(a *account) string {
	for k, v := range s.byPAN {
		if v == a {
			return k
		}
	}
	return ""
}

func (s *Sim) moveAccount(f map[string]string) mrswire.Response {
	if f["accountId"] == "" || f["householdId"] == "" {
		return status(mrswire.StatusInvalidParameters, "accountId and householdId are required")
	}
	a, ok := s.byID[f["accountId"]]
	if !ok {
		return status(mrswire.StatusAccountNotFound, "no such account")
	}
	hh, ok := s.households[f["householdId"]]
	if !ok {
		return status(mrswire.StatusInvalidParameters, "no such household")
	}
	if hh.programID != a.programID {
		return status(mrswire.StatusInvalidProgramID, "a household is of one program")
	}
	if a.status != mrswire.AccountActive {
		return status(mrswire.StatusInvalidAccountStatus, "the account is not active")
	}
	a.household = hh.id
	if _, ok := hh.roles[a.customerID]; !ok {
		hh.roles[a.customerID] = "N"
	}
	return mrswire.Response{StatusCode: mrswire.StatusSuccess, NewHouseholdID: hh.id}
}

func (s *Sim) removeAccount(f map[string]string) mrswire.Response {
	if f["accountId"] == "" || f["householdId"] == "" {
		return status(mrswire.StatusInvalidParameters, "accountId and householdId are required")
	}
	a, ok := s.byID[f["accountId"]]
	if !ok {
		return status(mrswire.StatusAccountNotFound, "no such account")
	}
	if a.household != f["householdId"] {
		return status(mrswire.StatusInvalidParameters, "the account is not in this household")
	}
	hh := &household{id: s.next("H", 9), programID: a.programID, roles: map[string]string{a.customerID: "P"}}
	s.households[hh.id] = hh
	a.household = hh.id
	return mrswire.Response{StatusCode: mrswire.StatusSuccess, NewHouseholdID: hh.id}
}

func (s *Sim) updateRole(f map[string]string) mrswire.Response {
	if f["householdId"] == "" || f["roleId"] == "" || f["childCustomerId"] == "" {
		return status(mrswire.StatusInvalidParameters, "householdId, roleId and childCustomerId are required")
	}
	role := f["roleId"]
	if role != "P" && role != "R" && role != "N" {
		return mrswire.Response{StatusCode: mrswire.StatusInvalidParameters, StatusMessage: "roleId: P, R or N", Success: "false"}
	}
	hh, ok := s.households[f["householdId"]]
	if !ok {
		return mrswire.Response{StatusCode: mrswire.StatusAccountNotFound, StatusMessage: "no such household", Success: "false"}
	}
	if _, ok := hh.roles[f["childCustomerId"]]; !ok {
		return mrswire.Response{StatusCode: mrswire.StatusAccountNotFound, StatusMessage: "the customer is not in the household", Success: "false"}
	}
	if role == "P" {
		for c, r := range hh.roles {
			if r == "P" {
				hh.roles[c] = "R" // one primary redeemer per household
			}
		}
	}
	hh.roles[f["childCustomerId"]] = role
	return mrswire.Response{StatusCode: mrswire.StatusSuccess, Success: "true"}
}
