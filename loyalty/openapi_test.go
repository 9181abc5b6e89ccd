package loyalty

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes checks docs/openapi.yaml's paths under the service's prefixes against
// Routes both ways (mgmt's own test leaves these prefixes to this one).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		mine := false
		for _, prefix := range Prefixes {
			mine = mine || strings.HasPrefix(p, prefix)
		}
		if !mine {
			continue
		}
		for m := range ops {
			if m != "parameters" {
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, r := range Routes {
		routed[r.Method+" "+r.Pattern] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("routes not documented: %v\ndocumented but not routed: %v", missing, extra)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		ok            bool
		params        []string
	}{
		{"/loyalty/enroll/{sessionId}", "/loyalty/enroll/abc", true, []string{"abc"}},
		{"/loyalty/enroll/{sessionId}", "/loyalty/enroll/", false, nil},
		{"/loyalty/enroll/{sessionId}", "/loyalty/enroll/a/b", false, nil},
		{"/loyalty/partner/{partnerId}/style.css", "/loyalty/partner/demo-partner/style.css", true, []string{"demo-partner"}},
		{"/company/non_auth_initialize", "/company/non_auth_initialize", true, nil},
	} {
		params, ok := match(tc.pattern, tc.path)
		if ok != tc.ok || strings.Join(params, ",") != strings.Join(tc.params, ",") {
			t.Errorf("%s %s: %v %v", tc.pattern, tc.path, params, ok)
		}
	}
}
