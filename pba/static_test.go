package pba

import (
	"strings"
	"testing"
	"time"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/cardcrypto"
	"github.com/cardswitch/cardswitch/mgmt"
)

// Issue 18 "Done when": digitize an IBAN, pay with the static token, suspend it (62), delete it
// (14); with the CVC2 available only after the account processing platform confirmed it, and
// the 3-D Secure enrolment and unenrolment made by the job runner.
func TestStaticTokenLifecycle(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	a := h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID, "userLanguageCode": "en"})
	h.want(a, 200, "")
	tokID := a.str("paymentTokenId")
	if !strings.HasPrefix(tokID, "pt_") {
		t.Fatalf("paymentTokenId %q", tokID)
	}
	// Before the account processing platform confirmed the CVC2: not available, and the token
	// does not pay.
	h.want(h.mobile(sess, "getStaticTokenPaymentData", map[string]string{"signedIbanInfo": h.sign("alice", PurposeIBANInfo, nil)}),
		409, "STATIC_TOKEN_PAYMENT_DATA_NOT_AVAILABLE")
	h.want(h.server("getStaticTokenPaymentData", map[string]string{"signedIbanInfo": h.sign("alice", PurposeIBANInfo, nil)}),
		409, "STATIC_TOKEN_PAYMENT_DATA_NOT_AVAILABLE")
	h.jobs()
	if _, ok := h.acs.Enrolled(h.tokenTUR(tokID)); !ok {
		t.Fatal("the static token was not enrolled at the 3-D Secure server")
	}
	d := h.mobile(sess, "getStaticTokenPaymentData", map[string]string{"signedIbanInfo": h.sign("alice", PurposeIBANInfo, nil)})
	h.want(d, 200, "")
	pan, exp, cvc2 := d.str("tokenPAN"), d.str("expDate"), d.str("CVC2")
	if !strings.HasPrefix(pan, "522223") || len(pan) != 16 || !cardcrypto.LuhnValid(pan) || len(exp) != 4 || len(cvc2) != 3 {
		t.Fatalf("payment data %s", d.raw)
	}
	if d.str("paymentTokenId") != tokID {
		t.Fatalf("paymentTokenId %q", d.str("paymentTokenId"))
	}
	expiry := exp[2:] + exp[:2]
	// Unfunded: 51. Funded by the bank: approved, and the hold is on the IBAN's account.
	if r := h.authorize(pan, expiry, cvc2, nil, 1000); r.Action != authz.InsufficientFunds {
		t.Fatalf("unfunded: %v", r.Action)
	}
	c := h.server("creditIban", map[string]string{"userId": "alice", "ibanId": ibanID, "amount": "100.00"}, "Idempotency-Key", "k1")
	h.want(c, 200, "")
	if c.str("available") != "100.00" || c.str("currency") != "EUR" {
		t.Fatalf("credit: %s", c.raw)
	}
	again := h.server("creditIban", map[string]string{"userId": "alice", "ibanId": ibanID, "amount": "100.00"}, "Idempotency-Key", "k1")
	if again.str("available") != "100.00" {
		t.Fatalf("repeat with the same Idempotency-Key changed the balance: %s", again.raw)
	}
	if r := h.authorize(pan, expiry, cvc2, nil, 2500); r.Action != authz.Approved || r.AvailableMinor != 7500 {
		t.Fatalf("payment: %+v", r)
	}
	wrong := "000"
	if cvc2 == wrong {
		wrong = "111"
	}
	if r := h.authorize(pan, expiry, wrong, nil, 100); r.Action != authz.CardVerificationFailed {
		t.Fatalf("wrong CVC2: %v", r.Action)
	}
	h.want(h.server("suspendStaticToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if r := h.authorize(pan, expiry, cvc2, nil, 100); r.Action.Field39() != "62" {
		t.Fatalf("suspended: %v", r.Action)
	}
	h.jobs()
	if st := h.tsp.State(h.tokenTUR(tokID)); st != "SUSPENDED" {
		t.Fatalf("token service state %q", st)
	}
	h.want(h.admin(mgmt.RoleManager, "unsuspendStaticToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if r := h.authorize(pan, expiry, cvc2, nil, 100); r.Action != authz.Approved {
		t.Fatalf("unsuspended: %v", r.Action)
	}
	h.want(h.mobile(sess, "deleteStaticToken", map[string]string{"paymentTokenId": tokID}), 200, "")
	if r := h.authorize(pan, expiry, cvc2, nil, 100); r.Action.Field39() != "14" {
		t.Fatalf("deleted: %v", r.Action)
	}
	h.want(h.server("suspendStaticToken", map[string]string{"paymentTokenId": tokID}), 409, "PAYMENT_TOKEN_DELETED")
	h.want(h.server("deleteStaticToken", map[string]string{"paymentTokenId": tokID}), 200, "") // idempotent
	h.jobs()
	if _, ok := h.acs.Enrolled(h.tokenTUR(tokID)); ok || h.acs.Calls("unenroll") != 1 {
		t.Fatal("the deleted static token was not unenrolled")
	}
	if st := h.tsp.State(h.tokenTUR(tokID)); st != "DELETED" {
		t.Fatalf("token service state %q", st)
	}
	// Unknown token PAN: 14.
	if r := h.authorize("5222230000000001", expiry, "", nil, 100); r.Action.Field39() != "14" {
		t.Fatalf("unknown: %v", r.Action)
	}
}

// The account card behind a token never authorizes by its own number (tokens-only program).
func TestAccountCardDoesNotPay(t *testing.T) {
	h := newHarness(t)
	sess, _ := h.pair("alice", "dev-1")
	tokID := h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	h.jobs()
	h.server("creditIban", map[string]string{"userId": "alice", "ibanId": ibanID, "amount": "10.00"})
	pt, _ := get[PaymentToken](stateView{h.eng.State()}, tokenKey(tokID))
	card, _ := h.eng.State().Card(pt.CardID)
	if r := h.authorize(card.PAN, card.ExpiryYYMM, card.CVC2, nil, 100); r.Action.Field39() != "14" {
		t.Fatalf("account card by its own number: %v", r.Action)
	}
}

func (h *harness) tokenTUR(id string) string {
	pt, _ := get[PaymentToken](stateView{h.eng.State()}, tokenKey(id))
	return pt.TUR
}

// Seed §5: a static token whose CVC2 never came is deleted after the grace period (and
// unenrolled); the user must digitize again.
func TestStaticTokenWithoutCVC2Removed(t *testing.T) {
	h := newHarness(t)
	h.svc.adapters.AccountPlatform.(*LocalAccountPlatform).Delay = 2 * time.Hour
	sess, _ := h.pair("alice", "dev-1")
	tokID := h.mobile(sess, "digitizeIbanForStatic", map[string]string{"ibanId": ibanID}).str("paymentTokenId")
	h.jobs()
	if s := tokenState(stateView{h.eng.State()}, tokID); s != authz.TokenInactive {
		t.Fatalf("state %s", s)
	}
	h.clock.Add(61 * time.Minute) // past the one-hour grace, before the platform's delay
	h.jobs()
	if s := tokenState(stateView{h.eng.State()}, tokID); s != authz.TokenDeleted {
		t.Fatalf("state after grace %s", s)
	}
	h.jobs()
	if h.acs.Calls("unenroll") != 1 {
		t.Fatal("no unenrolment")
	}
	pt, _ := get[PaymentToken](stateView{h.eng.State()}, tokenKey(tokID))
	if pt.DeletedBy != "job_no_cvc2" {
		t.Fatalf("deletedBy %q", pt.DeletedBy)
	}
}

// S1 digitizes for the bank server (user and IBAN created), S9 lists the IBAN's tokens, S10
// updates the user and the 3-D Secure server, A5 deletes one user's IBAN and leaves the other's.
func TestServerChannelAndIBANOwnership(t *testing.T) {
	h := newHarness(t)
	a := h.server("digitizeIbanForStatic", map[string]string{"signedAccountInfo": h.sign("alice", PurposeAccountInfo, nil)})
	h.want(a, 200, "")
	if a.str("ibanId") != ibanID || a.str("userId") != "alice" {
		t.Fatalf("S1: %s", a.raw)
	}
	aliceTok := a.str("paymentTokenId")
	b := h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": h.sign("bob", PurposeAccountInfo, nil)})
	h.want(b, 200, "")
	if b.str("ibanId") != ibanID || b.str("userId") != "bob" {
		t.Fatalf("M1: %s", b.raw)
	}
	bobTok := h.server("digitizeIbanForStatic", map[string]string{"signedAccountInfo": h.sign("bob", PurposeAccountInfo, nil)}).str("paymentTokenId")
	h.jobs()
	list := h.server("getPaymentTokens", map[string]string{"ibanId": ibanID})
	h.want(list, 200, "")
	if n := len(list.body["paymentTokens"].([]any)); n != 2 {
		t.Fatalf("two users' tokens of the IBAN: %s", list.raw)
	}
	h.want(h.server("updateUser", map[string]string{"userId": "alice", "phone": "+48123"}), 200, "")
	h.jobs()
	if r, _ := h.acs.Enrolled(h.tokenTUR(aliceTok)); r.Phone != "+48123" || h.acs.Calls("update") != 1 {
		t.Fatalf("3-D Secure not updated: %+v", r)
	}
	h.want(h.server("updateUser", map[string]string{"userId": "nobody", "phone": "+48"}), 404, "USER_NOT_FOUND")
	h.want(h.admin(mgmt.RoleEmployee, "deleteIban", map[string]string{"userId": "alice", "ibanId": ibanID}), 403, "INSUFFICIENT_ROLE")
	h.want(h.admin(mgmt.RoleManager, "deleteIban", map[string]string{"userId": "alice", "ibanId": ibanID}), 200, "")
	st := h.eng.State()
	if tokenState(stateView{st}, aliceTok) != authz.TokenDeleted || tokenState(stateView{st}, bobTok) != authz.TokenActive {
		t.Fatalf("after deleteIban(alice): alice %s bob %s", tokenState(stateView{st}, aliceTok), tokenState(stateView{st}, bobTok))
	}
	h.want(h.admin(mgmt.RoleManager, "deleteIban", map[string]string{"userId": "alice", "ibanId": ibanID}), 404, "IBAN_NOT_FOUND")
	h.want(h.server("creditIban", map[string]string{"userId": "alice", "ibanId": ibanID, "amount": "1.00"}), 404, "IBAN_NOT_FOUND")
	h.want(h.server("creditIban", map[string]string{"userId": "bob", "ibanId": ibanID, "amount": "1.0"}), 400, "INVALID_AMOUNT")
	h.want(h.server("creditIban", map[string]string{"userId": "bob", "ibanId": ibanID, "amount": "-1.00"}), 400, "INVALID_AMOUNT")
	h.want(h.admin(mgmt.RoleManager, "deleteUser", map[string]string{"userId": "bob"}), 403, "INSUFFICIENT_ROLE")
	h.want(h.admin(mgmt.RoleAdmin, "deleteUser", map[string]string{"userId": "bob"}), 200, "")
	if tokenState(stateView{h.eng.State()}, bobTok) != authz.TokenDeleted {
		t.Fatal("deleteUser left a token")
	}
	h.want(h.admin(mgmt.RoleAdmin, "deleteUser", map[string]string{"userId": "bob"}), 404, "USER_NOT_FOUND")
	h.want(h.server("getPaymentTokens", map[string]string{"ibanId": ibanID}), 404, "IBAN_NOT_FOUND")
	h.want(h.server("suspendStaticToken", map[string]string{"paymentTokenId": "pt_nope"}), 404, "PAYMENT_TOKEN_NOT_FOUND")
	h.want(h.server("suspendStaticToken", map[string]string{}, "X-Deny", "1"), 403, "WRONG_CHANNEL")
	h.want(h.admin("", "suspendToken", map[string]string{"paymentTokenId": aliceTok}), 401, "")
	// A user added again after deleteUser gets its customer back.
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": h.sign("bob", PurposeAccountInfo, nil)}), 200, "")
}

// Contract §6: signed data and IBAN refusals.
func TestSignedDataRefusals(t *testing.T) {
	h := newHarness(t)
	bad := h.sign("alice", PurposeAccountInfo, func(c *Claims) { c.IBAN = "DE89370400440532013001" })
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": bad}), 400, "INVALID_IBAN")
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": "x.y.z"}), 401, "INVALID_TRUSTED_IDENTITY")
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{}), 400, "MISSING_FIELD")
	h.want(h.call("POST", "/pba/addUserWithIban", `{"signedAccountInfo":1}`), 400, "INVALID_FIELD")
	h.want(h.call("POST", "/pba/addUserWithIban", `{"other":1}`), 400, "UNKNOWN_FIELD")
	s := h.sign("alice", PurposeAccountInfo, nil)
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": s}), 200, "")
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": s}), 401, "INVALID_TRUSTED_IDENTITY") // replay
	ti := h.sign("alice", PurposeTrustedIdentity, nil)
	h.want(h.call("POST", "/pba/addUserWithIban", map[string]string{"signedAccountInfo": ti}), 401, "INVALID_TRUSTED_IDENTITY") // purpose
	h.want(h.call("GET", "/pba/addUserWithIban", nil), 405, "METHOD_NOT_ALLOWED")
	h.want(h.call("POST", "/pba/nope", nil), 404, "NOT_FOUND")
}
