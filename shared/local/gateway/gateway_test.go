package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/testclock"
)

// env is a gateway under test behind a real HTTP server, with stub handlers
// that echo the event they receive.
type env struct {
	gw     *Gateway
	srv    *httptest.Server
	iss    *devauth.Issuer
	apiKey string
	calls  atomic.Int64
}

// unlimited switches every throttle off so tests see only what they set.
var unlimited = apispec.Limits{}

// newEnv starts a gateway. Handlers for sale-info, reserve and orders echo
// the event as JSON (reserve answers 202); admin has no handler, so its routes
// are not served. edit may change the config before New.
func newEnv(tb testing.TB, limits apispec.Limits, edit func(*Config)) *env {
	tb.Helper()
	iss, err := devauth.LoadOrCreate(tb.TempDir())
	if err != nil {
		tb.Fatalf("LoadOrCreate: %v", err)
	}
	e := &env{iss: iss, apiKey: iss.APIKey()}
	echo := func(status int) Handler {
		return func(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			e.calls.Add(1)
			b, err := json.Marshal(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return events.APIGatewayProxyResponse{StatusCode: status, Body: string(b)}, nil
		}
	}
	cfg := Config{
		Routes: apispec.Routes,
		Handlers: map[string]Handler{
			apispec.FunctionSaleInfo: echo(http.StatusOK),
			apispec.FunctionReserve:  echo(http.StatusAccepted),
			apispec.FunctionOrders:   echo(http.StatusOK),
		},
		Verifier: iss.Verifier(),
		Limits:   limits,
		APIKeys:  []string{iss.APIKey()},
		Stage:    "dev",
		// The echo handlers answer nothing like the API: the OpenAPI check
		// has its own tests (openapi_test.go).
		NoOpenAPICheck: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	e.gw, e.srv = g, httptest.NewServer(g)
	tb.Cleanup(e.srv.Close)
	return e
}

func (e *env) token(tb testing.TB, user string, groups ...string) string {
	tb.Helper()
	tok, err := e.iss.Token(devauth.TokenRequest{UserID: user, Groups: groups})
	if err != nil {
		tb.Fatalf("Token: %v", err)
	}
	return tok
}

// do sends one request; headers are name/value pairs.
func (e *env) do(tb testing.TB, method, path string, body io.Reader, headers ...string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// event decodes the echoed event from a stub handler's answer.
func event(tb testing.TB, body string) events.APIGatewayProxyRequest {
	tb.Helper()
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		tb.Fatalf("decode echoed event %q: %v", body, err)
	}
	return req
}

const (
	bodyMissingToken = `{"message":"Missing Authentication Token"}`
	bodyUnauthorized = `{"message":"Unauthorized"}`
	bodyForbidden    = `{"message":"Forbidden"}`
	bodyThrottled    = `{"message":"Too Many Requests"}`
	bodyQuota        = `{"message":"Limit Exceeded"}`
	bodyLambdaError  = `{"message":"Internal server error"}`
)

func TestGateway_Routing(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	auth := []string{"Authorization", e.token(t, "u1"), "X-Api-Key", e.apiKey}
	tests := []struct {
		name         string
		method, path string
		wantStatus   int
		wantResource string
		wantParams   map[string]string
	}{
		{"sale info", "GET", "/sales/spring-1", 200, "/sales/{saleId}", map[string]string{"saleId": "spring-1"}},
		{"escaped param", "GET", "/sales/a%2Fb", 200, "/sales/{saleId}", map[string]string{"saleId": "a/b"}},
		{"purchase", "POST", "/sales/s1/orders", 202, "/sales/{saleId}/orders", map[string]string{"saleId": "s1"}},
		{"order", "GET", "/orders/o-9", 200, "/orders/{orderId}", map[string]string{"orderId": "o-9"}},
		{"cancel", "DELETE", "/orders/o-9", 200, "/orders/{orderId}", map[string]string{"orderId": "o-9"}},
		{"webhook has no params", "POST", "/payments/webhook", 200, "/payments/webhook", nil},
		{"unknown method", "PUT", "/sales/s1", 403, "", nil},
		{"unknown path", "GET", "/nope", 403, "", nil},
		{"root", "GET", "/", 403, "", nil},
		{"too short", "GET", "/sales", 403, "", nil},
		{"too long", "GET", "/sales/s1/orders/x", 403, "", nil},
		{"empty param", "GET", "/sales/", 403, "", nil},
		{"double slash", "GET", "/sales//orders", 403, "", nil},
		{"route without handler", "POST", "/admin/sales", 403, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := e.do(t, tc.method, tc.path, nil, auth...)
			if status != tc.wantStatus {
				t.Fatalf("%s %s: status %d, want %d (body %s)", tc.method, tc.path, status, tc.wantStatus, body)
			}
			if tc.wantStatus == 403 {
				if body != bodyMissingToken {
					t.Errorf("body = %s, want %s", body, bodyMissingToken)
				}
				return
			}
			ev := event(t, body)
			if ev.Resource != tc.wantResource || ev.RequestContext.ResourcePath != tc.wantResource {
				t.Errorf("resource = %q / %q, want %q", ev.Resource, ev.RequestContext.ResourcePath, tc.wantResource)
			}
			if ev.HTTPMethod != tc.method {
				t.Errorf("httpMethod = %q, want %q", ev.HTTPMethod, tc.method)
			}
			if len(ev.PathParameters) != len(tc.wantParams) {
				t.Errorf("pathParameters = %v, want %v", ev.PathParameters, tc.wantParams)
			}
			for k, v := range tc.wantParams {
				if ev.PathParameters[k] != v {
					t.Errorf("pathParameters[%q] = %q, want %q", k, ev.PathParameters[k], v)
				}
			}
		})
	}
}

func TestRouter_LiteralBeatsParam(t *testing.T) {
	h := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{}, nil
	}
	rt := newRouter([]apispec.Route{
		{Method: "GET", Path: "/sales/{saleId}", Function: "f"},
		{Method: "POST", Path: "/sales/{saleId}", Function: "f"},
		{Method: "GET", Path: "/sales/new", Function: "f"},
	}, map[string]Handler{"f": h}, nil, apispec.Limits{}, 0)
	tests := []struct {
		name, method, path string
		wantPath           string
		wantOK             bool
	}{
		{"literal", "GET", "/sales/new", "/sales/new", true},
		{"param", "GET", "/sales/old", "/sales/{saleId}", true},
		// API Gateway picks the resource first: /sales/new has no POST.
		{"literal resource lacks method", "POST", "/sales/new", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, ok := rt.match(tc.method, tc.path)
			if ok != tc.wantOK {
				t.Fatalf("match ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && r.Path != tc.wantPath {
				t.Errorf("matched %q, want %q", r.Path, tc.wantPath)
			}
		})
	}
}

