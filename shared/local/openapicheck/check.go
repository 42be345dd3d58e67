// Package openapicheck checks HTTP exchanges with the API against its
// OpenAPI document (docs/openapi.yaml), so the integration tests prove
// the document right on every request they send.
//
// The policy:
//   - A response that does not match the document is a violation: an
//     undocumented status, a body or a header that breaks its schema.
//   - A request that does not match the document is a violation only if
//     the API answered it 2xx. Tests send bad input on purpose, and a 4xx
//     is the documented answer to it.
//   - A request to a route the document lacks is a violation unless the
//     answer is one the gateway gives before routing (403 Missing
//     Authentication Token or Forbidden, 429), in API Gateway's
//     {"message":…} shape.
//
// Security is checked only for presence: a 2xx to a request without the
// scheme's header is a violation. Whether the JWT or key is valid is the
// gateway's business, not the document's.
//
// The local gateway runs a Checker on every exchange when
// FLASHSALE_OPENAPI_STRICT=1 (scripts/test.sh sets it); harnesses then
// fail the test on Err. Tests that call handlers directly use CheckEvent.
package openapicheck

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"flashsale/docs"
)

// EnvStrict turns the gateway's check on when set to 1.
const EnvStrict = "FLASHSALE_OPENAPI_STRICT"

// Strict reports whether EnvStrict asks for the check.
func Strict() bool { return os.Getenv(EnvStrict) == "1" }

// loaded parses and validates the document once per process: every
// gateway a test builds shares it (routers and schemas are read-only).
var loaded = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("openapicheck: load docs/openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapicheck: docs/openapi.yaml: %w", err)
	}
	// Match paths on any host: tests serve on random ports.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapicheck: router: %w", err)
	}
	return r, nil
})

// Checker checks exchanges and keeps the violations it found. Its methods
// are safe for concurrent use; a nil *Checker checks nothing.
type Checker struct {
	router routers.Router
	// onViolation hears of each violation as it is found (e.g. a log).
	onViolation func(string)

	mu         sync.Mutex
	violations []string
}

// New returns a Checker over docs/openapi.yaml. onViolation, if not nil,
// is called with each violation.
func New(onViolation func(string)) (*Checker, error) {
	r, err := loaded()
	if err != nil {
		return nil, err
	}
	return &Checker{router: r, onViolation: onViolation}, nil
}

// Exchange is one request and its answer, bodies read in full.
type Exchange struct {
	Request      *http.Request
	RequestBody  []byte
	Status       int
	Header       http.Header
	ResponseBody []byte
	// NoSecurity skips the security check: for events handed to a handler,
	// whose authorizer already ran (its claims are in the event, not a header).
	NoSecurity bool
}

// Check checks one exchange, records a violation and returns it (nil when
// the exchange matches the document).
func (c *Checker) Check(ctx context.Context, x Exchange) error {
	if c == nil {
		return nil
	}
	err := c.check(ctx, x)
	if err != nil {
		msg := err.Error()
		c.mu.Lock()
		c.violations = append(c.violations, msg)
		c.mu.Unlock()
		if c.onViolation != nil {
			c.onViolation(msg)
		}
	}
	return err
}

func (c *Checker) check(ctx context.Context, x Exchange) error {
	req := x.Request
	name := req.Method + " " + req.URL.RequestURI()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if gatewayAnswer(x.Status, x.ResponseBody) {
			return nil
		}
		return fmt.Errorf("openapi: %s → %d: no such operation in docs/openapi.yaml (%v)", name, x.Status, err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    present,
	}
	if x.NoSecurity {
		opts.AuthenticationFunc = openapi3filter.NoopAuthenticationFunc
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && x.Status >= 200 && x.Status < 300 {
		return fmt.Errorf("openapi: %s was answered %d but the request breaks the document: %v", name, x.Status, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 x.Status,
		Header:                 x.Header,
		Options:                opts,
	}
	out.SetBodyBytes(x.ResponseBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("openapi: %s → %d: the response breaks the document: %v\n  body: %s", name, x.Status, err, clip(x.ResponseBody))
	}
	return nil
}

// gatewayAnswer reports whether an answer to an unknown route is one the
// gateway gives before routing (docs/openapi.yaml's
// MissingAuthenticationToken, a ban's Forbidden, a rate rule's 429).
func gatewayAnswer(status int, body []byte) bool {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return false
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
		return false
	}
	switch m["message"] {
	case "Missing Authentication Token", "Forbidden", "Too Many Requests":
		return true
	}
	return false
}

// present accepts a security scheme whose header is there: validity is
// the gateway's check, and a 2xx without the header is what we look for.
func present(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s.Type == "apiKey" && s.In == "header" && in.RequestValidationInput.Request.Header.Get(s.Name) == "" {
		return fmt.Errorf("header %s is missing", s.Name)
	}
	return nil
}

func clip(b []byte) string {
	const max = 500
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// Violations returns what Check found so far.
func (c *Checker) Violations() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

// Err joins the violations found so far; nil when there were none.
func (c *Checker) Err() error {
	var errs []error
	for _, v := range c.Violations() {
		errs = append(errs, errors.New(v))
	}
	return errors.Join(errs...)
}

// CheckEvent checks a proxy request handed straight to a handler, and the
// handler's answer, as the HTTP exchange API Gateway would have carried.
func (c *Checker) CheckEvent(ctx context.Context, req events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse) error {
	if c == nil {
		return nil
	}
	path := req.Resource
	for k, v := range req.PathParameters {
		path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
	}
	u := &url.URL{Path: path}
	if len(req.MultiValueQueryStringParameters) > 0 {
		u.RawQuery = url.Values(req.MultiValueQueryStringParameters).Encode()
	} else if len(req.QueryStringParameters) > 0 {
		q := url.Values{}
		for k, v := range req.QueryStringParameters {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.HTTPMethod, u.String(), nil)
	if err != nil {
		return fmt.Errorf("openapicheck: event as a request: %w", err)
	}
	// As the handlers read them: a single-value header wins over the
	// multi-value one of the same name.
	for k, vs := range req.MultiValueHeaders {
		hr.Header[http.CanonicalHeaderKey(k)] = vs
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	reqBody := decodeBody(req.Body, req.IsBase64Encoded)
	header := http.Header{}
	for k, vs := range resp.MultiValueHeaders {
		header[http.CanonicalHeaderKey(k)] = vs
	}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	if header.Get("Content-Type") == "" && resp.Body != "" {
		header.Set("Content-Type", "application/json") // what the gateway adds
	}
	return c.Check(ctx, Exchange{Request: hr, RequestBody: reqBody, Status: resp.StatusCode, Header: header,
		ResponseBody: decodeBody(resp.Body, resp.IsBase64Encoded), NoSecurity: true})
}

func decodeBody(s string, b64 bool) []byte {
	if b64 {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b
		}
	}
	return []byte(s)
}
