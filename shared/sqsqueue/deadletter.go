package sqsqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ReasonAttribute is the message attribute that says why a message was set
// aside in the dead-letter queue.
const ReasonAttribute = "poisonReason"

// maxReason bounds the reason attached to a message set aside.
const maxReason = 256

// DeadLetter sets messages aside in one SQS FIFO dead-letter queue (the
// order writer's poison messages). It is safe for concurrent use.
type DeadLetter struct {
	client *sqs.Client
	url    string
}

// NewDeadLetter returns a DeadLetter that sends to dlqURL.
func NewDeadLetter(client *sqs.Client, dlqURL string) *DeadLetter {
	return &DeadLetter{client: client, url: dlqURL}
}

// SetAside sends body to the dead-letter queue with MessageGroupId group
// and MessageDeduplicationId id, and reason as the ReasonAttribute message
// attribute. An error means it may or may not have been sent; sending it
// again with the same id within the dedup window stores it once.
func (d *DeadLetter) SetAside(ctx context.Context, group, id, body, reason string) error {
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") // not a rune cut in two
	}
	_, err := d.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(d.url),
		MessageBody:            aws.String(body),
		MessageGroupId:         aws.String(group),
		MessageDeduplicationId: aws.String(id),
		MessageAttributes: map[string]types.MessageAttributeValue{
			ReasonAttribute: {DataType: aws.String("String"), StringValue: aws.String(reason)},
		},
	})
	if err != nil {
		return fmt.Errorf("set aside message %s: %w", id, err)
	}
	return nil
}
