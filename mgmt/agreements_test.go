package mgmt

import (
	"context"
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/ledger/engine"
)

// storedCredentialPayment runs an 0100 with field 42 and field 48 subelements 20 and 21 through
// the engine, as the switch would.
func (h *harness) storedCredentialPayment(cardID, stan, field42, indicator, ref string, amountMinor int64) authz.ActionCode {
	h.t.Helper()
	card, ok := h.eng.State().Card(cardID)
	if !ok {
		h.t.Fatalf("no card %s", cardID)
	}
	return h.storedCredentialPaymentWith(card.PAN, stan, field42, indicator, ref, amountMinor)
}

// storedCredentialPaymentWith is storedCredentialPayment with a card or token number.
func (h *harness) storedCredentialPaymentWith(pan, stan, field42, indicator, ref string, amountMinor int64) authz.ActionCode {
	h.t.Helper()
	rq := &authz.Request{MTI: "0100", BaseMTI: "0100", Kind: authz.KindAuthorization, PAN: pan, ProcessingCode: "000000",
		AmountMinor: amountMinor, HasAmount: true, F7: "0315120000", STAN: stan, AcquirerID: "123456",
		RRN: "RRN" + stan, CurrencyNum: "978", MerchantName: "SHOP", MerchantID: field42,
		StoredCredential: authz.StoredCredential{Indicator: indicator, Agreement: ref}}
	r, err := engine.Do(context.Background(), h.eng, ledger.Authorize{Req: rq})
	if err != nil {
		h.t.Fatal(err)
	}
	return r.Action
}

// agreementsFixture: customers A and B with a funded EUR card each, and a session for A.
type agreementsFixture struct {
	h                  *harness
	custA, custB       string
	cardA, cardB       map[string]any
	idA, idB, sessionA string
}

func newAgreementsFixture(t *testing.T) *agreementsFixture {
	h := newHarness(t)
	f := &agreementsFixture{h: h, custA: h.customer(true), custB: h.customer(true)}
	balA, balB := h.balance(f.custA, "EUR"), h.balance(f.custB, "EUR")
	expect(t, h.do("POST", "/secure/customers/"+f.custA+"/balances/"+balA+"/reload", `{"amount":"100.00"}`), 200)
	f.cardA, f.cardB = h.card(f.custA, balA, "VIRTUAL"), h.card(f.custB, balB, "VIRTUAL")
	f.idA, f.idB = f.cardA["cardId"].(string), f.cardB["cardId"].(string)
	f.sessionA = h.session(f.custA)
	return f
}

func (f *agreementsFixture) create(cardID, body string) map[string]any {
	f.h.t.Helper()
	r := f.h.do("POST", "/secure/cards/"+cardID+"/agreements", body)
	expect(f.h.t, r, 201)
	return r.json(f.h.t)
}

func agreementsIn(t *testing.T, r resp) []map[string]any {
	t.Helper()
	expect(t, r, 200)
	list, ok := r.json(t)["agreements"].([]any)
	if !ok {
		t.Fatalf("no agreements list: %s", r.body)
	}
	out := make([]map[string]any, len(list))
	for i, a := range list {
		out[i] = a.(map[string]any)
	}
	return out
}

