package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/mgmt"
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
