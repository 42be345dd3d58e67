package testenv

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestRequire_FreshResourcesDeletedAfter(t *testing.T) {
	var a, b Env
	t.Run("first", func(t *testing.T) { a = Require(t) })
	t.Run("second", func(t *testing.T) { b = Require(t) })
	if t.Skipped() || a.DynamoDB == nil || b.DynamoDB == nil {
		t.Skip("emulators not reachable")
	}
	if a.Settings.SalesTable == b.Settings.SalesTable || a.Settings.OrdersQueueURL == b.Settings.OrdersQueueURL {
		t.Errorf("two Require calls share resources: %q and %q", a.Settings.SalesTable, b.Settings.SalesTable)
	}
	for _, env := range []Env{a, b} {
		if !strings.HasSuffix(env.Settings.SalesTable, "-Sales") || env.Settings.OrdersQueueURL == "" || env.DLQURL == "" {
			t.Errorf("settings = %+v, DLQ %q; want prefixed tables and both queue URLs", env.Settings, env.DLQURL)
		}
		// The subtests ended, so their cleanups must have deleted everything.
		ctx := context.Background()
		if _, err := env.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.Settings.SalesTable)}); err == nil {
			t.Errorf("table %s still exists after its test ended", env.Settings.SalesTable)
		}
		if _, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(env.Settings.OrdersQueueURL)}); err == nil {
			t.Errorf("queue %s still exists after its test ended", env.Settings.OrdersQueueURL)
		}
	}
}

func TestPrefix_Unique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := Prefix()
		if seen[p] {
			t.Fatalf("Prefix repeated %q within 1000 calls", p)
		}
		seen[p] = true
		if len(p) != 10 || !strings.HasPrefix(p, "t") || !strings.HasSuffix(p, "-") {
			t.Fatalf("Prefix() = %q, want t + 8 hex + -", p)
		}
	}
}
