// Package poller is Lambda's SQS event source mapping for the local stack: it
// receives batches from a queue, hands them to the same handler the order
// writer Lambda runs, and deletes what the handler reports as done
// (ReportBatchItemFailures semantics).
//
// It follows Lambda, with these deliberate deviations for a laptop:
//
//   - Retry delay. In AWS a failed message comes back after the queue's
//     visibility timeout (180 s here). Locally that is too slow, so the poller
//     waits Config.RetryDelay and then makes the failed messages visible again
//     with ChangeMessageVisibilityBatch.
//   - Ordering. SQS FIFO never hands out a message group's later messages while
//     an earlier one is in flight, but local-aws-sqs 2.0.2 does not lock
//     groups. So the poller runs one batch at a time and, after a batch with
//     failures, receives nothing until the failed messages are visible again:
//     they are then redelivered before anything later in their group. In AWS
//     only the failed groups wait; here every group waits RetryDelay.
//   - Receive counts. local-aws-sqs 2.0.2 counts a ChangeMessageVisibility as a
//     receive, so a message that always fails reaches the redrive policy's
//     maxReceiveCount after about half as many deliveries as in AWS (3 of 5).
//     The queue, not the poller, moves it to the DLQ, as in AWS.
//   - Polling. local-aws-sqs waits the whole WaitTimeSeconds unless the batch
//     fills, so the poller short-polls and backs off while the queue is empty.
package poller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

// MaxBatchSize is the most messages one ReceiveMessage returns, and so the
// largest batch Lambda gives a FIFO consumer.
const MaxBatchSize = 10

// Handler has the signature of a Lambda function consuming SQS with
// ReportBatchItemFailures: it names failed messages by MessageId in the
// response, or returns an error when the whole batch failed.
type Handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Config configures a Poller. Client, QueueURL and Handler are required.
type Config struct {
	Client   *sqs.Client
	QueueURL string
	// QueueARN goes into each record's EventSourceARN. When empty, Run asks
	// the queue for it.
	QueueARN string
	Handler  Handler
	// BatchSize is the most messages per invocation: 1 to 10, default 10.
	BatchSize int
	// WaitTime is ReceiveMessage's WaitTimeSeconds, in whole seconds: 0
	// (the default) or 1. Longer waits stall local-aws-sqs.
	WaitTime time.Duration
	// IdleBackoff caps the pause between receives while the queue is empty
	// (it doubles from 10 ms); default 200 ms.
	IdleBackoff time.Duration
	// RetryDelay is how long failed messages stay invisible before they are
	// redelivered; default 1 s. See the package doc.
	RetryDelay time.Duration
	// Timeout bounds one handler invocation, like a function timeout;
	// default schema.OrderWriterTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
	// Concurrency is the number of batches in flight. Only 1 (the default)
	// is supported: local-aws-sqs does not lock message groups, so a second
	// worker could process a group's messages out of order.
	Concurrency int
}

// Poller feeds one queue to one handler.
type Poller struct {
	cfg Config
	log *slog.Logger
}

// New returns a Poller for cfg with defaults filled in. Run reports an
// invalid config.
func New(cfg Config) *Poller {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = MaxBatchSize
	}
	if cfg.IdleBackoff == 0 {
		cfg.IdleBackoff = 200 * time.Millisecond
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = schema.OrderWriterTimeout
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Poller{cfg: cfg, log: log.With("queue", cfg.QueueURL)}
}

func (c Config) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("poller: Client is required")
	case c.QueueURL == "":
		return errors.New("poller: QueueURL is required")
	case c.Handler == nil:
		return errors.New("poller: Handler is required")
	case c.BatchSize < 1 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("poller: BatchSize %d, want 1 to %d", c.BatchSize, MaxBatchSize)
	case c.WaitTime < 0 || c.WaitTime > time.Second:
		return fmt.Errorf("poller: WaitTime %v, want 0 or 1s", c.WaitTime)
	case c.Concurrency != 1:
		return fmt.Errorf("poller: Concurrency %d, only 1 keeps FIFO order on the local SQS", c.Concurrency)
	}
	return nil
}

// Run polls until ctx is cancelled, then finishes the batch in hand and
// returns nil. It returns an error only for an invalid Config; receive
// errors are logged and retried with a backoff, as Lambda does.
func (p *Poller) Run(ctx context.Context) error {
	if err := p.cfg.validate(); err != nil {
		return err
	}
	if p.cfg.QueueARN == "" {
		p.cfg.QueueARN = p.queueARN(ctx)
	}
	p.log.Info("poller started", "batchSize", p.cfg.BatchSize, "retryDelay", p.cfg.RetryDelay)
	idle := time.Duration(0)
	for ctx.Err() == nil {
		msgs, err := p.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			idle = backoff(idle, time.Second)
			p.log.Warn("receive failed", "err", err, "retryIn", idle)
			sleep(ctx, idle)
			continue
		}
		if len(msgs) == 0 {
			idle = backoff(idle, p.cfg.IdleBackoff)
			sleep(ctx, idle)
			continue
		}
		idle = 0
		if retry := p.process(ctx, msgs); len(retry) > 0 {
			// Wait before the next receive so nothing later in a failed
			// message's group overtakes it (see the package doc).
			sleep(ctx, p.cfg.RetryDelay)
			p.release(ctx, retry)
		}
	}
	p.log.Info("poller stopped")
	return nil
}

