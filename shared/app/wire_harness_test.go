package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/faultproxy"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/poller"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/sqsqueue"
)

// reserveTimeout is the reserve Lambda's timeout (infra/function.go). A
// purchase must be answered within it whatever the store does, or Lambda
// kills the request and API Gateway answers 502 with no Retry-After.
const reserveTimeout = 10 * time.Second

// attemptCounter counts the HTTP attempts an SDK client makes, in total and
// per API request: the local gateway puts its request ID in the handler's
// context (lambdacontext), the service passes that context down (its
// compensation too, through context.WithoutCancel), and the SDK sends
// each attempt with it.
type attemptCounter struct {
	next      http.RoundTripper
	mu        sync.Mutex
	total     int
	failed    int // attempts that died on the wire (no HTTP answer)
	byRequest map[string]int
}

func (c *attemptCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.total++
	if lc, ok := lambdacontext.FromContext(r.Context()); ok {
		c.byRequest[lc.AwsRequestID]++
	}
	c.mu.Unlock()
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		c.mu.Lock()
		c.failed++
		c.mu.Unlock()
	}
	return resp, err
}

// failures is how many attempts died on the wire so far.
func (c *attemptCounter) failures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *attemptCounter) forRequest(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byRequest[id]
}

// wire is the stack with a Toxiproxy proxy in front of each emulator. The
// API functions run behind the local gateway (real HTTP, devauth tokens) and
// the order writer is fed by the poller; they are two "containers", each
// with its own clients, as in AWS, and both reach DynamoDB Local and the
// local SQS only through the proxies (the poller itself, AWS's event source
// mapping, does not), with the SDK settings the functions
// use in AWS (awsclient.DefaultMaxAttempts, DefaultAttemptTimeout). The
// embedded harness reads the same tables directly, for the checks.
type wire struct {
	*harness
	ddb, sqs *faultproxy.Proxy
	api      *app.App
	attempts *attemptCounter // the API container's DynamoDB attempts
	settings awsclient.Settings
	clock    *testclock.Clock // the wall clock, so the sale cache expires by itself; Advance jumps past the grace
	gw       *httptest.Server
	iss      *devauth.Issuer
	client   *http.Client

	tokensMu sync.Mutex
	tokens   map[string]string

	answersMu sync.Mutex
	answers   []answer
}

func newWire(tb testing.TB) *wire {
	tb.Helper()
	h := newHarness(tb)
	ctx := context.Background()
	w := &wire{
		harness: h,
		ddb:     faultproxy.Start(tb, "dynamodb", h.env.Settings.DynamoDBEndpoint),
		sqs:     faultproxy.Start(tb, "sqs", h.env.Settings.SQSEndpoint),
		clock:   testclock.Wall(),
		tokens:  map[string]string{},
	}
	s := h.env.Settings
	s.DynamoDBEndpoint, s.SQSEndpoint = w.ddb.URL(), w.sqs.URL()
	s.MaxAttempts, s.AttemptTimeout = awsclient.DefaultMaxAttempts, awsclient.DefaultAttemptTimeout
	w.settings = s
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svcOpts := []flashsale.Option{flashsale.WithClock(w.clock.Now)}

	// The API container. Its DynamoDB client is what awsclient builds
	// (the SDK's transport, AttemptTimeout as http.Client.Timeout) with a
	// counter slipped under it.
	w.attempts = &attemptCounter{next: awshttp.NewBuildableClient().GetTransport(), byRequest: map[string]int{}}
	db := awsclient.DynamoDB(cfg, s, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: w.attempts, Timeout: s.AttemptTimeout}
	})
	w.api = app.Build(dynamostore.New(db, s.SalesTable, s.OrdersTable),
		sqsqueue.New(awsclient.SQS(cfg, s), s.OrdersQueueURL, s.FIFOGroups),
		app.Options{Logger: quiet, Service: svcOpts, AdmissionKeys: testKeys, ReportArchive: h.env.Archive})

	// The order writer's container, fed by the poller.
	writer := app.Build(dynamostore.New(awsclient.DynamoDB(cfg, s), s.SalesTable, s.OrdersTable),
		sqsqueue.New(awsclient.SQS(cfg, s), s.OrdersQueueURL, s.FIFOGroups),
		app.Options{Logger: quiet, Service: svcOpts})
	// The poller stands in for Lambda's event source mapping, AWS's own
	// service rather than our code, so it reaches SQS directly. Behind the
	// proxy, a receive whose answer a reset dropped leaves its messages
	// invisible for the queue's whole visibility timeout (180 s), as SQS
	// does, which says nothing about the handlers and outlasts the test.
	p := poller.New(poller.Config{
		Client: h.env.SQS, QueueURL: s.OrdersQueueURL, Handler: writer.OrderWriter, Logger: quiet,
	})
	pollCtx, stopPoller := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		if err := p.Run(pollCtx); err != nil {
			tb.Errorf("poller: %v", err)
		}
	}()
	tb.Cleanup(func() { stopPoller(); <-polled })

	if w.iss, err = devauth.LoadOrCreate(tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		Routes: apispec.Routes, Handlers: w.api.Handlers, Verifier: w.iss.Verifier(),
		APIKeys: []string{w.iss.APIKey()}, Logger: quiet, // no throttles: the faults are the subject
	})
	if err != nil {
		tb.Fatal(err)
	}
	testenv.CheckOpenAPI(tb, g)
	w.gw = httptest.NewServer(g)
	tb.Cleanup(w.gw.Close)
	// The client gives up well after any answer is due, so a stuck request
	// fails the test instead of hanging it.
	w.client = &http.Client{Timeout: 3 * reserveTimeout}
	tb.Cleanup(w.client.CloseIdleConnections)
	return w
}

