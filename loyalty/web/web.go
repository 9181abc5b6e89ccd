// Package web is the enrollment page of the loyalty widget: one HTML template, its script and
// stylesheet, and the seed's translation file in two languages, all embedded. The page loads
// nothing from a third party, and its Content-Security-Policy allows only its own origin.
package web

import (
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"strings"
)

//go:embed assets/* i18n/*.json enroll.html member.html
var files embed.FS

// Asset is one of the page's static files (enroll.js, enroll.css, the default logo, reward images).
func Asset(name string) ([]byte, string, bool) {
	if strings.Contains(name, "/") || strings.Contains(name, "..") {
		return nil, "", false
	}
	b, err := files.ReadFile("assets/" + name)
	if err != nil {
		return nil, "", false
	}
	return b, contentType(name), true
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		return "image/svg+xml"
	case strings.HasSuffix(name, ".png"):
		return "image/png"
	}
	return "application/octet-stream"
}

// CSP is the page's Content-Security-Policy: nothing but its own origin, no inline script or
// style, no framing (the seed: never in an iframe), forms post only to itself.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Translations are the seed's translation keys (register.*, error.*, success.*, read_more; the
// seed's spelling "tittle" kept) and ours for the replacement and opt-out pages.
type Translations struct {
	Register struct {
		Header      string `json:"header"`
		Tittle      string `json:"tittle"`
		AcceptTerms string `json:"accept_terms"`
		UserData    struct {
			CardNumber string `json:"card_number"`
			FirstName  string `json:"first_name"`
			LastName   string `json:"last_name"`
			Email      string `json:"email"`
		} `json:"userData"`
		Optional string `json:"optional"`
		Confirm  string `json:"confirm"`
	} `json:"register"`
	Error struct {
		Title          string `json:"title"`
		InfoFirstPart  string `json:"info_first_part"`
		InfoSecondPart string `json:"info_second_part"`
	} `json:"error"`
	Success struct {
		Title string `json:"title"`
		Info  string `json:"info"`
	} `json:"success"`
	ReadMore    string   `json:"read_more"`
	CardInvalid string   `json:"card_invalid"`
	Replace     flowText `json:"replace"`
	OptOut      flowText `json:"optout"`
	NoCards     string   `json:"no_cards"`
	Closed      string   `json:"closed"`
}

type flowText struct {
	Tittle string `json:"tittle"`
	Pick   string `json:"pick"`
	Info   string `json:"info"`
}

// Languages are the translations shipped; DefaultLanguage is used for any other.
var Languages = []string{"en", "pl"}

// DefaultLanguage is the partner default when the token names none (or one not shipped).
const DefaultLanguage = "en"

// LanguageOf maps a token's language (en_US, pl, pl-PL) to a shipped translation.
func LanguageOf(tag string) string {
	lang := strings.ToLower(tag)
	if i := strings.IndexAny(lang, "_-"); i >= 0 {
		lang = lang[:i]
	}
	for _, l := range Languages {
		if l == lang {
			return l
		}
	}
	return DefaultLanguage
}

// Translate returns a shipped translation.
func Translate(lang string) Translations {
	raw, err := files.ReadFile("i18n/" + LanguageOf(lang) + ".json")
	if err != nil {
		panic("web: translation missing: " + err.Error())
	}
	var t Translations
	if err := json.Unmarshal(raw, &t); err != nil {
		panic("web: translation not JSON: " + err.Error())
	}
	return t
}

// Card is a card the replacement or opt-out page offers, masked as the seed shows it.
type Card struct {
	ID     string
	Masked string // "1234 XXXX XXXX 1234"
}

// Result is a finished submission shown again on reload.
type Result struct {
	Status     string
	IncidentID string
}

// Page is what the template shows.
type Page struct {
	Lang        string
	T           Translations
	Action      string // N, R or C
	KeySPKI     string // base64 SPKI of the key the card number is sealed to
	PartnerID   string
	PartnerName string
	Cards       []Card
	Result      *Result
	ResultOK    bool
	Closed      bool // the session expired or does not exist
}

var page = template.Must(template.ParseFS(files, "enroll.html"))

// Render writes the page.
func Render(w io.Writer, p Page) error { return page.Execute(w, p) }

// MemberAccount is a card on the member page.
type MemberAccount struct {
	CardID, Masked, Status string
	Points                 int64
}

// MemberItem is a reward of the catalog.
type MemberItem struct {
	ID, Short, Long string
	Points          int64
}

// Member is the member page (the SDK webview): the points, the cards, the catalog ("full").
type Member struct {
	Lang, Header, PartnerID, PartnerName, Widget, ReturnURL string
	Points                                                  int64
	Accounts                                                []MemberAccount
	Items                                                   []MemberItem
	// Goal is the selected reward and GoalMissing the points still short of it.
	Goal        *MemberItem
	GoalMissing int64
}

var memberPage = template.Must(template.ParseFS(files, "member.html"))

// RenderMember writes the member page.
func RenderMember(w io.Writer, m Member) error { return memberPage.Execute(w, m) }
