// Package gateway is the local stand-in for the deployed REST API: it serves
// the routes of apispec with the same throttles, a Cognito-style authorizer,
// API-key usage plan, and hands the same events.APIGatewayProxyRequest to the
// same handler code the Lambdas run, within each function's timeout.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"golang.org/x/time/rate"

	"flashsale/docs"
	"flashsale/shared/apispec"
	"flashsale/shared/local/openapicheck"
)

// DefaultAddr is where `flashsale dev` serves the gateway.
const DefaultAddr = "127.0.0.1:3000"

// Handler is a Lambda proxy-integration handler (the same type as
// app.APIHandler).
type Handler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Authorizer verifies an Authorization header value and returns the claims as
// API Gateway flattens them. devauth.Verifier implements it. Errors mean 401.
type Authorizer interface {
	Verify(authorization string) (map[string]string, error)
}

// Config configures a Gateway.
type Config struct {
	// Routes is the route table, normally apispec.Routes.
	Routes []apispec.Route
	// Handlers maps Route.Function to its handler. A route whose function has
	// no handler is not served: it answers 403 like an unknown route.
	Handlers map[string]Handler
	// Functions declare each function's timeout, normally apispec.Functions.
	// A handler call is bounded by its function's timeout and by API
	// Gateway's apispec.IntegrationTimeout; a function without an entry gets
	// the integration timeout.
	Functions []apispec.Function
	// IntegrationTimeout is the REST API integration's timeoutInMillis;
	// zero means API Gateway's default and maximum, apispec.IntegrationTimeout.
	IntegrationTimeout time.Duration
	// Verifier authorizes AuthCognito routes; required if any is served.
	Verifier Authorizer
	// Limits are the stage, method and usage-plan throttles. A zero RateLimit
	// switches that level off. Limits.WAFRateLimit is the WebACL's per-IP
	// rate rule, which the gateway enforces before anything else, as WAF
	// sits in front of API Gateway; 0 switches it off.
	Limits apispec.Limits
	// NoIPRateRule switches the per-IP rate rule off whatever
	// Limits.WAFRateLimit says, for experiments that play many buyers from
	// one address.
	NoIPRateRule bool
	// APIKeys are the usage plan's valid x-api-key values.
	APIKeys []string
	// Stage names the stage in requestContext.stage; empty means "local".
	Stage string
	// Logger receives one record per request (Debug, or Info with
	// LogRequests) and handler failures (Error); nil means slog.Default().
	Logger *slog.Logger
	// LogRequests logs every request at Info instead of Debug.
	LogRequests bool
	// Now is the clock for throttling and request times; nil means time.Now.
	Now func() time.Time
	// OpenAPI checks every exchange against docs/openapi.yaml and keeps
	// the violations (Gateway.OpenAPICheck). When nil, New makes one if
	// openapicheck.Strict() (FLASHSALE_OPENAPI_STRICT=1, as `make test`
	// sets), unless NoOpenAPICheck.
	OpenAPI *openapicheck.Checker
	// NoOpenAPICheck keeps the check off whatever the environment says:
	// for throughput measurements, and tests whose fake handlers answer
	// nothing like the API.
	NoOpenAPICheck bool
	// Observer hears of every answer; nil for none. The local stack's live
	// view (livestats.Collector) counts through it.
	Observer Observer
}

// Observer is told of every answer the gateway gives, after writing it, on
// the request's goroutine: it must be cheap (the sold-out flood calls it
// tens of thousands of times a second). route is the route's key ("POST
// /sales/{saleId}/orders"), or "" for an answer given before routing (a
// ban, the per-IP rule, an unknown route); saleID is the path's {saleId},
// or "".
type Observer interface {
	Observe(route, saleID string, status int, latency time.Duration)
}

// Gateway is an http.Handler that behaves like the deployed REST API.
type Gateway struct {
	bans     bansHolder
	ipRate   *ipRateRule // nil: off
	router   *router
	verifier Authorizer
	stage    *rate.Limiter
	keys     map[string]*planKey
	stageNm  string
	log      *slog.Logger
	logLevel slog.Level
	now      func() time.Time
	obs      Observer

	idPrefix [8]byte
	idSeq    atomic.Uint64

	// checked is the API behind the OpenAPI check; nil when it is off.
	checked http.Handler
	check   *openapicheck.Checker

	// authorizers caches each verified token's authorizer context.
	authorizers     sync.Map
	authorizerCount atomic.Int64
}

