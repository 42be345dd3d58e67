package templatetests

import (
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
)

// ordersDLQID is the logical ID of the orders queue's dead-letter queue.
func ordersDLQID(tb testing.TB, b *built) string {
	tb.Helper()
	rp, _ := props(b.res[ordersQueueID(tb, b)].(map[string]any))["RedrivePolicy"].(map[string]any)
	id := ref(rp["deadLetterTargetArn"])
	if id == "" {
		tb.Fatal("the orders queue has no dead-letter queue")
	}
	return id
}

// TestPoison_WriterSendsToTheDLQOnly: the order writer sets poison
// messages aside itself, so it knows the DLQ's URL and may SendMessage to
// it, and to no other queue; no other function may send to the DLQ.
func TestPoison_WriterSendsToTheDLQOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		dlq := ordersDLQID(t, b)
		for _, name := range apispec.FunctionNames() {
			v, has := envOf(t, b, name)[awsclient.EnvOrdersDLQURL]
			if name != apispec.FunctionOrderWriter {
				if has {
					t.Errorf("%s has %s; only the order writer sets messages aside", name, awsclient.EnvOrdersDLQURL)
				}
				if got := allowed(t, b, name, dlq); slices.Contains(got, "sqs:SendMessage") {
					t.Errorf("%s may send to the DLQ (%v); only the order writer may", name, got)
				}
				continue
			}
			if ref(v) != dlq {
				t.Errorf("order writer: %s = %v, want the orders DLQ's URL (Ref %s)", awsclient.EnvOrdersDLQURL, v, dlq)
			}
			if got := allowed(t, b, name, dlq); !slices.Contains(got, "sqs:SendMessage") {
				t.Errorf("order writer on the DLQ: got %v, want sqs:SendMessage", got)
			}
		}
		role := ref(function(t, b, apispec.FunctionOrderWriter)["Role"])
		for _, s := range statements(b) {
			if s.role != role || s.effect != "Allow" || !slices.Contains(s.actions, "sqs:SendMessage") {
				continue
			}
			if len(s.resourceIDs) != len(s.resources) || slices.ContainsFunc(s.resourceIDs, func(id string) bool { return id != dlq }) {
				t.Errorf("order writer may SendMessage to %v; want the orders DLQ (%s) alone", s.resources, dlq)
			}
		}
	})
}

// TestPoison_DLQAlarmCoversPoisonMessages: a poison message set aside lands
// in the orders DLQ, whose depth alarm fires on the first message there.
func TestPoison_DLQAlarmCoversPoisonMessages(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		topic, _ := topicIDs(t, b)
		mustFind(t, b, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
			"ComparisonOperator": "GreaterThanThreshold", "Threshold": 0, "EvaluationPeriods": 1,
			"Dimensions":   []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{ordersDLQID(t, b), "QueueName"}}}},
			"AlarmActions": assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})}),
		})
	})
}
