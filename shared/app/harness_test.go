package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/callcount"
	"flashsale/shared/local/openapicheck"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/sqsqueue"
)

// harness is the real stack minus the gateway: handlers over DynamoDB Local
// and the local SQS, with counted clients and optional fault wrappers.
type harness struct {
	env   testenv.Env
	app   *app.App
	store flashsale.Store
	queue flashsale.OrderQueue
	// ddbCalls and sqsCalls count every HTTP call the SDK clients make: the
	// ground truth for "this path costs no DynamoDB or SQS call".
	ddbCalls *callcount.Counter
	sqsCalls *callcount.Counter
	clock    *testclock.Clock
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	secret    string
	wrapStore func(flashsale.Store) flashsale.Store
	wrapQueue func(flashsale.OrderQueue) flashsale.OrderQueue
}

func withFaults(store func(flashsale.Store) flashsale.Store, queue func(flashsale.OrderQueue) flashsale.OrderQueue) harnessOption {
	return func(c *harnessConfig) { c.wrapStore, c.wrapQueue = store, queue }
}

func withSecret(secret string) harnessOption {
	return func(c *harnessConfig) { c.secret = secret }
}

func newHarness(tb testing.TB, opts ...harnessOption) *harness {
	tb.Helper()
	env := testenv.Require(tb)
	cfg := harnessConfig{
		wrapStore: func(s flashsale.Store) flashsale.Store { return s },
		wrapQueue: func(q flashsale.OrderQueue) flashsale.OrderQueue { return q },
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{
		env:      env,
		ddbCalls: &callcount.Counter{},
		sqsCalls: &callcount.Counter{},
		clock:    testclock.New(time.Now().UTC()),
	}
	s := env.Settings
	s.MaxAttempts = 1
	db := awsclient.DynamoDB(env.Config, s, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: h.ddbCalls} })
	sq := awsclient.SQS(env.Config, s, func(o *sqs.Options) { o.HTTPClient = &http.Client{Transport: h.sqsCalls} })
	h.store = cfg.wrapStore(dynamostore.New(db, s.SalesTable, s.OrdersTable))
	h.queue = cfg.wrapQueue(sqsqueue.New(sq, s.OrdersQueueURL, s.FIFOGroups))
	h.app = app.Build(h.store, h.queue, app.Options{
		// Injected faults log errors on purpose; keep test output readable.
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		WebhookSecret: cfg.secret,
		AdmissionKeys: testKeys,
		ReportArchive: env.Archive,
		Service:       []flashsale.Option{flashsale.WithClock(h.clock.Now)},
	})
	return h
}

// createSale makes an open sale through the service.
func (h *harness) createSale(tb testing.TB, id string, stock int64, shards int, limit int64) flashsale.SaleView {
	tb.Helper()
	now := h.clock.Now()
	v, err := h.app.Service.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: "Test " + id, PriceCents: 1999, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		Stock: stock, PerUserLimit: limit, PaymentWindowSeconds: 600, Shards: shards,
	})
	if err != nil {
		tb.Fatalf("create sale %s: %v", id, err)
	}
	return v
}

func (h *harness) call(tb testing.TB, function string, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	tb.Helper()
	resp, err := h.app.Handlers[function](context.Background(), req)
	if err != nil {
		tb.Fatalf("%s handler returned an error: %v", function, err)
	}
	checkEvent(tb, req, resp)
	return resp
}

// apiDoc checks the exchanges tests hand straight to the handlers against
// docs/openapi.yaml, as the gateway's check does for HTTP ones.
var apiDoc = func() *openapicheck.Checker {
	c, err := openapicheck.New(nil)
	if err != nil {
		panic(err) // docs/openapi.yaml is embedded: its own tests say what is wrong
	}
	return c
}()

// checkEvent fails the test if the handler's answer to req breaks
// docs/openapi.yaml (or it answered 2xx to a request that does).
func checkEvent(tb testing.TB, req events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse) {
	tb.Helper()
	if err := apiDoc.CheckEvent(context.Background(), req, resp); err != nil {
		tb.Error(err)
	}
}

// buy posts a purchase as user with an idempotency key.
func (h *harness) buy(tb testing.TB, saleID, user, key string, qty int) events.APIGatewayProxyResponse {
	tb.Helper()
	return h.call(tb, apispec.FunctionReserve, buyRequest(tb, saleID, user, key, fmt.Sprintf(`{"quantity":%d}`, qty)))
}

