package pba

import (
	"testing"

	"github.com/cardswitch/cardswitch/internal/openapitest"
)

// TestOpenAPIMatchesOperations checks docs/openapi.yaml's /pba paths against the operation
// table both ways (mgmt's own check skips /pba/): every route documented with an example, every
// documented /pba operation routed, admin operations with the routed least role.
func TestOpenAPIMatchesOperations(t *testing.T) {
	routed := map[string]*operation{}
	var keys []string
	for _, o := range operations {
		routed[o.method+" "+o.path] = o
		keys = append(keys, o.method+" "+o.path)
	}
	documented := openapitest.Match(t, "../docs/openapi.yaml", openapitest.Under("/pba/"), keys)
	for k, o := range routed {
		op := documented[k]
		if o.channel == chanAdmin && op["x-min-role"] != o.role {
			t.Errorf("%s: documented role %v, routed %s", k, op["x-min-role"], o.role)
		}
		resp, _ := op["responses"].(map[string]any)
		ok200, _ := resp["200"].(map[string]any)
		content, _ := ok200["content"].(map[string]any)
		hasExample := false
		for _, c := range content {
			if cm, _ := c.(map[string]any); cm["example"] != nil {
				hasExample = true
			}
		}
		if !hasExample {
			t.Errorf("%s: no example answer", k)
		}
	}
}