// answer is one purchase request as the buyer saw it.
type answer struct {
	user, key   string
	quantity    int
	status      int
	code        string // the error code, for errors
	body        string
	retryAfter  string
	replayed    bool
	requestID   string // the gateway's, as in X-Amzn-Requestid
	start, end  time.Time
	transportOK bool
	err         error
}

func (a answer) took() time.Duration { return a.end.Sub(a.start) }

func (w *wire) token(user string) (string, error) {
	w.tokensMu.Lock()
	defer w.tokensMu.Unlock()
	if tok, ok := w.tokens[user]; ok {
		return tok, nil
	}
	tok, err := w.iss.Token(devauth.TokenRequest{UserID: user})
	if err == nil {
		w.tokens[user] = tok
	}
	return tok, err
}

// post sends one purchase through the gateway and records the answer. It
// runs on buyers' goroutines, so it reports with Errorf, never Fatal.
func (w *wire) post(tb testing.TB, saleID, user, key string, qty int) answer {
	tb.Helper()
	a := answer{user: user, key: key, quantity: qty, start: time.Now()}
	tok, err := w.token(user)
	if err != nil {
		tb.Errorf("token for %s: %v", user, err)
		return a
	}
	req, err := http.NewRequest(http.MethodPost, w.gw.URL+"/sales/"+saleID+"/orders",
		bytes.NewReader(fmt.Appendf(nil, `{"quantity":%d}`, qty)))
	if err != nil {
		tb.Errorf("build request: %v", err)
		return a
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Api-Key", w.iss.APIKey())
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	// The buyer went through admission before; these tests are about the wire.
	req.Header.Set("Purchase-Token", testKeys.NewToken(admission.Subject{UserID: user, SaleID: saleID}, time.Now().Add(time.Hour)))
	resp, err := w.client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body, a.transportOK = resp.StatusCode, string(b), err == nil
		a.retryAfter = resp.Header.Get("Retry-After")
		a.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
		a.requestID = resp.Header.Get("X-Amzn-Requestid")
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if a.status != http.StatusAccepted && json.Unmarshal(b, &e) == nil {
			a.code = e.Error.Code
		}
	}
	a.end, a.err = time.Now(), err
	w.answersMu.Lock()
	w.answers = append(w.answers, a)
	w.answersMu.Unlock()
	return a
}

// buy is a buyer as the contract asks clients to behave: on a 503 it waits
// Retry-After and tries again with the same Idempotency-Key, up to tries
// times. It returns the last answer.
func (w *wire) buy(ctx context.Context, tb testing.TB, saleID, user string, qty, tries int) answer {
	key := user + "-k"
	var a answer
	for try := 1; ; try++ {
		a = w.post(tb, saleID, user, key, qty)
		if a.status != http.StatusServiceUnavailable || try == tries {
			return a
		}
		wait, err := strconv.Atoi(a.retryAfter)
		if err != nil || wait < 1 {
			return a // checkAnswers reports it
		}
		select {
		case <-ctx.Done():
			return a
		case <-time.After(time.Duration(wait) * time.Second):
		}
	}
}

