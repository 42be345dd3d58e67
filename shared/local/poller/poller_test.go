package poller_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/local/poller"
	"flashsale/shared/local/testenv"
	"flashsale/shared/schema"
	"flashsale/shared/sqsqueue"
)

const retryDelay = 100 * time.Millisecond

// recorder is a test consumer: it records every delivery and fails the
// messages fail says to, the FIFO way: the first failure and every later
// message of the batch.
type recorder struct {
	mu      sync.Mutex
	fail    func(body string, delivery int) bool
	batches [][]events.SQSMessage
	seen    map[string]int // body -> deliveries
	done    []string       // bodies in the order they succeeded
	err     func(call int) error
}

func newRecorder(fail func(body string, delivery int) bool) *recorder {
	return &recorder{fail: fail, seen: map[string]int{}}
}

func (r *recorder) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, ev.Records)
	for _, m := range ev.Records {
		r.seen[m.Body]++
	}
	if r.err != nil {
		if err := r.err(len(r.batches)); err != nil {
			return events.SQSEventResponse{}, err
		}
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if len(resp.BatchItemFailures) > 0 || (r.fail != nil && r.fail(m.Body, r.seen[m.Body])) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		r.done = append(r.done, m.Body)
	}
	return resp, nil
}

// snapshot returns copies of what the recorder saw.
func (r *recorder) snapshot() (batches [][]events.SQSMessage, seen map[string]int, done []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen = make(map[string]int, len(r.seen))
	for k, v := range r.seen {
		seen[k] = v
	}
	return slices.Clone(r.batches), seen, slices.Clone(r.done)
}

func (r *recorder) doneCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.done)
}

func TestPoller_PartialFailureRedeliversOnlyFailed(t *testing.T) {
	q := newQueue(t)
	client := q.client
	// One message per group, so failing m2 fails nothing else.
	for i := range 5 {
		send(t, client, q.URL, "g"+strconv.Itoa(i), "m"+strconv.Itoa(i))
	}
	rec := newRecorder(func(body string, delivery int) bool { return body == "m2" && delivery == 1 })
	handler := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return rec.handle(ctx, moveLast(ev, "m2"))
	}
	runPoller(t, poller.Config{Client: client, QueueURL: q.URL, Handler: handler, RetryDelay: retryDelay})

	waitFor(t, 5*time.Second, "all 5 messages done", func() bool { return rec.doneCount() >= 5 })
	time.Sleep(3 * retryDelay) // room for a wrong redelivery to show
	_, seen, done := rec.snapshot()
	for i := range 5 {
		body := "m" + strconv.Itoa(i)
		want := 1
		if body == "m2" {
			want = 2
		}
		if seen[body] != want {
			t.Errorf("%s delivered %d times, want %d", body, seen[body], want)
		}
	}
	if len(done) != 5 {
		t.Errorf("done %q, want each of m0..m4 once", done)
	}
	waitQueueEmpty(t, client, q.URL)
}

// moveLast moves the record with body to the end of the batch, so the
// recorder's "fail the rest of the batch" rule fails only that one. The test
// messages are in distinct groups, so no group order is broken.
func moveLast(ev events.SQSEvent, body string) events.SQSEvent {
	recs := slices.Clone(ev.Records)
	slices.SortStableFunc(recs, func(a, b events.SQSMessage) int {
		switch {
		case a.Body == body && b.Body != body:
			return 1
		case b.Body == body && a.Body != body:
			return -1
		}
		return 0
	})
	return events.SQSEvent{Records: recs}
}

func TestPoller_RecordsLookLikeLambdas(t *testing.T) {
	q := newQueue(t)
	client := q.client
	sent := send(t, client, q.URL, "g7", `{"orderId":"s.1"}`)

	var mu sync.Mutex
	var got []events.SQSMessage
	var requestID string
	handler := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.Records...)
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			requestID = lc.AwsRequestID
		}
		return events.SQSEventResponse{}, nil
	}
	runPoller(t, poller.Config{Client: client, QueueURL: q.URL, Handler: handler})
	waitFor(t, 5*time.Second, "one record", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })

	mu.Lock()
	defer mu.Unlock()
	m := got[0]
	checks := []struct {
		name, got, want string
	}{
		{"MessageId", m.MessageId, sent},
		{"Body", m.Body, `{"orderId":"s.1"}`},
		{"Md5OfBody", m.Md5OfBody, fmt.Sprintf("%x", md5.Sum([]byte(m.Body)))},
		{"EventSource", m.EventSource, "aws:sqs"},
		{"EventSourceARN", m.EventSourceARN, q.ARN},
		{"AWSRegion", m.AWSRegion, "us-east-1"},
		{"Attributes[MessageGroupId]", m.Attributes["MessageGroupId"], "g7"},
		{"Attributes[MessageDeduplicationId]", m.Attributes["MessageDeduplicationId"], `{"orderId":"s.1"}`},
		{"Attributes[ApproximateReceiveCount]", m.Attributes["ApproximateReceiveCount"], "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, attr := range []string{"SentTimestamp", "SequenceNumber", "ApproximateFirstReceiveTimestamp"} {
		if m.Attributes[attr] == "" {
			t.Errorf("Attributes[%s] is empty, want it set", attr)
		}
	}
	if m.ReceiptHandle == "" {
		t.Errorf("ReceiptHandle is empty")
	}
	if requestID == "" {
		t.Errorf("handler context has no lambdacontext request ID")
	}
}

