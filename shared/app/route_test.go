package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/testenv"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
)

// staticAuthorizer accepts any token as an admin, so every route gets past
// the authorizer to its handler.
type staticAuthorizer struct{}

func (staticAuthorizer) Verify(string) (map[string]string, error) {
	return map[string]string{"sub": "u1", "cognito:groups": apispec.GroupAdmin}, nil
}

// The two "no such route" answers: the gateway's for a route it does not
// serve, a function's for a route its dispatch table lacks.
const gatewayNoRoute = `{"message":"Missing Authentication Token"}`

func isHandlerNoRoute(status int, body string) bool {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	return status == http.StatusNotFound && json.Unmarshal([]byte(body), &b) == nil && b.Error.Code == "not_found"
}

var pathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// concrete fills a route's {params} with well-formed IDs.
func concrete(path string) (string, map[string]string) {
	params := map[string]string{}
	p := pathParam.ReplaceAllStringFunc(path, func(m string) string {
		name, v := m[1:len(m)-1], "s1"
		if name == "orderId" {
			v = "s1.o1" // an order ID names its sale
		}
		params[name] = v
		return v
	})
	return p, params
}

// adminEvent is a JSON request on route r at path from an admin, as API
// Gateway hands it to the function.
func adminEvent(r apispec.Route, path string, params map[string]string, body string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		HTTPMethod: r.Method, Resource: r.Path, Path: path, PathParameters: params,
		Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{
			Authorizer: map[string]any{"claims": map[string]any{"sub": "u1", "cognito:groups": apispec.GroupAdmin}},
		},
	}
}

// adminHTTP is the same request as a client sends it to the gateway, with a
// token staticAuthorizer accepts and the app's API key.
func adminHTTP(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "token")
	req.Header.Set("X-Api-Key", "app-key")
	return req
}

func newMemApp(tb testing.TB) (*app.App, *gateway.Gateway) {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := app.Build(memstore.New(), memqueue.New(), app.Options{WebhookSecret: "whsec_test", Logger: log})
	g, err := gateway.New(gateway.Config{
		Routes: apispec.Routes, Handlers: a.Handlers, Verifier: staticAuthorizer{},
		APIKeys: []string{"app-key"}, Logger: log,
	})
	if err != nil {
		tb.Fatal(err)
	}
	testenv.CheckOpenAPI(tb, g)
	return a, g
}

// TestRoutes_ReachAHandler sends each apispec route to the function apispec
// names, directly as Lambda would and through the local gateway, and checks
// that a handler answers it: neither the function's nor the gateway's "no
// such route" answer comes back.
func TestRoutes_ReachAHandler(t *testing.T) {
	a, g := newMemApp(t)
	for _, r := range apispec.Routes {
		t.Run(string(r.Key()), func(t *testing.T) {
			path, params := concrete(r.Path)

			h, ok := a.Handlers[r.Function]
			if !ok {
				t.Fatalf("no handler for function %s", r.Function)
			}
			req := adminEvent(r, path, params, "{}")
			resp, err := h(context.Background(), req)
			if err != nil {
				t.Fatalf("%s returned an error: %v", r.Function, err)
			}
			checkEvent(t, req, resp)
			if isHandlerNoRoute(resp.StatusCode, resp.Body) {
				t.Errorf("function %s: got %d %s, the answer for a route it does not serve", r.Function, resp.StatusCode, resp.Body)
			}

			w := httptest.NewRecorder()
			g.ServeHTTP(w, adminHTTP(r.Method, path, "{}"))
			if body := w.Body.String(); body == gatewayNoRoute || isHandlerNoRoute(w.Code, body) {
				t.Errorf("gateway: got %d %s, the answer for a route nobody serves", w.Code, body)
			}
		})
	}
}

// TestRoutes_NoRouteAnswers shows the two answers TestRoutes_ReachAHandler
// looks for do come back for a route nobody serves, so its check can fail.
func TestRoutes_NoRouteAnswers(t *testing.T) {
	a, g := newMemApp(t)
	for fn, h := range a.Handlers {
		resp, err := h(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "PATCH", Resource: "/nowhere", Path: "/nowhere"})
		if err != nil || !isHandlerNoRoute(resp.StatusCode, resp.Body) {
			t.Errorf("function %s on PATCH /nowhere: got %d %s, %v; want 404 not_found", fn, resp.StatusCode, resp.Body, err)
		}
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, httptest.NewRequest("PATCH", "/nowhere", nil))
	if w.Code != http.StatusForbidden || w.Body.String() != gatewayNoRoute {
		t.Errorf("gateway on PATCH /nowhere: got %d %s, want 403 %s", w.Code, w.Body, gatewayNoRoute)
	}
}

// TestBodyTooLarge_OneAnswer checks that the 413 the local gateway gives on
// the handlers' behalf is byte for byte the one a handler gives, as the
// deployed API (which passes bodies up to 10 MB on) would answer.
func TestBodyTooLarge_OneAnswer(t *testing.T) {
	a, g := newMemApp(t)
	r, ok := apispec.Lookup(apispec.RouteCreateSale)
	if !ok {
		t.Fatalf("no route %s", apispec.RouteCreateSale)
	}
	big := `{"name":"` + strings.Repeat("x", apispec.MaxBodyBytes) + `"}`

	resp, err := a.Handlers[r.Function](context.Background(), adminEvent(r, r.Path, nil, big))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, adminHTTP(r.Method, r.Path, big))

	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Body, apispec.BodyTooLargeMessage) {
		t.Fatalf("handler: got %d %s, want 413 with %q", resp.StatusCode, resp.Body, apispec.BodyTooLargeMessage)
	}
	if w.Code != resp.StatusCode || w.Body.String() != resp.Body {
		t.Errorf("gateway: got %d %s, want the handler's %d %s", w.Code, w.Body, resp.StatusCode, resp.Body)
	}
}
