package docs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"flashsale/docs"
	"flashsale/shared/apispec"
)

func load(tb testing.TB) *openapi3.T {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		tb.Fatalf("load docs/openapi.yaml: %v", err)
	}
	return doc
}

func TestOpenAPI_Valid(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml does not validate: %v", err)
	}
}

// TestOpenAPI_RoutesParity fails when apispec.Routes has a route the
// document lacks, or the document an operation apispec lacks.
func TestOpenAPI_RoutesParity(t *testing.T) {
	doc := load(t)
	var inDoc []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
		}
	}
	var inSpec []string
	for _, r := range apispec.Routes {
		inSpec = append(inSpec, string(r.Key()))
	}
	for _, k := range inSpec {
		if !slices.Contains(inDoc, k) {
			t.Errorf("apispec route %s is missing from docs/openapi.yaml", k)
		}
	}
	for _, k := range inDoc {
		if !slices.Contains(inSpec, k) {
			t.Errorf("docs/openapi.yaml has %s, which apispec.Routes lacks", k)
		}
	}
}

// TestOpenAPI_Security checks that each operation asks for what the
// gateway enforces: the JWT on AuthCognito routes, x-api-key where
// APIKeyRequired, and nothing on open routes.
func TestOpenAPI_Security(t *testing.T) {
	doc := load(t)
	for _, r := range apispec.Routes {
		op := doc.Paths.Find(r.Path).GetOperation(r.Method)
		if op == nil {
			continue // the parity test reports it
		}
		var schemes []string
		if op.Security != nil {
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
		}
		slices.Sort(schemes)
		var want []string
		if r.APIKeyRequired {
			want = append(want, "apiKey")
		}
		if r.Auth == apispec.AuthCognito {
			want = append(want, "cognitoJwt")
		}
		if !slices.Equal(schemes, want) {
			t.Errorf("%s: security schemes %v, want %v", r.Key(), schemes, want)
		}
	}
}