func TestGateway_EventShape(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	tok := e.token(t, "buyer-42", "admin", "finance")
	status, body, hdr := e.do(t, "POST", "/sales/s1/orders?a=1&b=2&b=3", strings.NewReader(`{"quantity":1}`),
		"Authorization", "Bearer "+tok, "X-Api-Key", e.apiKey, "Idempotency-Key", "k1", "X-Multi", "one", "X-Multi", "two")
	if status != http.StatusAccepted {
		t.Fatalf("status %d, want 202 (body %s)", status, body)
	}
	ev := event(t, body)
	claims, ok := ev.RequestContext.Authorizer["claims"].(map[string]any)
	if !ok {
		t.Fatalf("authorizer = %#v, want a claims map", ev.RequestContext.Authorizer)
	}
	for k, want := range map[string]string{"sub": "buyer-42", "cognito:username": "buyer-42", "cognito:groups": "admin,finance", "token_use": "id"} {
		if got := claims[k]; got != want {
			t.Errorf("claims[%q] = %v, want %q", k, got, want)
		}
	}
	checks := []struct {
		name, got, want string
	}{
		{"body", ev.Body, `{"quantity":1}`},
		{"path", ev.Path, "/sales/s1/orders"},
		{"requestContext.path", ev.RequestContext.Path, "/dev/sales/s1/orders"},
		{"stage", ev.RequestContext.Stage, "dev"},
		{"identity.apiKey", ev.RequestContext.Identity.APIKey, e.apiKey},
		{"identity.sourceIp", ev.RequestContext.Identity.SourceIP, "127.0.0.1"},
		{"Idempotency-Key", ev.Headers["Idempotency-Key"], "k1"},
		{"X-Multi (last wins)", ev.Headers["X-Multi"], "two"},
		{"X-Multi (multi)", strings.Join(ev.MultiValueHeaders["X-Multi"], ","), "one,two"},
		{"Host", ev.Headers["Host"], strings.TrimPrefix(e.srv.URL, "http://")},
		{"query b (last wins)", ev.QueryStringParameters["b"], "3"},
		{"query b (multi)", strings.Join(ev.MultiValueQueryStringParameters["b"], ","), "2,3"},
		{"query a", ev.QueryStringParameters["a"], "1"},
		{"x-amzn-RequestId", hdr.Get("X-Amzn-Requestid"), ev.RequestContext.RequestID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ev.IsBase64Encoded {
		t.Errorf("isBase64Encoded = true for a UTF-8 body, want false")
	}
	if ev.RequestContext.RequestTimeEpoch == 0 || ev.RequestContext.RequestTime == "" {
		t.Errorf("request time = %q / %d, want both set", ev.RequestContext.RequestTime, ev.RequestContext.RequestTimeEpoch)
	}

	// Public routes carry no authorizer, no query maps, and unique request ids.
	_, body2, _ := e.do(t, "GET", "/sales/s1", nil)
	ev2 := event(t, body2)
	if ev2.RequestContext.Authorizer != nil {
		t.Errorf("authorizer on a public route = %v, want nil", ev2.RequestContext.Authorizer)
	}
	if ev2.QueryStringParameters != nil || ev2.MultiValueQueryStringParameters != nil {
		t.Errorf("query maps = %v / %v, want nil without a query string", ev2.QueryStringParameters, ev2.MultiValueQueryStringParameters)
	}
	if ev2.RequestContext.RequestID == ev.RequestContext.RequestID || len(ev2.RequestContext.RequestID) != 36 {
		t.Errorf("request ids %q and %q, want two distinct 36-char ids", ev.RequestContext.RequestID, ev2.RequestContext.RequestID)
	}
}

func TestGateway_Unauthorized(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	other, err := devauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := e.token(t, "u1")
	expired, _ := e.iss.Token(devauth.TokenRequest{UserID: "u1", TTL: -time.Second})
	foreign, _ := other.Token(devauth.TokenRequest{UserID: "u1"})
	parts := strings.Split(good, ".")
	otherParts := strings.Split(e.token(t, "admin-user", "admin"), ".")
	tampered := parts[0] + "." + otherParts[1] + "." + parts[2]
	// alg none: header {"alg":"none","typ":"JWT"}, the good payload, no signature.
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."

	tests := []struct {
		name    string
		headers []string
	}{
		{"no token", nil},
		{"empty token", []string{"Authorization", ""}},
		{"bearer without token", []string{"Authorization", "Bearer"}},
		{"expired", []string{"Authorization", expired}},
		{"other key", []string{"Authorization", foreign}},
		{"tampered payload", []string{"Authorization", tampered}},
		{"alg none", []string{"Authorization", none}},
		{"garbage", []string{"Authorization", "Bearer abc.def.ghi"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/orders/o1", "/sales/s1/orders"} {
				method := map[string]string{"/orders/o1": "GET", "/sales/s1/orders": "POST"}[path]
				before := e.calls.Load()
				status, body, hdr := e.do(t, method, path, nil, append(tc.headers, "X-Api-Key", e.apiKey)...)
				if status != http.StatusUnauthorized || body != bodyUnauthorized {
					t.Errorf("%s %s: %d %s, want 401 %s", method, path, status, body, bodyUnauthorized)
				}
				if got := hdr.Get("X-Amzn-Errortype"); got != "UnauthorizedException" {
					t.Errorf("x-amzn-ErrorType = %q, want UnauthorizedException", got)
				}
				if n := e.calls.Load() - before; n != 0 {
					t.Errorf("handler called %d times, want 0", n)
				}
			}
		})
	}
	// The good token passes, so the failures above are about the tokens.
	if status, body, _ := e.do(t, "GET", "/orders/o1", nil, "Authorization", good); status != 200 {
		t.Errorf("good token: %d %s, want 200", status, body)
	}
}

func TestGateway_APIKey(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	tok := e.token(t, "u1")
	tests := []struct {
		name       string
		headers    []string
		wantStatus int
		wantBody   string
	}{
		{"missing key", []string{"Authorization", tok}, 403, bodyForbidden},
		{"unknown key", []string{"Authorization", tok, "X-Api-Key", "nope"}, 403, bodyForbidden},
		{"lowercase header name", []string{"Authorization", tok, "x-api-key", e.apiKey}, 202, ""},
		// The authorizer runs first, so no token and no key is a 401.
		{"no token, no key", nil, 401, bodyUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := e.do(t, "POST", "/sales/s1/orders", nil, tc.headers...)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", status, tc.wantStatus, body)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body = %s, want %s", body, tc.wantBody)
			}
		})
	}
	// Routes outside the usage plan need no key.
	if status, body, _ := e.do(t, "GET", "/orders/o1", nil, "Authorization", tok); status != 200 {
		t.Errorf("GET /orders/o1 without key: %d %s, want 200", status, body)
	}
}