// New builds a Gateway from cfg.
func New(cfg Config) (*Gateway, error) {
	g := &Gateway{
		router:   newRouter(cfg.Routes, cfg.Handlers, cfg.Functions, cfg.Limits, cfg.IntegrationTimeout),
		verifier: cfg.Verifier,
		stage:    newLimiter(cfg.Limits.Stage),
		keys:     make(map[string]*planKey, len(cfg.APIKeys)),
		stageNm:  cfg.Stage,
		log:      cfg.Logger,
		logLevel: slog.LevelDebug,
		now:      cfg.Now,
		obs:      cfg.Observer,
	}
	if g.stageNm == "" {
		g.stageNm = "local"
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if cfg.LogRequests {
		g.logLevel = slog.LevelInfo
	}
	if g.now == nil {
		g.now = time.Now
	}
	if !cfg.NoIPRateRule {
		g.ipRate = newIPRateRule(cfg.Limits.WAFRateLimit, g.log)
	}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("gateway: empty API key")
		}
		g.keys[k] = &planKey{limiter: newLimiter(cfg.Limits.App.Throttle), quota: cfg.Limits.App.QuotaPerDay}
	}
	for _, res := range g.router.resources {
		for _, r := range res.methods {
			if r.Auth == apispec.AuthCognito && g.verifier == nil {
				return nil, fmt.Errorf("gateway: %s %s needs a Verifier", r.Method, r.Path)
			}
		}
	}
	rand.Read(g.idPrefix[:]) // never fails (crypto/rand panics instead)
	g.check = cfg.OpenAPI
	if g.check == nil && !cfg.NoOpenAPICheck && openapicheck.Strict() {
		var err error
		g.check, err = openapicheck.New(func(v string) { g.log.Error("OpenAPI violation", "violation", v) })
		if err != nil {
			return nil, err
		}
	}
	if g.check != nil && !cfg.NoOpenAPICheck {
		g.checked = g.check.Wrap(http.HandlerFunc(g.serveAPI))
	}
	return g, nil
}

// OpenAPICheck returns the gateway's OpenAPI checker, nil when it runs
// none; harnesses fail their test on its Err once the server has stopped.
func (g *Gateway) OpenAPICheck() *openapicheck.Checker { return g.check }

// DocPath is where the gateway serves the API's OpenAPI document. It is
// not an API route: the deployed API has no such path.
const DocPath = "/openapi.yaml"

func serveDoc(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(docs.OpenAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(docs.OpenAPI) // a failed write means the client left
}

// Gateway answers of its own, in API Gateway's shape, with the x-amzn-ErrorType
// API Gateway sends alongside.
type gatewayError struct {
	status    int
	errorType string
	body      string
}

var (
	errMissingToken = gatewayError{http.StatusForbidden, "MissingAuthenticationTokenException", `{"message":"Missing Authentication Token"}`}
	errUnauthorized = gatewayError{http.StatusUnauthorized, "UnauthorizedException", `{"message":"Unauthorized"}`}
	errForbidden    = gatewayError{http.StatusForbidden, "ForbiddenException", `{"message":"Forbidden"}`}
	errThrottled    = gatewayError{http.StatusTooManyRequests, "TooManyRequestsException", `{"message":"Too Many Requests"}`}
	errQuota        = gatewayError{http.StatusTooManyRequests, "LimitExceededException", `{"message":"Limit Exceeded"}`}
	errLambda       = gatewayError{http.StatusBadGateway, "InternalServerErrorException", `{"message":"Internal server error"}`}
	// What the REST API answers when its 29 s integration timeout passes
	// before the function answers. No x-amzn-ErrorType: we have no record of
	// the one API Gateway sends with it.
	errTimeout = gatewayError{http.StatusGatewayTimeout, "", `{"message":"Endpoint request timed out"}`}
	// errStarting answers while the local stack is not ready (see Gate). It
	// has no deployed counterpart: the deployed API exists only once the
	// stack is up. 503 says "retry soon", which is what a client should do.
	errStarting = gatewayError{http.StatusServiceUnavailable, "", `{"message":"Service Unavailable"}`}
	// The deployed API accepts 10 MB and lets the handler middleware answer
	// 413 body_too_large; the gateway must stop reading at the handler's limit,
	// so it gives that same answer itself and clients see one contract.
	errTooLarge = gatewayError{http.StatusRequestEntityTooLarge, "", handlerError("body_too_large", apispec.BodyTooLargeMessage)}
)

// handlerError is an error body in the handlers' shape, for the one answer
// the gateway gives on their behalf.
func handlerError(code, message string) string {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, err := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{code, message}})
	if err != nil {
		panic(err) // two strings always encode
	}
	return string(b)
}

