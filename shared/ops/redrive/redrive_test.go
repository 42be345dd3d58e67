package redrive_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/testenv"
	"flashsale/shared/ops/redrive"
	"flashsale/shared/schema"
)

// TestListThenRedrive puts orders on the DLQ, lists them (twice: listing
// must not hide them), redrives them, and checks they are on the orders
// queue with their groups and bodies and that the DLQ is empty.
func TestListThenRedrive(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	ctx := t.Context()
	sent := []flashsale.OrderMessage{
		{OrderID: "demo.A1", SaleID: "demo", UserID: "alice", Quantity: 1, AmountCents: 1999, Currency: "USD"},
		{OrderID: "demo.A2", SaleID: "demo", UserID: "alice", Quantity: 1, AmountCents: 1999, Currency: "USD"},
		{OrderID: "demo.B1", SaleID: "demo", UserID: "bob", Quantity: 2, AmountCents: 3998, Currency: "USD"},
	}
	before := time.Now().Add(-time.Second)
	for _, m := range sent {
		// The orders queue still holds each order under its order ID, as
		// the reserve path sent it: the redrive must not be dropped as a
		// duplicate of it (SQS dedups for 5 minutes; local-aws-sqs only while
		// the first copy is still queued, hence it stays there).
		sendOrder(t, env.SQS, env.DLQURL, m, m.OrderID)
		sendOrder(t, env.SQS, env.Settings.OrdersQueueURL, m, m.OrderID)
	}

	counts := map[string]int{}
	for round := 1; round <= 2; round++ {
		got, err := redrive.List(ctx, env.SQS, env.DLQURL, 10)
		if err != nil {
			t.Fatalf("List (round %d): %v", round, err)
		}
		if len(got) != len(sent) {
			t.Fatalf("List (round %d) returned %d messages, want %d", round, len(got), len(sent))
		}
		byOrder := map[string]redrive.Message{}
		for _, m := range got {
			byOrder[m.Order.OrderID] = m
		}
		for _, want := range sent {
			m, ok := byOrder[want.OrderID]
			if !ok {
				t.Fatalf("List (round %d) lacks order %s; got %+v", round, want.OrderID, got)
			}
			if m.GroupID != group(want.UserID) {
				t.Errorf("order %s group = %q, want %q", want.OrderID, m.GroupID, group(want.UserID))
			}
			if m.Order.SaleID != want.SaleID || m.Order.UserID != want.UserID {
				t.Errorf("order %s sale/user = %s/%s, want %s/%s", want.OrderID, m.Order.SaleID, m.Order.UserID, want.SaleID, want.UserID)
			}
			// Each listing is a receive; local-aws-sqs also counts the
			// visibility reset, so only growth is checked.
			if m.ReceiveCount <= counts[want.OrderID] {
				t.Errorf("order %s receive count = %d in round %d, want more than %d", want.OrderID, m.ReceiveCount, round, counts[want.OrderID])
			}
			counts[want.OrderID] = m.ReceiveCount
			if m.SentAt.Before(before) || m.SentAt.After(time.Now()) {
				t.Errorf("order %s sent at %v, want between %v and now", want.OrderID, m.SentAt, before)
			}
			if m.MessageID == "" {
				t.Errorf("order %s has no message ID", want.OrderID)
			}
		}
	}

	if got, err := redrive.List(ctx, env.SQS, env.DLQURL, 2); err != nil || len(got) != 2 {
		t.Fatalf("List(max 2) = %d messages, %v; want 2, nil", len(got), err)
	}

	moved, err := redrive.Redrive(ctx, env.SQS, env.DLQURL, env.Settings.OrdersQueueURL, 10)
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if len(moved) != len(sent) {
		t.Fatalf("Redrive moved %d, want %d", len(moved), len(sent))
	}
	// Each order is now on the orders queue twice: the original and the
	// redriven copy, with the same group and body.
	onQueue := drain(t, env.SQS, env.Settings.OrdersQueueURL, 2*len(sent))
	for _, want := range sent {
		n := 0
		for _, m := range onQueue {
			var body flashsale.OrderMessage
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil || body.OrderID != want.OrderID {
				continue
			}
			n++
			if body != want {
				t.Errorf("redriven order %s body = %+v, want %+v", want.OrderID, body, want)
			}
			if g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; g != group(want.UserID) {
				t.Errorf("order %s group on the orders queue = %q, want %q", want.OrderID, g, group(want.UserID))
			}
		}
		if n != 2 {
			t.Errorf("order %s is on the orders queue %d times after redrive, want 2 (original + redriven)", want.OrderID, n)
		}
	}
	if left, err := redrive.List(ctx, env.SQS, env.DLQURL, 10); err != nil || len(left) != 0 {
		t.Errorf("DLQ after redrive holds %d messages (%v), want 0", len(left), err)
	}
}

