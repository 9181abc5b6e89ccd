// Package openapi_test validates docs/openapi.yaml with two maintained OpenAPI 3.1 validators, so
// that partners' client generators take the document as it is: libopenapi-validator checks it
// against the official OpenAPI JSON Schema of the version it declares (unknown fields, security
// scheme types), and kin-openapi checks what that schema leaves open (every $ref resolves, schema
// types and keywords are valid for the version). mgmt/openapi_test.go checks the paths against
// the route table; this test checks the document itself. It lives in a package of its own so
// that the validators' modules are built only for it.
package openapi_test

import (
	"context"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

const docPath = "../../docs/openapi.yaml"

// wantVersion is the OpenAPI version the document declares: 3.1 is the first that has the
// mutualTLS security scheme (/secure) and $ref with sibling keys.
const wantVersion = "3.1.0"

func TestOpenAPIDocumentIsValid(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range validate(t, raw) {
		t.Error(e)
	}
}

// The validators must be able to fail: a document with each kind of defect they are here for
// is refused.
func TestOpenAPIValidatorsRefuseDefects(t *testing.T) {
	for name, doc := range map[string]string{
		"3.0 with mutualTLS": `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  securitySchemes:
    m: {type: mutualTLS}
`,
		"unknown operation field": `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      bogus: 1
      responses: {'200': {description: ok}}
`,
		"unresolved $ref": `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Missing'}}}}}
`,
		"bad schema type": `openapi: 3.1.0
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    A: {type: objekt}
`,
	} {
		if errs := validate(t, []byte(doc)); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// validate returns what either validator finds wrong with the document.
func validate(t *testing.T, raw []byte) []string {
	t.Helper()
	var out []string
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return []string{"libopenapi: " + err.Error()}
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			out = append(out, "OpenAPI JSON Schema: "+e.Message+": "+e.Reason)
			for _, f := range e.SchemaValidationErrors {
				out = append(out, "  "+f.FieldPath+": "+f.Reason)
			}
		}
	}
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(raw)
	if err != nil {
		return append(out, "kin-openapi load: "+err.Error())
	}
	if err := d.Validate(context.Background()); err != nil {
		out = append(out, "kin-openapi: "+err.Error())
	}
	return out
}

func TestOpenAPIDeclaresVersion(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != wantVersion {
		t.Fatalf("docs/openapi.yaml declares openapi %s, want %s", v, wantVersion)
	}
}
