package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/local/openapicheck"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
)

var (
	// saleStart and saleEnd are the sample sale's window in events/.
	saleStart = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	saleEnd   = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	secret    = []byte("whsec_test")
)

// fixture is every handler over one memstore, as one process wires them.
type fixture struct {
	store flashsale.Store
	mem   *memstore.Store
	queue *memqueue.Queue
	clock *testclock.Clock
	svc   *flashsale.Service
	keys  *admission.Keys
	sale  handler.Func
	// buy is reserve called as a compliant client calls it, with a valid
	// purchase token for the request's user and sale; reserve is the bare
	// handler, for the tests of the token check itself.
	buy       handler.Func
	reserve   handler.Func
	admission handler.Routes
	orders    handler.Routes
	admin     handler.Routes
	reminders handler.Routes
	writer    func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	settle    func(context.Context, events.EventBridgeEvent) error
}

type fixtureOption func(*fixtureConfig)

type fixtureConfig struct {
	wrap func(flashsale.Store) flashsale.Store
	log  *slog.Logger
}

// withStore wraps the memstore, e.g. to inject faults.
func withStore(wrap func(flashsale.Store) flashsale.Store) fixtureOption {
	return func(c *fixtureConfig) { c.wrap = wrap }
}

// withLog sets the handlers' logger (default: discard).
func withLog(l *slog.Logger) fixtureOption { return func(c *fixtureConfig) { c.log = l } }

func newFixture(tb testing.TB, opts ...fixtureOption) *fixture {
	tb.Helper()
	cfg := fixtureConfig{
		wrap: func(s flashsale.Store) flashsale.Store { return s },
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	f := &fixture{mem: memstore.New(), queue: memqueue.New(), clock: testclock.New(saleStart.Add(30 * time.Minute))}
	f.store = cfg.wrap(f.mem)
	keys, err := admission.NewKeys(admission.NewKeySet("test"))
	if err != nil {
		tb.Fatal(err)
	}
	f.keys = keys
	f.svc = flashsale.NewService(f.store, f.queue, flashsale.WithClock(f.clock.Now), flashsale.WithLogger(cfg.log),
		flashsale.WithAdmissionKeys(keys),
		// Settle publishes every report version and the report route reads
		// it, from an S3 server of the test's own.
		flashsale.WithReportArchive(testenv.ReportArchive(tb)))
	f.sale = handler.NewSaleInfo(f.svc, cfg.log)
	f.reserve = handler.NewReserve(f.svc, cfg.log)
	f.buy = func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		if claims, ok := req.RequestContext.Authorizer["claims"].(map[string]any); ok {
			sub := admission.Subject{UserID: fmt.Sprint(claims["sub"]), SaleID: req.PathParameters["saleId"]}
			req = withHeader(req, "Purchase-Token", f.keys.NewToken(sub, f.clock.Now().Add(time.Hour)))
		}
		return f.reserve(ctx, req)
	}
	f.admission = handler.NewAdmission(f.svc, cfg.log)
	f.orders = handler.NewOrders(f.svc, cfg.log)
	f.orders[apispec.RouteWebhook] = handler.NewWebhook(f.svc, secret, cfg.log)
	f.admin = handler.NewAdmin(f.svc, cfg.log)
	f.reminders = handler.NewReminders(f.svc, cfg.log)
	f.writer = handler.NewOrderWriter(f.svc, cfg.log)
	f.settle = handler.NewSettlement(f.svc, cfg.log)
	return f
}

// createSale makes a sale from startsAt to endsAt at 1999 USD, through the
// service.
func (f *fixture) createSale(tb testing.TB, id string, stock int64, shards int, limit int64) {
	tb.Helper()
	_, err := f.svc.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: "Test " + id, PriceCents: 1999, Currency: "USD", StartsAt: saleStart, EndsAt: saleEnd,
		Stock: stock, PerUserLimit: limit, PaymentWindowSeconds: 600, Shards: shards,
	})
	if err != nil {
		tb.Fatalf("create sale %s: %v", id, err)
	}
}

// order reserves one unit through the service and returns its receipt.
func (f *fixture) order(tb testing.TB, saleID, user, key string) flashsale.Receipt {
	tb.Helper()
	res, err := f.svc.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: saleID, UserID: user, Key: key, Quantity: 1})
	if err != nil {
		tb.Fatalf("reserve %s for %s: %v", saleID, user, err)
	}
	var r flashsale.Receipt
	if err := json.Unmarshal(res.Receipt, &r); err != nil {
		tb.Fatal(err)
	}
	return r
}

