package mgmt

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/kyc"
	"github.com/cardswitch/cardswitch/ledger"
	kycsim "github.com/cardswitch/cardswitch/simulators/kyc"
)

const kycSecret = "kyc-callback-secret-0123"

// kycHarness is the API with the KYC provider simulator: the simulator's callbacks reach the
// API's in-memory listener, and every callback answered is reported on done (the tests wait on
// it, not on time).
func kycHarness(t *testing.T, delay time.Duration, reviewed chan time.Time) (*harness, chan int) {
	var h *harness
	done := make(chan int, 16)
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return h.ln.DialWithLocalAddr(&net.TCPAddr{IP: net.ParseIP("10.9.9.9"), Port: 40001})
	}}
	client := &http.Client{Transport: reporting{tr, done}, Timeout: 10 * time.Second}
	sim := kycsim.New(kycsim.Config{Secret: []byte(kycSecret), Client: client, Delay: delay,
		Now:         func() time.Time { return h.clock.Now() }, // signed on the API's clock
		ReviewDelay: time.Hour, After: func(d time.Duration) <-chan time.Time {
			if d == time.Hour {
				return reviewed // the test releases the decision after a manual review
			}
			c := make(chan time.Time, 1)
			c <- time.Now()
			return c
		}})
	simSrv := httptest.NewServer(sim)
	h = newHarness(t, func(_ *config.Config, d *Deps) {
		d.KYC = &kyc.HTTPProvider{BaseURL: simSrv.URL, CallbackURL: "http://cardswitch/kyc/callback", Client: simSrv.Client()}
		d.KYCCallbackSecret = []byte(kycSecret)
	})
	t.Cleanup(func() { sim.Close(); simSrv.Close() })
	return h, done
}

type reporting struct {
	rt   http.RoundTripper
	done chan int
}

func (r reporting) RoundTrip(q *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(q)
	if err == nil {
		r.done <- resp.StatusCode
	} else {
		r.done <- 0
	}
	return resp, err
}

func waitCallback(t *testing.T, done chan int) int {
	t.Helper()
	select {
	case st := <-done:
		return st
	case <-time.After(20 * time.Second): // a hang, not a synchronization
		t.Fatal("no KYC callback")
	}
	return 0
}

// eKYC through the simulator: /secure and /customers/me start a verification (202, PENDING),
// the provider's signed callback moves the customer to VERIFIED or REJECTED with
// customer.kyc_changed; manual review leaves PENDING until the provider decides.
func TestEKYCWithSimulator(t *testing.T) {
	release := make(chan time.Time, 1)
	h, done := kycHarness(t, time.Second, release)
	mk := func(last string) string {
		r := h.do("POST", "/secure/customers", `{"firstName":"Ada","lastName":"`+last+`"}`)
		expect(t, r, 201)
		return r.str(t, "customerId")
	}
	approved, rejected, reviewed := mk("Lovelace"), mk("Rejectmeier"), mk("Review")

	r := h.do("POST", "/secure/customers/"+approved+"/register", "")
	expect(t, r, 202)
	if r.str(t, "kycStatus") != "PENDING" || !strings.HasPrefix(r.str(t, "verificationId"), "kyc_") {
		t.Fatalf("register: %s", r.body)
	}
	if st := waitCallback(t, done); st != 200 {
		t.Fatalf("callback answered %d", st)
	}
	if c, _ := h.eng.State().Customer(approved); c.KYC != ledger.KYCVerified {
		t.Fatalf("approved customer is %s", c.KYC)
	}
	expect(t, h.do("POST", "/secure/customers/"+approved+"/balances", `{"currency":"EUR"}`), 201)
	expect(t, h.do("POST", "/secure/customers/"+approved+"/register", ""), 409, "KYC_ALREADY_VERIFIED")

	// From the app, with the cardholder's session.
	expect(t, h.do("POST", "/customers/me/register", "", bearerH(h.session(rejected))...), 202)
	waitCallback(t, done)
	if c, _ := h.eng.State().Customer(rejected); c.KYC != ledger.KYCRejected {
		t.Fatalf("rejected customer is %s", c.KYC)
	}
	expect(t, h.do("POST", "/secure/customers/"+rejected+"/balances", `{"currency":"EUR"}`), 409, "KYC_REQUIRED")

	expect(t, h.do("POST", "/secure/customers/"+reviewed+"/register", ""), 202)
	waitCallback(t, done) // MANUAL_REVIEW
	if c, _ := h.eng.State().Customer(reviewed); c.KYC != ledger.KYCPending {
		t.Fatalf("customer in review is %s", c.KYC)
	}
	release <- time.Now()
	waitCallback(t, done) // the final decision (APPROVED)
	if c, _ := h.eng.State().Customer(reviewed); c.KYC != ledger.KYCVerified {
		t.Fatalf("reviewed customer is %s", c.KYC)
	}

	var changes []string
	for _, e := range h.eventsOf(ledger.EventCustomerKYCChanged) {
		changes = append(changes, e.CustomerID+":"+e.PreviousStatus+">"+e.Status)
	}
	want := []string{approved + ":PENDING>VERIFIED", rejected + ":PENDING>REJECTED", reviewed + ":PENDING>VERIFIED"}
	if strings.Join(changes, " ") != strings.Join(want, " ") {
		t.Fatalf("customer.kyc_changed %v, want %v", changes, want)
	}
	acts := h.auditActions()
	if !contains(acts, "customer.kyc_start") || !contains(acts, "customer.kyc_result") {
		t.Fatalf("audit %v", acts)
	}
}

