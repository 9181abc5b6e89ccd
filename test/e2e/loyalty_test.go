package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/app"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty"
	"github.com/cardswitch/cardswitch/loyalty/pancrypt"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/simulators/mrs"
	"github.com/cardswitch/cardswitch/tokenvault"
)

// enrollLoyalty enrolls a card in the development profile's DEMO-PROGRAM as the enrollment flow
// does once the rewards host answered with a RANAC.
func (s *sw) enrollLoyalty(c card, ranac string) {
	s.t.Helper()
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		return ledger.EnrollLoyalty{CardID: c.id, ProgramID: "DEMO-PROGRAM", RANAC: ranac}.Apply(tx, env).Refusal
	})
}

// loyalty reads GET /secure/customers/{customerId}/loyalty (loopback: the secure channel without
// TLS).
func (s *sw) loyalty(customerID string) mgmt.LoyaltySummary {
	s.t.Helper()
	resp, err := http.Get("http://" + s.app.HTTPAddr() + "/secure/customers/" + customerID + "/loyalty")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET loyalty: %d %s", resp.StatusCode, body)
	}
	var out mgmt.LoyaltySummary
	if err := json.Unmarshal(body, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// TestLoyaltyPointsOverISO: purchases over ISO 8583 earn points in the development profile's
// programme (three times at the partner merchant, a bonus at a grocery), a retransmission earns
// nothing more, a reversal and a refund take points back, and the points survive a restart.
func TestLoyaltyPointsOverISO(t *testing.T) {
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	c := s.provision(1_000_00)
	cust := "cust-" + c.id[len("card-"):]
	if got := s.loyalty(cust); got.Status != "NOT_ENROLLED" || got.Points != 0 || len(got.Accounts) != 0 {
		t.Fatalf("before enrollment: %+v", got)
	}
	s.enrollLoyalty(c, "03643782610476418733")

	shop := s.req("0200", "000000", c, 25_50)
	partner := s.req("0200", "000000", c, 10_00)
	partner.MerchantID = "PARTNER0000001 " // field 42 is ans 15, space-padded
	grocery := s.req("0200", "000000", c, 20_00)
	grocery.MCC = "5411"
	for _, r := range []struct {
		name string
		send func() string
		want int64
	}{
		{"shop: the base rate", func() string { return s.send(shop).ResponseCode }, 25},
		{"retransmission", func() string { return s.send(shop).ResponseCode }, 25},
		{"partner merchant: three times", func() string { return s.send(partner).ResponseCode }, 55},
		{"grocery: the bonus", func() string { return s.send(grocery).ResponseCode }, 125},
		{"reversal of the partner purchase", func() string { return s.send(s.followUp("0400", partner, 10_00)).ResponseCode }, 95},
		{"refund at the shop", func() string { return s.send(s.req("0200", "200000", c, 5_00)).ResponseCode }, 90},
	} {
		if code := r.send(); code != "00" {
			t.Fatalf("%s: 39=%s", r.name, code)
		}
		if got := s.loyalty(cust); got.Points != r.want || got.Status != "ENROLLED" {
			t.Fatalf("%s: %+v, want %d points", r.name, got, r.want)
		}
	}
	got := s.loyalty(cust)
	if got.ProgramID != "DEMO-PROGRAM" || len(got.Accounts) != 1 || got.Accounts[0].RANAC != "03643782610476418733" ||
		got.Accounts[0].CardID != c.id || got.Accounts[0].Last4 != c.pan[len(c.pan)-4:] || got.Accounts[0].Role != "R" {
		t.Fatalf("read-out %+v", got)
	}
	s.stop()
	s2 := startSwitchIn(t, dir)
	if got := s2.loyalty(cust); got.Points != 90 {
		t.Fatalf("after restart: %+v", got)
	}
	if r := s2.send(s2.followUp("0400", grocery, 20_00)); r.ResponseCode != "00" {
		t.Fatalf("reversal after restart: 39=%s", r.ResponseCode)
	}
	if got := s2.loyalty(cust); got.Points != 20 {
		t.Fatalf("after the grocery reversal: %+v", got)
	}
}

// loyaltyCustomer provisions a customer with an external id (the partner's sub), a funded
// balance and count cards of the development Mastercard program.
func (s *sw) loyaltyCustomer(ext string, count int) (customerID string, cards []card) {
	s.t.Helper()
	first := s.provision(1_000_00)
	customerID = "cust-" + first.id[len("card-"):]
	s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
		c, _ := tx.Customer(customerID)
		c.ExternalID = ext
		tx.PutCustomer(c)
		return nil
	})
	cards = append(cards, first)
	for len(cards) < count {
		n := panSeq.Add(1)
		body := fmt.Sprintf("535110%09d", n)
		d, _ := cardcrypto.LuhnCheckDigit(body)
		c := card{id: "card-" + strconv.FormatInt(n, 10), balanceID: first.balanceID, pan: body + string(d), expiry: first.expiry}
		s.do(func(tx *ledger.Tx, env *ledger.Env) *ledger.Refusal {
			_, r := tx.IssueCard(ledger.Card{ID: c.id, BalanceID: c.balanceID, Program: "demo-mc", Type: ledger.CardVirtual,
				PANHash: s.hash(c.pan), PAN: c.pan, Last4: c.pan[len(c.pan)-4:], ExpiryYYMM: c.expiry, PSN: "00"}, env)
			return r
		})
		cards = append(cards, c)
	}
	return customerID, cards
}