// ServeHTTP runs one request through the WebACL's per-IP rate rule, then
// the stages API Gateway applies, in its order: route match, stage and
// method throttles, authorizer, API key and usage plan, then the integration
// (the handler).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == DocPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		serveDoc(w)
		return
	}
	if g.checked != nil {
		g.checked.ServeHTTP(w, r)
		return
	}
	g.serveAPI(w, r)
}

// serveAPI is ServeHTTP for the API's routes.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	reqID := g.requestID()
	var seen matched
	status := g.serve(w, r, start, reqID, &seen)
	if g.obs != nil {
		g.obs.Observe(seen.route, seen.saleID, status, g.now().Sub(start))
	}
	if g.log.Enabled(r.Context(), g.logLevel) {
		g.log.LogAttrs(r.Context(), g.logLevel, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("latency", g.now().Sub(start)),
			slog.String("requestId", reqID))
	}
}

// matched is what serve learnt of a request's route, for the Observer.
type matched struct{ route, saleID string }

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, now time.Time, reqID string, seen *matched) int {
	// WAF evaluates a request before API Gateway sees it: unknown routes
	// count, and a refused request spends no throttle token. Rule 0, the
	// bans, comes first, so banned requests do not count toward the rate.
	if g.banned(r.RemoteAddr) {
		return g.fail(w, reqID, errBanned)
	}
	if !g.ipRate.allow(r.RemoteAddr, now) {
		return g.fail(w, reqID, errRateBased)
	}
	rt, params, ok := g.router.match(r.Method, r.URL.EscapedPath())
	if !ok {
		return g.fail(w, reqID, errMissingToken)
	}
	seen.route, seen.saleID = rt.key, params["saleId"]
	if !allow(g.stage, now) || !allow(rt.throttle, now) {
		return g.fail(w, reqID, errThrottled)
	}
	var authorizer map[string]any
	if rt.Auth == apispec.AuthCognito {
		claims, err := g.verifier.Verify(r.Header.Get("Authorization"))
		if err != nil {
			return g.fail(w, reqID, errUnauthorized)
		}
		authorizer = g.authorizerFor(r.Header.Get("Authorization"), claims)
	}
	var apiKey string
	if rt.APIKeyRequired {
		apiKey = r.Header.Get("X-Api-Key")
		k := g.keys[apiKey]
		if k == nil {
			return g.fail(w, reqID, errForbidden)
		}
		switch k.take(now) {
		case planThrottled:
			return g.fail(w, reqID, errThrottled)
		case planQuotaExceeded:
			return g.fail(w, reqID, errQuota)
		}
	}
	// The 10 KB limit is the handlers' (the deployed API only stops bodies
	// at 10 MB), so it comes after auth, as it does when deployed.
	if r.ContentLength > apispec.MaxBodyBytes {
		return g.fail(w, reqID, errTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, apispec.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return g.fail(w, reqID, errTooLarge)
		}
		return g.fail(w, reqID, gatewayError{http.StatusBadRequest, "BadRequestException", `{"message":"Could not read request body"}`})
	}

	req := g.event(r, rt, params, body, now, reqID, apiKey, authorizer)
	ctx := lambdacontext.NewContext(r.Context(), &lambdacontext.LambdaContext{AwsRequestID: reqID})
	return g.invoke(ctx, w, rt, req, reqID)
}

// authorizerFor returns the requestContext.authorizer of a verified token.
// It is built once per token and then shared by that token's requests, as
// API Gateway caches an authorizer's verdict: the sold-out path answers tens
// of thousands of requests a second, and rebuilding the claims map was a
// visible share of each. Handlers only read claims. The verifier still runs
// on every request, so an expired token is refused whatever is cached here.
func (g *Gateway) authorizerFor(token string, claims map[string]string) map[string]any {
	if a, ok := g.authorizers.Load(token); ok {
		return a.(map[string]any)
	}
	m := make(map[string]any, len(claims))
	for k, v := range claims {
		m[k] = v
	}
	a := map[string]any{"claims": m}
	if g.authorizerCount.Add(1) > maxCachedAuthorizers {
		g.authorizers.Clear() // a crude bound: start over rather than grow without limit
		g.authorizerCount.Store(1)
	}
	g.authorizers.Store(token, a)
	return a
}

// maxCachedAuthorizers bounds authorizerFor's cache.
const maxCachedAuthorizers = 100_000

