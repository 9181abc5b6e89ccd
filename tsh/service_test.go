package tsh

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger/engine"
	"github.com/cardswitch/cardswitch/mgmt"
	"github.com/cardswitch/cardswitch/tsh/cms"
)

// transport is a fake of the /secure rule: allow or refuse.
type transport struct{ allow bool }

func (t transport) SecureCaller(ctx *fasthttp.RequestCtx) (mgmt.Caller, bool) {
	if !t.allow {
		mgmt.WriteError(ctx, 403, "CHANNEL_NOT_ALLOWED", "no", "")
		return mgmt.Caller{}, false
	}
	return mgmt.Caller{Name: "loopback", Channel: "secure"}, true
}

func newTestService(t *testing.T, allow bool, ready bool) *Service {
	t.Helper()
	ring, err := cms.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	// These calls never reach the engine: a healthCheck answered 503 and calls without a valid
	// correlation id write no audit entry.
	s, err := New(Deps{IssuerID: "CARDSWITCH", Keys: ring, Engine: &engine.Engine{}, PANHash: func(p string) string { return p },
		Transport: transport{allow}, Ready: func() bool { return ready }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serve(s *Service, method, path string, hdr map[string]string) (int, map[string]any) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	for k, v := range hdr {
		ctx.Request.Header.Set(k, v)
	}
	s.Handler(&ctx)
	var out map[string]any
	json.Unmarshal(ctx.Response.Body(), &out)
	return ctx.Response.StatusCode(), out
}

func TestHealthCheck(t *testing.T) {
	hdr := map[string]string{"x-correlation-id": "hc", "x-issuer-id": "CARDSWITCH"}
	// (A ready answer writes its audit entry through the engine: test/e2e covers it.)
	if st, out := serve(newTestService(t, true, false), "GET", "/tsh/healthCheck", hdr); st != 503 || out["code"] != "UNAVAILABLE" {
		t.Fatalf("not ready: %d %v", st, out)
	}
	if st, out := serve(newTestService(t, false, true), "GET", "/tsh/healthCheck", hdr); st != 403 || out["code"] != "CHANNEL_NOT_ALLOWED" {
		t.Fatalf("transport refused: %d %v", st, out)
	}
	s := newTestService(t, true, true)
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		status       int
		code         string
	}{
		{"GET", "/tsh/healthCheck", map[string]string{"x-issuer-id": "CARDSWITCH"}, 400, "INVALID_HEADER"},
		{"GET", "/tsh/healthCheck", map[string]string{"x-correlation-id": strings.Repeat("c", 65), "x-issuer-id": "CARDSWITCH"}, 400, "INVALID_HEADER"},
		{"POST", "/tsh/healthCheck", hdr, 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/tsh/sendOTP", hdr, 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/tsh/nothing", hdr, 404, "NOT_FOUND"},
	} {
		if st, out := serve(s, c.method, c.path, c.hdr); st != c.status || out["code"] != c.code {
			t.Errorf("%s %s %v: %d %v", c.method, c.path, c.hdr, st, out)
		}
	}
}

func TestNewChecksDeps(t *testing.T) {
	ring, _ := cms.NewKeyring()
	if _, err := New(Deps{IssuerID: "SHORT", Keys: ring, Engine: &engine.Engine{}, PANHash: func(string) string { return "" },
		Transport: transport{true}}); err == nil {
		t.Fatal("issuer id of 5 characters accepted")
	}
	if _, err := New(Deps{IssuerID: "CARDSWITCH"}); err == nil {
		t.Fatal("missing deps accepted")
	}
}

func TestOTPHashes(t *testing.T) {
	h := newOTPHashes(2)
	now := timeAt(0)
	h.put("a", "123456", timeAt(10), now)
	if !h.matches("a", "123456", timeAt(5)) || h.matches("a", "123457", timeAt(5)) || h.matches("a", "123456", timeAt(10)) {
		t.Fatal("matches")
	}
	h.put("b", "1", timeAt(20), now)
	h.put("c", "2", timeAt(30), timeAt(1)) // full: "a" (expiring first) goes
	if h.matches("a", "123456", timeAt(5)) || !h.matches("b", "1", timeAt(5)) || !h.matches("c", "2", timeAt(5)) {
		t.Fatal("eviction")
	}
	for k, v := range h.byID {
		if string(v.sum[:]) == "1" || k == "1" {
			t.Fatal("clear OTP kept")
		}
	}
}

func timeAt(sec int64) time.Time { return time.Unix(1_800_000_000+sec, 0) }
