package loyalty

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cardswitch/cardswitch/ledger"
	"github.com/cardswitch/cardswitch/loyalty/web"
	"github.com/cardswitch/cardswitch/mgmt"
)

// Prefixes the service mounts on the management listener (mgmt.Server.Mount).
var Prefixes = []string{"/company/", "/issuer/", "/loyalty/"}

// Limits of the HTTP surface.
const (
	// BodyBytesMax bounds a request body of the initialization and enrollment endpoints; larger
	// is answered 400 INVALID_PAYLOAD.
	BodyBytesMax = 32 << 10
	// FlowTimeout bounds one submission's calls to the rewards host and the engine.
	FlowTimeout = 30 * time.Second
)

// Route is one operation of the service, for the route table test against docs/openapi.yaml.
type Route struct {
	Method, Pattern string
	handle          func(s *Service, ctx *fasthttp.RequestCtx, params []string)
}

// Routes is the service's route table: the single source of its paths.
var Routes = []Route{
	{"POST", "/company/non_auth_initialize", (*Service).hWebsiteInit},
	{"POST", "/issuer/initialize_sdk", (*Service).hSDKInit},
	{"GET", "/loyalty/enroll/{sessionId}", (*Service).hEnrollPage},
	{"POST", "/loyalty/enroll/{sessionId}", (*Service).hEnrollSubmit},
	{"GET", "/loyalty/member/{sessionId}", (*Service).hMemberPage},
	{"GET", "/loyalty/assets/{file}", (*Service).hAsset},
	{"GET", "/loyalty/partner/{partnerId}/style.css", (*Service).hPartnerStyle},
	{"GET", "/loyalty/partner/{partnerId}/logo", (*Service).hPartnerLogo},
	{"GET", "/loyalty/signing-key", (*Service).hSigningKey},
	// The partner API (secure channel) and the operators' (admin channel): api.go.
	{"GET", "/loyalty/customers/{customerId}/catalog", (*Service).hCatalog},
	{"POST", "/loyalty/customers/{customerId}/redemptions", (*Service).hRedeem},
	{"GET", "/loyalty/customers/{customerId}/redemptions", (*Service).hRedemptions},
	{"POST", "/loyalty/customers/{customerId}/redemptions/{redemptionId}/cancel", (*Service).hCancelRedemption},
	{"PUT", "/loyalty/customers/{customerId}/selected-reward", (*Service).hSelectReward},
	{"POST", "/loyalty/customers/{customerId}/household/{action}", (*Service).hHousehold},
	{"GET", "/loyalty/admin/confirmations", (*Service).hConfirmations},
	{"POST", "/loyalty/admin/confirmations/{confirmationId}/retry", (*Service).hRetryConfirmation},
	{"POST", "/loyalty/admin/purge", (*Service).hPurge},
}

