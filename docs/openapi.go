// Package docs holds documents that code reads too: the API's OpenAPI
// document, embedded so the gateway and the tests use the one file rather
// than a copy.
package docs

import _ "embed" // for go:embed

// OpenAPI is docs/openapi.yaml, the API contract (OpenAPI 3.1).
//
//go:embed openapi.yaml
var OpenAPI []byte
