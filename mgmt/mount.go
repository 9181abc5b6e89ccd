package mgmt

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// The management listener also serves the issuer side of the partners around a card, each in a
// package of its own (the token service hub's /tsh, Pay by Account's /pba, loyalty's pages). Such
// a package mounts its handler under a path prefix; the listener gives it the same panic boundary
// and request metrics as the card management routes, and the channel checks below, so that every
// partner channel authenticates the way contract §4 says.

// mount is one mounted prefix.
type mount struct {
	prefix string // starts and ends with "/"
	handle fasthttp.RequestHandler
}

// Mount serves every path under prefix (e.g. "/tsh/") with h. It must be called before Serve;
// a prefix that overlaps the card management channels or another mount panics (a wiring error).
func (s *Server) Mount(prefix string, h fasthttp.RequestHandler) {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || len(prefix) < 3 {
		panic("mgmt: mount prefix must look like /name/: " + prefix)
	}
	for _, own := range []string{"/secure/", "/customers/", "/admin/", "/healthz/", "/public-key/", "/metrics/", "/kyc/"} {
		if strings.HasPrefix(prefix, own) || strings.HasPrefix(own, prefix) {
			panic("mgmt: mount prefix overlaps the management API: " + prefix)
		}
	}
	for _, m := range s.mounts {
		if strings.HasPrefix(prefix, m.prefix) || strings.HasPrefix(m.prefix, prefix) {
			panic("mgmt: mount prefixes overlap: " + prefix + " and " + m.prefix)
		}
	}
	s.mounts = append(s.mounts, mount{prefix: prefix, handle: h})
}

// mounted finds the mount serving path, if any.
func (s *Server) mounted(path string) (mount, bool) {
	for _, m := range s.mounts {
		if strings.HasPrefix(path, m.prefix) || path+"/" == m.prefix {
			return m, true
		}
	}
	return mount{}, false
}

// Caller is who makes a request on a mounted channel, for its audit trail.
type Caller struct {
	Name    string
	Channel string // "secure" or "admin"
	Role    string // admin channel: Admin, Manager or Employee
}

// Operator roles a mounted route may require (contract §4), least to most powerful.
const (
	RoleEmployee = "Employee"
	RoleManager  = "Manager"
	RoleAdmin    = "Admin"
)

// SecureCaller applies the /secure transport rule to a mounted request: mutual TLS with a
// verified client certificate when TLS is configured, otherwise a loopback client only. On
// refusal it has written the §4 error answer and returns false.
func (s *Server) SecureCaller(ctx *fasthttp.RequestCtx) (Caller, bool) {
	c := &call{s: s, ctx: ctx, route: &route{channel: chanSecure}}
	if err := s.authenticate(c); err != nil {
		writeError(ctx, err)
		return Caller{}, false
	}
	return Caller{Name: c.who.Name, Channel: c.who.Channel}, true
}

// AdminCaller applies the /admin rule to a mounted request: an operator token (or session) of at
// least minRole (RoleEmployee, RoleManager or RoleAdmin). On refusal it has written the §4 error
// answer and returns false.
func (s *Server) AdminCaller(ctx *fasthttp.RequestCtx, minRole string) (Caller, bool) {
	r, ok := parseRole(minRole)
	if !ok {
		panic("mgmt: unknown role " + minRole)
	}
	c := &call{s: s, ctx: ctx, route: &route{channel: chanAdmin, minRole: r}}
	if err := s.authenticate(c); err != nil {
		writeError(ctx, err)
		return Caller{}, false
	}
	return Caller{Name: c.who.Name, Channel: c.who.Channel, Role: c.who.Role}, true
}

// WriteError writes the §4 error shape {"code","message","field"?} with status.
func WriteError(ctx *fasthttp.RequestCtx, status int, code, message, field string) {
	writeError(ctx, &apiError{Status: status, Code: code, Message: message, Field: field})
}