// loadEvent reads a sample payload from events/.
func loadEvent(tb testing.TB, name string) events.APIGatewayProxyRequest {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(b, &req); err != nil {
		tb.Fatalf("decode %s: %v", name, err)
	}
	return req
}

// testKeys sign the purchase tokens of every harness, so a request can
// carry a valid one without running the challenge (the admission tests run
// it).
var testKeys = func() *admission.Keys {
	k, err := admission.NewKeys(admission.NewKeySet("test"))
	if err != nil {
		panic(err)
	}
	return k
}()

// buyRequest is a purchase as a compliant client sends it: with a purchase
// token for that user and sale, good for longer than any test's clock runs.
func buyRequest(tb testing.TB, saleID, user, key, body string) events.APIGatewayProxyRequest {
	tb.Helper()
	req := loadEvent(tb, "reserve.json")
	req.PathParameters = map[string]string{"saleId": saleID}
	req.Path = "/sales/" + saleID + "/orders"
	req.Headers["Idempotency-Key"] = key
	req.Headers["Purchase-Token"] = testKeys.NewToken(admission.Subject{UserID: user, SaleID: saleID}, time.Now().Add(30*24*time.Hour))
	delete(req.MultiValueHeaders, "Purchase-Token") // the sample's, signed by another key: Headers holds the one that counts
	req.Body = body
	setUser(&req, user)
	return req
}

func setUser(req *events.APIGatewayProxyRequest, user string, groups ...string) {
	claims := map[string]any{"sub": user, "cognito:username": user}
	if len(groups) > 0 {
		claims["cognito:groups"] = fmt.Sprint(groups)
	}
	req.RequestContext.Authorizer = map[string]any{"claims": claims}
}

// stock sums a sale's shards.
func (h *harness) stock(tb testing.TB, saleID string) int64 {
	tb.Helper()
	st, err := h.store.Sale(context.Background(), saleID)
	if err != nil {
		tb.Fatal(err)
	}
	shards, err := h.store.Available(context.Background(), st.Sale)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, s := range shards {
		n += s
	}
	return n
}

// drainQueue receives and deletes every message on the orders queue.
func (h *harness) drainQueue(tb testing.TB) []flashsale.OrderMessage {
	tb.Helper()
	ctx := context.Background()
	sq := h.env.SQS
	var out []flashsale.OrderMessage
	for empty := 0; empty < 3; {
		res, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(h.env.Settings.OrdersQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if len(res.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range res.Messages {
			var om flashsale.OrderMessage
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &om); err != nil {
				tb.Fatalf("bad message %q: %v", aws.ToString(m.Body), err)
			}
			out = append(out, om)
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(h.env.Settings.OrdersQueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return out
}

// checkInvariants asserts invariants 1 and 2 from the store's own records:
// units of accepted (reserved or paid) orders plus the units still on sale
// never exceed what was loaded, no shard is negative, and no user holds more
// than the limit. Pending holds are left out: a hold may or may not have
// taken its units yet.
func (h *harness) checkInvariants(tb testing.TB, saleID string) (held int64) {
	tb.Helper()
	ctx := context.Background()
	st, err := h.store.Sale(ctx, saleID)
	if err != nil {
		tb.Fatal(err)
	}
	shards, err := h.store.Available(ctx, st.Sale)
	if err != nil {
		tb.Fatal(err)
	}
	var avail int64
	for k, n := range shards {
		if n < 0 {
			tb.Errorf("shard %d holds %d units, want >= 0", k, n)
		}
		avail += n
	}
	orders, err := h.store.SaleOrders(ctx, st.Sale)
	if err != nil {
		tb.Fatal(err)
	}
	perUser := map[string]int64{}
	for _, o := range orders {
		if o.Status == flashsale.OrderReserved || o.Status == flashsale.OrderPaid {
			held += o.Quantity
			perUser[o.UserID] += o.Quantity
		}
	}
	if held+avail > st.Loaded {
		tb.Errorf("oversell: held %d + available %d > loaded %d", held, avail, st.Loaded)
	}
	for u, n := range perUser {
		if n > st.PerUserLimit {
			tb.Errorf("user %s holds %d units, limit %d", u, n, st.PerUserLimit)
		}
	}
	return held
}