func TestGateway_BodyLimit(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	auth := []string{"Authorization", e.token(t, "u1"), "X-Api-Key", e.apiKey}
	at := bytes.Repeat([]byte("a"), apispec.MaxBodyBytes)
	over := bytes.Repeat([]byte("a"), apispec.MaxBodyBytes+1)
	tests := []struct {
		name       string
		body       io.Reader
		wantStatus int
	}{
		{"at the limit", bytes.NewReader(at), 202},
		{"over the limit", bytes.NewReader(over), 413},
		// No Content-Length (chunked): caught while reading.
		{"over the limit, chunked", io.NopCloser(bytes.NewReader(over)), 413},
		{"at the limit, chunked", io.NopCloser(bytes.NewReader(at)), 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.calls.Load()
			status, body, _ := e.do(t, "POST", "/sales/s1/orders", tc.body, auth...)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %.80s)", status, tc.wantStatus, body)
			}
			if status == 413 {
				want := `{"error":{"code":"body_too_large","message":"` + apispec.BodyTooLargeMessage + `"}}`
				if body != want {
					t.Errorf("body = %s, want %s", body, want)
				}
				if n := e.calls.Load() - before; n != 0 {
					t.Errorf("handler called %d times, want 0", n)
				}
				return
			}
			if got := len(event(t, body).Body); got != apispec.MaxBodyBytes {
				t.Errorf("handler got %d body bytes, want %d", got, apispec.MaxBodyBytes)
			}
		})
	}
}

