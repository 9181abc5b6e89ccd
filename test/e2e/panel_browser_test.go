//go:build browser

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cardswitch/cardswitch/authz"
	"github.com/cardswitch/cardswitch/config"
	"github.com/cardswitch/cardswitch/mgmt"
)

// The operator panel in Chromium (issue 22 "Done when"): operators of each role log in, an
// authorization sent over ISO 8583 appears live with its PAN masked, an Employee locks the card
// (with a reason) and the next authorization is declined, an Employee's reload is disabled on
// the page and refused by the server when forced, a Manager reloads, an Admin finds both in the
// audit trail with their reasons. With CARDSWITCH_PANEL_SCREENSHOTS=docs/panel (relative to the
// repository root, or absolute) it saves a screenshot of each page there.

const panelPassword = "panel browser test password"

func startPanelSwitch(t *testing.T) *sw {
	t.Helper()
	hash, err := mgmt.HashOperatorPassword([]byte(panelPassword), mgmt.BcryptCostMin)
	if err != nil {
		t.Fatal(err)
	}
	return startSwitchWith(t, t.TempDir(), func(c *config.Config) {
		c.HTTP.Operators = []config.Operator{{Name: "ann", Role: "Admin", PasswordHash: hash},
			{Name: "max", Role: "Manager", PasswordHash: hash}, {Name: "emma", Role: "Employee", PasswordHash: hash}}
	})
}

