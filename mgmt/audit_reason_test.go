package mgmt

import (
	"strings"
	"testing"
)

// TestAuditReason: an operator's Audit-Reason lands in the audit entry of the change it came
// with; a reason that is too long or holds control characters is refused before anything
// changes; a request without one still works.
func TestAuditReason(t *testing.T) {
	h := newHarness(t)
	cust := h.customer(true)
	card := h.card(cust, h.balance(cust, "EUR"), "VIRTUAL")["cardId"].(string)
	lock := func(reason string) resp {
		hdr := bearerH(tokManager)
		if reason != "" {
			hdr = append(hdr, AuditReasonHeader, reason)
		}
		return h.do("POST", "/admin/cards/"+card+"/lock", `{"reasonCode":3}`, hdr...)
	}
	expect(t, lock(strings.Repeat("x", AuditReasonBytesMax+1)), 400, "INVALID_AUDIT_REASON")
	expect(t, lock("bad\treason"), 400, "INVALID_AUDIT_REASON")
	if st := h.do("GET", "/admin/cards/"+card, "", bearerH(tokEmployee)...).str(t, "state"); st != "ACTIVE" {
		t.Fatalf("a refused request changed the card: %s", st)
	}
	expect(t, lock("  customer called: wallet stolen  "), 200)
	expect(t, h.do("POST", "/admin/cards/"+card+"/unlock", "", bearerH(tokManager)...), 200)
	r := h.do("GET", "/admin/audit?resourceId="+card, "", bearerH(tokAdmin)...)
	expect(t, r, 200)
	items := r.json(t)["items"].([]any)
	var reasons []string
	for _, it := range items {
		e := it.(map[string]any)
		reason, _ := e["reason"].(string)
		reasons = append(reasons, e["action"].(string)+"="+reason)
	}
	if got := strings.Join(reasons, ","); got != "card.unlock=,card.lock=customer called: wallet stolen,card.issue=" {
		t.Fatalf("audit entries: %s", got)
	}
}