func TestPoller_PoisonMessageMovesToDLQ(t *testing.T) {
	q := newQueue(t) // schema.OrdersQueue: maxReceiveCount 5
	client := q.client
	send(t, client, q.URL, "g1", "poison")
	send(t, client, q.URL, "g2", "fine")

	rec := newRecorder(func(body string, _ int) bool { return body == "poison" })
	handler := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return rec.handle(ctx, moveLast(ev, "poison"))
	}
	runPoller(t, poller.Config{Client: client, QueueURL: q.URL, Handler: handler, RetryDelay: retryDelay})

	dlq := sqsqueue.New(client, q.DLQURL, 1)
	waitFor(t, 5*time.Second, "poison message in the DLQ", func() bool {
		visible, _, err := dlq.Depth(context.Background())
		if err != nil {
			t.Fatalf("DLQ depth: %v", err)
		}
		return visible == 1
	})
	time.Sleep(5 * retryDelay) // a message in the DLQ must not be delivered again
	_, seen, done := rec.snapshot()

	// In AWS the handler sees it maxReceiveCount times; local-aws-sqs counts
	// the poller's ChangeMessageVisibility as a receive too (package doc).
	if n := seen["poison"]; n < 2 || n > schema.OrdersQueue.MaxReceiveCount {
		t.Errorf("poison delivered %d times, want 2 to %d", n, schema.OrdersQueue.MaxReceiveCount)
	}
	t.Logf("poison delivered %d times before the queue moved it (maxReceiveCount %d)", seen["poison"], schema.OrdersQueue.MaxReceiveCount)
	if seen["fine"] != 1 || !slices.Equal(done, []string{"fine"}) {
		t.Errorf("fine delivered %d times, done %q; want 1 and [fine]", seen["fine"], done)
	}
	if body := receiveBody(t, client, q.DLQURL); body != "poison" {
		t.Errorf("DLQ holds %q, want %q", body, "poison")
	}
	waitQueueEmpty(t, client, q.URL)
}

func TestPoller_HandlerErrorRedeliversWholeBatch(t *testing.T) {
	q := newQueue(t)
	client := q.client
	bodies := []string{"a", "b", "c"}
	for i, b := range bodies {
		send(t, client, q.URL, "g"+strconv.Itoa(i), b)
	}
	rec := newRecorder(nil)
	rec.err = func(call int) error {
		if call == 1 {
			return errors.New("table unavailable")
		}
		return nil
	}
	runPoller(t, poller.Config{Client: client, QueueURL: q.URL, Handler: rec.handle, RetryDelay: retryDelay})

	waitFor(t, 5*time.Second, "a, b and c done", func() bool { return rec.doneCount() >= len(bodies) })
	time.Sleep(3 * retryDelay)
	batches, seen, done := rec.snapshot()
	if len(batches[0]) != len(bodies) {
		t.Fatalf("first batch has %d records, want %d (all were sent before the poller started)", len(batches[0]), len(bodies))
	}
	for _, b := range bodies {
		if seen[b] != 2 {
			t.Errorf("%s delivered %d times, want 2 (failed batch, then redelivered)", b, seen[b])
		}
	}
	slices.Sort(done)
	if !slices.Equal(done, bodies) {
		t.Errorf("done %q, want %q", done, bodies)
	}
	waitQueueEmpty(t, client, q.URL)
}