// burst fires n concurrent requests and counts answers by status.
func burst(tb testing.TB, e *env, n int, method, path string, headers ...string) (counts map[int]int, bodies map[int]string, elapsed time.Duration) {
	tb.Helper()
	var mu sync.Mutex
	counts, bodies = map[int]int{}, map[int]string{}
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			status, body, _ := e.do(tb, method, path, nil, headers...)
			mu.Lock()
			defer mu.Unlock()
			counts[status]++
			if status != 200 && status != 202 {
				bodies[status] = body
			}
		})
	}
	wg.Wait()
	return counts, bodies, time.Since(start)
}

func TestGateway_Throttling(t *testing.T) {
	slow := apispec.Throttle{RateLimit: 5, BurstLimit: 5}
	tests := []struct {
		name         string
		limits       apispec.Limits
		method, path string
		wantOKStatus int
	}{
		{"method throttle on purchase", apispec.Limits{Purchase: slow}, "POST", "/sales/s1/orders", 202},
		{"stage throttle on every route", apispec.Limits{Stage: slow}, "GET", "/sales/s1", 200},
		{"usage plan throttle per key", apispec.Limits{App: apispec.UsagePlan{Throttle: slow}}, "POST", "/sales/s1/orders", 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.limits, nil)
			const n = 100
			counts, bodies, elapsed := burst(t, e, n, tc.method, tc.path, "Authorization", e.token(t, "u1"), "X-Api-Key", e.apiKey)
			ok, throttled := counts[tc.wantOKStatus], counts[http.StatusTooManyRequests]
			// A token bucket admits at most burst + rate × elapsed (+1 for a
			// token refilled at the edge).
			limit := int(float64(slow.BurstLimit)+slow.RateLimit*elapsed.Seconds()) + 1
			if ok < slow.BurstLimit || ok > limit {
				t.Errorf("%d answered %d in %v, want between %d (burst) and %d", ok, tc.wantOKStatus, elapsed, slow.BurstLimit, limit)
			}
			if ok+throttled != n {
				t.Errorf("answers %v, want only %d and 429 totalling %d", counts, tc.wantOKStatus, n)
			}
			if got := bodies[http.StatusTooManyRequests]; got != bodyThrottled {
				t.Errorf("429 body = %s, want %s", got, bodyThrottled)
			}
		})
	}
}