// match matches a path against a pattern of literal and {param} segments.
func match(pattern, path string) ([]string, bool) {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var params []string
	for i, p := range ps {
		if strings.HasPrefix(p, "{") {
			if xs[i] == "" {
				return nil, false
			}
			params = append(params, xs[i])
		} else if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}

// Handler serves every route of the service (mounted under each of Prefixes).
func (s *Service) Handler(ctx *fasthttp.RequestCtx) {
	path, method := string(ctx.Path()), string(ctx.Method())
	allowed := false
	for _, r := range Routes {
		params, ok := match(r.Pattern, path)
		if !ok {
			continue
		}
		if r.Method != method {
			allowed = true
			continue
		}
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		r.handle(s, ctx, params)
		return
	}
	if allowed {
		mgmt.WriteError(ctx, fasthttp.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed", "")
		return
	}
	mgmt.WriteError(ctx, fasthttp.StatusNotFound, "NOT_FOUND", "no such resource", "")
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, _ := json.Marshal(v)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// decodeBody reads a JSON object strictly (unknown fields refused); false when it is not one.
func decodeBody(ctx *fasthttp.RequestCtx, dst any) bool {
	body := ctx.PostBody()
	if len(body) == 0 || len(body) > BodyBytesMax {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		return false
	}
	return !d.More()
}

func invalidPayload(ctx *fasthttp.RequestCtx, msg string) {
	mgmt.WriteError(ctx, fasthttp.StatusBadRequest, "INVALID_PAYLOAD", msg, "")
}

func invalidToken(ctx *fasthttp.RequestCtx, err error) {
	msg := "the initialization token is not valid"
	if t, ok := err.(*ErrToken); ok {
		msg = t.Error()
	}
	mgmt.WriteError(ctx, fasthttp.StatusUnauthorized, "INVALID_TOKEN", msg, "")
}

func unavailable(ctx *fasthttp.RequestCtx) {
	mgmt.WriteError(ctx, fasthttp.StatusServiceUnavailable, "UNAVAILABLE", "too many open sessions; try again later", "")
}

// baseURL is the listener's own origin as the caller reached it.
func baseURL(ctx *fasthttp.RequestCtx) string {
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	return scheme + "://" + string(ctx.Host())
}

// hWebsiteInit is POST /company/non_auth_initialize: a valid token opens a one-time enrollment
// page and is answered 302 to it; nothing is created otherwise.
func (s *Service) hWebsiteInit(ctx *fasthttp.RequestCtx, _ []string) {
	var in struct {
		Token *string `json:"initializeWebsiteToken"`
	}
	if !decodeBody(ctx, &in) || in.Token == nil {
		invalidPayload(ctx, `body: {"initializeWebsiteToken": "<JWT>"}`)
		return
	}
	now := s.clock()
	c, err := VerifyWebsiteToken(*in.Token, s.partner, now)
	if err != nil {
		invalidToken(ctx, err)
		return
	}
	customerID, ok := s.eng.State().CustomerIDByExternal(c.Subject)
	if !ok {
		invalidToken(ctx, &ErrToken{Reason: "sub is no customer's externalId"})
		return
	}
	id, err := s.sessions.open(&session{kind: kindEnroll, website: c, customerID: customerID}, now)
	if err != nil {
		unavailable(ctx)
		return
	}
	loc := baseURL(ctx) + "/loyalty/enroll/" + id
	ctx.Response.Header.Set("Location", loc)
	ctx.SetStatusCode(fasthttp.StatusFound)
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, `<!doctype html><title>Enrollment</title><a href="%s">%s</a>`, loc, loc)
}

// hSDKInit is POST /issuer/initialize_sdk: a valid trusted-identity token of an enrolled card
// opens the member page: 302 to it, or with "redirect": false 201 {"redirectUrl"}.
func (s *Service) hSDKInit(ctx *fasthttp.RequestCtx, _ []string) {
	var in struct {
		Token          *string `json:"initializeSDKToken"`
		WidgetType     string  `json:"widget_type"`
		WidgetTypeAlt  string  `json:"widgetType"` // the seed spells it both ways
		Redirect       *bool   `json:"redirect"`
		ReturnURL      string  `json:"returnUrl"`
		KeepSessionURL string  `json:"keepSessionUrl"`
	}
	if !decodeBody(ctx, &in) || in.Token == nil {
		invalidPayload(ctx, `body: {"initializeSDKToken": "<JWS>", "widget_type": "goal"|"full", "redirect"?: bool}`)
		return
	}
	widget := in.WidgetType
	if widget == "" {
		widget = in.WidgetTypeAlt
	}
	if widget != "goal" && widget != "full" {
		invalidPayload(ctx, `widget_type: "goal" or "full"`)
		return
	}
	if in.ReturnURL != "" && checkCallbackURL(in.ReturnURL) != nil {
		invalidPayload(ctx, "returnUrl: an absolute http(s) URL")
		return
	}
	now := s.clock()
	c, err := VerifySDKToken(*in.Token, s.partnerList(), now)
	if err != nil {
		invalidToken(ctx, err)
		return
	}
	customerID, ok := s.eng.State().CustomerIDByExternal(c.Subject)
	if !ok || !s.hasCard(customerID, c.CardHash) {
		invalidToken(ctx, &ErrToken{Reason: "no enrolled card of sub has this cardHash"})
		return
	}
	fresh, err := s.jtis.first(c.Partner+"|"+c.ID, c.IssuedAt.Add(TokenLifetimeMax+ClockSkew), now)
	if err != nil {
		unavailable(ctx)
		return
	}
	if !fresh {
		invalidToken(ctx, &ErrToken{Reason: "jti was used before"})
		return
	}
	id, err := s.sessions.open(&session{kind: kindMember, sdk: c, widget: widget, returnURL: in.ReturnURL, customerID: customerID}, now)
	if err != nil {
		unavailable(ctx)
		return
	}
	loc := baseURL(ctx) + "/loyalty/member/" + id
	if in.Redirect != nil && !*in.Redirect {
		writeJSON(ctx, fasthttp.StatusCreated, map[string]string{"redirectUrl": loc})
		return
	}
	ctx.Response.Header.Set("Location", loc)
	ctx.SetStatusCode(fasthttp.StatusFound)
}

// hasCard reports whether the customer has a live member whose card hash is cardHash.
func (s *Service) hasCard(customerID, cardHash string) bool {
	for _, m := range s.eng.State().LoyaltyMembersOfCustomer(customerID) {
		// The card hash stands for the PAN: compared in constant time.
		if subtle.ConstantTimeCompare([]byte(m.CardHash), []byte(cardHash)) == 1 && m.Status != ledger.LoyaltyCancelled {
			return true
		}
	}
	return false
}

func (s *Service) pageHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", web.CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	ctx.SetContentType("text/html; charset=utf-8")
}

// hEnrollPage is GET /loyalty/enroll/{sessionId}: the widget for the session's action, its
// outcome once submitted, or the expired page.
func (s *Service) hEnrollPage(ctx *fasthttp.RequestCtx, params []string) {
	s.pageHeaders(ctx)
	ses, ok := s.sessions.get(params[0], s.clock())
	if !ok || ses.kind != kindEnroll {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		web.Render(ctx, web.Page{Lang: web.DefaultLanguage, T: web.Translate(""), PartnerID: "default", Closed: true})
		return
	}
	w := &ses.website
	p := web.Page{Lang: web.LanguageOf(w.Language), T: web.Translate(w.Language), Action: w.ActionCode,
		KeySPKI: base64.StdEncoding.EncodeToString(s.PagePublicKeyDER()), PartnerID: w.Partner, PartnerName: s.partnerName(w.Partner)}
	if ses.result != nil {
		p.Result = &web.Result{Status: ses.result.Status, IncidentID: ses.result.IncidentID}
		p.ResultOK = strings.HasPrefix(ses.result.Status, "SUCCESS_")
	}
	if w.ActionCode != ActionNew {
		for _, m := range s.eng.State().LoyaltyMembersOfCustomer(ses.customerID) {
			if m.Status != ledger.LoyaltyEnrolled { // only an enrolled card can be replaced or opted out
				continue
			}
			p.Cards = append(p.Cards, web.Card{ID: m.CardID, Masked: s.masked(m)})
		}
	}
	web.Render(ctx, p)
}

// masked shows an enrolled card as the seed does: "1234 XXXX XXXX 1234".
func (s *Service) masked(m ledger.LoyaltyMember) string {
	first := "XXXX"
	if c, ok := s.eng.State().Card(m.CardID); ok && len(c.PAN) >= 4 {
		first = c.PAN[:4]
	}
	return first + " XXXX XXXX " + m.Last4
}

func (s *Service) partnerName(id string) string {
	for _, p := range s.cfg.Partners {
		if p.ID == id && p.DisplayName != "" {
			return p.DisplayName
		}
	}
	return id
}

// hEnrollSubmit is POST /loyalty/enroll/{sessionId}: the session's one submission. The answer
// is the outcome (the enrollmentEnded event's data), 200 whatever it is; 400 INVALID_PAYLOAD for
// a malformed submission (the session stays open), 404 for a session gone or used.
func (s *Service) hEnrollSubmit(ctx *fasthttp.RequestCtx, params []string) {
	now := s.clock()
	ses, ok := s.sessions.claim(params[0], now)
	if !ok || ses.kind != kindEnroll {
		if ok {
			s.sessions.release(params[0])
		}
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "SESSION_NOT_FOUND", "the enrollment page expired or was used", "")
		return
	}
	var in enrollInput
	if !decodeBody(ctx, &in) {
		s.sessions.release(ses.id)
		invalidPayload(ctx, "body: the page's submission")
		return
	}
	if field, ok := in.validate(ses.website.ActionCode); !ok {
		s.sessions.release(ses.id)
		mgmt.WriteError(ctx, fasthttp.StatusBadRequest, "INVALID_PAYLOAD", field+" is missing or not valid", field)
		return
	}
	fctx, cancel := context.WithTimeout(context.Background(), FlowTimeout)
	defer cancel()
	r := s.submit(fctx, &ses, &in)
	if !strings.HasPrefix(r.Status, "SUCCESS_") {
		s.queueAlone(ses.website.ConfirmationURL, r) // a success was confirmed in its own batch
	}
	s.sessions.finish(ses.id, r)
	writeJSON(ctx, fasthttp.StatusOK, r)
}

