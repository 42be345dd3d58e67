package awsclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
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

func TestFromEnv_BoundsRetriesAndAttempts(t *testing.T) {
	t.Setenv(awsclient.EnvSalesTable, "sales")
	t.Setenv(awsclient.EnvOrdersTable, "orders")
	s, err := awsclient.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxAttempts != awsclient.DefaultMaxAttempts || s.AttemptTimeout != awsclient.DefaultAttemptTimeout {
		t.Errorf("got %d attempts of %v, want %d of %v", s.MaxAttempts, s.AttemptTimeout,
			awsclient.DefaultMaxAttempts, awsclient.DefaultAttemptTimeout)
	}
	// The reserve function's timeout is 10 s (infra/function.go). A purchase
	// makes at most a handful of calls in a row when the store hangs, each
	// ending after MaxAttempts attempts; keep three of them inside it.
	perCall := time.Duration(s.MaxAttempts)*s.AttemptTimeout + time.Second // + the longest backoff
	if 3*perCall > 10*time.Second {
		t.Errorf("three calls can take %v, more than the reserve function's 10 s", 3*perCall)
	}
}

func TestLoadConfig_AttemptTimeoutSetsTheHTTPClient(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"bounded", 1500 * time.Millisecond},
		{"unset leaves the SDK default", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := awsclient.LoadConfig(context.Background(), awsclient.Settings{
				DynamoDBEndpoint: "http://127.0.0.1:1", MaxAttempts: 2, AttemptTimeout: tc.timeout,
			})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RetryMaxAttempts != 2 {
				t.Errorf("RetryMaxAttempts %d, want 2", cfg.RetryMaxAttempts)
			}
			if tc.timeout == 0 {
				return
			}
			c, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
			if !ok {
				t.Fatalf("HTTP client %T, want the SDK's BuildableClient", cfg.HTTPClient)
			}
			if got := c.GetTimeout(); got != tc.timeout {
				t.Errorf("attempt timeout %v, want %v", got, tc.timeout)
			}
		})
	}
}