func TestGateway_MethodThrottleLeavesOtherRoutes(t *testing.T) {
	e := newEnv(t, apispec.Limits{Purchase: apispec.Throttle{RateLimit: 1, BurstLimit: 1}}, nil)
	tok := e.token(t, "u1")
	counts, _, _ := burst(t, e, 20, "POST", "/sales/s1/orders", "Authorization", tok, "X-Api-Key", e.apiKey)
	if counts[429] == 0 {
		t.Fatalf("purchase answers %v, want some 429", counts)
	}
	counts, _, _ = burst(t, e, 20, "GET", "/sales/s1")
	if counts[200] != 20 {
		t.Errorf("sale info answers %v, want 20 × 200 (the purchase throttle is per method)", counts)
	}
}

func TestGateway_UsagePlanQuota(t *testing.T) {
	clock := testclock.New(time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC))
	e := newEnv(t, apispec.Limits{App: apispec.UsagePlan{QuotaPerDay: 3}}, func(c *Config) {
		c.APIKeys = append(c.APIKeys, "second-key")
		c.Now = clock.Now
	})
	tok := e.token(t, "u1")
	post := func(key string) (int, string) {
		status, body, _ := e.do(t, "POST", "/sales/s1/orders", nil, "Authorization", tok, "X-Api-Key", key)
		return status, body
	}
	for i := range 3 {
		if status, body := post(e.apiKey); status != 202 {
			t.Fatalf("request %d: %d %s, want 202", i+1, status, body)
		}
	}
	if status, body := post(e.apiKey); status != 429 || body != bodyQuota {
		t.Errorf("4th request: %d %s, want 429 %s", status, body, bodyQuota)
	}
	if status, body := post("second-key"); status != 202 {
		t.Errorf("another key: %d %s, want 202 (quotas are per key)", status, body)
	}
	clock.Advance(2 * time.Minute) // next UTC day
	if status, body := post(e.apiKey); status != 202 {
		t.Errorf("next day: %d %s, want 202 (quota resets daily)", status, body)
	}
}

