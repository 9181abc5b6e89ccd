package tsh

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docs/openapi.yaml documents the /tsh operations exactly as the operation table serves them,
// both ways: every operation is documented with its method, every documented /tsh path is
// served, and each request body lists the seed's fields with the same required flags, lengths
// and enumerations as fields.go. (mgmt's own OpenAPI test leaves /tsh/ to this one.)
func TestOpenAPIMatchesOperations(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type operationDoc struct {
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Required   []string `yaml:"required"`
					Properties map[string]struct {
						Type      string   `yaml:"type"`
						MinLength int      `yaml:"minLength"`
						MaxLength int      `yaml:"maxLength"`
						Enum      []string `yaml:"enum"`
					} `yaml:"properties"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"requestBody"`
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ops := operations()
	served := map[string]bool{}
	for name, op := range ops {
		served[op.method+" "+Prefix+name] = true
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		if !strings.HasPrefix(path, Prefix) {
			continue
		}
		for m, node := range methods {
			var o operationDoc
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			key := strings.ToUpper(m) + " " + path
			documented[key] = true
			op, ok := ops[strings.TrimPrefix(path, Prefix)]
			if !ok || op.method != strings.ToUpper(m) {
				continue
			}
			schema := o.RequestBody.Content["application/json"].Schema
			if op.fields == nil {
				if len(schema.Properties) != 0 {
					t.Errorf("%s: documents a body", key)
				}
				continue
			}
			var wantReq []string
			for _, u := range op.fields {
				if u.required {
					wantReq = append(wantReq, u.f.name)
				}
				p, ok := schema.Properties[u.f.name]
				if !ok {
					t.Errorf("%s: field %s not documented", key, u.f.name)
					continue
				}
				wantType := map[fieldType]string{tString: "string", tBool: "boolean", tNumber: "integer"}[u.f.typ]
				if p.Type != wantType || p.MinLength != u.f.min || p.MaxLength != u.f.max || strings.Join(p.Enum, ",") != strings.Join(u.f.enum, ",") {
					t.Errorf("%s: field %s documented as %+v, served as %+v", key, u.f.name, p, u.f)
				}
			}
			if len(schema.Properties) != len(op.fields) {
				t.Errorf("%s: %d fields documented, %d served", key, len(schema.Properties), len(op.fields))
			}
			gotReq := append([]string(nil), schema.Required...)
			sort.Strings(gotReq)
			sort.Strings(wantReq)
			if strings.Join(gotReq, ",") != strings.Join(wantReq, ",") {
				t.Errorf("%s: required %v, served %v", key, gotReq, wantReq)
			}
		}
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
}