// screenshots saves the current page as name.png when CARDSWITCH_PANEL_SCREENSHOTS is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CARDSWITCH_PANEL_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // the test runs in test/e2e
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPanelBrowserOperators(t *testing.T) {
	s := startPanelSwitch(t)
	c := s.provision(100_00)
	cust := "cust-" + strings.TrimPrefix(c.id, "card-")
	masked := c.pan[:6] + "******" + c.pan[12:]
	base := "http://" + s.app.HTTPAddr() + "/panel/"
	ctx, cancel := browser(t)
	defer cancel()
	steps(t, ctx, chromedp.EmulateViewport(1360, 900))

	login := func(name string) {
		t.Helper()
		steps(t, ctx, chromedp.Navigate(base+"login"), chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), name), chromedp.SendKeys(chromedp.ID("password"), panelPassword))
		if name == "emma" {
			screenshot(t, ctx, "login")
		}
		steps(t, ctx, chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("who")))
		if role := eval[string](t, ctx, `document.getElementById('who').dataset.role`); role == "" {
			t.Fatalf("%s logged in without a role", name)
		}
	}
	logout := func() {
		t.Helper()
		steps(t, ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	}
	noPAN := func(where string) {
		t.Helper()
		if html := eval[string](t, ctx, `document.documentElement.outerHTML`); strings.Contains(html, c.pan) {
			t.Fatalf("%s shows the full PAN", where)
		}
	}
	streamLive := func() {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('stream-state').textContent === 'live'`)); err != nil {
			t.Fatalf("live stream: %v", err)
		}
	}

	// An Employee watches the live page while an authorization arrives over ISO 8583.
	login("emma")
	if who := eval[string](t, ctx, `document.getElementById('who').textContent`); who != "emma · Employee" {
		t.Fatalf("who: %q", who)
	}
	if eval[bool](t, ctx, `!!document.querySelector('a[href="/panel/audit"]')`) {
		t.Fatal("an Employee sees the audit trail in the menu")
	}
	steps(t, ctx, chromedp.Navigate(base+"live"), chromedp.WaitVisible(chromedp.ID("auths")))
	streamLive()
	if r := s.send(s.req("0100", "000000", c, 12_34)); r.ResponseCode != "00" {
		t.Fatalf("first authorization: %s", r.ResponseCode)
	}
	steps(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#auths tbody tr.ok td.pan`)))
	if got := eval[string](t, ctx, `document.querySelector('#auths tbody tr.ok td.pan').textContent`); got != masked {
		t.Fatalf("live authorization shows %q, want %q", got, masked)
	}
	// A little traffic over a few seconds, declines among it (amounts over the balance), so the
	// charts have points and the declines table a row: each round waits for the next sample.
	over := authz.InsufficientFunds.String()
	for round := 0; round < 4; round++ {
		before := eval[int](t, ctx, `document.querySelector('#chart-rate polyline') ? document.querySelector('#chart-rate polyline').getAttribute('points').split(' ').length : 0`)
		for i := 0; i < 3+round; i++ {
			s.send(s.req("0100", "000000", c, int64(1_00+i)))
		}
		if r := s.send(s.req("0100", "000000", c, 1_000_000_00)); r.ResponseCode != "51" {
			t.Fatalf("authorization over the balance: %s", r.ResponseCode)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(function () { var l = document.querySelector('#chart-rate polyline');
			return !!l && l.getAttribute('points').split(' ').length > %d; })()`, before))); err != nil {
			t.Fatalf("traffic chart round %d: %v", round, err)
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`Array.from(document.querySelectorAll('#declines td')).some(function (td) { return td.textContent === %q; })`, over))); err != nil {
		t.Fatalf("declines by action code: %v", err)
	}
	noPAN("the live page")
	screenshot(t, ctx, "live")

	// The Employee finds the customer by the card's last 4 digits and locks the card.
	steps(t, ctx, chromedp.Navigate(base+"search?q="+c.pan[12:]), chromedp.WaitVisible(chromedp.CSS(`#cards a`)))
	screenshot(t, ctx, "search")
	steps(t, ctx, chromedp.Click(chromedp.CSS(`#cards a`)), chromedp.WaitVisible(chromedp.ID("balances")))
	if !eval[bool](t, ctx, `document.querySelector('button.reload').disabled && document.querySelector('input.amount').disabled`) {
		t.Fatal("the Employee's reload control is enabled")
	}
	if eval[bool](t, ctx, `document.querySelector('button.lock').disabled`) {
		t.Fatal("the Employee's lock control is disabled")
	}
	// Forced past the disabled control, the reload is refused by the server.
	eval[bool](t, ctx, `(function () { var f = document.querySelector('form.reload-form');
		var a = f.querySelector('input.amount'); a.disabled = false; a.value = '50.00';
		f.querySelector('input.reason').value = 'forced by hand'; var b = f.querySelector('button.reload');
		b.disabled = false; b.click(); return true; })()`)
	steps(t, ctx, chromedp.WaitVisible(chromedp.ID("error")))
	if msg := eval[string](t, ctx, `document.getElementById('error').textContent`); !strings.Contains(msg, "403") {
		t.Fatalf("forced reload: %q", msg)
	}
	if b := s.balance(c.balanceID); b.CurrentMinor != 100_00 {
		t.Fatalf("the Employee's forced reload changed the balance: %d", b.CurrentMinor)
	}
	steps(t, ctx, chromedp.Navigate(base+"customers/"+cust), chromedp.WaitVisible(chromedp.CSS(`form.lock-form`)),
		chromedp.SetValue(chromedp.CSS(`form.lock-form select.reason-code`), "7"),
		chromedp.SendKeys(chromedp.CSS(`form.lock-form input.reason`), "cardholder reported an unknown purchase"),
		chromedp.Click(chromedp.CSS(`button.lock`)), chromedp.WaitVisible(chromedp.ID("done")))
	if st := eval[string](t, ctx, `document.querySelector('tr[data-card] td.state').textContent`); !strings.HasPrefix(st, "LOCKED") {
		t.Fatalf("card state on the page: %q", st)
	}
	// The next authorization is declined, and shows so on the live page.
	if r := s.send(s.req("0100", "000000", c, 5_00)); r.ResponseCode == "00" {
		t.Fatal("an authorization on the locked card was approved")
	}
	steps(t, ctx, chromedp.Navigate(base+"live"), chromedp.WaitVisible(chromedp.CSS(`#auths tbody tr.declined`)))
	noPAN("the live page after the decline")
	logout()

	// A Manager reloads with a reason.
	login("max")
	steps(t, ctx, chromedp.Navigate(base+"customers/"+cust), chromedp.WaitVisible(chromedp.ID("balances")))
	if eval[bool](t, ctx, `document.querySelector('button.reload').disabled`) {
		t.Fatal("the Manager's reload control is disabled")
	}
	steps(t, ctx, chromedp.SendKeys(chromedp.CSS(`form.reload-form input.amount`), "25.00"),
		chromedp.SendKeys(chromedp.CSS(`form.reload-form input.reason`), "goodwill credit, ticket 4711"),
		chromedp.Click(chromedp.CSS(`button.reload`)), chromedp.WaitVisible(chromedp.ID("done")))
	if b := s.balance(c.balanceID); b.CurrentMinor != 125_00 {
		t.Fatalf("balance after the Manager's reload: %d", b.CurrentMinor)
	}
	noPAN("the customer page")
	screenshot(t, ctx, "customer")
	steps(t, ctx, chromedp.Navigate(base+"balances"), chromedp.WaitVisible(chromedp.ID("summary")))
	screenshot(t, ctx, "balances")
	logout()

	// An Admin reads both actions, with their reasons, in the audit trail.
	login("ann")
	steps(t, ctx, chromedp.Navigate(base+"audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	reasons := eval[string](t, ctx, `Array.from(document.querySelectorAll('#audit tbody tr')).map(function (r) {
		return r.dataset.action + '=' + r.querySelector('td.reason').textContent; }).join('|')`)
	for _, want := range []string{"card.lock=cardholder reported an unknown purchase", "balance.reload=goodwill credit, ticket 4711"} {
		if !strings.Contains(reasons, want) {
			t.Fatalf("audit trail %q lacks %q", reasons, want)
		}
	}
	screenshot(t, ctx, "audit")
	steps(t, ctx, chromedp.Navigate(base+"webhooks"), chromedp.WaitVisible(chromedp.ID("webhooks")))
	screenshot(t, ctx, "webhooks")
	logout()
}