// allAnswers returns every answer recorded so far.
func (w *wire) allAnswers() []answer {
	w.answersMu.Lock()
	defer w.answersMu.Unlock()
	return append([]answer(nil), w.answers...)
}

// checkAnswers asserts that every answer was a normal purchase outcome or a
// 503 that tells the client when to come back; never a 5xx of another kind,
// a 503 without Retry-After, or a broken connection. It returns the 202s.
func checkAnswers(tb testing.TB, answers []answer) (accepted []answer) {
	tb.Helper()
	counts := map[string]int{}
	for _, a := range answers {
		switch {
		case a.err != nil || !a.transportOK:
			tb.Errorf("%s/%s: no answer from the gateway: %v", a.user, a.key, a.err)
		case a.status == http.StatusAccepted:
			accepted = append(accepted, a)
		case a.status == http.StatusServiceUnavailable:
			if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 {
				tb.Errorf("%s/%s: 503 %s with Retry-After %q, want a whole number of seconds >= 1", a.user, a.key, a.code, a.retryAfter)
			}
		case a.status == http.StatusGone && a.code == "sold_out",
			a.status == http.StatusConflict && a.code == "limit_reached":
		default:
			tb.Errorf("%s/%s: got %d %s, want 202, 503 with Retry-After, 410 sold_out or 409 limit_reached", a.user, a.key, a.status, a.body)
		}
		counts[fmt.Sprintf("%d %s", a.status, a.code)]++
	}
	tb.Logf("answers: %v", counts)
	return accepted
}

// checkAccepted asserts invariants 3 and 4 for every 202, once the faults
// are over: its order exists in the store, is the buyer's, is live
// (reserved or paid) and holds what the receipt says; the key's stored
// receipt is the 202 body byte for byte; and, unless the sale is sold out
// (where the contract lets a replay answer 410 from memory), replaying the
// key through the gateway returns the same body. Two 202s for one key must
// be the same body. It returns the accepted order IDs.
func (w *wire) checkAccepted(tb testing.TB, saleID string, accepted []answer) map[string]bool {
	tb.Helper()
	ctx := context.Background()
	st, err := w.store.Sale(ctx, saleID)
	if err != nil {
		tb.Fatal(err)
	}
	bodies := map[string]answer{} // by user/key
	ids := map[string]bool{}
	for _, a := range accepted {
		uk := a.user + "/" + a.key
		if first, ok := bodies[uk]; ok {
			if first.body != a.body {
				tb.Errorf("%s: two 202s with different bodies:\n%s\n%s", uk, first.body, a.body)
			}
			continue
		}
		bodies[uk] = a
		var r flashsale.Receipt
		if err := json.Unmarshal([]byte(a.body), &r); err != nil {
			tb.Errorf("%s: 202 body %q: %v", uk, a.body, err)
			continue
		}
		ids[r.OrderID] = true
		o, err := w.store.Order(ctx, flashsale.RefOf(st.Sale, r.OrderID))
		switch {
		case err != nil:
			tb.Errorf("%s: answered 202 for order %s, but the store has no such order: %v", uk, r.OrderID, err)
			continue
		case o.UserID != a.user || o.Quantity != int64(a.quantity) || r.Quantity != int64(a.quantity):
			tb.Errorf("%s: order %s is user %s quantity %d (receipt %d), want user %s quantity %d",
				uk, r.OrderID, o.UserID, o.Quantity, r.Quantity, a.user, a.quantity)
		case o.Status != flashsale.OrderReserved && o.Status != flashsale.OrderPaid:
			tb.Errorf("%s: answered 202 for order %s, which is %s", uk, r.OrderID, o.Status)
		}
		rec, err := w.store.IdempotencyRecord(ctx, a.user, a.key)
		if err != nil {
			tb.Errorf("%s: no idempotency record after a 202: %v", uk, err)
		} else if string(rec.Receipt) != a.body {
			tb.Errorf("%s: stored receipt %s, want the 202 body %s", uk, rec.Receipt, a.body)
		}
	}
	for uk, a := range bodies {
		r := w.post(tb, saleID, a.user, a.key, a.quantity)
		switch {
		case r.status == http.StatusAccepted && (r.body != a.body || !r.replayed):
			tb.Errorf("%s: replay got 202 %s (replayed %v), want %s with Idempotent-Replayed", uk, r.body, r.replayed, a.body)
		case r.status == http.StatusGone && r.code == "sold_out" && st.SoldOut:
			// The documented trade-off: after the sell-out a replay is
			// answered from memory. The stored receipt was checked above.
		case r.status != http.StatusAccepted:
			tb.Errorf("%s: replay got %d %s, want 202", uk, r.status, r.body)
		}
	}
	return ids
}

