package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/poller"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/metric"
	"flashsale/shared/sqsqueue"
)

// TestOrderWriter_PoisonGoesToTheDLQAtOnce, on DynamoDB Local and the local
// SQS: a poison message ahead of a good order in the same message group
// reaches the dead-letter queue at once, and the good order behind it is
// written without anyone waiting out a visibility timeout. The poller's
// retry delay stands in for the visibility timeout and is set far longer
// than the test may take, so a reported failure would show.
func TestOrderWriter_PoisonGoesToTheDLQAtOnce(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	s := env.Settings
	store := dynamostore.New(awsclient.DynamoDB(env.Config, s), s.SalesTable, s.OrdersTable)
	queue := sqsqueue.New(env.SQS, s.OrdersQueueURL, s.FIFOGroups)
	clock := testclock.New(time.Now().UTC())
	var metrics bytes.Buffer
	a := app.Build(store, queue, app.Options{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:       &metrics,
		DeadLetters:   sqsqueue.NewDeadLetter(env.SQS, env.DLQURL),
		ReportArchive: env.Archive,
		Service:       []flashsale.Option{flashsale.WithClock(clock.Now)},
	})
	now := clock.Now()
	if _, err := a.Service.CreateSale(ctx, flashsale.NewSale{
		ID: "poison-1", Name: "Poison", PriceCents: 1999, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 1,
	}); err != nil {
		t.Fatal(err)
	}

	// The poison message first, in the buyer's group, then the buyer's order.
	const user = "buyer-1"
	group := flashsale.FIFOGroup(user, s.FIFOGroups)
	const poisonBody = `{"orderId": 42}`
	if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(s.OrdersQueueURL), MessageBody: aws.String(poisonBody),
		MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String("poison-1"),
	}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Service.Reserve(ctx, flashsale.ReserveRequest{SaleID: "poison-1", UserID: user, Key: "k1", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	var receipt flashsale.Receipt
	if err := json.Unmarshal(res.Receipt, &receipt); err != nil {
		t.Fatal(err)
	}

	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p := poller.New(poller.Config{
		Client: env.SQS, QueueURL: s.OrdersQueueURL, Handler: a.OrderWriter,
		RetryDelay: 5 * time.Minute, // a reported failure would stall the group this long
	})
	go func() { defer close(done); _ = p.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })

	st, err := store.Sale(ctx, "poison-1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		o, err := store.Order(ctx, flashsale.RefOf(st.Sale, receipt.OrderID))
		if err != nil {
			t.Fatal(err)
		}
		if o.Persisted {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the order behind the poison message is not written after %v; its group is stuck", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, err := env.SQS.ReceiveMessage(ctx, awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
		QueueUrl: aws.String(env.DLQURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("DLQ holds %d messages, want the poison one", len(out.Messages))
	}
	m := out.Messages[0]
	if got := aws.ToString(m.Body); got != poisonBody {
		t.Errorf("DLQ message body = %q, want %q", got, poisonBody)
	}
	if got := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; got != group {
		t.Errorf("DLQ message group = %q, want its own group %q", got, group)
	}
	if reason := aws.ToString(m.MessageAttributes[sqsqueue.ReasonAttribute].StringValue); !strings.Contains(reason, flashsale.ErrPoison.Error()) {
		t.Errorf("DLQ message reason = %q, want it to name %q", reason, flashsale.ErrPoison)
	}
	if !strings.Contains(metrics.String(), `"`+metric.PoisonMessages+`":1`) {
		t.Errorf("metrics = %s, want a %s EMF line", metrics.String(), metric.PoisonMessages)
	}
	// Acknowledged: nothing is left on the orders queue (visible or not).
	q := sqsqueue.New(env.SQS, s.OrdersQueueURL, 1)
	for {
		visible, inFlight, err := q.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if visible+inFlight == 0 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("orders queue still holds %d visible, %d in flight; want both messages deleted", visible, inFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
