package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/docs"
	"flashsale/shared/apispec"
	"flashsale/shared/local/openapicheck"
)

func TestGateway_ServesOpenAPIDocument(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	status, body, h := e.do(t, "GET", DocPath, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", DocPath, status)
	}
	if ct := h.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if body != string(docs.OpenAPI) {
		t.Errorf("GET %s answered %d bytes, want docs/openapi.yaml's %d", DocPath, len(body), len(docs.OpenAPI))
	}
	if e.calls.Load() != 0 {
		t.Errorf("serving the document called a handler %d times", e.calls.Load())
	}
	// Not an API route: other methods get the unknown route's answer.
	if status, _, _ := e.do(t, "POST", DocPath, nil); status != http.StatusForbidden {
		t.Errorf("POST %s: status %d, want 403", DocPath, status)
	}
}

// checkedEnv is a gateway whose exchanges a Checker sees. The handlers
// answer what the test says.
func checkedEnv(t *testing.T, limits apispec.Limits, h Handler) (*env, *openapicheck.Checker) {
	t.Helper()
	c, err := openapicheck.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, limits, func(cfg *Config) {
		cfg.NoOpenAPICheck = false
		cfg.OpenAPI = c
		cfg.Handlers = map[string]Handler{apispec.FunctionSaleInfo: h, apispec.FunctionReserve: h, apispec.FunctionOrders: h}
	})
	return e, c
}

// TestGateway_OpenAPI_OwnAnswers checks that the answers the gateway makes
// itself are the ones docs/openapi.yaml describes.
func TestGateway_OpenAPI_OwnAnswers(t *testing.T) {
	never := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		t.Error("a handler was called")
		return events.APIGatewayProxyResponse{StatusCode: 500}, nil
	}
	e, c := checkedEnv(t, apispec.Limits{Stage: apispec.Throttle{RateLimit: 1, BurstLimit: 1}}, never)
	tok := e.token(t, "alice")
	big := strings.Repeat("x", apispec.MaxBodyBytes+1)
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
		hdr    []string
	}{
		{"unknown route", "GET", "/nope", "", 403, nil},
		{"unknown method", "PUT", "/sales/s1", "", 403, nil},
		{"no token", "GET", "/orders/s1.o1", "", 401, nil},
		{"no API key", "POST", "/sales/s1/orders", `{"quantity":1}`, 403, []string{"Authorization", tok}},
		{"too large", "POST", "/payments/webhook", big, 413, nil},
	}
	for _, tc := range cases {
		// The stage throttle lets one request a second through: the last
		// case's second request is the 429.
		e.gw.stage.SetBurst(1000)
		e.gw.stage.SetLimit(1000)
		status, _, _ := e.do(t, tc.method, tc.path, bytes.NewBufferString(tc.body), tc.hdr...)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
	}
	e.gw.stage.SetBurst(0)
	e.gw.stage.SetLimit(0)
	if status, _, _ := e.do(t, "GET", "/sales/s1", nil); status != http.StatusTooManyRequests {
		t.Errorf("throttled: status %d, want 429", status)
	}
	e.srv.Close()
	if err := c.Err(); err != nil {
		t.Errorf("the gateway's own answers break docs/openapi.yaml:\n%v", err)
	}
}

// TestGateway_OpenAPI_Violations checks that the check can fail: an
// undocumented answer, and a 2xx to a request the document refuses.
func TestGateway_OpenAPI_Violations(t *testing.T) {
	var answer events.APIGatewayProxyResponse
	h := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return answer, nil
	}
	e, c := checkedEnv(t, unlimited, h)
	tok := e.token(t, "alice")
	sale := `{"saleId":"s1","name":"S","priceCents":1,"currency":"USD","startsAt":"2026-12-01T10:00:00Z",` +
		`"endsAt":"2026-12-01T11:00:00Z","status":"open","remaining":1,"perUserLimit":1,"admission":{"purchaseToken":true,"challenge":true}}`
	order := `{"orderId":"s1.o1","saleId":"s1","status":"reserved","quantity":1,"amountCents":1,"currency":"USD","expiresAt":"2026-12-01T10:10:00Z"}`
	cases := []struct {
		name    string
		answer  events.APIGatewayProxyResponse
		method  string
		path    string
		body    string
		hdr     []string
		violate bool
	}{
		{"documented answer", events.APIGatewayProxyResponse{StatusCode: 200, Body: sale}, "GET", "/sales/s1", "", nil, false},
		{"unknown field in the answer", events.APIGatewayProxyResponse{StatusCode: 200, Body: strings.Replace(sale, `"name"`, `"nom":1,"name"`, 1)},
			"GET", "/sales/s1", "", nil, true},
		{"undocumented status", events.APIGatewayProxyResponse{StatusCode: 418, Body: `{}`}, "GET", "/sales/s1", "", nil, true},
		{"bad request answered 400", events.APIGatewayProxyResponse{StatusCode: 400, Body: `{"error":{"code":"invalid_quantity","message":"m"}}`},
			"POST", "/sales/s1/orders", `{"quantity":0}`, []string{"Authorization", tok, "x-api-key", e.apiKey, "Idempotency-Key", "k1", "Content-Type", "application/json"}, false},
		{"bad request answered 202", events.APIGatewayProxyResponse{StatusCode: 202, Body: order},
			"POST", "/sales/s1/orders", `{"quantity":0}`, []string{"Authorization", tok, "x-api-key", e.apiKey, "Idempotency-Key", "k1", "Content-Type", "application/json"}, true},
	}
	for _, tc := range cases {
		before := len(c.Violations())
		answer = tc.answer
		e.do(t, tc.method, tc.path, bytes.NewBufferString(tc.body), tc.hdr...)
		if got := len(c.Violations()) > before; got != tc.violate {
			t.Errorf("%s: violation %v, want %v (violations: %v)", tc.name, got, tc.violate, c.Violations()[before:])
		}
	}
}
