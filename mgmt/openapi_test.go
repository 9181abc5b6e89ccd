package mgmt

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	h := newHarness(t)
	routed := map[string]*route{}
	for _, r := range h.srv.routes {
		routed[r.method+" "+r.pattern] = r
	}
	documented := map[string]map[string]any{}
	for p, ops := range doc.Paths {
		if servedByMount(p) {
			continue // the mounting package checks its own paths against this file
		}
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			o, ok := op.(map[string]any)
			if !ok {
				t.Fatalf("%s %s: not an operation", m, p)
			}
			documented[strings.ToUpper(m)+" "+p] = o
		}
	}
	var missing, extra []string
	for k := range routed {
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if _, ok := routed[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not documented: %v\ndocumented but not routed: %v", missing, extra)
	}
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