// waitDrained waits, on the queue's own counts, until the order writer has
// taken every message (or the queue moved it to the DLQ), so settlement
// sees the writer's work; then it gives settlement's view a moment of calm.
func (w *wire) waitDrained(tb testing.TB, within time.Duration) {
	tb.Helper()
	ctx := context.Background()
	q := sqsqueue.New(w.env.SQS, w.env.Settings.OrdersQueueURL, 1)
	deadline := time.Now().Add(within)
	for calm := 0; calm < 3; {
		visible, inFlight, err := q.Depth(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if visible+inFlight == 0 {
			calm++
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			tb.Fatalf("orders queue still holds %d visible and %d in-flight messages after %v", visible, inFlight, within)
		}
		time.Sleep(200 * time.Millisecond) // polling the queue's counts: the event we wait for
	}
}

// settleAndCheck jumps past the grace period, runs one settlement pass
// through the (healed) proxies, and asserts invariant 5: the books balance,
// nothing is left pending or leaked, every 202's order is in the report
// exactly once and live, and invariants 1 and 2 still hold.
func (w *wire) settleAndCheck(tb testing.TB, saleID string, acceptedIDs map[string]bool) flashsale.Report {
	tb.Helper()
	ctx := context.Background()
	w.waitDrained(tb, 30*time.Second)
	w.clock.Advance(3 * time.Minute) // past the default 2-minute grace; payment windows are 10 minutes
	report, err := w.api.Service.Settle(ctx, saleID)
	if err != nil {
		tb.Fatalf("settle: %v", err)
	}
	u := report.Units
	tb.Logf("report: units %+v; adjustments %d", u, len(report.Adjustments))
	for _, adj := range report.Adjustments {
		tb.Logf("  adjustment %s %d: %s", adj.Kind, adj.Units, adj.Detail)
	}
	if !report.Balanced {
		tb.Errorf("report not balanced: %+v", u)
	}
	if u.Available+u.Reserved+u.Paid+u.InLimbo != u.Loaded {
		tb.Errorf("available %d + reserved %d + paid %d + in limbo %d != loaded %d", u.Available, u.Reserved, u.Paid, u.InLimbo, u.Loaded)
	}
	// Past the grace, one pass returns everything the faults left in limbo.
	if u.InLimbo != 0 {
		tb.Errorf("%d units still in limbo after one settlement pass past the grace, want 0", u.InLimbo)
	}
	if u.Restocked != u.Expired+u.Cancelled {
		tb.Errorf("restocked %d != expired %d + cancelled %d", u.Restocked, u.Expired, u.Cancelled)
	}
	seen := map[string]int{}
	for _, o := range report.Orders {
		seen[o.OrderID]++
		if acceptedIDs[o.OrderID] && o.Status != string(flashsale.OrderReserved) && o.Status != string(flashsale.OrderPaid) {
			tb.Errorf("order %s was answered 202 but reads %s in the report", o.OrderID, o.Status)
		}
	}
	for id := range acceptedIDs {
		if seen[id] != 1 {
			tb.Errorf("order %s was answered 202 and appears %d times in the report, want 1", id, seen[id])
		}
	}
	// Seen from one more grace period on (when the holds this pass aborted
	// no longer count as possibly returning units), one pass left nothing
	// for the next to find.
	w.clock.Advance(3 * time.Minute)
	a, err := w.api.Service.Audit(ctx, saleID)
	if err != nil {
		tb.Fatal(err)
	}
	if a.Leaked != 0 || len(a.StaleHolds) != 0 {
		tb.Errorf("after one settlement pass: %d units leaked and %d stale holds, want none", a.Leaked, len(a.StaleHolds))
	}
	for _, o := range a.Orders {
		if o.Status == flashsale.OrderPending {
			tb.Errorf("order %s still pending after settlement", o.ID)
		}
	}
	w.checkInvariants(tb, saleID)
	return report
}

// waitFor polls cond until it holds or within passes.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
