package pba

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/mgmt"
)

// The /pba channels (contract §6): the mobile channel POST /pba/<operation> (after pairing or
// login with Authorization: Bearer <userSessionToken>), the bank server channel POST
// /pba/server/<operation> (transport as /secure) and the admin channel POST
// /pba/admin/<operation> (operator tokens and roles as /admin); GET /pba/openSSEConnection is the
// device's event stream. Operation names are the seed's.

// Channels.
const (
	chanMobile = "pba-mobile"
	chanServer = "pba-server"
	chanAdmin  = "pba-admin"
)

// operation is one route of the table.
type operation struct {
	method  string
	path    string
	channel string
	role    string // admin channel: the least role
	// signed: the mobile operation authenticates with signed data, not a session.
	signed bool
	h      func(s *Service, c *call) (any, *apiError)
}

// call is one request being served.
type call struct {
	ctx  *fasthttp.RequestCtx
	body []byte
	who  Caller
	sess session // mobile channel with a session
}

// Operation is a route of /pba, for the OpenAPI check.
type Operation struct{ Method, Path string }

// Operations lists every route /pba serves.
func Operations() []Operation {
	var out []Operation
	for _, o := range operations {
		out = append(out, Operation{Method: o.method, Path: o.path})
	}
	return out
}

var operations []*operation

func init() {
	m := func(name string, signed bool, h func(*Service, *call) (any, *apiError)) {
		operations = append(operations, &operation{method: "POST", path: "/pba/" + name, channel: chanMobile, signed: signed, h: h})
	}
	srv := func(name string, h func(*Service, *call) (any, *apiError)) {
		operations = append(operations, &operation{method: "POST", path: "/pba/server/" + name, channel: chanServer, h: h})
	}
	adm := func(name, role string, h func(*Service, *call) (any, *apiError)) {
		operations = append(operations, &operation{method: "POST", path: "/pba/admin/" + name, channel: chanAdmin, role: role, h: h})
	}
	// Mobile channel (seed M1-M19).
	m("addUserWithIban", true, (*Service).hAddUserWithIban)
	m("pairDeviceByTrustedIdentity", true, (*Service).hPair)
	m("loginByTrustedIdentity", true, (*Service).hLogin)
	m("getPkCertificate", false, (*Service).hGetPkCertificate)
	m("registerDeviceForPayment", false, (*Service).hRegisterDeviceForPayment)
	m("digitizeIbanForDevice", false, (*Service).hDigitizeForDevice)
	m("digitizeIbanForStatic", false, (*Service).hDigitizeForStatic)
	m("getStaticTokenPaymentData", false, (*Service).hGetStaticDataMobile)
	m("confirmProvisioningStatus", false, (*Service).hConfirmProvisioning)
	m("updateRNSToken", false, (*Service).hUpdateRNSToken)
	m("getAllPaymentTokens", false, (*Service).hGetAllPaymentTokens)
	m("getTransactionHistory", false, (*Service).hGetTransactionHistory)
	m("deletePaymentToken", false, (*Service).hMobileDeleteDevice)
	m("deleteStaticToken", false, (*Service).hMobileDeleteStatic)
	m("unpairDevice", false, (*Service).hUnpair)
	m("reportSecurityIssue", false, (*Service).hReportSecurityIssue)
	m("acknowledgeMessage", false, (*Service).hAcknowledgeMessage)
	m("getPendingMessages", false, (*Service).hGetPendingMessages)
	m("replenishCredentials", false, (*Service).hReplenish)
	operations = append(operations, &operation{method: "GET", path: "/pba/openSSEConnection", channel: chanMobile})
	// Bank server channel (S1-S10, and the funding of IBANs).
	srv("digitizeIbanForStatic", (*Service).hServerDigitizeStatic)
	srv("getStaticTokenPaymentData", (*Service).hGetStaticDataServer)
	srv("deletePaymentToken", change(KindDevice, ChangeDelete, "server"))
	srv("deleteStaticToken", change(KindStatic, ChangeDelete, "server"))
	srv("suspendPaymentToken", change(KindDevice, ChangeSuspend, "server"))
	srv("suspendStaticToken", change(KindStatic, ChangeSuspend, "server"))
	srv("unsuspendPaymentToken", change(KindDevice, ChangeUnsuspend, "server"))
	srv("unsuspendStaticToken", change(KindStatic, ChangeUnsuspend, "server"))
	srv("getPaymentTokens", (*Service).hGetPaymentTokens)
	srv("updateUser", (*Service).hUpdateUser)
	srv("creditIban", (*Service).hCreditIban)
	// Admin channel (A1-A9).
	adm("deleteDevice", mgmt.RoleManager, (*Service).hDeleteDevice)
	adm("deletePaymentToken", mgmt.RoleManager, change(KindDevice, ChangeDelete, "admin"))
	adm("suspendToken", mgmt.RoleEmployee, change(KindDevice, ChangeSuspend, "admin"))
	adm("unsuspendToken", mgmt.RoleManager, change(KindDevice, ChangeUnsuspend, "admin"))
	adm("deleteIban", mgmt.RoleManager, (*Service).hDeleteIban)
	adm("deleteStaticToken", mgmt.RoleManager, change(KindStatic, ChangeDelete, "admin"))
	adm("suspendStaticToken", mgmt.RoleEmployee, change(KindStatic, ChangeSuspend, "admin"))
	adm("unsuspendStaticToken", mgmt.RoleManager, change(KindStatic, ChangeUnsuspend, "admin"))
	adm("deleteUser", mgmt.RoleAdmin, (*Service).hDeleteUser)
}