// call runs an API handler; handlers answer every failure as a response,
// so an error return is itself a failure.
func call(tb testing.TB, h handler.Func, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	tb.Helper()
	resp, err := h(context.Background(), req)
	if err != nil {
		tb.Fatalf("%s %s: handler returned error %v, want a response", req.HTTPMethod, req.Path, err)
	}
	// Every answer to a route of the API must be one docs/openapi.yaml
	// describes. (Tests of the dispatch tables send methods that API
	// Gateway would answer itself, before any handler.)
	if _, route := apispec.Lookup(apispec.KeyOf(req.HTTPMethod, req.Resource)); route {
		if err := apiDoc.CheckEvent(context.Background(), req, resp); err != nil {
			tb.Error(err)
		}
	}
	return resp
}

// apiDoc checks exchanges against docs/openapi.yaml (openapicheck's policy).
var apiDoc = func() *openapicheck.Checker {
	c, err := openapicheck.New(nil)
	if err != nil {
		panic(err)
	}
	return c
}()

// readEvent reads a sample payload from events/ into v.
func readEvent(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode %s: %v", name, err)
	}
}

// loadEvent reads a sample API Gateway request from events/.
func loadEvent(tb testing.TB, name string) events.APIGatewayProxyRequest {
	tb.Helper()
	var req events.APIGatewayProxyRequest
	readEvent(tb, name, &req)
	return req
}

// withSale points a sample request at another sale.
func withSale(req events.APIGatewayProxyRequest, saleID string) events.APIGatewayProxyRequest {
	req.PathParameters = map[string]string{"saleId": saleID}
	return req
}

// asUser replaces the authorizer's claims; no user means no claims at all.
func asUser(req events.APIGatewayProxyRequest, user string, groups ...string) events.APIGatewayProxyRequest {
	if user == "" {
		req.RequestContext.Authorizer = nil
		return req
	}
	claims := map[string]any{"sub": user, "cognito:username": user}
	if len(groups) > 0 {
		claims["cognito:groups"] = fmt.Sprint(groups) // "[a b]", as API Gateway flattens it
	}
	req.RequestContext.Authorizer = map[string]any{"claims": claims}
	return req
}

// withHeader returns req with a header set (or removed when value is ""),
// on copies of the header maps so sample requests are never shared.
func withHeader(req events.APIGatewayProxyRequest, name, value string) events.APIGatewayProxyRequest {
	h := map[string]string{}
	for k, v := range req.Headers {
		if k != name {
			h[k] = v
		}
	}
	mv := map[string][]string{}
	for k, v := range req.MultiValueHeaders {
		if k != name {
			mv[k] = v
		}
	}
	if value != "" {
		h[name], mv[name] = value, []string{value}
	}
	req.Headers, req.MultiValueHeaders = h, mv
	return req
}

// apiError is the contract's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	Reason  string `json:"reason"`
}

// wantError checks an error answer: its status, a JSON Content-Type, and a
// body of exactly {"error":{"code","message"}} (plus "field" for a 400 that
// names one), with the wanted code. A 503 must carry Retry-After.
func wantError(tb testing.TB, resp events.APIGatewayProxyResponse, status int, code string) apiError {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", ct)
	}
	var top map[string]map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &top); err != nil || len(top) != 1 || top["error"] == nil {
		tb.Fatalf("body = %s, want {\"error\":{...}} (%v)", resp.Body, err)
	}
	for k, v := range top["error"] {
		if _, ok := v.(string); !ok || (k != "code" && k != "message" && k != "field" && k != "reason") {
			tb.Errorf("error body has %q: %v, want only the strings code, message, field and reason", k, v)
		}
	}
	var body struct{ Error apiError }
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		tb.Fatal(err)
	}
	if body.Error.Code != code {
		tb.Errorf("error code = %q, want %q (message %q)", body.Error.Code, code, body.Error.Message)
	}
	if body.Error.Message == "" {
		tb.Errorf("error message is empty, want human text")
	}
	if got := resp.Headers["Retry-After"]; (status == 503 || code == "settlement_in_progress") != (got != "") {
		tb.Errorf("Retry-After = %q on a %d %s, want it on every 503 and 409 settlement_in_progress, and only there", got, status, code)
	}
	return body.Error
}

// decodeBody decodes a JSON answer into a generic map.
func decodeBody(tb testing.TB, resp events.APIGatewayProxyResponse) map[string]any {
	tb.Helper()
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		tb.Fatalf("body %q is not a JSON object: %v", resp.Body, err)
	}
	return m
}
