package mgmt

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestMountedChannels: a mounted prefix is served by its own handler behind the listener's panic
// boundary, and SecureCaller / AdminCaller apply the §4 rules of /secure and /admin to it.
func TestMountedChannels(t *testing.T) {
	h := newHarness(t)
	// The harness is already serving; no request reaches the server before Mount returns.
	h.srv.Mount("/partner/", func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/partner/secure":
			if who, ok := h.srv.SecureCaller(ctx); ok {
				ctx.SetStatusCode(200)
				ctx.SetBodyString(who.Name)
			}
		case "/partner/admin":
			if who, ok := h.srv.AdminCaller(ctx, RoleManager); ok {
				ctx.SetStatusCode(200)
				ctx.SetBodyString(who.Name + "/" + who.Role)
			}
		case "/partner/panic":
			panic("handler bug")
		default:
			WriteError(ctx, 404, "NOT_FOUND", "no such partner operation", "")
		}
	})
	r := h.do("POST", "/partner/secure", "")
	if r.status != 200 || string(r.body) != "loopback" {
		t.Fatalf("secure from loopback: %d %s", r.status, r.body)
	}
	expect(t, h.send(req{method: "POST", path: "/partner/secure", client: h.remote}), 403, "CHANNEL_NOT_ALLOWED")
	expect(t, h.do("POST", "/partner/admin", ""), 401, "UNAUTHENTICATED")
	expect(t, h.do("POST", "/partner/admin", "", bearerH(tokEmployee)...), 403, "INSUFFICIENT_ROLE")
	r = h.do("POST", "/partner/admin", "", bearerH(tokManager)...)
	if r.status != 200 || string(r.body) != "mona/Manager" {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	expect(t, h.do("GET", "/partner/panic", ""), 500, "INTERNAL")
	expect(t, h.do("GET", "/partner/other", ""), 404, "NOT_FOUND")
	// The management routes are untouched by the mount.
	expect(t, h.do("GET", "/healthz", ""), 200)

	for _, bad := range []string{"partner/", "/p", "/secure/x/", "/admin/", "/partner/sub/"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Mount(%q) accepted", bad)
				}
			}()
			h.srv.Mount(bad, func(*fasthttp.RequestCtx) {})
		}()
	}
}
