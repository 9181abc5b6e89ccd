package acquirer

import "testing"

// The simulator orders plastics with the encrypted request the switch needs for them, and
// virtual cards plain.
func TestMgmtIssuesEveryCardType(t *testing.T) {
	a, _ := startSwitch(t)
	m := NewMgmt(a.HTTPAddr())
	cust, err := m.CreateCustomer(CustomerSpec{ExternalID: "plastics", FirstName: "Ada", LastName: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetKYC(cust, "VERIFIED"); err != nil {
		t.Fatal(err)
	}
	b, err := m.CreateBalance(cust, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"VIRTUAL", "PHYSICAL", "DIGITAL_FIRST"} {
		c, err := m.IssueCard(cust, b.BalanceID, typ, "")
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if c.Type != typ || c.CardID == "" || len(c.Last4) != 4 {
			t.Fatalf("%s: %+v", typ, c)
		}
	}
}
