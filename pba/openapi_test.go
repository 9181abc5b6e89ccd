package pba

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesOperations checks docs/openapi.yaml's /pba paths against the operation
// table both ways (mgmt's own check skips /pba/): every route documented with an example, every
// documented /pba operation routed, admin operations with the routed least role.
func TestOpenAPIMatchesOperations(t *testing.T) {
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
	documented := map[string]map[string]any{}
	for p, ops := range doc.Paths {
		if !strings.HasPrefix(p, "/pba/") {
			continue
		}
		for m, op := range ops {
			if o, ok := op.(map[string]any); ok && m != "parameters" {
				documented[strings.ToUpper(m)+" "+p] = o
			}
		}
	}
	routed := map[string]*operation{}
	for _, o := range operations {
		routed[o.method+" "+o.path] = o
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