// invoke calls the handler within its function's timeout and answers: the
// handler's response, 502 for a failed or crashed one (as a crashed Lambda
// turns into a 502), or the route's timeout answer (see timeoutFor).
//
// The answer comes when the timeout passes, as API Gateway's does, even
// from a handler that ignores its context: a timer writes it while the
// handler still runs. (Lambda stops an overrunning function; a goroutine
// cannot be stopped, so it finishes in the background and its answer is
// dropped.) The handler runs on the request's own goroutine, and one timer
// both cancels its context and answers, because a goroutine hand-off, or a
// second timer, per request cost the sold-out path a visible share of its
// CPU (measured: ~5 µs and ~3 µs a request against ~1 µs this way).
func (g *Gateway) invoke(ctx context.Context, w http.ResponseWriter, rt *route, req events.APIGatewayProxyRequest, reqID string) int {
	// A client that leaves does not stop a Lambda that API Gateway invoked
	// for it: the function runs to its end or its timeout. So the handler's
	// context keeps the request's values but not its cancellation (which
	// used to cut a purchase short between its writes when a load
	// generator gave up).
	inner, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	hctx := deadlineCtx{Context: inner, deadline: time.Now().Add(rt.timeout)}
	// answered says who owns w: whoever sets it first writes the answer.
	var mu sync.Mutex
	answered := false
	timedOut := func() int {
		mu.Lock()
		defer mu.Unlock()
		if answered {
			return rt.timeoutErr.status
		}
		answered = true
		g.log.LogAttrs(ctx, slog.LevelError, "handler timed out",
			slog.String("function", rt.Function), slog.String("requestId", reqID), slog.Duration("timeout", rt.timeout))
		// Content-Length and a flush let the client read the whole answer
		// while the handler still holds the request.
		w.Header().Set("Content-Length", strconv.Itoa(len(rt.timeoutErr.body)))
		status := g.fail(w, reqID, rt.timeoutErr)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return status
	}
	timer := time.AfterFunc(rt.timeout, func() {
		cancel(context.DeadlineExceeded)
		timedOut()
	})
	resp, err := call(hctx, rt, req)
	if !timer.Stop() {
		// The deadline passed: the answer is the timeout's, whatever the
		// handler said too late (the timer may have written it already).
		return timedOut()
	}
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "handler failed",
			slog.String("function", rt.Function), slog.String("requestId", reqID), slog.Any("err", err))
		return g.fail(w, reqID, errLambda)
	}
	return g.write(w, reqID, resp, headerOf(req, "Accept"))
}

// deadlineCtx is a handler's context: it reports the function's deadline
// and, once the gateway's timer cancelled it for that, DeadlineExceeded, as
// context.WithTimeout would, without a timer of its own.
type deadlineCtx struct {
	context.Context // cancelled only by the gateway's timer
	deadline        time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// call runs the handler, turning a panic or a malformed answer into an error.
func call(ctx context.Context, rt *route, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s panicked: %v", rt.Function, p)
		}
	}()
	resp, err = rt.handler(ctx, req)
	if err != nil {
		return resp, fmt.Errorf("%s: %w", rt.Function, err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return resp, fmt.Errorf("%s: malformed Lambda proxy response: status %d", rt.Function, resp.StatusCode)
	}
	return resp, nil
}

// event builds the request the way the REST API's Lambda proxy integration does.
func (g *Gateway) event(r *http.Request, rt *route, params map[string]string, body []byte, now time.Time,
	reqID, apiKey string, authorizer map[string]any) events.APIGatewayProxyRequest {
	// Go drops Host from the header map; API Gateway passes it on.
	r.Header.Set("Host", r.Host)
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		headers[k] = vs[len(vs)-1] // API Gateway keeps the last of repeated headers
	}
	// API Gateway sends null, not {}, when there is no query string.
	var query map[string]string
	var mq map[string][]string
	if r.URL.RawQuery != "" {
		mq = r.URL.Query()
		query = make(map[string]string, len(mq))
		for k, vs := range mq {
			query[k] = vs[len(vs)-1]
		}
	}
	req := events.APIGatewayProxyRequest{
		Resource:                        rt.Path,
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         headers,
		MultiValueHeaders:               r.Header, // http.Header is a map[string][]string; no copy needed
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: mq,
		PathParameters:                  params,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:        "000000000000",
			APIID:            "local",
			ResourceID:       rt.Path,
			Stage:            g.stageNm,
			DomainName:       r.Host,
			RequestID:        reqID,
			Protocol:         r.Proto,
			ResourcePath:     rt.Path,
			Path:             "/" + g.stageNm + r.URL.Path,
			HTTPMethod:       r.Method,
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			Authorizer:       authorizer,
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
				APIKey:    apiKey,
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			req.Body = string(body)
		} else {
			req.Body = base64.StdEncoding.EncodeToString(body)
			req.IsBase64Encoded = true
		}
	}
	return req
}

func sourceIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// write sends a handler's proxy response. Multi-value headers come first and
// single-value ones fill in names the former lack, as API Gateway merges them.
// A base64 body becomes bytes only when the request's Accept names a binary
// media type first (apispec.DecodesBinary), as API Gateway does; otherwise
// the client gets the base64 text, as it would deployed.
func (g *Gateway) write(w http.ResponseWriter, reqID string, resp events.APIGatewayProxyResponse, accept string) int {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded && apispec.DecodesBinary(accept) {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			g.log.Error("handler returned bad base64 body", "requestId", reqID, "err", err)
			return g.fail(w, reqID, errLambda)
		}
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	for k, v := range resp.Headers {
		if _, ok := h[http.CanonicalHeaderKey(k)]; !ok {
			h.Set(k, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(resp.StatusCode)
	w.Write(body) // a failed write means the client left; nothing to do
	return resp.StatusCode
}

func (g *Gateway) fail(w http.ResponseWriter, reqID string, e gatewayError) int {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Requestid", reqID)
	if e.errorType != "" {
		h.Set("X-Amzn-Errortype", e.errorType)
	}
	w.WriteHeader(e.status)
	io.WriteString(w, e.body)
	return e.status
}

// requestID returns a unique id shaped like API Gateway's (a UUID): a random
// per-gateway prefix and a counter, which is unique without a syscall per
// request.
func (g *Gateway) requestID() string {
	var raw [16]byte
	copy(raw[:8], g.idPrefix[:])
	binary.BigEndian.PutUint64(raw[8:], g.idSeq.Add(1))
	var out [36]byte
	hex.Encode(out[0:8], raw[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], raw[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], raw[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], raw[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], raw[10:16])
	return string(out[:])
}

// Server returns an http.Server for g on addr with timeouts suited to a local
// API: slow or stuck clients cannot hold connections forever.
func (g *Gateway) Server(addr string) *http.Server { return newServer(addr, g, g.log) }

func newServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Above API Gateway's integration timeout, so a timed-out handler's
		// 504 still reaches the client.
		WriteTimeout:   apispec.IntegrationTimeout + 6*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ListenAndServe serves g on addr (DefaultAddr if empty) until ctx is done,
// then shuts down gracefully. It returns nil after a shutdown caused by ctx.
func (g *Gateway) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway listen: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves g on ln until ctx is done, then shuts down gracefully (waiting
// up to ShutdownGrace for requests in flight). It returns nil after a
// shutdown caused by ctx. Listening first lets a caller learn the address
// (port 0) or report a busy port before it starts anything else.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, g.Server(ln.Addr().String()), ln)
}

// ShutdownGrace is how long Serve waits for requests in flight to finish.
const ShutdownGrace = 5 * time.Second

func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("gateway serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway serve: %w", err)
	}
	return nil
}

// Gate serves a port before its Gateway exists: it answers every request
// 503 with Retry-After until Open hands it the Gateway, and from then on
// passes every request to it. The local stack listens first (so a busy port
// fails at once) and opens the gate only when the tables exist and the demo
// sale is seeded, so no client ever sees a half-built stack's 404.
type Gate struct {
	gw  atomic.Pointer[Gateway]
	log *slog.Logger
}

// NewGate returns a closed gate; log receives the HTTP server's errors (nil
// means slog.Default()).
func NewGate(log *slog.Logger) *Gate {
	if log == nil {
		log = slog.Default()
	}
	return &Gate{log: log}
}

// Open starts passing requests to gw.
func (g *Gate) Open(gw *Gateway) { g.gw.Store(gw) }

// ServeHTTP answers 503 until the gate is open, then is gw.ServeHTTP.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if gw := g.gw.Load(); gw != nil {
		gw.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", "1")
	w.WriteHeader(errStarting.status)
	io.WriteString(w, errStarting.body)
}

// Serve serves the gate on ln with the Gateway's own server setup until ctx
// is done, as Gateway.Serve does.
func (g *Gate) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, newServer(ln.Addr().String(), g, g.log), ln)
}

// headerOf reads a request header by name, in any case.
func headerOf(req events.APIGatewayProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
