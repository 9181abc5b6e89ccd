// Package openapitest checks a package's route table against docs/openapi.yaml. Each package
// that serves a part of the management listener (mgmt, and the partner channels it mounts)
// calls Match from a test, so that the document and the routes cannot drift apart either way.
package openapitest

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Operation is a documented operation, as its YAML decodes (summary, x-min-role, responses…).
type Operation = map[string]any

// Operations reads the OpenAPI document at path and returns its operations, keyed "METHOD
// /path", whose path is kept by keep (nil keeps every path).
func Operations(t testing.TB, path string, keep func(path string) bool) map[string]Operation {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]Operation{}
	for p, ops := range doc.Paths {
		if keep != nil && !keep(p) {
			continue
		}
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			o, ok := op.(map[string]any)
			if !ok {
				t.Fatalf("%s %s: not an operation", m, p)
			}
			out[strings.ToUpper(m)+" "+p] = o
		}
	}
	return out
}

// Under keeps the paths under any of prefixes.
func Under(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, pre := range prefixes {
			if strings.HasPrefix(p, pre) {
				return true
			}
		}
		return false
	}
}

// Match reads the operations of the document kept by keep and fails the test unless they are
// exactly routed ("METHOD /path" each); it returns them for further checks.
func Match(t testing.TB, path string, keep func(string) bool, routed []string) map[string]Operation {
	t.Helper()
	documented := Operations(t, path, keep)
	isRouted := map[string]bool{}
	var missing, extra []string
	for _, k := range routed {
		isRouted[k] = true
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !isRouted[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not documented: %v\ndocumented but not routed: %v", missing, extra)
	}
	return documented
}