// submit runs the session's action.
func (s *Service) submit(ctx context.Context, ses *session, in *enrollInput) Result {
	w := &ses.website
	switch w.ActionCode {
	case ActionNew:
		pan, ok := s.openPAN(in.PAN)
		if !ok {
			return s.failed(StatusFailedEnrollment, w.Subject, "", "card number envelope")
		}
		r, _ := s.enrollCard(ctx, ses, pan, in.FirstName, in.LastName, in.Email, StatusSuccessEnrollment, StatusFailedEnrollment, true)
		return r
	case ActionReplacement:
		return s.replace(ctx, ses, in)
	default:
		return s.optOut(ctx, ses, in.CardID)
	}
}

// hMemberPage is GET /loyalty/member/{sessionId}: the member webview of an SDK session.
func (s *Service) hMemberPage(ctx *fasthttp.RequestCtx, params []string) {
	s.pageHeaders(ctx)
	ses, ok := s.sessions.get(params[0], s.clock())
	if !ok || ses.kind != kindMember {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		web.Render(ctx, web.Page{Lang: web.DefaultLanguage, T: web.Translate(""), PartnerID: "default", Closed: true})
		return
	}
	web.RenderMember(ctx, s.memberPage(&ses))
}

func (s *Service) hAsset(ctx *fasthttp.RequestCtx, params []string) {
	b, ct, ok := web.Asset(params[0])
	if !ok {
		mgmt.WriteError(ctx, fasthttp.StatusNotFound, "NOT_FOUND", "no such asset", "")
		return
	}
	ctx.Response.Header.Set("Cache-Control", "public, max-age=300")
	ctx.SetContentType(ct)
	ctx.SetBody(b)
}

