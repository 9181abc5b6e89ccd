package mgmt

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// An operator may give the reason for a change in the Audit-Reason header of an /admin request
// (the operator panel asks for one before every action): it is kept in the audit entry the
// change writes (AuditEntry.reason) and changes nothing else. It is UTF-8 text of at most
// AuditReasonBytesMax bytes without control characters; anything else is refused with 400
// INVALID_AUDIT_REASON before the request does anything. Other channels ignore the header.

// AuditReasonHeader names the header.
const AuditReasonHeader = "Audit-Reason"

// AuditReasonBytesMax bounds a reason (bytes after trimming spaces).
const AuditReasonBytesMax = 500

// rawReason is the call's Audit-Reason header, trimmed ("" when none or not on the admin
// channel).
func (c *call) rawReason() string {
	if c.ctx == nil || c.who.Channel != "admin" {
		return ""
	}
	return strings.TrimSpace(string(c.ctx.Request.Header.Peek(AuditReasonHeader)))
}

// reason is the call's audit reason for its audit entry: "" when there is none or it is not a
// valid one (a route that authenticates refuses those first; this also covers the login, whose
// caller becomes an operator only in the handler).
func (c *call) reason() string {
	r := c.rawReason()
	if !validReason(r) {
		return ""
	}
	return r
}

func validReason(r string) bool {
	return len(r) <= AuditReasonBytesMax && utf8.ValidString(r) && strings.IndexFunc(r, unicode.IsControl) < 0
}

func checkAuditReason(c *call) *apiError {
	if r := c.rawReason(); r != "" && !validReason(r) {
		return errBad("INVALID_AUDIT_REASON", "Audit-Reason: UTF-8 text of at most 500 bytes without control characters", AuditReasonHeader)
	}
	return nil
}