// partnerKey is the development profile's demo partner private key.
func (s *sw) partnerKey() *rsa.PrivateKey {
	s.t.Helper()
	raw, err := os.ReadFile(config.DevPartnerKeyPath(s.dir))
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		s.t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// websiteToken signs an initializeWebsiteToken as the demo partner.
func (s *sw) websiteToken(sub, action string, extra map[string]any) string {
	s.t.Helper()
	now := time.Now()
	c := map[string]any{"iss": "demo-partner", "sub": sub, "actionCode": action, "programId": "DEMO-PROGRAM",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "language": "en_US"}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := loyalty.SignToken(s.partnerKey(), c)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (s *sw) postJSON(path string, body any) (*http.Response, []byte) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := noRedirect.Post("http://"+s.app.HTTPAddr()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// initialize posts a website token and returns the enrollment page's URL.
func (s *sw) initialize(token string) string {
	s.t.Helper()
	resp, body := s.postJSON("/company/non_auth_initialize", map[string]string{"initializeWebsiteToken": token})
	if resp.StatusCode != http.StatusFound {
		s.t.Fatalf("non_auth_initialize: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

var reDataKey = regexp.MustCompile(`data-key="([^"]+)"`)

// submitPage does what the page's script does: seal the card number to the page's key and post
// the submission.
func (s *sw) submitPage(pageURL string, sub map[string]any, pan string) loyalty.Result {
	s.t.Helper()
	resp, err := http.Get(pageURL)
	if err != nil {
		s.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		s.t.Fatalf("page: %d CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if pan != "" {
		m := reDataKey.FindSubmatch(page)
		der, _ := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			s.t.Fatal(err)
		}
		env, err := pancrypt.Seal(k.(*rsa.PublicKey), []byte(pan))
		if err != nil {
			s.t.Fatal(err)
		}
		sub["pan"] = env
	}
	u, _ := url.Parse(pageURL)
	r, body := s.postJSON(u.Path, sub)
	if r.StatusCode != 200 {
		s.t.Fatalf("submit: %d %s", r.StatusCode, body)
	}
	var out loyalty.Result
	if err := json.Unmarshal(body, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// TestLoyaltyInitializationRefusals: every failure of non_auth_initialize is a 401 INVALID_TOKEN
// (400 INVALID_PAYLOAD for a body that is not the JSON) and opens no page.
func TestLoyaltyInitializationRefusals(t *testing.T) {
	s := startSwitch(t)
	s.loyaltyCustomer("ext-refusals", 1)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"not JSON", "x", 400, "INVALID_PAYLOAD"},
		{"other field", map[string]string{"token": "x"}, 400, "INVALID_PAYLOAD"},
		{"not a JWT", map[string]string{"initializeWebsiteToken": "x.y.z"}, 401, "INVALID_TOKEN"},
		{"unknown customer", map[string]string{"initializeWebsiteToken": s.websiteToken("ext-nobody", "N", nil)}, 401, "INVALID_TOKEN"},
		{"action X", map[string]string{"initializeWebsiteToken": s.websiteToken("ext-refusals", "X", nil)}, 401, "INVALID_TOKEN"},
		{"expired", map[string]string{"initializeWebsiteToken": s.websiteToken("ext-refusals", "N",
			map[string]any{"iat": time.Now().Add(-20 * time.Minute).Unix(), "exp": time.Now().Add(-10 * time.Minute).Unix()})}, 401, "INVALID_TOKEN"},
	} {
		resp, body := s.postJSON("/company/non_auth_initialize", tc.body)
		var e struct{ Code string }
		json.Unmarshal(body, &e)
		if resp.StatusCode != tc.status || e.Code != tc.code || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	resp, _ := http.Get("http://" + s.app.HTTPAddr() + "/loyalty/enroll/" + strings.Repeat("0", 48))
	if resp.StatusCode != 404 {
		t.Fatalf("unknown page: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestLoyaltyEnrollmentFlow is the issue's flow over HTTP (the browser test drives the page):
// enroll through a signed token, earn over ISO 8583, open the member webview with an SDK token,
// replace the card, opt out, and purge after the grace period with an injected clock.
func TestLoyaltyEnrollmentFlow(t *testing.T) {
	s := startSwitch(t)
	cust, cards := s.loyaltyCustomer("ext-flow", 2)
	page := s.initialize(s.websiteToken("ext-flow", "N", nil))
	r := s.submitPage(page, map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.org", "acceptTerms": true}, cards[0].pan)
	if r.Status != "SUCCESS_ENROLLMENT" || r.StatusCode != "0" || len(r.RANAC) != 20 || r.ParentID != "ext-flow" ||
		r.BIN != cards[0].pan[:6] || r.Last4 != cards[0].pan[12:] {
		t.Fatalf("enrollment: %+v", r)
	}
	pu, _ := url.Parse(page)
	if resp, body := s.postJSON(pu.Path, map[string]any{"acceptTerms": true}); resp.StatusCode != 404 {
		t.Fatalf("a second submission: %d %s", resp.StatusCode, body)
	}
	m, _ := s.app.Engine().State().LoyaltyMember(cards[0].id)
	if m.CardHash != s.app.Loyalty().CardHash(tokenvault.PAN(cards[0].pan)) || m.RANAC != r.RANAC || m.Role != "P" { // the household's first card: primary redeemer
		t.Fatalf("member %+v", m)
	}
	partner := s.req("0200", "000000", cards[0], 10_00)
	partner.MerchantID = "PARTNER0000001 "
	s.send(s.req("0200", "000000", cards[0], 20_00))
	s.send(partner)
	if got := s.loyalty(cust); got.Status != "ENROLLED" || got.Points != 50 {
		t.Fatalf("after purchases: %+v", got)
	}

	// The member webview: an SDK token with x5c and the card's hash; its jti is single-use.
	cert := selfSignedCert(t, s.partnerKey())
	sdk := func(jti string) string {
		tok, err := loyalty.SignToken(s.partnerKey(), map[string]any{"sub": "ext-flow", "jti": jti, "iat": time.Now().Unix(),
			"cardHash": s.app.Loyalty().CardHash(tokenvault.PAN(cards[0].pan))}, cert)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := sdk("jti-1")
	resp, body := s.postJSON("/issuer/initialize_sdk", map[string]any{"initializeSDKToken": tok, "widget_type": "full", "redirect": false})
	var created struct{ RedirectURL string }
	json.Unmarshal(body, &created)
	if resp.StatusCode != 201 || !strings.Contains(created.RedirectURL, "/loyalty/member/") {
		t.Fatalf("initialize_sdk: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.postJSON("/issuer/initialize_sdk", map[string]any{"initializeSDKToken": tok, "widget_type": "full"}); resp.StatusCode != 401 {
		t.Fatalf("replayed jti: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.postJSON("/issuer/initialize_sdk", map[string]any{"initializeSDKToken": sdk("jti-2"), "widget_type": "goal"}); resp.StatusCode != 302 {
		t.Fatalf("redirect by default: %d", resp.StatusCode)
	}
	mp, err := http.Get(created.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	mhtml, _ := io.ReadAll(mp.Body)
	mp.Body.Close()
	if !strings.Contains(string(mhtml), `<span id="points-total">50</span>`) || !strings.Contains(string(mhtml), "Airport lounge pass") {
		t.Fatalf("member page: %s", mhtml)
	}

	// Replacement: the new card is enrolled first, then the old one cancelled; points move.
	page = s.initialize(s.websiteToken("ext-flow", "R", nil))
	r = s.submitPage(page, map[string]any{"cardId": cards[0].id}, cards[1].pan)
	if r.Status != "SUCCESS_REPLACEMENT" || r.Last4 != cards[1].pan[12:] {
		t.Fatalf("replacement: %+v", r)
	}
	got := s.loyalty(cust)
	if got.Points != 50 || len(got.Accounts) != 2 || got.Accounts[0].Status != "CANCELLED" || got.Accounts[1].Status != "ENROLLED" || got.Accounts[1].Points != 50 {
		t.Fatalf("after replacement: %+v", got)
	}
	s.send(s.req("0200", "000000", cards[0], 10_00)) // the old card earns nothing now
	s.send(s.req("0200", "000000", cards[1], 10_00))
	if got := s.loyalty(cust); got.Points != 60 {
		t.Fatalf("after purchases on both cards: %+v", got)
	}

	// Opt-out: grace period with the points kept, then the purge.
	page = s.initialize(s.websiteToken("ext-flow", "C", nil))
	r = s.submitPage(page, map[string]any{"cardId": cards[1].id}, "")
	if r.Status != "SUCCESS_OPT_OUT" {
		t.Fatalf("opt-out: %+v", r)
	}
	if got := s.loyalty(cust); got.Status != "OPTED_OUT" || got.Points != 60 {
		t.Fatalf("in grace: %+v", got)
	}
	if purged, err := s.app.Loyalty().PurgeDue(time.Now().Add(29 * 24 * time.Hour)); err != nil || len(purged) != 0 {
		t.Fatalf("purge inside the grace period: %v %v", purged, err)
	}
	purged, err := s.app.Loyalty().PurgeDue(time.Now().Add(31 * 24 * time.Hour))
	if err != nil || len(purged) != 2 {
		t.Fatalf("purge: %+v %v", purged, err)
	}
	if got := s.loyalty(cust); got.Status != "NOT_ENROLLED" || got.Points != 0 || len(got.Accounts) != 0 {
		t.Fatalf("after the purge: %+v", got)
	}
}

func selfSignedCert(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "demo-partner"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// confirmationReceiver is a partner's confirmationUrl: it refuses the first failFirst posts.
type confirmationReceiver struct {
	mu        sync.Mutex
	failFirst int
	got       []receivedConfirmation
}

type receivedConfirmation struct {
	id, signature string
	body          []byte
}

func (c *confirmationReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failFirst > 0 {
		c.failFirst--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	c.got = append(c.got, receivedConfirmation{id: r.Header.Get("Loyalty-Confirmation-Id"), signature: r.Header.Get(loyalty.SignatureHeader), body: body})
}

func (c *confirmationReceiver) received() []receivedConfirmation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]receivedConfirmation(nil), c.got...)
}

// TestLoyaltyConfirmationOutbox: the outcome is posted to confirmationUrl signed, retried after a
// refusal, and survives a restart (it is a ledger row written with the enrollment).
func TestLoyaltyConfirmationOutbox(t *testing.T) {
	rcv := &confirmationReceiver{failFirst: 1}
	partnerSrv := httptest.NewServer(rcv)
	defer partnerSrv.Close()
	dir := t.TempDir()
	s := startSwitchIn(t, dir)
	_, cards := s.loyaltyCustomer("ext-confirm", 1)
	page := s.initialize(s.websiteToken("ext-confirm", "N", map[string]any{"confirmationUrl": partnerSrv.URL + "/confirm"}))
	r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, cards[0].pan)
	if r.Status != "SUCCESS_ENROLLMENT" {
		t.Fatalf("%+v", r)
	}
	cs := s.app.Engine().State().LoyaltyConfirmations()
	if len(cs) != 1 || cs[0].URL != partnerSrv.URL+"/confirm" {
		t.Fatalf("outbox %+v", cs)
	}
	s.app.Loyalty().DeliverDue(time.Now()) // refused by the partner: retried later
	s.stop()

	s2 := startSwitchIn(t, dir)
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.received()) == 0 && time.Now().Before(deadline) {
		s2.app.Loyalty().DeliverDue(time.Now().Add(time.Hour))
	}
	got := rcv.received()
	if len(got) == 0 {
		t.Fatal("the confirmation was not delivered after the restart")
	}
	var body loyalty.Result
	if err := json.Unmarshal(got[0].body, &body); err != nil || body != r {
		t.Fatalf("confirmation %s (%v), want %+v", got[0].body, err, r)
	}
	resp, err := http.Get("http://" + s2.app.HTTPAddr() + "/loyalty/signing-key")
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pub, err := loyalty.ParseRSAPublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if !loyalty.VerifySignature(pub, got[0].signature, got[0].body) || loyalty.VerifySignature(pub, got[0].signature, append(got[0].body, ' ')) {
		t.Fatal("the confirmation's signature does not verify (or verifies a changed body)")
	}
	for _, g := range got {
		if g.id != got[0].id {
			t.Fatalf("two confirmations: %s and %s", g.id, got[0].id)
		}
	}
	if cs := s2.app.Engine().State().LoyaltyConfirmations(); len(cs) != 0 {
		t.Fatalf("delivered but still in the outbox: %+v", cs)
	}
	// The in-process rewards host kept the account across the restart: the opt-out reaches it.
	page = s2.initialize(s2.websiteToken("ext-confirm", "C", nil))
	if r := s2.submitPage(page, map[string]any{"cardId": cards[0].id}, ""); r.Status != "SUCCESS_OPT_OUT" {
		t.Fatalf("opt-out after a restart: %+v", r)
	}
}

func (s *sw) api(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+s.app.HTTPAddr()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestLoyaltyRedemptionAndHouseholds: the partner API redeems from the host's catalog (points
// debited atomically, refused when short), cancels and refunds, selects a reward, and changes
// households at the host; the operators' API needs an operator token.
func TestLoyaltyRedemptionAndHouseholds(t *testing.T) {
	s := startSwitch(t)
	cust, cards := s.loyaltyCustomer("ext-redeem", 2)
	for _, c := range cards {
		page := s.initialize(s.websiteToken("ext-redeem", "N", nil))
		if r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, c.pan); r.Status != "SUCCESS_ENROLLMENT" {
			t.Fatalf("%+v", r)
		}
	}
	s.send(s.req("0200", "000000", cards[0], 150_00))
	base := "/loyalty/customers/" + cust
	code, cat := s.api("GET", base+"/catalog", nil)
	items, _ := cat["items"].([]any)
	if code != 200 || cat["programId"] != "DEMO-PROGRAM" || len(items) < 4 {
		t.Fatalf("catalog %d %v", code, cat)
	}
	first := items[0].(map[string]any)
	if _, ok := first["singleQuantityRedemptionSw"].(bool); !ok || first["rewardMatrixItemPointValue"] == nil {
		t.Fatalf("item %v", first)
	}
	if code, out := s.api("POST", base+"/redemptions", map[string]any{"cardId": cards[0].id, "itemId": "RMI-2001"}); code != 409 || out["code"] != "INSUFFICIENT_POINTS" {
		t.Fatalf("short: %d %v", code, out)
	}
	if code, out := s.api("POST", base+"/redemptions", map[string]any{"cardId": cards[0].id, "itemId": "RMI-3002"}); code != 409 || out["code"] != "ITEM_NOT_REDEEMABLE" {
		t.Fatalf("not redeemable: %d %v", code, out)
	}
	code, red := s.api("POST", base+"/redemptions", map[string]any{"cardId": cards[0].id, "itemId": "RMI-1001"})
	if code != 201 || red["points"] != float64(100) || red["status"] != "REDEEMED" {
		t.Fatalf("redeem: %d %v", code, red)
	}
	if got := s.loyalty(cust); got.Points != 50 {
		t.Fatalf("after redemption: %+v", got)
	}
	if code, _ := s.api("POST", base+"/redemptions/"+red["redemptionId"].(string)+"/cancel", nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if got := s.loyalty(cust); got.Points != 150 {
		t.Fatalf("after cancel: %+v", got)
	}
	if code, out := s.api("PUT", base+"/selected-reward", map[string]any{"cardId": cards[0].id, "itemId": "RMI-2001"}); code != 200 || out["selectedRewardId"] != "RMI-2001" {
		t.Fatalf("select: %d %v", code, out)
	}
	// The goal widget shows the selected reward and the points still short of it.
	sdkTok, err := loyalty.SignToken(s.partnerKey(), map[string]any{"sub": "ext-redeem", "jti": "goal-1", "iat": time.Now().Unix(),
		"cardHash": s.app.Loyalty().CardHash(tokenvault.PAN(cards[0].pan))}, selfSignedCert(t, s.partnerKey()))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := s.postJSON("/issuer/initialize_sdk", map[string]any{"initializeSDKToken": sdkTok, "widget_type": "goal", "redirect": false})
	var created struct{ RedirectURL string }
	json.Unmarshal(body, &created)
	gp, err := http.Get(created.RedirectURL)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("goal widget: %d %v", resp.StatusCode, err)
	}
	goal, _ := io.ReadAll(gp.Body)
	gp.Body.Close()
	if !strings.Contains(string(goal), `data-item="RMI-2001"`) || !strings.Contains(string(goal), `<span id="goal-missing">2350</span>`) {
		t.Fatalf("goal page: %s", goal)
	}

	// Households at the host: the customer's two cards share one; remove the second into its
	// own, make it a non-redeemer (it may not redeem), move it back.
	sum := s.loyalty(cust)
	if sum.Accounts[0].HouseholdID == "" || sum.Accounts[0].HouseholdID != sum.Accounts[1].HouseholdID {
		t.Fatalf("households %+v", sum.Accounts)
	}
	hh := sum.Accounts[0].HouseholdID
	code, out := s.api("POST", base+"/household/remove", map[string]any{"cardId": cards[1].id})
	if code != 200 || out["householdId"] == hh || out["householdId"] == "" {
		t.Fatalf("remove: %d %v", code, out)
	}
	if code, out := s.api("POST", base+"/household/role", map[string]any{"cardId": cards[1].id, "roleId": "X"}); code != 400 {
		t.Fatalf("role X: %d %v", code, out)
	}
	if code, out := s.api("POST", base+"/household/role", map[string]any{"cardId": cards[1].id, "roleId": "N"}); code != 200 || out["role"] != "N" {
		t.Fatalf("role N: %d %v", code, out)
	}
	s.send(s.req("0200", "000000", cards[1], 10_00))
	if code, out := s.api("POST", base+"/redemptions", map[string]any{"cardId": cards[1].id, "itemId": "RMI-3001"}); code != 409 || out["code"] != "NOT_A_REDEEMER" {
		t.Fatalf("non-redeemer: %d %v", code, out)
	}
	code, out = s.api("POST", base+"/household/move", map[string]any{"cardId": cards[1].id, "householdId": hh})
	if code != 200 || out["householdId"] != hh {
		t.Fatalf("move: %d %v", code, out)
	}
	if code, out := s.api("GET", "/loyalty/admin/confirmations", nil); code != 401 {
		t.Fatalf("admin without a token: %d %v", code, out)
	}
}

// TestLoyaltyFailuresKeepState: a replacement whose new enrollment fails keeps the old card; the
// host's -1001 is reported with a confirmation; an opted-out card enrolled again in its grace
// period comes back with its points.
func TestLoyaltyFailuresKeepState(t *testing.T) {
	s := startSwitch(t)
	cust, cards := s.loyaltyCustomer("ext-fail", 2)
	_, others := s.loyaltyCustomer("ext-other", 1)
	page := s.initialize(s.websiteToken("ext-fail", "N", nil))
	if r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, cards[0].pan); r.Status != "SUCCESS_ENROLLMENT" {
		t.Fatalf("%+v", r)
	}
	s.send(s.req("0200", "000000", cards[0], 40_00))

	// Replacement by another customer's card: refused, the old card stays enrolled.
	page = s.initialize(s.websiteToken("ext-fail", "R", nil))
	if r := s.submitPage(page, map[string]any{"cardId": cards[0].id}, others[0].pan); r.Status != "FAILED_REPLACEMENT" || r.IncidentID == "" {
		t.Fatalf("replacement by a foreign card: %+v", r)
	}
	if got := s.loyalty(cust); got.Status != "ENROLLED" || len(got.Accounts) != 1 || got.Points != 40 {
		t.Fatalf("after the failed replacement: %+v", got)
	}

	// The host failing: -1001 reported, nothing enrolled, the failure confirmed to the partner.
	s.app.Loyalty().Sim.SetFaults(mrs.Faults{ServerErrors: 10})
	page = s.initialize(s.websiteToken("ext-fail", "N", map[string]any{"confirmationUrl": "http://127.0.0.1:1/confirm"}))
	r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, cards[1].pan)
	if r.Status != "FAILED_ENROLLMENT" || r.StatusCode != "-1001" {
		t.Fatalf("host failing: %+v", r)
	}
	s.app.Loyalty().Sim.SetFaults(mrs.Faults{})
	if _, ok := s.app.Engine().State().LoyaltyMember(cards[1].id); ok {
		t.Fatal("a card enrolled although the host failed")
	}
	found := false
	for _, c := range s.app.Engine().State().LoyaltyConfirmations() {
		found = found || strings.Contains(string(c.Body), `"statusCode":"-1001"`)
	}
	if !found {
		t.Fatal("the failure was not queued for confirmation")
	}

	// Opt out, then opt back in within the grace period: the same RANAC, the points kept.
	before := s.loyalty(cust).Accounts[0].RANAC
	page = s.initialize(s.websiteToken("ext-fail", "C", nil))
	if r := s.submitPage(page, map[string]any{"cardId": cards[0].id}, ""); r.Status != "SUCCESS_OPT_OUT" {
		t.Fatalf("opt-out: %+v", r)
	}
	page = s.initialize(s.websiteToken("ext-fail", "N", nil))
	if r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, cards[0].pan); r.Status != "SUCCESS_ENROLLMENT" || r.RANAC != before {
		t.Fatalf("opt back in: %+v", r)
	}
	if got := s.loyalty(cust); got.Status != "ENROLLED" || got.Points != 40 {
		t.Fatalf("after opting back in: %+v", got)
	}
}

// TestLoyaltyAdminAPI: the operators' API needs an operator token of the route's role: the
// confirmation outbox is listed and a confirmation retried, and the purge runs on demand.
func TestLoyaltyAdminAPI(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", config.Overrides{DataDir: dir, ISOAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.AdminTokens = []config.AdminToken{{Name: "ops", Token: "admin-token-0123456789", Role: "Admin"},
		{Name: "desk", Token: "employee-token-0123456789", Role: "Employee"}}
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &sw{t: t, app: a, dir: dir, hash: tokenvault.Hasher(config.Key(cfg.Security.DataKey))}
	s.stan.Store(time.Now().UnixNano() % 500000)
	s.connect()
	t.Cleanup(s.stop)
	_, cards := s.loyaltyCustomer("ext-admin", 1)
	page := s.initialize(s.websiteToken("ext-admin", "N", map[string]any{"confirmationUrl": "http://127.0.0.1:1/confirm"}))
	if r := s.submitPage(page, map[string]any{"firstName": "Ada", "acceptTerms": true}, cards[0].pan); r.Status != "SUCCESS_ENROLLMENT" {
		t.Fatalf("%+v", r)
	}
	call := func(method, path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+a.HTTPAddr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := call("GET", "/loyalty/admin/confirmations", "employee-token-0123456789")
	list, _ := out["confirmations"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("confirmations: %d %v", code, out)
	}
	id := list[0].(map[string]any)["confirmationId"].(string)
	if code, _ := call("POST", "/loyalty/admin/confirmations/"+id+"/retry", "employee-token-0123456789"); code != 403 {
		t.Fatalf("retry as Employee: %d", code)
	}
	if code, out := call("POST", "/loyalty/admin/confirmations/"+id+"/retry", "admin-token-0123456789"); code != 200 || out["status"] != "PENDING" {
		t.Fatalf("retry: %d %v", code, out)
	}
	if code, _ := call("POST", "/loyalty/admin/purge", "employee-token-0123456789"); code != 403 {
		t.Fatalf("purge as Employee: %d", code)
	}
	if code, out := call("POST", "/loyalty/admin/purge", "admin-token-0123456789"); code != 200 || out["purged"] != float64(0) {
		t.Fatalf("purge: %d %v", code, out)
	}
}
