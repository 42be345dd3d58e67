package sqsqueue_test

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/testenv"
	"flashsale/shared/sqsqueue"
)

const groups = 64

func TestEnqueue_DedupByOrderID(t *testing.T) {
	env := testenv.Require(t)
	client, url := env.SQS, env.Settings.OrdersQueueURL
	q := sqsqueue.New(client, url, groups)
	ctx := context.Background()

	for range 2 {
		if err := q.Enqueue(ctx, "sale-1.o1", "alice", []byte(`{"orderId":"sale-1.o1"}`)); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	if err := q.Enqueue(ctx, "sale-1.o2", "alice", []byte(`{"orderId":"sale-1.o2"}`)); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}

	if visible, inFlight := waitDepth(t, q, 2, 0); visible != 2 || inFlight != 0 {
		t.Errorf("Depth = (%d visible, %d in flight), want (2, 0): a resend of one order ID must be dropped", visible, inFlight)
	}

	msgs := receiveAll(t, client, url)
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	want := []string{`{"orderId":"sale-1.o1"}`, `{"orderId":"sale-1.o2"}`}
	if len(bodies) != len(want) || bodies[0] != want[0] || bodies[1] != want[1] {
		t.Errorf("received bodies %q, want %q", bodies, want)
	}
	// The local SQS also counts in-flight messages as visible, so only the
	// in-flight count is checked here.
	if _, inFlight := waitDepth(t, q, -1, 2); inFlight != 2 {
		t.Errorf("Depth after receiving: %d in flight, want 2", inFlight)
	}
	if got := msgs[0].Attributes[string(types.MessageSystemAttributeNameMessageDeduplicationId)]; got != "sale-1.o1" {
		t.Errorf("MessageDeduplicationId = %q, want %q", got, "sale-1.o1")
	}
}

func TestEnqueue_GroupPerUser(t *testing.T) {
	env := testenv.Require(t)
	client, url := env.SQS, env.Settings.OrdersQueueURL
	q := sqsqueue.New(client, url, groups)
	ctx := context.Background()

	sends := []struct{ orderID, userID string }{
		{"s.1", "alice"}, {"s.2", "bob"}, {"s.3", "alice"}, {"s.4", "carol"}, {"s.5", "bob"},
	}
	for _, s := range sends {
		if err := q.Enqueue(ctx, s.orderID, s.userID, []byte(s.orderID)); err != nil {
			t.Fatalf("Enqueue(%s): %v", s.orderID, err)
		}
	}

	userOf := map[string]string{}
	for _, s := range sends {
		userOf[s.orderID] = s.userID
	}
	groupOf := map[string]string{} // user -> group seen on the wire
	for _, m := range receiveAll(t, client, url) {
		user := userOf[aws.ToString(m.Body)]
		got := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		if want := flashsale.FIFOGroup(user, groups); got != want {
			t.Errorf("order %s of %s: MessageGroupId = %q, want %q", aws.ToString(m.Body), user, got, want)
		}
		if prev, ok := groupOf[user]; ok && prev != got {
			t.Errorf("user %s landed in groups %q and %q, want one group", user, prev, got)
		}
		groupOf[user] = got
	}
	if len(groupOf) != 3 {
		t.Fatalf("saw users %v, want alice, bob and carol", groupOf)
	}
	// Distinct users land in distinct groups here (checked against the hash,
	// so this only fails if FIFOGroup stops spreading users).
	if groupOf["alice"] == groupOf["bob"] || groupOf["bob"] == groupOf["carol"] || groupOf["alice"] == groupOf["carol"] {
		t.Errorf("groups %v: want different groups for alice, bob and carol", groupOf)
	}
}

// waitDepth polls Depth for up to 2 s until it reports the wanted counts
// (-1 matches any), and returns the last counts. Just-sent messages count as
// "delayed" in the local SQS for a moment.
func waitDepth(tb testing.TB, q *sqsqueue.Queue, wantVisible, wantInFlight int) (visible, inFlight int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, f, err := q.Depth(context.Background())
		if err != nil {
			tb.Fatalf("Depth: %v", err)
		}
		if (wantVisible < 0 || v == wantVisible) && (wantInFlight < 0 || f == wantInFlight) || time.Now().After(deadline) {
			return v, f
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiveAll drains url with short receives until one comes back empty.
func receiveAll(tb testing.TB, client *sqs.Client, url string) []types.Message {
	tb.Helper()
	var all []types.Message
	for {
		out, err := client.ReceiveMessage(context.Background(), awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: 10,
		}))
		if err != nil {
			tb.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
	}
}

func TestEnqueue_ResendsOnceOnTransportError(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(w http.ResponseWriter) // how the first request fails
		wantCalls int
		wantErr   bool
	}{
		{
			name:      "dropped connection is resent",
			fail:      dropConnection,
			wantCalls: 2,
		},
		{
			name: "API error is not resent",
			fail: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"nope"}`)
			},
			wantCalls: 1,
			wantErr:   true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					tc.fail(w)
					return
				}
				var in struct{ MessageBody string }
				if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
					t.Errorf("decode SendMessage request: %v", err)
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				fmt.Fprintf(w, `{"MessageId":"m1","MD5OfMessageBody":"%x"}`, md5.Sum([]byte(in.MessageBody)))
			}))
			defer srv.Close()

			q := sqsqueue.New(noRetryClient(t, srv.URL), srv.URL+"/000000000000/orders.fifo", groups)
			err := q.Enqueue(context.Background(), "s.1", "alice", []byte("body"))
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Errorf("Enqueue error = %v, want error: %v", err, tc.wantErr)
			}
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Errorf("SendMessage calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

// dropConnection closes the connection without an answer: a transport error.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// noRetryClient is an SQS client for endpoint with the SDK's own retries off,
// so only Enqueue's resend shows.
func noRetryClient(tb testing.TB, endpoint string) *sqs.Client {
	tb.Helper()
	s := awsclient.Settings{SQSEndpoint: endpoint, MaxAttempts: 1}
	cfg, err := awsclient.LoadConfig(context.Background(), s)
	if err != nil {
		tb.Fatalf("load aws config: %v", err)
	}
	return awsclient.SQS(cfg, s)
}
