package panel

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/internal/authfeed"
	"github.com/cardswitch/cardswitch/mgmt"
)

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	Who   mgmt.Caller
	CSRF  string
	Can   perms
	Done  string    // the action that just succeeded (?done=)
	Error *apiError // the API's refusal, shown in place of the page's data
	Data  any
}

// perms are what the operator's role may do (mgmt/routes.go's minimum roles); the pages show
// the rest disabled, and the API refuses it anyway.
type perms struct {
	Lock, Unlock, Remove, KYC, Reload, Tokens, Summary, Audit, Webhooks bool
}

func rank(role string) int {
	switch role {
	case mgmt.RoleAdmin:
		return 3
	case mgmt.RoleManager:
		return 2
	case mgmt.RoleEmployee:
		return 1
	}
	return 0
}

func permsOf(role string) perms {
	r := rank(role)
	m, a := r >= 2, r >= 3
	return perms{Lock: r >= 1, Unlock: m, Remove: m, KYC: m, Reload: m, Tokens: m, Summary: m, Audit: a, Webhooks: a}
}

func (p *Panel) pageFor(s *sess, title, nav string, ctx *fasthttp.RequestCtx) *page {
	pg := &page{Title: title, Nav: nav}
	if s != nil {
		pg.Who, pg.CSRF, pg.Can = s.caller, s.csrf, permsOf(s.caller.Role)
	}
	if ctx != nil {
		pg.Done = doneText[string(ctx.QueryArgs().Peek("done"))]
	}
	return pg
}

// render writes a page; a template error is a programmer error answered 500.
func (p *Panel) render(ctx *fasthttp.RequestCtx, status int, name string, pg *page) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, name, pg); err != nil {
		p.d.Log.Error("panel: template failed", "page", name, "err", err)
		ctx.SetStatusCode(500)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("the page could not be rendered")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b.Bytes())
}

// fail renders an error page with the API's (or the panel's) code and message.
func (p *Panel) fail(ctx *fasthttp.RequestCtx, s *sess, status int, code, msg string) {
	pg := p.pageFor(s, "Error", "", nil)
	pg.Error = &apiError{Status: status, Code: code, Message: msg}
	p.render(ctx, status, "error", pg)
}

// failErr renders a failed API call.
func (p *Panel) failErr(ctx *fasthttp.RequestCtx, s *sess, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		p.fail(ctx, s, ae.Status, ae.Code, ae.Message)
		return
	}
	p.d.Log.Error("panel: API call failed", "err", err)
	p.fail(ctx, s, 500, "INTERNAL", "the management API's answer could not be read")
}

// Login and logout.

func (p *Panel) login(ctx *fasthttp.RequestCtx) {
	if !sameSite(ctx) {
		p.fail(ctx, nil, 403, "CSRF_REFUSED", "the login form was not sent from this panel's page")
		return
	}
	args := ctx.PostArgs()
	in := map[string]string{"name": string(args.Peek("name")), "password": string(args.Peek("password"))}
	if otp := strings.TrimSpace(string(args.Peek("otp"))); otp != "" {
		in["otp"] = otp
	}
	var out struct {
		SessionToken string `json:"sessionToken"`
		ExpiresIn    int    `json:"expiresIn"`
	}
	c := &client{api: p.d.API, remote: ctx.RemoteAddr()}
	err := c.call("POST", "/admin/sessions", in, &out)
	clear(args.Peek("password"))
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			p.failErr(ctx, nil, err)
			return
		}
		p.render(ctx, ae.Status, "login", &page{Title: "Log in", Error: ae, Data: in["name"]})
		return
	}
	setCookie(ctx, out.SessionToken, out.ExpiresIn, p.d.SecureCookies)
	redirect(ctx, Prefix+"live")
}

func (p *Panel) logout(ctx *fasthttp.RequestCtx, s *sess) {
	if err := s.api.call("DELETE", "/admin/session", nil, nil); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Code != "NOT_A_SESSION" {
			p.failErr(ctx, s, err)
			return
		}
	}
	clearCookie(ctx)
	redirect(ctx, Prefix+"login")
}

// Live traffic.

// LiveAuthorizationsShown is how many of the latest authorizations the live page lists.
const LiveAuthorizationsShown = 50

type liveData struct {
	Auths []authfeed.Authorization
	Last  uint64
}

