// Package sqsqueue is the domain's OrderQueue on an SQS FIFO queue.
//
// Each order is one message. Its deduplication ID is the order ID, so a resend
// within SQS's 5-minute dedup window is dropped by the queue, and its message
// group is hash(user) mod G, so one user's orders stay in order while many
// groups let the consumer scale out.
package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"flashsale/shared/flashsale"
)

// Queue sends orders to one SQS FIFO queue. It is safe for concurrent use.
type Queue struct {
	client *sqs.Client
	url    string
	groups int
}

var _ flashsale.OrderQueue = (*Queue)(nil)

// New returns a Queue that sends to queueURL, spreading users over groups
// message groups (at least 1).
func New(client *sqs.Client, queueURL string, groups int) *Queue {
	if groups < 1 {
		groups = 1
	}
	return &Queue{client: client, url: queueURL, groups: groups}
}

// Enqueue sends one order message with MessageDeduplicationId = orderID and
// MessageGroupId = flashsale.FIFOGroup(userID, groups). An error means the
// message may or may not have been sent; sending it again with the same order
// ID is always safe within the dedup window.
func (q *Queue) Enqueue(ctx context.Context, orderID, userID string, body []byte) error {
	in := &sqs.SendMessageInput{
		QueueUrl:               aws.String(q.url),
		MessageBody:            aws.String(string(body)),
		MessageDeduplicationId: aws.String(orderID),
		MessageGroupId:         aws.String(flashsale.FIFOGroup(userID, q.groups)),
	}
	_, err := q.client.SendMessage(ctx, in)
	if err != nil && isTransport(ctx, err) {
		// One immediate resend: the dedup ID is the order ID, so if the first
		// send did reach the queue, FIFO dedup drops this one. Only transport
		// failures are resent; an API error (bad request, throttling) would
		// fail the same way again and a burst must not amplify load.
		_, err = q.client.SendMessage(ctx, in)
	}
	if err != nil {
		return fmt.Errorf("enqueue order %s: %w", orderID, err)
	}
	return nil
}

// isTransport reports whether err is a failure to talk to SQS at all, as
// opposed to an answer from SQS or the caller giving up.
func isTransport(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr smithy.APIError
	return !errors.As(err, &apiErr)
}

// Depth returns the approximate number of messages waiting (visible) and
// being processed (in flight) in the queue. The local SQS counts in-flight
// messages as visible too, and just-sent ones for a moment as neither.
func (q *Queue) Depth(ctx context.Context) (visible, inFlight int, err error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("queue depth of %s: %w", q.url, err)
	}
	if visible, err = intAttr(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessages); err != nil {
		return 0, 0, err
	}
	if inFlight, err = intAttr(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible); err != nil {
		return 0, 0, err
	}
	return visible, inFlight, nil
}

func intAttr(attrs map[string]string, name types.QueueAttributeName) (int, error) {
	n, err := strconv.Atoi(attrs[string(name)])
	if err != nil {
		return 0, fmt.Errorf("queue attribute %s=%q: %w", name, attrs[string(name)], err)
	}
	return n, nil
}
