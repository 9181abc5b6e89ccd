package web

import (
	"bytes"
	"strings"
	"testing"
)

func TestTranslationsHaveEveryKey(t *testing.T) {
	for _, lang := range Languages {
		tr := Translate(lang)
		for name, v := range map[string]string{"register.header": tr.Register.Header, "register.tittle": tr.Register.Tittle,
			"register.accept_terms": tr.Register.AcceptTerms, "register.userData.card_number": tr.Register.UserData.CardNumber,
			"register.userData.first_name": tr.Register.UserData.FirstName, "register.userData.last_name": tr.Register.UserData.LastName,
			"register.userData.email": tr.Register.UserData.Email, "register.optional": tr.Register.Optional,
			"register.confirm": tr.Register.Confirm, "error.title": tr.Error.Title, "error.info_first_part": tr.Error.InfoFirstPart,
			"error.info_second_part": tr.Error.InfoSecondPart, "success.title": tr.Success.Title, "success.info": tr.Success.Info,
			"read_more": tr.ReadMore, "card_invalid": tr.CardInvalid, "replace.tittle": tr.Replace.Tittle, "optout.tittle": tr.OptOut.Tittle,
			"no_cards": tr.NoCards, "closed": tr.Closed} {
			if v == "" {
				t.Errorf("%s: %s is empty", lang, name)
			}
		}
	}
	if Translate("pl").Register.Confirm == Translate("en").Register.Confirm {
		t.Error("pl is en")
	}
}

func TestLanguageOf(t *testing.T) {
	for in, want := range map[string]string{"en_US": "en", "pl": "pl", "pl-PL": "pl", "": "en", "de_DE": "en", "PL": "pl"} {
		if got := LanguageOf(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func TestRenderHasNoThirdPartyOrInline(t *testing.T) {
	for _, action := range []string{"N", "R", "C"} {
		var b bytes.Buffer
		if err := Render(&b, Page{Lang: "pl", T: Translate("pl"), Action: action, KeySPKI: "AAAA", PartnerID: "demo-partner",
			Cards: []Card{{ID: "crd_1", Masked: "5351 XXXX XXXX 0002"}}}); err != nil {
			t.Fatal(err)
		}
		html := b.String()
		for _, banned := range []string{"http://", "https://", "<style", "style=", "onclick", "<script>"} {
			if strings.Contains(html, banned) {
				t.Errorf("%s: page contains %q", action, banned)
			}
		}
		if !strings.Contains(html, "Potwierdź") {
			t.Errorf("%s: not in Polish", action)
		}
	}
	if _, _, ok := Asset("../web.go"); ok {
		t.Fatal("asset path escapes")
	}
}