// hPartnerStyle is the partner's colours as CSS custom properties (the page allows no inline
// style).
func (s *Service) hPartnerStyle(ctx *fasthttp.RequestCtx, params []string) {
	color := "#cf4500"
	for _, p := range s.cfg.Partners {
		if p.ID == params[0] && p.PrimaryColor != "" {
			color = p.PrimaryColor // validated #RRGGBB
		}
	}
	ctx.SetContentType("text/css; charset=utf-8")
	fmt.Fprintf(ctx, ":root { --brand: %s; }\n", color)
}

// hPartnerLogo is the partner's logo file, or the embedded one.
func (s *Service) hPartnerLogo(ctx *fasthttp.RequestCtx, params []string) {
	for _, p := range s.cfg.Partners {
		if p.ID == params[0] && p.LogoFile != "" {
			if b, err := os.ReadFile(p.LogoPath(s.dataDir)); err == nil && len(b) <= 1<<20 {
				ctx.SetContentType("image/png")
				ctx.SetBody(b)
				return
			}
		}
	}
	b, ct, _ := web.Asset("logo.svg")
	ctx.SetContentType(ct)
	ctx.SetBody(b)
}

// hSigningKey is the PEM public key the confirmations' Loyalty-Signature verifies with.
func (s *Service) hSigningKey(ctx *fasthttp.RequestCtx, _ []string) {
	der, _ := x509.MarshalPKIXPublicKey(&s.signKey.PublicKey)
	ctx.SetContentType("application/x-pem-file")
	ctx.SetBody(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