// TestRedrive_QueueDeadLetteredMessage checks the emulator's redrive policy
// keeps the message group, which Redrive needs: a message received
// maxReceiveCount times lands on the DLQ and goes back.
func TestRedrive_QueueDeadLetteredMessage(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	ctx := t.Context()
	order := flashsale.OrderMessage{OrderID: "demo.P1", SaleID: "demo", UserID: "carol", Quantity: 1}
	sendOrder(t, env.SQS, env.Settings.OrdersQueueURL, order, order.OrderID)

	// Fail it: receive it and make it visible again at once, as the local
	// poller does, until the queue moves it to the DLQ.
	for range 2 * schema.OrdersQueue.MaxReceiveCount {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(env.Settings.OrdersQueueURL), MaxNumberOfMessages: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		if _, err := env.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(env.Settings.OrdersQueueURL), ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := redrive.List(ctx, env.SQS, env.DLQURL, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Order.OrderID != order.OrderID || listed[0].GroupID != group(order.UserID) {
		t.Fatalf("DLQ after %d failed receives = %+v, want order %s in group %s", schema.OrdersQueue.MaxReceiveCount, listed, order.OrderID, group(order.UserID))
	}
	moved, err := redrive.Redrive(ctx, env.SQS, env.DLQURL, env.Settings.OrdersQueueURL, 10)
	if err != nil || len(moved) != 1 {
		t.Fatalf("Redrive = %d moved, %v; want 1, nil", len(moved), err)
	}
	if got := drain(t, env.SQS, env.Settings.OrdersQueueURL, 1); !strings.Contains(aws.ToString(got[0].Body), order.OrderID) {
		t.Errorf("orders queue after redrive holds %q, want order %s", aws.ToString(got[0].Body), order.OrderID)
	}
}

func TestRedrive_SendFailureKeepsMessageOnDLQ(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	ctx := t.Context()
	order := flashsale.OrderMessage{OrderID: "demo.F1", SaleID: "demo", UserID: "dave", Quantity: 1}
	sendOrder(t, env.SQS, env.DLQURL, order, order.OrderID)

	missing := env.Settings.OrdersQueueURL + "-missing.fifo"
	moved, err := redrive.Redrive(ctx, env.SQS, env.DLQURL, missing, 10)
	if err == nil || len(moved) != 0 {
		t.Fatalf("Redrive to a missing queue = %d moved, %v; want 0 and an error", len(moved), err)
	}
	// The failed message was made visible again, so it lists at once.
	left, err := redrive.List(ctx, env.SQS, env.DLQURL, 10)
	if err != nil || len(left) != 1 || left[0].Order.OrderID != order.OrderID {
		t.Errorf("DLQ after failed redrive = %+v, %v; want order %s still there", left, err, order.OrderID)
	}
}

func TestRedriveDedupID(t *testing.T) {
	long := strings.Repeat("x", 64) + "." + strings.Repeat("y", 64)
	tests := []struct {
		name string
		msg  redrive.Message
		want string
	}{
		{"order ID", redrive.Message{MessageID: "m1", DedupID: "d1", Order: flashsale.OrderMessage{OrderID: "demo.A1"}}, "demo.A1-redrive-m1"},
		{"no order: original dedup ID", redrive.Message{MessageID: "m1", DedupID: "d1"}, "d1-redrive-m1"},
		{"nothing: message ID", redrive.Message{MessageID: "m1"}, "m1-redrive-m1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redrive.RedriveDedupID(tc.msg); got != tc.want {
				t.Errorf("RedriveDedupID = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("too long is hashed", func(t *testing.T) {
		m := redrive.Message{MessageID: "0f8fad5b-d9cb-469f-a165-70867728950e", Order: flashsale.OrderMessage{OrderID: long}}
		got := redrive.RedriveDedupID(m)
		if len(got) > 128 || !strings.HasPrefix(got, "redrive-") {
			t.Errorf("RedriveDedupID = %q (%d chars), want a redrive- hash of at most 128", got, len(got))
		}
		m.MessageID = "another"
		if other := redrive.RedriveDedupID(m); other == got {
			t.Errorf("two DLQ messages got the same dedup ID %q, want different", got)
		}
	})
}

// group is the message group the reserve path uses for a user.
func group(userID string) string { return flashsale.FIFOGroup(userID, schema.DefaultFIFOGroups) }

func sendOrder(tb testing.TB, client *sqs.Client, url string, m flashsale.OrderMessage, dedupID string) {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := client.SendMessage(tb.Context(), &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(string(b)),
		MessageGroupId: aws.String(group(m.UserID)), MessageDeduplicationId: aws.String(dedupID),
	}); err != nil {
		tb.Fatalf("send %s to %s: %v", m.OrderID, url, err)
	}
}

// drain receives and deletes exactly n messages from url within 10 s.
func drain(tb testing.TB, client *sqs.Client, url string, n int) []types.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	var got []types.Message
	for len(got) < n && ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		}))
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			tb.Fatalf("receive from %s: %v", url, err)
		}
		for _, m := range out.Messages {
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				tb.Fatalf("delete from %s: %v", url, err)
			}
		}
		got = append(got, out.Messages...)
	}
	if len(got) != n {
		tb.Fatalf("received %d messages from %s, want %d", len(got), url, n)
	}
	return got
}