func (p *Panel) live(ctx *fasthttp.RequestCtx, s *sess) {
	var d liveData
	if p.d.Feed != nil {
		d.Auths, d.Last = p.d.Feed.Since(0, LiveAuthorizationsShown)
		reverse(d.Auths)
	}
	pg := p.pageFor(s, "Live traffic", "live", ctx)
	pg.Data = d
	p.render(ctx, 200, "live", pg)
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// Balances.

type balancesData struct {
	Summary  []summaryRow
	Partners []partnerView
}

func (p *Panel) balances(ctx *fasthttp.RequestCtx, s *sess) {
	var d balancesData
	pg := p.pageFor(s, "Balances", "balances", ctx)
	if pg.Can.Summary {
		var sum struct {
			Currencies []summaryRow `json:"currencies"`
		}
		if err := s.api.get("/admin/balance-summary", nil, &sum); err != nil {
			p.failErr(ctx, s, err)
			return
		}
		d.Summary = sum.Currencies
	}
	var parts struct {
		Balances []partnerView `json:"balances"`
	}
	if err := s.api.get("/admin/partner-balances", nil, &parts); err != nil {
		p.failErr(ctx, s, err)
		return
	}
	for i := range parts.Balances {
		b := &parts.Balances[i]
		b.Low = b.LowBalanceThreshold != "" && decimalLess(b.Available, b.LowBalanceThreshold)
	}
	d.Partners = parts.Balances
	pg.Data = d
	p.render(ctx, 200, "balances", pg)
}

// decimalLess compares two API amounts ("-12.50", "3"): a < b. Unreadable amounts compare false.
func decimalLess(a, b string) bool {
	fa, err1 := strconv.ParseFloat(a, 64)
	fb, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && fa < fb
}

// Search.

var (
	reLast4 = regexp.MustCompile(`^[0-9]{4}$`)
	reID    = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

type searchData struct {
	Query     string
	Customers []customerView
	Cards     []cardView
	Tokens    []tokenView
	Hint      string
}

// search finds by e-mail (has @), last 4 digits (4 digits: the cards, with their tokens), or
// otherwise by external id, customer id, card id or token id.
func (p *Panel) search(ctx *fasthttp.RequestCtx, s *sess) {
	q := strings.TrimSpace(string(ctx.QueryArgs().Peek("q")))
	d := searchData{Query: q}
	pg := p.pageFor(s, "Search", "search", ctx)
	pg.Data = &d
	if q == "" {
		p.render(ctx, 200, "search", pg)
		return
	}
	var custs struct {
		Items []customerView `json:"items"`
	}
	var cards struct {
		Items []cardView `json:"items"`
	}
	var err error
	switch {
	case strings.Contains(q, "@"):
		err = s.api.get("/admin/customers", url.Values{"email": {q}, "limit": {"50"}}, &custs)
	case reLast4.MatchString(q):
		err = s.api.get("/admin/cards", url.Values{"last4": {q}, "limit": {"50"}}, &cards)
	case reID.MatchString(q):
		err = s.api.get("/admin/customers", url.Values{"externalId": {q}}, &custs)
		if err == nil && len(custs.Items) == 0 {
			p.findByID(s, q, &d)
		}
	default:
		d.Hint = "type an e-mail address, the last 4 digits of a card, an external id, or a customer, card or token id"
	}
	if err != nil {
		p.failErr(ctx, s, err)
		return
	}
	d.Customers = append(d.Customers, custs.Items...)
	for _, c := range cards.Items {
		p.owner(s, &c)
		d.Cards = append(d.Cards, c)
		// The tokens of a card found by its last 4 (a token has last 4 digits of its own).
		var toks struct {
			Tokens []tokenView `json:"tokens"`
		}
		if s.api.get("/admin/cards/"+c.CardID+"/tokens", nil, &toks) == nil {
			d.Tokens = append(d.Tokens, toks.Tokens...)
		}
	}
	p.render(ctx, 200, "search", pg)
}

// findByID tries q as a customer, card and token id (a miss is no error).
func (p *Panel) findByID(s *sess, q string, d *searchData) {
	var cu customerView
	if s.api.get("/admin/customers/"+q, nil, &cu) == nil {
		d.Customers = append(d.Customers, cu)
	}
	var cd cardView
	if s.api.get("/admin/cards/"+q, nil, &cd) == nil {
		p.owner(s, &cd)
		d.Cards = append(d.Cards, cd)
	}
	var tk tokenView
	if s.api.get("/admin/tokens/"+q, nil, &tk) == nil {
		d.Tokens = append(d.Tokens, tk)
	}
}

// owner fills a card's customer id from its balance.
func (p *Panel) owner(s *sess, c *cardView) {
	var b balanceView
	if s.api.get("/admin/balances/"+c.BalanceID, nil, &b) == nil {
		c.CustomerID = b.CustomerID
	}
}

// Customer page.

// HistoryShown is how many of a balance's latest transactions the customer page lists.
const HistoryShown = 20

type customerData struct {
	Customer   customerView
	Balances   []balanceView
	Cards      []cardView
	Agreements []agreementView
	History    []historyItem
}

func (p *Panel) customer(ctx *fasthttp.RequestCtx, s *sess, id string) {
	if !reID.MatchString(id) {
		p.fail(ctx, s, 404, "CUSTOMER_NOT_FOUND", "no such customer")
		return
	}
	var d customerData
	if err := s.api.get("/admin/customers/"+id, nil, &d.Customer); err != nil {
		p.failErr(ctx, s, err)
		return
	}
	var bals struct {
		Items []balanceView `json:"items"`
	}
	var cards struct {
		Items []cardView `json:"items"`
	}
	var agrs struct {
		Agreements []agreementView `json:"agreements"`
	}
	by := url.Values{"customerId": {id}, "limit": {"200"}}
	for _, e := range []error{
		s.api.get("/admin/balances", by, &bals),
		s.api.get("/admin/cards", by, &cards),
		s.api.get("/admin/customers/"+id+"/agreements", nil, &agrs),
	} {
		if e != nil {
			p.failErr(ctx, s, e)
			return
		}
	}
	d.Balances, d.Agreements = bals.Items, agrs.Agreements
	for _, c := range cards.Items {
		var toks struct {
			Tokens []tokenView `json:"tokens"`
		}
		if err := s.api.get("/admin/cards/"+c.CardID+"/tokens", nil, &toks); err != nil {
			p.failErr(ctx, s, err)
			return
		}
		c.Tokens = toks.Tokens
		d.Cards = append(d.Cards, c)
	}
	for _, b := range d.Balances {
		var h struct {
			Items []historyItem `json:"items"`
		}
		if err := s.api.get("/admin/balances/"+b.BalanceID+"/transactions", url.Values{"limit": {strconv.Itoa(HistoryShown)}}, &h); err != nil {
			p.failErr(ctx, s, err)
			return
		}
		d.History = append(d.History, h.Items...)
	}
	pg := p.pageFor(s, d.Customer.FirstName+" "+d.Customer.LastName, "search", ctx)
	pg.Data = d
	p.render(ctx, 200, "customer", pg)
}

// Audit trail and webhooks.

type auditData struct {
	Actor, Action, ResourceID string
	Items                     []auditEntry
	Next                      string
}

func (p *Panel) audit(ctx *fasthttp.RequestCtx, s *sess) {
	pg := p.pageFor(s, "Audit trail", "audit", ctx)
	qa := ctx.QueryArgs()
	d := auditData{Actor: string(qa.Peek("actor")), Action: string(qa.Peek("action")), ResourceID: string(qa.Peek("resourceId"))}
	q := url.Values{"limit": {"50"}}
	for k, v := range map[string]string{"actor": d.Actor, "action": d.Action, "resourceId": d.ResourceID, "cursor": string(qa.Peek("cursor"))} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out struct {
		Items      []auditEntry `json:"items"`
		NextCursor string       `json:"nextCursor"`
	}
	if err := s.api.get("/admin/audit", q, &out); err != nil {
		p.failErr(ctx, s, err)
		return
	}
	d.Items = out.Items
	if out.NextCursor != "" {
		q.Set("cursor", out.NextCursor)
		q.Del("limit")
		d.Next = Prefix + "audit?" + q.Encode()
	}
	pg.Data = d
	p.render(ctx, 200, "audit", pg)
}

type webhooksData struct {
	Status  string
	Enabled bool
	Items   []webhookDelivery
	Next    string
}

func (p *Panel) webhooks(ctx *fasthttp.RequestCtx, s *sess) {
	pg := p.pageFor(s, "Webhooks", "webhooks", ctx)
	qa := ctx.QueryArgs()
	d := webhooksData{Status: string(qa.Peek("status"))}
	q := url.Values{"limit": {"50"}}
	if d.Status != "" {
		q.Set("status", d.Status)
	}
	if c := string(qa.Peek("cursor")); c != "" {
		q.Set("cursor", c)
	}
	var out struct {
		Items      []webhookDelivery `json:"items"`
		Enabled    bool              `json:"enabled"`
		NextCursor string            `json:"nextCursor"`
	}
	if err := s.api.get("/admin/webhooks/events", q, &out); err != nil {
		p.failErr(ctx, s, err)
		return
	}
	d.Items, d.Enabled = out.Items, out.Enabled
	if out.NextCursor != "" {
		q.Set("cursor", out.NextCursor)
		q.Del("limit")
		d.Next = Prefix + "webhooks?" + q.Encode()
	}
	pg.Data = d
	p.render(ctx, 200, "webhooks", pg)
}

// Actions.

// action is one operator action: the least role, and the /admin request it makes.
type action struct {
	minRole string
	done    string
	request func(id string, f *fasthttp.Args) (method, path string, body any, bad string)
}

var actions = map[string]action{
	"lock": {mgmt.RoleEmployee, "Card locked.", func(id string, f *fasthttp.Args) (string, string, any, string) {
		n, err := strconv.Atoi(string(f.Peek("reasonCode")))
		if err != nil {
			return "", "", nil, "choose the lock reason"
		}
		return "POST", "/admin/cards/" + id + "/lock", map[string]int{"reasonCode": n}, ""
	}},
	"unlock": {mgmt.RoleManager, "Card unlocked.", func(id string, _ *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/cards/" + id + "/unlock", nil, ""
	}},
	"remove": {mgmt.RoleManager, "Card removed.", func(id string, _ *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/cards/" + id + "/remove", nil, ""
	}},
	"kyc": {mgmt.RoleManager, "KYC decision recorded.", func(id string, f *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/customers/" + id + "/kyc", map[string]string{"status": string(f.Peek("status"))}, ""
	}},
	"reload": {mgmt.RoleManager, "Balance reloaded.", func(id string, f *fasthttp.Args) (string, string, any, string) {
		amount := strings.TrimSpace(string(f.Peek("amount")))
		if amount == "" {
			return "", "", nil, "give the amount"
		}
		return "POST", "/admin/balances/" + id + "/reload", map[string]json.RawMessage{"amount": jsonString(amount)}, ""
	}},
	"token-suspend": {mgmt.RoleManager, "Token suspended.", func(id string, _ *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/tokens/" + id + "/suspend", nil, ""
	}},
	"token-resume": {mgmt.RoleManager, "Token resumed.", func(id string, _ *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/tokens/" + id + "/resume", nil, ""
	}},
	"replay": {mgmt.RoleAdmin, "Webhook event queued for delivery again.", func(id string, _ *fasthttp.Args) (string, string, any, string) {
		return "POST", "/admin/webhooks/replay", map[string][]string{"eventIds": {id}}, ""
	}},
}

// doneText maps ?done= to the message shown after an action.
var doneText = func() map[string]string {
	m := map[string]string{}
	for k, a := range actions {
		m[k] = a.done
	}
	return m
}()

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// ReasonBytesMax bounds the reason an action asks for (the API's Audit-Reason limit).
const ReasonBytesMax = mgmt.AuditReasonBytesMax

// act runs one action: the form names it, the resource id, the operator's reason (required, kept
// in the audit entry) and where to go back to. A role too weak is refused here and, should the
// form be sent by hand past this check, by the API.
func (p *Panel) act(ctx *fasthttp.RequestCtx, s *sess) {
	f := ctx.PostArgs()
	name, id := string(f.Peek("action")), string(f.Peek("id"))
	reason := strings.TrimSpace(string(f.Peek("reason")))
	a, ok := actions[name]
	switch {
	case !ok:
		p.fail(ctx, s, 400, "UNKNOWN_ACTION", "no such action")
		return
	case !reID.MatchString(id):
		p.fail(ctx, s, 400, "INVALID_FIELD", "id: 1-64 letters, digits or ._:-")
		return
	case reason == "":
		p.fail(ctx, s, 400, "REASON_REQUIRED", "give the reason for this action: it is kept in the audit trail")
		return
	case len(reason) > ReasonBytesMax:
		p.fail(ctx, s, 400, "INVALID_AUDIT_REASON", "the reason has at most 500 bytes")
		return
	case rank(s.caller.Role) < rank(a.minRole):
		p.fail(ctx, s, 403, "ROLE_REQUIRED", "this action needs the role "+a.minRole+"; you are "+s.caller.Role)
		return
	}
	method, path, body, bad := a.request(id, f)
	if bad != "" {
		p.fail(ctx, s, 400, "INVALID_FIELD", bad)
		return
	}
	c := *s.api
	c.reason = reason
	if err := c.call(method, path, body, nil); err != nil {
		p.failErr(ctx, s, err)
		return
	}
	redirect(ctx, backTo(string(f.Peek("back")), name))
}

// backTo is the panel page to return to after an action, with ?done= set; anything that is not
// a panel path goes to the live page (no open redirect).
func backTo(back, done string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, Prefix) || strings.Contains(u.Path, "..") {
		u = &url.URL{Path: Prefix + "live"}
	}
	q := u.Query()
	q.Set("done", done)
	return u.Path + "?" + q.Encode()
}