func findOperation(method, path string) (*operation, bool) {
	pathKnown := false
	for _, o := range operations {
		if o.path == path {
			pathKnown = true
			if o.method == method {
				return o, true
			}
		}
	}
	return nil, pathKnown
}

// Handler serves /pba/ (mounted on the management listener, which gives it the panic boundary
// and request metrics).
func (s *Service) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		method, path := string(ctx.Method()), string(ctx.Path())
		o, pathKnown := findOperation(method, path)
		if o == nil {
			if pathKnown {
				writeError(ctx, &apiError{405, "METHOD_NOT_ALLOWED", "method not allowed", ""})
			} else {
				writeError(ctx, &apiError{404, "NOT_FOUND", "no such operation", ""})
			}
			return
		}
		c := &call{ctx: ctx}
		switch o.channel {
		case chanServer:
			who, ok := s.gate.SecureCaller(ctx)
			if !ok {
				return
			}
			c.who = Caller{Name: who.Name, Channel: chanServer}
		case chanAdmin:
			who, ok := s.gate.AdminCaller(ctx, o.role)
			if !ok {
				return
			}
			c.who = Caller{Name: who.Name, Channel: chanAdmin, Role: who.Role}
		default:
			if !o.signed {
				tok, ok := bearer(ctx)
				if !ok {
					writeError(ctx, errSession)
					return
				}
				sess, ok := s.sessions.lookup(tok, s.clock())
				if !ok {
					writeError(ctx, errSession)
					return
				}
				c.sess = sess
				c.who = Caller{Name: "pba:" + sess.inst + ":" + sess.sub, Channel: chanMobile}
			} else {
				c.who = Caller{Name: "pba-device", Channel: chanMobile}
			}
		}
		if o.h == nil { // the SSE stream
			s.serveSSE(ctx, c.sess)
			return
		}
		body := ctx.PostBody()
		if len(body) > s.maxBody {
			writeError(ctx, &apiError{413, "BODY_TOO_LARGE", fmt.Sprintf("the body is larger than %d bytes", s.maxBody), ""})
			return
		}
		c.body = body
		out, err := o.h(s, c)
		if err != nil {
			writeError(ctx, err)
			return
		}
		if out == nil {
			out = struct{}{}
		}
		b, jerr := json.Marshal(out)
		if jerr != nil {
			writeError(ctx, &apiError{500, "INTERNAL", "the answer could not be encoded", ""})
			return
		}
		ctx.SetStatusCode(200)
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
}

func bearer(ctx *fasthttp.RequestCtx) (string, bool) {
	h := string(ctx.Request.Header.Peek("Authorization"))
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	mgmt.WriteError(ctx, e.Status, e.Code, e.Message, e.Field)
}

// decode reads the body strictly into dst: one JSON object of known fields. An empty body reads
// as {} (operations without parameters).
func (c *call) decode(dst any) *apiError {
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errBad("INVALID_FIELD", ute.Field, ute.Field+": wrong type")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return errBad("UNKNOWN_FIELD", f, "unknown field "+f)
		}
		return errBad("INVALID_JSON", "", "the body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBad("INVALID_JSON", "", "the body holds more than one JSON value")
	}
	return nil
}

func missing(field string) *apiError { return errBad("MISSING_FIELD", field, field+" is required") }
