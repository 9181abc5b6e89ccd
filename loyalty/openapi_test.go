package loyalty

import (
	"strings"
	"testing"

	"github.com/cardswitch/cardswitch/internal/openapitest"
)

// TestOpenAPIMatchesRoutes checks docs/openapi.yaml's paths under the service's prefixes against
// Routes both ways (mgmt's own test leaves these prefixes to this one).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var routed []string
	for _, r := range Routes {
		routed = append(routed, r.Method+" "+r.Pattern)
	}
	openapitest.Match(t, "../docs/openapi.yaml", openapitest.Under(Prefixes...), routed)
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