func TestPoller_BatchesOfAtMostTenInGroupOrder(t *testing.T) {
	q := newQueue(t)
	client := q.client
	// 25 messages over two groups, sent in order.
	const n = 25
	var want []string
	for i := range n {
		body := fmt.Sprintf("g%d-%02d", i%2, i)
		want = append(want, body)
		send(t, client, q.URL, fmt.Sprintf("g%d", i%2), body)
	}
	// g0-02 fails once; the recorder then fails the rest of its batch, as a
	// FIFO consumer must. Nothing later in either group may overtake them.
	rec := newRecorder(func(body string, delivery int) bool { return body == "g0-02" && delivery == 1 })
	runPoller(t, poller.Config{Client: client, QueueURL: q.URL, Handler: rec.handle, RetryDelay: retryDelay})

	waitFor(t, 5*time.Second, "all 25 done", func() bool { return rec.doneCount() >= n })
	time.Sleep(3 * retryDelay)
	batches, _, done := rec.snapshot()
	for i, b := range batches {
		if len(b) > poller.MaxBatchSize {
			t.Errorf("batch %d has %d records, want at most %d", i, len(b), poller.MaxBatchSize)
		}
	}
	if len(batches) < 3 {
		t.Errorf("%d batches for %d messages, want at least 3", len(batches), n)
	}
	for _, g := range []string{"g0", "g1"} {
		gotOrder := filterPrefix(done, g)
		wantOrder := filterPrefix(want, g)
		if !slices.Equal(gotOrder, wantOrder) {
			t.Errorf("group %s done in order %q, want %q", g, gotOrder, wantOrder)
		}
	}
}

func TestPoller_ConfigErrors(t *testing.T) {
	client := sqs.New(sqs.Options{Region: "us-east-1"})
	noop := func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}
	tests := []struct {
		name string
		cfg  poller.Config
	}{
		{"no client", poller.Config{QueueURL: "u", Handler: noop}},
		{"no queue", poller.Config{Client: client, Handler: noop}},
		{"no handler", poller.Config{Client: client, QueueURL: "u"}},
		{"batch too big", poller.Config{Client: client, QueueURL: "u", Handler: noop, BatchSize: 11}},
		{"long wait", poller.Config{Client: client, QueueURL: "u", Handler: noop, WaitTime: 20 * time.Second}},
		{"concurrency", poller.Config{Client: client, QueueURL: "u", Handler: noop, Concurrency: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := poller.New(tc.cfg).Run(context.Background()); err == nil {
				t.Errorf("Run = nil, want a config error")
			}
		})
	}
}

func filterPrefix(bodies []string, prefix string) []string {
	var out []string
	for _, b := range bodies {
		if len(b) >= len(prefix) && b[:len(prefix)] == prefix {
			out = append(out, b)
		}
	}
	return out
}

// queue is this test's orders queue and its DLQ.
type queue struct {
	client           *sqs.Client
	URL, ARN, DLQURL string
}

// newQueue gives the test fresh queues built from schema.OrdersQueue.
func newQueue(tb testing.TB) queue {
	tb.Helper()
	env := testenv.Require(tb)
	url := env.Settings.OrdersQueueURL
	out, err := env.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		tb.Fatalf("get ARN of %s: %v", url, err)
	}
	return queue{client: env.SQS, URL: url, ARN: out.Attributes[string(types.QueueAttributeNameQueueArn)], DLQURL: env.DLQURL}
}

// runPoller runs a poller until the test ends, then checks it stops promptly
// and returns nil.
func runPoller(tb testing.TB, cfg poller.Config) {
	tb.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- poller.New(cfg).Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				tb.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			tb.Errorf("Run did not return within 5s of cancel")
		}
	})
}

// send puts one message in group; its dedup ID is its body. It returns the
// message ID.
func send(tb testing.TB, client *sqs.Client, url, group, body string) string {
	tb.Helper()
	out, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:               aws.String(url),
		MessageBody:            aws.String(body),
		MessageGroupId:         aws.String(group),
		MessageDeduplicationId: aws.String(body),
	})
	if err != nil {
		tb.Fatalf("send %s: %v", body, err)
	}
	return aws.ToString(out.MessageId)
}

func receiveBody(tb testing.TB, client *sqs.Client, url string) string {
	tb.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil {
		tb.Fatalf("receive from %s: %v", url, err)
	}
	if len(out.Messages) != 1 {
		tb.Fatalf("received %d messages from %s, want 1", len(out.Messages), url)
	}
	return aws.ToString(out.Messages[0].Body)
}

// waitQueueEmpty waits until url holds no messages, visible or in flight.
func waitQueueEmpty(tb testing.TB, client *sqs.Client, url string) {
	tb.Helper()
	q := sqsqueue.New(client, url, 1)
	waitFor(tb, 2*time.Second, "queue empty", func() bool {
		visible, inFlight, err := q.Depth(context.Background())
		if err != nil {
			tb.Fatalf("Depth: %v", err)
		}
		return visible == 0 && inFlight == 0
	})
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Compile-time check that the recorder is a poller.Handler.
var _ poller.Handler = newRecorder(nil).handle