// The partner creates agreements; they are listed per card and per customer on the three
// channels; the cardholder, the partner and an operator cancel them, each recorded as who did;
// a cancelled agreement stops merchant-initiated payments at once.
func TestAgreementsOnThreeChannels(t *testing.T) {
	f := newAgreementsFixture(t)
	h := f.h
	sub := f.create(f.idA, `{"reference":"SUB-1","merchantId":"SHOP1","terms":{"minAmount":"1.00","maxAmount":"20.00","frequencyDays":30,"endDate":"2027-03-15"}}`)
	card, _ := h.eng.State().Card(f.idA)
	want := map[string]any{"reference": "SUB-1", "merchantId": "SHOP1", "cardId": f.idA, "brand": "mastercard",
		"bin": card.PAN[:6], "last4": card.Last4, "expiry": card.ExpiryYYMM[2:] + ".20" + card.ExpiryYYMM[:2],
		"state": "ACTIVE", "cvc2Required": true, "createdAt": "2026-03-15T12:00:00Z"}
	for k, v := range want {
		if sub[k] != v {
			t.Errorf("%s = %v, want %v", k, sub[k], v)
		}
	}
	terms, _ := sub["terms"].(map[string]any)
	if terms["minAmount"] != "1.00" || terms["maxAmount"] != "20.00" || terms["frequencyDays"] != float64(30) ||
		terms["endDate"] != "2027-03-15" || terms["currency"] != "EUR" {
		t.Errorf("terms %v", terms)
	}
	subID, _ := sub["agreementId"].(string)
	if !strings.HasPrefix(subID, "agr_") {
		t.Fatalf("agreementId %q", subID)
	}
	for _, k := range []string{"tokenId", "lastUsedAt", "cancelledAt", "cancelledBy"} {
		if _, ok := sub[k]; ok {
			t.Errorf("%s present on a new card agreement", k)
		}
	}
	one := f.create(f.idA, `{"reference":"ONECLICK","merchantId":"MERCHANT0000002"}`)
	if _, ok := one["terms"]; ok {
		t.Errorf("terms on an agreement without: %v", one)
	}
	other := f.create(f.idB, `{"reference":"SUB-1","merchantId":"SHOP1"}`) // references are per card
	otherID := other["agreementId"].(string)
	expect(t, h.do("POST", "/secure/cards/"+f.idA+"/agreements", `{"reference":"SUB-1","merchantId":"SHOP2"}`), 409, "AGREEMENT_EXISTS")

	// Lists.
	cust := bearerH(f.sessionA)
	emp := bearerH(tokEmployee)
	for _, r := range []resp{h.do("GET", "/secure/cards/"+f.idA+"/agreements", ""),
		h.do("GET", "/secure/customers/"+f.custA+"/agreements", ""),
		h.do("GET", "/customers/me/cards/"+f.idA+"/agreements", "", cust...),
		h.do("GET", "/customers/me/agreements", "", cust...),
		h.do("GET", "/admin/cards/"+f.idA+"/agreements", "", emp...),
		h.do("GET", "/admin/customers/"+f.custA+"/agreements", "", emp...)} {
		as := agreementsIn(t, r)
		if len(as) != 2 || as[0]["agreementId"] != subID || as[1]["reference"] != "ONECLICK" {
			t.Fatalf("list: %s", r.body)
		}
		if strings.Contains(string(r.body), card.PAN) {
			t.Fatalf("a PAN in a list: %s", r.body)
		}
	}
	expect(t, h.do("GET", "/secure/customers/cus_nope/agreements", ""), 404, "CUSTOMER_NOT_FOUND")
	expect(t, h.do("GET", "/admin/cards/crd_nope/agreements", "", emp...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("GET", "/secure/cards/"+f.idA+"/agreements/"+subID, ""), 200)
	expect(t, h.do("GET", "/secure/cards/"+f.idA+"/agreements/"+otherID, ""), 404, "AGREEMENT_NOT_FOUND")

	// A customer sees and cancels only their own.
	expect(t, h.do("GET", "/customers/me/cards/"+f.idB+"/agreements", "", cust...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("GET", "/customers/me/cards/"+f.idB+"/agreements/"+otherID, "", cust...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("POST", "/customers/me/cards/"+f.idB+"/agreements/"+otherID+"/cancel", "", cust...), 404, "CARD_NOT_FOUND")
	expect(t, h.do("POST", "/customers/me/cards/"+f.idA+"/agreements/"+otherID+"/cancel", "", cust...), 404, "AGREEMENT_NOT_FOUND")
	if a, _ := h.eng.State().AgreementByID(otherID); a.State != ledger.AgreementActive {
		t.Fatalf("another customer's agreement %s", a.State)
	}

	// Wrong channel or credentials; the customer channel does not create.
	expect(t, h.do("GET", "/customers/me/agreements", "", emp...), 403, "WRONG_CHANNEL")
	expect(t, h.do("POST", "/admin/cards/"+f.idA+"/agreements/"+subID+"/cancel", "", cust...), 403, "WRONG_CHANNEL")
	expect(t, h.do("GET", "/admin/customers/"+f.custA+"/agreements", ""), 401, "UNAUTHENTICATED")
	expect(t, h.send(req{method: "GET", path: "/secure/cards/" + f.idA + "/agreements", client: h.remote}), 403, "CHANNEL_NOT_ALLOWED")
	expect(t, h.do("POST", "/customers/me/cards/"+f.idA+"/agreements", `{"reference":"X","merchantId":"M"}`, cust...), 405, "METHOD_NOT_ALLOWED")
	expect(t, h.do("POST", "/admin/cards/"+f.idA+"/agreements", `{"reference":"X","merchantId":"M"}`, bearerH(tokAdmin)...), 405, "METHOD_NOT_ALLOWED")

	// A merchant-initiated payment under the agreement, then the cardholder cancels it.
	if got := h.storedCredentialPayment(f.idA, "000001", "SHOP1          ", authz.IndicatorMITRecurring, "SUB-1", 9_99); got != authz.Approved {
		t.Fatalf("recurring payment: %v", got)
	}
	r := h.do("POST", "/customers/me/cards/"+f.idA+"/agreements/"+subID+"/cancel", "", cust...)
	expect(t, r, 200)
	c1 := r.json(t)
	if c1["state"] != "CANCELLED" || c1["cancelledBy"] != "cardholder" || c1["cancelledAt"] != "2026-03-15T12:00:00Z" ||
		c1["lastUsedAt"] != "2026-03-15T12:00:00Z" {
		t.Fatalf("cancelled by the cardholder: %s", r.body)
	}
	h.clock.Add(40 * 24 * 3600e9)
	if got := h.storedCredentialPayment(f.idA, "000002", "SHOP1          ", authz.IndicatorMITRecurring, "SUB-1", 9_99); got != authz.NotPermitted {
		t.Fatalf("recurring payment after cancellation: %v", got)
	}
	// Cancelling again answers it unchanged, on any channel.
	r = h.do("POST", "/admin/cards/"+f.idA+"/agreements/"+subID+"/cancel", "", emp...)
	expect(t, r, 200)
	if r.json(t)["cancelledBy"] != "cardholder" || r.json(t)["cancelledAt"] != c1["cancelledAt"] {
		t.Fatalf("cancelled twice: %s", r.body)
	}
	r = h.do("POST", "/admin/cards/"+f.idA+"/agreements/"+one["agreementId"].(string)+"/cancel", "", emp...)
	expect(t, r, 200)
	if r.json(t)["cancelledBy"] != "operator" {
		t.Fatalf("cancelled by an operator: %s", r.body)
	}
	r = h.do("POST", "/secure/cards/"+f.idB+"/agreements/"+otherID+"/cancel", `{}`)
	expect(t, r, 200)
	if r.json(t)["cancelledBy"] != "partner" {
		t.Fatalf("cancelled by the partner: %s", r.body)
	}
	expect(t, h.do("POST", "/secure/cards/"+f.idB+"/agreements/"+otherID+"/cancel", `{"why":1}`), 400, "UNKNOWN_FIELD")

	// Each change has its audit entry: three creations, three cancellations (none for the repeat).
	for action, n := range map[string]int{"agreement.create": 3, "agreement.cancel": 3} {
		items, _ := h.do("GET", "/admin/audit?action="+action, "", bearerH(tokAdmin)...).json(t)["items"].([]any)
		if len(items) != n {
			t.Errorf("%d %s audit entries, want %d", len(items), action, n)
		}
	}
}

// Creation checks its input field by field, in the card's balance currency.
func TestCreateAgreementValidation(t *testing.T) {
	f := newAgreementsFixture(t)
	h := f.h
	terms := func(s string) string { return `{"reference":"R","merchantId":"M","terms":{` + s + `}}` }
	ok := `"minAmount":"1.00","maxAmount":"2.00","frequencyDays":7,"endDate":"2026-03-15"`
	cases := []struct {
		body, code, field string
	}{
		{`{"merchantId":"M"}`, "MISSING_FIELD", "reference"},
		{`{"reference":"123456789012345678901234567890123","merchantId":"M"}`, "INVALID_FIELD", "reference"},
		{`{"reference":" R","merchantId":"M"}`, "INVALID_FIELD", "reference"},
		{`{"reference":"R"}`, "MISSING_FIELD", "merchantId"},
		{`{"reference":"R","merchantId":"1234567890123456"}`, "INVALID_FIELD", "merchantId"},
		{`{"reference":"R","merchantId":"M\u00e9"}`, "INVALID_FIELD", "merchantId"},
		{`{"reference":"R","merchantId":"M","pan":"5351100000000001"}`, "UNKNOWN_FIELD", "pan"},
		{terms(`"maxAmount":"2.00","frequencyDays":7,"endDate":"2027-01-01"`), "MISSING_FIELD", "terms.minAmount"},
		{terms(`"minAmount":"1.0","maxAmount":"2.00","frequencyDays":7,"endDate":"2027-01-01"`), "INVALID_AMOUNT", "terms.minAmount"},
		{terms(`"minAmount":1,"maxAmount":"2.00","frequencyDays":7,"endDate":"2027-01-01"`), "INVALID_AMOUNT", "terms.minAmount"},
		{terms(`"minAmount":"3.00","maxAmount":"2.00","frequencyDays":7,"endDate":"2027-01-01"`), "INVALID_TERMS", "terms.maxAmount"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","frequencyDays":0,"endDate":"2027-01-01"`), "INVALID_TERMS", "terms.frequencyDays"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","frequencyDays":10000,"endDate":"2027-01-01"`), "INVALID_TERMS", "terms.frequencyDays"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","endDate":"2027-01-01"`), "MISSING_FIELD", "terms.frequencyDays"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","frequencyDays":7,"endDate":"2026-03-14"`), "INVALID_TERMS", "terms.endDate"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","frequencyDays":7,"endDate":"15.03.2027"`), "INVALID_TERMS", "terms.endDate"},
		{terms(`"minAmount":"1.00","maxAmount":"2.00","frequencyDays":7,"endDate":"2027-02-30"`), "INVALID_TERMS", "terms.endDate"},
		{terms(ok + `,"currency":"USD"`), "CURRENCY_MISMATCH", "terms.currency"},
		{terms(ok + `,"count":3`), "UNKNOWN_FIELD", "count"},
	}
	for _, tc := range cases {
		r := h.do("POST", "/secure/cards/"+f.idA+"/agreements", tc.body)
		if r.status != 400 || r.str(t, "code") != tc.code || r.str(t, "field") != tc.field {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
		}
	}
	expect(t, h.do("POST", "/secure/cards/crd_nope/agreements", `{"reference":"R","merchantId":"M"}`), 404, "CARD_NOT_FOUND")
	// The end date may be today (the last day allowed); the currency may be named.
	f.create(f.idA, terms(ok+`,"currency":"EUR"`))
	if as := agreementsIn(t, h.do("GET", "/secure/cards/"+f.idA+"/agreements", "")); len(as) != 1 {
		t.Fatalf("%d agreements after the refusals", len(as))
	}
	// A removed card gets none, and its agreements ended with it.
	expect(t, h.do("POST", "/secure/cards/"+f.idA+"/remove", ""), 200)
	as := agreementsIn(t, h.do("GET", "/customers/me/agreements", "", bearerH(f.sessionA)...))
	if len(as) != 1 || as[0]["state"] != "CANCELLED" || as[0]["cancelledBy"] != "card_removed" {
		t.Fatalf("after the card's removal: %v", as)
	}
	expect(t, h.do("POST", "/secure/cards/"+f.idA+"/agreements", `{"reference":"R2","merchantId":"M"}`), 409, "CARD_REMOVED")
}

// A token's agreement (made by an initial operation with the token) shows the token's number
// data, and ends when the token is deleted; the card's own agreements stay.
func TestAgreementsOfADeletedToken(t *testing.T) {
	f := newAgreementsFixture(t)
	h := f.h
	const tpan = "5351109999999991"
	r := h.do("POST", "/admin/cards/"+f.idA+"/tokens", `{"tokenPan":"`+tpan+`","expiryMonth":12,"expiryYear":2030,"type":"HCE"}`, bearerH(tokAdmin)...)
	expect(t, r, 201)
	tokID := r.str(t, "tokenId")
	if got := h.storedCredentialPaymentWith(tpan, "000001", "WALLETSHOP", authz.IndicatorCIT, "TOK-1", 0); got != authz.Approved {
		t.Fatalf("registration with the token: %v", got)
	}
	f.create(f.idA, `{"reference":"CARD-1","merchantId":"SHOP1"}`)
	as := agreementsIn(t, h.do("GET", "/customers/me/agreements", "", bearerH(f.sessionA)...))
	if len(as) != 2 || as[0]["tokenId"] != tokID || as[0]["last4"] != "9991" || as[0]["bin"] != "535110" ||
		as[0]["expiry"] != "12.2030" || as[0]["cvc2Required"] != false || as[0]["merchantId"] != "WALLETSHOP" {
		t.Fatalf("token agreement: %v", as[0])
	}
	expect(t, h.do("DELETE", "/admin/tokens/"+tokID, "", bearerH(tokManager)...), 200)
	as = agreementsIn(t, h.do("GET", "/secure/cards/"+f.idA+"/agreements", ""))
	if as[0]["state"] != "CANCELLED" || as[0]["cancelledBy"] != "token_deleted" || as[1]["state"] != "ACTIVE" {
		t.Fatalf("after the token's deletion: %v", as)
	}
}
