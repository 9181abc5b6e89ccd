package acquirer

import (
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/switch/codec"
)

func TestParseDemoScenario(t *testing.T) {
	s, err := LoadScenario("../../scenarios/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "demo" || s.Timeout != 5*time.Second {
		t.Errorf("name %q timeout %v", s.Name, s.Timeout)
	}
	if len(s.Setup.Cards) != 2 || s.Setup.Cards[0].Type != "VIRTUAL" {
		t.Errorf("cards %+v", s.Setup.Cards)
	}
	byName := map[string]Step{}
	for _, st := range s.Steps {
		byName[st.Name] = st
	}
	if e := byName["purchase"].Expect; e.Code != "00" || e.Available != "70.00" || !e.AuthCode {
		t.Errorf("purchase expect %+v", e)
	}
	if e := byName["purchase-again"].Expect; !e.Same {
		t.Errorf("retransmit expect %+v", e)
	}
	if e := byName["wrong-cvc2"].Expect; e.Code != "N7" {
		t.Errorf("wrong-cvc2 expect %+v", e)
	}
	if e := byName["reversal"].Expect; e.Code != "00" {
		t.Errorf("reversal expect %+v", e)
	}
}

func TestParseScenarioDefaults(t *testing.T) {
	s, err := ParseScenario([]byte(`
setup:
  balances: [{reload: "10.00"}]
  cards: [{ref: c}]
steps:
  - {kind: echo}
  - {kind: purchase, card: c, amount: "1.00"}
  - {kind: retransmit, ref: 2-purchase}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timeout != 5*time.Second {
		t.Errorf("timeout %v", s.Timeout)
	}
	if b := s.Setup.Balances[0]; b.Ref != "balance1" || b.Currency != "EUR" {
		t.Errorf("balance %+v", b)
	}
	if c := s.Setup.Cards[0]; c.Balance != "balance1" || c.Type != "VIRTUAL" {
		t.Errorf("card %+v", c)
	}
	if s.Steps[0].Name != "1-echo" || s.Steps[0].Expect.Code != "00" {
		t.Errorf("step 1 %+v", s.Steps[0])
	}
	if !s.Steps[2].Expect.Same {
		t.Errorf("a retransmit expects the same answer by default: %+v", s.Steps[2].Expect)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	head := "setup:\n  balances: [{ref: eur}]\n  cards: [{ref: c}]\nsteps:\n"
	for _, tc := range []struct{ name, steps, want string }{
		{"unknown kind", "  - {kind: teleport}", `unknown kind "teleport"`},
		{"unknown field", "  - {kind: echo, colour: red}", "field colour not found"},
		{"unknown card", "  - {kind: purchase, card: x, amount: \"1.00\"}", `unknown card "x"`},
		{"no card", "  - {kind: purchase, amount: \"1.00\"}", "card or pan needed"},
		{"no amount", "  - {kind: purchase, card: c}", "amount needed"},
		{"bad amount", "  - {kind: purchase, card: c, amount: \"1.0\"}", "want 2 decimals"},
		{"bad code", "  - {kind: echo, expect: \"000\"}", "not a field 39 value"},
		{"bad entry", "  - {kind: purchase, card: c, amount: \"1.00\", entry: telepathy}", "unknown entry"},
		{"reversal without ref", "  - {kind: reversal}", "ref must name another step"},
		{"completion forward", "  - {name: c1, kind: completion, ref: p}\n  - {name: p, kind: purchase, card: c, amount: \"1.00\"}", "must name an earlier step"},
		{"retransmit forward", "  - {kind: retransmit, ref: p}\n  - {name: p, kind: purchase, card: c, amount: \"1.00\"}", "ref must name an earlier step"},
		{"retransmit of a lock", "  - {name: l, kind: lock, card: c, reason: 1}\n  - {kind: retransmit, ref: l}", "is not a message"},
		{"reversal of echo", "  - {name: e, kind: echo}\n  - {kind: reversal, ref: e}", "not a financial message"},
		{"lock reason", "  - {kind: lock, card: c, reason: 9}", "reason must be 1..8"},
		{"repeated name", "  - {name: a, kind: echo}\n  - {name: a, kind: echo}", "name repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(head + tc.steps + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseScenarioForwardReversal(t *testing.T) {
	_, err := ParseScenario([]byte(`
setup:
  balances: [{ref: eur}]
  cards: [{ref: c}]
steps:
  - {kind: reversal, ref: orig, expect: "25"}
  - {name: orig, kind: purchase, card: c, amount: "1.00", expect: "05"}
`))
	if err != nil {
		t.Fatalf("a reversal may name a later step: %v", err)
	}
}

func TestExpectShorthand(t *testing.T) {
	s, err := ParseScenario([]byte("steps:\n  - {kind: echo, expect: 00}\n  - {kind: echo, expect: N7}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps[0].Expect.Code != "00" || s.Steps[1].Expect.Code != "N7" {
		t.Errorf("got %+v %+v", s.Steps[0].Expect, s.Steps[1].Expect)
	}
}

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"12.34", "EUR", 1234, true}, {"0.01", "EUR", 1, true}, {"100.00", "978", 10000, true},
		{"12.3", "EUR", 0, false}, {"12", "EUR", 0, false}, {"-1.00", "EUR", 0, false}, {"+1.00", "EUR", 0, false},
		{"500", "JPY", 500, true}, {"5.00", "JPY", 0, false}, {"1.234", "KWD", 1234, true}, {"", "EUR", 0, false},
	} {
		got, err := ParseAmount(tc.in, tc.cur)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v", tc.in, tc.cur, got, err)
		}
	}
	if s := FormatAmount(-5, 2); s != "-0.05" {
		t.Errorf("FormatAmount(-5) = %s", s)
	}
	if s := FormatAmount(123456, 2); s != "1234.56" {
		t.Errorf("FormatAmount = %s", s)
	}
}

func TestCheck(t *testing.T) {
	approved := &codec.ResponseMessage{MTI: "0110", ResponseCode: "00", AuthCode: "A1B2C3", HasBalance: true, AvailableMinor: 7000}
	for _, tc := range []struct {
		name     string
		e        Expect
		resp     *codec.ResponseMessage
		original *codec.ResponseMessage
		ok       bool
		why      string
	}{
		{"code matches", Expect{Code: "00"}, approved, nil, true, ""},
		{"code differs", Expect{Code: "51"}, approved, nil, false, "field 39 00, want 51"},
		{"no answer", Expect{Code: "00"}, nil, nil, false, "no answer"},
		{"available matches", Expect{Code: "00", Available: "70.00"}, approved, nil, true, ""},
		{"available differs", Expect{Code: "00", Available: "69.99"}, approved, nil, false, "available 70.00, want 69.99"},
		{"no 54", Expect{Available: "1.00"}, &codec.ResponseMessage{ResponseCode: "00"}, nil, false, "no field 54"},
		{"negative available", Expect{Available: "-1.00"}, &codec.ResponseMessage{ResponseCode: "00", HasBalance: true, AvailableMinor: -100}, nil, true, ""},
		{"auth code", Expect{AuthCode: true}, &codec.ResponseMessage{ResponseCode: "00"}, nil, false, "no field 38"},
		{"same answer", Expect{Same: true}, approved, approved, true, ""},
		{"same, other 38", Expect{Same: true}, &codec.ResponseMessage{ResponseCode: "00", AuthCode: "ZZZZZZ", HasBalance: true, AvailableMinor: 7000}, approved, false, "field 38"},
		{"same, other 39", Expect{Same: true}, &codec.ResponseMessage{ResponseCode: "94"}, approved, false, "field 39 94, first answer 00"},
		{"same, other 54", Expect{Same: true}, &codec.ResponseMessage{ResponseCode: "00", AuthCode: "A1B2C3", HasBalance: true, AvailableMinor: 4000}, approved, false, "field 54"},
		{"same without original", Expect{Same: true}, approved, nil, false, "no original answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := Check(tc.e, tc.resp, tc.original, 2)
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Fatalf("Check = %v %q, want %v %q", ok, why, tc.ok, tc.why)
			}
		})
	}
}

func TestReportTotals(t *testing.T) {
	rep := &Report{Name: "t", Late: 1, Steps: []StepResult{
		{Sent: true, Answered: true, Matched: true, Latency: time.Millisecond},
		{Sent: true, Answered: true, Matched: false, Latency: 3 * time.Millisecond},
		{Sent: true, TimedOut: true},
		{Matched: true}, // a pause
	}}
	tot := rep.Totals()
	if tot.Sent != 3 || tot.Answered != 2 || tot.Matched != 2 || tot.Mismatched != 2 || tot.TimedOut != 1 || tot.Late != 1 {
		t.Errorf("totals %+v", tot)
	}
	if tot.P50 != time.Millisecond || tot.P99 != 3*time.Millisecond {
		t.Errorf("percentiles %v %v", tot.P50, tot.P99)
	}
	if rep.OK() {
		t.Error("a report with mismatches is not OK")
	}
}
