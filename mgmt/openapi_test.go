package mgmt

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cardswitch/cardswitch/internal/openapitest"
)

// TestOpenAPIMatchesRouter checks docs/openapi.yaml against the route table both ways: every
// route is documented, every documented operation is routed, with the same least role and the
// same encryption requirement; and every $ref resolves.
func TestOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	h := newHarness(t)
	routed := map[string]*route{}
	var keys []string
	for _, r := range h.srv.routes {
		routed[r.method+" "+r.pattern] = r
		keys = append(keys, r.method+" "+r.pattern)
	}
	// The mounting packages check their own paths against this file.
	documented := openapitest.Match(t, "../docs/openapi.yaml", func(p string) bool { return !servedByMount(p) }, keys)
	for k, r := range routed {
		op := documented[k]
		if r.channel == chanAdmin {
			if op["x-min-role"] != r.minRole.String() {
				t.Errorf("%s: documented role %v, routed %s", k, op["x-min-role"], r.minRole)
			}
		}
		enc, _ := op["x-encryption-required"].(bool)
		if enc != (r.enc == encRequired) {
			t.Errorf("%s: documented encryption-required %v, routed %v", k, enc, r.enc == encRequired)
		}
	}
	var full map[string]any
	yaml.Unmarshal(raw, &full)
	for _, m := range regexp.MustCompile(`\$ref: '#/([^']+)'`).FindAllStringSubmatch(string(raw), -1) {
		var node any = full
		for _, part := range strings.Split(m[1], "/") {
			mm, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			node = mm[part]
		}
		if node == nil {
			t.Errorf("unresolved $ref %s", m[1])
		}
	}
}

// mountedPrefixes are the partner channels other packages mount on the management listener
// (mount.go); each of those packages checks its own paths against docs/openapi.yaml.
var mountedPrefixes = []string{"/tsh/", "/pba/", "/company/", "/issuer/", "/loyalty/"}

func servedByMount(path string) bool {
	for _, p := range mountedPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
