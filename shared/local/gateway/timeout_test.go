package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"flashsale/shared/apispec"
)

func TestTimeoutFor_DeclaredFunctions(t *testing.T) {
	tests := []struct {
		function   string
		want       time.Duration
		wantStatus int
	}{
		// Lambda stops a 10 s function before API Gateway's 29 s: 502.
		{apispec.FunctionSaleInfo, 10 * time.Second, http.StatusBadGateway},
		{apispec.FunctionReserve, 10 * time.Second, http.StatusBadGateway},
		{apispec.FunctionOrders, 10 * time.Second, http.StatusBadGateway},
		// Admin's 29 s is the integration's: API Gateway gives up first, 504.
		{apispec.FunctionAdmin, apispec.IntegrationTimeout, http.StatusGatewayTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			f, err := apispec.FunctionNamed(tc.function)
			if err != nil {
				t.Fatal(err)
			}
			got, answer := timeoutFor(f.Timeout, apispec.IntegrationTimeout)
			if got != tc.want || answer.status != tc.wantStatus {
				t.Errorf("timeoutFor(%s) = %s, %d; want %s, %d", f.Timeout, got, answer.status, tc.want, tc.wantStatus)
			}
		})
	}
}

// TestGateway_FunctionTimeout runs a handler that never answers on its own
// (it ignores its context and waits for the test) behind short timeouts, and
// checks the gateway answers what API Gateway answers while the handler is
// still running.
func TestGateway_FunctionTimeout(t *testing.T) {
	tests := []struct {
		name                  string
		function, integration time.Duration
		wantStatus            int
		wantBody              string
		wantDeadline          time.Duration
	}{
		{
			name: "Lambda times out first", function: 50 * time.Millisecond, integration: time.Hour,
			wantStatus: http.StatusBadGateway, wantBody: `{"message":"Internal server error"}`, wantDeadline: 50 * time.Millisecond,
		},
		{
			name: "integration times out first", function: time.Hour, integration: 50 * time.Millisecond,
			wantStatus: http.StatusGatewayTimeout, wantBody: `{"message":"Endpoint request timed out"}`, wantDeadline: 50 * time.Millisecond,
		},
		{
			name: "equal timeouts: API Gateway answers", function: 50 * time.Millisecond, integration: 50 * time.Millisecond,
			wantStatus: http.StatusGatewayTimeout, wantBody: `{"message":"Endpoint request timed out"}`, wantDeadline: 50 * time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release, returned := make(chan struct{}), make(chan struct{})
			deadline := make(chan time.Time, 1)
			slow := func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
				defer close(returned)
				d, _ := ctx.Deadline() // zero without one
				deadline <- d
				<-release
				return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: `{"late":true}`}, nil
			}
			e := newEnv(t, unlimited, func(c *Config) {
				c.Handlers = map[string]Handler{apispec.FunctionSaleInfo: slow}
				c.Functions = []apispec.Function{{Name: apispec.FunctionSaleInfo, Timeout: tc.function}}
				c.IntegrationTimeout = tc.integration
			})
			// A gateway that waits for the handler would wait forever; the
			// handler gives up after 10 s so that such a bug fails, not hangs.
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			time.AfterFunc(10*time.Second, free)
			t.Cleanup(func() { free(); <-returned })

			sent := time.Now()
			status, body, _ := e.do(t, "GET", "/sales/s1", nil)
			answered := time.Now()
			select {
			case <-returned:
				t.Fatal("the handler returned before the gateway answered; want the answer while it still runs")
			default:
			}
			if status != tc.wantStatus || body != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", status, body, tc.wantStatus, tc.wantBody)
			}
			// The handler's context carries the deadline, as the Lambda
			// runtime's does: the timeout after the gateway got the request,
			// and passed when the answer came.
			if d := <-deadline; d.Before(sent.Add(tc.wantDeadline)) || d.After(answered) {
				t.Errorf("handler context deadline %s after the request, answer after %s; want %s ≤ deadline ≤ answer",
					d.Sub(sent), answered.Sub(sent), tc.wantDeadline)
			}
		})
	}
}