// backoff doubles d from 10 ms up to limit.
func backoff(d, limit time.Duration) time.Duration {
	return min(max(2*d, 10*time.Millisecond), limit)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *Poller) queueARN(ctx context.Context) string {
	out, err := p.cfg.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.cfg.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		p.log.Warn("cannot read queue ARN; records will carry none", "err", err)
		return ""
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)]
}

func (p *Poller) receive(ctx context.Context) ([]types.Message, error) {
	// WithAllAttributes: the batch carries MessageGroupId and
	// ApproximateReceiveCount, which local-aws-sqs returns only when asked in
	// the deprecated way.
	out, err := p.cfg.Client.ReceiveMessage(ctx, awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(p.cfg.QueueURL),
		MaxNumberOfMessages: int32(p.cfg.BatchSize),
		WaitTimeSeconds:     int32(p.cfg.WaitTime / time.Second),
	}))
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", p.cfg.QueueURL, err)
	}
	return out.Messages, nil
}

// process invokes the handler with one batch, deletes the messages it
// finished and returns the ones to redeliver.
func (p *Poller) process(ctx context.Context, msgs []types.Message) (retry []types.Message) {
	// A batch in hand is finished even when Run is being stopped, so its
	// deletes are not lost; the function timeout still bounds it.
	ctx = context.WithoutCancel(ctx)
	event := p.event(msgs)
	requestID := newRequestID()
	log := p.log.With("requestId", requestID, "batch", len(msgs))

	start := time.Now()
	resp, err := p.invoke(ctx, requestID, event)
	elapsed := time.Since(start)
	if err != nil {
		log.Error("handler failed the whole batch; redelivering it", "err", err, "duration", elapsed)
		return msgs
	}

	failed, err := failedIndexes(msgs, resp)
	if err != nil {
		// Lambda treats an unknown or empty itemIdentifier as a failure of
		// the whole batch.
		log.Error("invalid batch item failures; redelivering the batch", "err", err)
		return msgs
	}
	var done []types.Message
	for i, m := range msgs {
		if failed[i] {
			retry = append(retry, m)
			log.Warn("message failed",
				"messageId", aws.ToString(m.MessageId),
				"group", m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
				"receiveCount", m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			continue
		}
		done = append(done, m)
	}
	p.delete(ctx, log, done)
	log.Debug("batch done", "deleted", len(done), "failed", len(retry), "duration", elapsed)
	return retry
}

// invoke calls the handler like the Lambda runtime does: with a request ID in
// the context, a deadline, and a panic turned into an error.
func (p *Poller) invoke(ctx context.Context, requestID string, event events.SQSEvent) (resp events.SQSEventResponse, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID})
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return p.cfg.Handler(ctx, event)
}

// failedIndexes maps the response's item identifiers to batch positions.
func failedIndexes(msgs []types.Message, resp events.SQSEventResponse) (map[int]bool, error) {
	index := make(map[string]int, len(msgs))
	for i, m := range msgs {
		index[aws.ToString(m.MessageId)] = i
	}
	failed := make(map[int]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		i, ok := index[f.ItemIdentifier]
		if !ok {
			return nil, fmt.Errorf("itemIdentifier %q is not a message of this batch", f.ItemIdentifier)
		}
		failed[i] = true
	}
	return failed, nil
}

// event builds the records Lambda would pass for msgs.
func (p *Poller) event(msgs []types.Message) events.SQSEvent {
	records := make([]events.SQSMessage, len(msgs))
	for i, m := range msgs {
		attrs := make(map[string]string, len(m.Attributes))
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		var msgAttrs map[string]events.SQSMessageAttribute
		if len(m.MessageAttributes) > 0 {
			msgAttrs = make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
			for k, v := range m.MessageAttributes {
				msgAttrs[k] = events.SQSMessageAttribute{
					StringValue:      v.StringValue,
					BinaryValue:      v.BinaryValue,
					StringListValues: v.StringListValues,
					BinaryListValues: v.BinaryListValues,
					DataType:         aws.ToString(v.DataType),
				}
			}
		}
		records[i] = events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             attrs,
			MessageAttributes:      msgAttrs,
			EventSourceARN:         p.cfg.QueueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              "us-east-1",
		}
	}
	return events.SQSEvent{Records: records}
}

// delete removes finished messages. A failed delete is logged, not retried:
// the message comes back after the visibility timeout and the handler must be
// idempotent anyway, as it must in AWS.
func (p *Poller) delete(ctx context.Context, log *slog.Logger, msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries := make([]types.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	out, err := p.cfg.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.cfg.QueueURL), Entries: entries})
	if err != nil {
		log.Error("delete batch failed; messages will be redelivered", "err", err, "count", len(msgs))
		return
	}
	for _, f := range out.Failed {
		log.Error("delete failed; message will be redelivered", "entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
	}
}

// release makes msgs visible again now, instead of after the queue's
// visibility timeout.
func (p *Poller) release(ctx context.Context, msgs []types.Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}
	}
	out, err := p.cfg.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(p.cfg.QueueURL), Entries: entries})
	if err != nil {
		p.log.Error("release failed; messages return after the queue's visibility timeout", "err", err, "count", len(msgs))
		return
	}
	for _, f := range out.Failed {
		p.log.Error("release failed; message returns after the queue's visibility timeout", "entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
	}
}

// newRequestID returns a random UUID-shaped ID, like Lambda's request IDs.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