func TestGateway_HandlerResponses(t *testing.T) {
	respond := func(resp events.APIGatewayProxyResponse, err error) Handler {
		return func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return resp, err
		}
	}
	tests := []struct {
		name        string
		handler     Handler
		wantStatus  int
		wantBody    string
		wantHeaders map[string]string
	}{
		{"handler error", respond(events.APIGatewayProxyResponse{}, errors.New("boom")), 502, bodyLambdaError, nil},
		{"handler panic", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("boom")
		}, 502, bodyLambdaError, nil},
		{"no status", respond(events.APIGatewayProxyResponse{Body: "x"}, nil), 502, bodyLambdaError, nil},
		{"bad base64", respond(events.APIGatewayProxyResponse{StatusCode: 200, Body: "!!", IsBase64Encoded: true}, nil), 502, bodyLambdaError, nil},
		{"base64 body", respond(events.APIGatewayProxyResponse{StatusCode: 200, Body: "aGk=", IsBase64Encoded: true}, nil), 200, "hi", nil},
		// Not asked for a binary type first: API Gateway passes the text on.
		{"base64 body, Accept not binary", respond(events.APIGatewayProxyResponse{StatusCode: 200, Body: "aGk=", IsBase64Encoded: true}, nil), 200, "aGk=", nil},
		{"headers", respond(events.APIGatewayProxyResponse{
			StatusCode:        410,
			Headers:           map[string]string{"content-type": "text/csv", "Retry-After": "1", "X-Both": "single"},
			MultiValueHeaders: map[string][]string{"X-Both": {"multi"}},
			Body:              "a,b",
		}, nil), 410, "a,b", map[string]string{"Content-Type": "text/csv", "Retry-After": "1", "X-Both": "multi"}},
		{"default content type", respond(events.APIGatewayProxyResponse{StatusCode: 200, Body: "{}"}, nil), 200, "{}",
			map[string]string{"Content-Type": "application/json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, unlimited, func(c *Config) { c.Handlers[apispec.FunctionSaleInfo] = tc.handler })
			accept := apispec.BinaryMediaTypes[0] + ", application/json"
			if strings.Contains(tc.name, "Accept not binary") {
				accept = "application/json, " + apispec.BinaryMediaTypes[0]
			}
			status, body, hdr := e.do(t, "GET", "/sales/s1", nil, "Accept", accept)
			if status != tc.wantStatus || body != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", status, body, tc.wantStatus, tc.wantBody)
			}
			for k, v := range tc.wantHeaders {
				if got := hdr.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestGateway_BinaryRequestBody(t *testing.T) {
	e := newEnv(t, unlimited, nil)
	status, body, _ := e.do(t, "POST", "/payments/webhook", bytes.NewReader([]byte{0xff, 0xfe, 0x00}))
	if status != 200 {
		t.Fatalf("status %d, want 200 (body %s)", status, body)
	}
	ev := event(t, body)
	if !ev.IsBase64Encoded || ev.Body != "//4A" {
		t.Errorf("body = %q base64=%v, want %q base64=true", ev.Body, ev.IsBase64Encoded, "//4A")
	}
}

func TestNew_NeedsVerifierForCognitoRoutes(t *testing.T) {
	_, err := New(Config{Routes: apispec.Routes, Handlers: map[string]Handler{
		apispec.FunctionOrders: func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, nil
		},
	}})
	if err == nil {
		t.Fatal("New without Verifier = nil error, want an error")
	}
}

func TestServe_ShutsDownOnCancel(t *testing.T) {
	g, err := New(Config{Routes: apispec.Routes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.ListenAndServe(ctx, "127.0.0.1:0") }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
}

// BenchmarkGateway_SoldOut is the rejection hot path minus the network: a
// cached token, an API key, and a handler answering a fixed 410.
func BenchmarkGateway_SoldOut(b *testing.B) {
	iss, err := devauth.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	soldOut := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 410, Body: `{"error":{"code":"sold_out","message":"sold out"}}`}, nil
	}
	g, err := New(Config{
		Routes: apispec.Routes, Handlers: map[string]Handler{apispec.FunctionReserve: soldOut},
		Verifier: iss.Verifier(), APIKeys: []string{iss.APIKey()},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := iss.Token(devauth.TokenRequest{UserID: "u1"})
	body := []byte(`{"quantity":1}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/sales/s1/orders", bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("X-Api-Key", iss.APIKey())
			r.Header.Set("Idempotency-Key", "k1")
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
		}
	})
}