func TestGateway_HandlerWithinTimeoutAnswers(t *testing.T) {
	e := newEnv(t, unlimited, func(c *Config) {
		c.Functions = []apispec.Function{{Name: apispec.FunctionSaleInfo, Timeout: time.Hour}}
	})
	if status, _, _ := e.do(t, "GET", "/sales/s1", nil); status != http.StatusOK {
		t.Errorf("got %d, want the handler's 200", status)
	}
}

func TestGate_503UntilOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := NewGate(nil)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- gate.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String() + "/sales/s1"
	get := func() (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	status, body, h := get()
	if status != http.StatusServiceUnavailable || body != `{"message":"Service Unavailable"}` || h.Get("Retry-After") != "1" {
		t.Errorf("closed gate: got %d %s Retry-After %q, want 503 Service Unavailable, Retry-After 1", status, body, h.Get("Retry-After"))
	}
	e := newEnv(t, unlimited, nil)
	g, err := New(Config{Routes: apispec.Routes, NoOpenAPICheck: true, Handlers: map[string]Handler{
		apispec.FunctionSaleInfo: func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: `{}`}, nil
		},
	}, Verifier: e.iss.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	gate.Open(g)
	if status, body, _ := get(); status != http.StatusOK {
		t.Errorf("open gate: got %d %s, want the gateway's 200", status, body)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownGrace + 5*time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("GET after shutdown answered %d, want a connection error", resp.StatusCode)
	}
}

func TestGateway_TimeoutCancelsHandlerContext(t *testing.T) {
	got := make(chan error, 1)
	e := newEnv(t, unlimited, func(c *Config) {
		c.Handlers = map[string]Handler{apispec.FunctionSaleInfo: func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-ctx.Done()
			got <- ctx.Err()
			return events.APIGatewayProxyResponse{}, ctx.Err()
		}}
		c.Functions = []apispec.Function{{Name: apispec.FunctionSaleInfo, Timeout: 20 * time.Millisecond}}
	})
	if status, body, _ := e.do(t, "GET", "/sales/s1", nil); status != http.StatusBadGateway {
		t.Errorf("got %d %s, want 502", status, body)
	}
	if err := <-got; err != context.DeadlineExceeded {
		t.Errorf("handler's ctx.Err() = %v, want context.DeadlineExceeded", err)
	}
}

// TestGateway_ClientLeavingDoesNotCancelTheHandler: API Gateway does not
// stop a Lambda when the client goes away, so neither does the gateway.
func TestGateway_ClientLeavingDoesNotCancelTheHandler(t *testing.T) {
	started, left := make(chan struct{}), make(chan struct{})
	type seen struct {
		err       error
		requestID bool
	}
	got := make(chan seen, 1)
	g, err := New(Config{Routes: apispec.Routes, NoOpenAPICheck: true, Handlers: map[string]Handler{
		apispec.FunctionSaleInfo: func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			close(started)
			<-left
			lc, ok := lambdacontext.FromContext(ctx)
			got <- seen{err: ctx.Err(), requestID: ok && lc.AwsRequestID != ""}
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
		},
	}, Functions: []apispec.Function{{Name: apispec.FunctionSaleInfo, Timeout: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, leave := context.WithCancel(t.Context())
	r := httptest.NewRequestWithContext(ctx, "GET", "/sales/s1", nil)
	served := make(chan struct{})
	go func() { g.ServeHTTP(httptest.NewRecorder(), r); close(served) }()
	<-started
	leave()
	close(left)
	if s := <-got; s.err != nil || !s.requestID {
		t.Errorf("after the client left the handler saw ctx.Err() = %v, Lambda context %v; want nil and the request's Lambda context", s.err, s.requestID)
	}
	<-served
}
