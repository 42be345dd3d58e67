package awsclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/testenv"
)

// TestWithAllAttributes receives from the local SQS with WithAllAttributes and
// checks that the system attributes the poller and the redrive tool read come
// back. It fails if the deprecated AttributeNames is dropped in favour of
// MessageSystemAttributeNames alone, which local-aws-sqs ignores.
func TestWithAllAttributes(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	url := env.Settings.OrdersQueueURL
	if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String("{}"),
		MessageGroupId: aws.String("g-7"), MessageDeduplicationId: aws.String("d-7"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind": {DataType: aws.String("String"), StringValue: aws.String("probe")},
		},
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	var msgs []types.Message
	for len(msgs) == 0 && ctx.Err() == nil {
		out, err := env.SQS.ReceiveMessage(ctx, awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 1,
		}))
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		msgs = out.Messages
	}
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	for name, want := range map[types.MessageSystemAttributeName]string{
		types.MessageSystemAttributeNameMessageGroupId:          "g-7",
		types.MessageSystemAttributeNameMessageDeduplicationId:  "d-7",
		types.MessageSystemAttributeNameApproximateReceiveCount: "1",
	} {
		if got := m.Attributes[string(name)]; got != want {
			t.Errorf("attribute %s = %q, want %q (all attributes: %v)", name, got, want, m.Attributes)
		}
	}
	if got := aws.ToString(m.MessageAttributes["kind"].StringValue); got != "probe" {
		t.Errorf("message attribute kind = %q, want %q", got, "probe")
	}
}