// The callback route: signature required and checked, stale results of an earlier verification
// refused (409), the partner's own decision still works and revokes (cards then declined 1004).
func TestKYCCallbackGuards(t *testing.T) {
	// No provider: the in-process default (manual review); results are posted by hand.
	h := newHarness(t, func(_ *config.Config, d *Deps) { d.KYCCallbackSecret = []byte(kycSecret) })
	cust := h.customer(false)
	r := h.do("POST", "/secure/customers/"+cust+"/register", "")
	expect(t, r, 202)
	ref := r.str(t, "verificationId")
	if r.str(t, "kycStatus") != "PENDING" {
		t.Fatalf("register: %s", r.body)
	}
	acts := h.auditActions()
	if !contains(acts, "customer.kyc_result") { // the in-process default: manual review
		t.Fatalf("audit %v", acts)
	}
	send := func(body, sig string) resp {
		hdr := map[string]string{}
		if sig != "" {
			hdr[kyc.SignatureHeader] = sig
		}
		return h.send(req{method: "POST", path: "/kyc/callback", body: body, headers: hdr, client: h.remote})
	}
	body := `{"reference":"` + ref + `","customerId":"` + cust + `","outcome":"APPROVED"}`
	expect(t, send(body, ""), 401, "INVALID_SIGNATURE")
	expect(t, send(body, kyc.Sign([]byte("another-secret-0123"), h.clock.Now(), []byte(body))), 401, "INVALID_SIGNATURE")
	expect(t, send(body, kyc.Sign([]byte(kycSecret), h.clock.Now().Add(-time.Hour), []byte(body))), 401, "STALE_SIGNATURE")
	stale := `{"reference":"kyc_other","customerId":"` + cust + `","outcome":"REJECTED"}`
	expect(t, send(stale, kyc.Sign([]byte(kycSecret), h.clock.Now(), []byte(stale))), 409, "KYC_REFERENCE_MISMATCH")
	bad := `{"reference":"` + ref + `","customerId":"` + cust + `","outcome":"MAYBE"}`
	expect(t, send(bad, kyc.Sign([]byte(kycSecret), h.clock.Now(), []byte(bad))), 400, "INVALID_OUTCOME")
	r = send(body, kyc.Sign([]byte(kycSecret), h.clock.Now(), []byte(body)))
	expect(t, r, 200)
	if r.str(t, "kycStatus") != "VERIFIED" {
		t.Fatalf("callback: %s", r.body)
	}
	expect(t, send(body, kyc.Sign([]byte(kycSecret), h.clock.Now(), []byte(body))), 200) // a repeat
	rej := `{"reference":"` + ref + `","customerId":"` + cust + `","outcome":"REJECTED"}`
	expect(t, send(rej, kyc.Sign([]byte(kycSecret), h.clock.Now(), []byte(rej))), 409, "KYC_NOT_PENDING")

	// The partner's decision stays, and revoking stops the cards.
	bal := h.balance(cust, "EUR")
	card := h.card(cust, bal, "VIRTUAL")
	expect(t, h.do("POST", "/secure/customers/"+cust+"/balances/"+bal+"/reload", `{"amount":"5.00"}`), 200)
	stored, _ := h.eng.State().Card(card["cardId"].(string))
	expect(t, h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"REJECTED"}`), 200)
	if a := h.authorize(stored.PAN, "000001", 100); a.Action != authz.RestrictedCard {
		t.Fatalf("card after KYC revoked: %s", a.Action)
	}
	expect(t, h.do("POST", "/secure/customers/"+cust+"/kyc", `{"status":"VERIFIED"}`), 200)
	if a := h.authorize(stored.PAN, "000002", 100); a.Action != authz.Approved {
		t.Fatalf("card after KYC restored: %s", a.Action)
	}
	expect(t, h.do("POST", "/admin/customers/"+cust+"/kyc", `{"status":"REJECTED"}`, bearerH(tokManager)...), 200)
	// The provider's approval and the operator's revocation; the partner's own decisions are
	// not evented back to it.
	var changes []string
	for _, e := range h.eventsOf(ledger.EventCustomerKYCChanged) {
		changes = append(changes, e.PreviousStatus+">"+e.Status+"@"+e.Source)
	}
	if strings.Join(changes, " ") != "PENDING>VERIFIED@kyc VERIFIED>REJECTED@admin" {
		t.Fatalf("customer.kyc_changed %v", changes)
	}
}

// Without a callback secret there is no callback route.
func TestKYCCallbackNotConfigured(t *testing.T) {
	h := newHarness(t)
	expect(t, h.do("POST", "/kyc/callback", `{}`), 404)
}
