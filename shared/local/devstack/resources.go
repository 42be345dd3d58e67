package devstack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	qtypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

// DevPrefix names the local stack's tables and queues.
const DevPrefix = "dev-"

// Resources are the tables and queues CreateResources made.
type Resources struct {
	// Settings point the app at them, with the clients' endpoints.
	Settings awsclient.Settings
	// DLQURL is the orders dead-letter queue.
	DLQURL string
	// Tables and QueueURLs list everything, for DeleteResources.
	Tables    []string
	QueueURLs []string
}

// LocalAttemptTimeout bounds one SDK attempt on the local stack. It is
// longer than awsclient.DefaultAttemptTimeout because the emulators queue:
// during a cold burst of 128 purchases in flight on a 2-core machine,
// DynamoDB Local answered calls at p50 0.5 s, p99 2.3 s, max 2.8 s (warm:
// p99 0.9 s). 5 s keeps such a burst free of timeouts while a hung
// emulator still ends each attempt.
const LocalAttemptTimeout = 5 * time.Second

// CreateResources creates every schema.Tables and schema.Queues entry, with
// names prefixed by prefix, and returns settings that name them. Endpoints
// are taken from the clients. Resources that already exist (a persisted
// DynamoDB Local, a second run) are reused, so it is idempotent.
func CreateResources(ctx context.Context, dyn *dynamodb.Client, sq *sqs.Client, prefix string) (Resources, error) {
	r := Resources{Settings: awsclient.Settings{
		DynamoDBEndpoint: aws.ToString(dyn.Options().BaseEndpoint),
		SQSEndpoint:      aws.ToString(sq.Options().BaseEndpoint),
		SalesTable:       prefix + schema.Sales.Name,
		OrdersTable:      prefix + schema.Orders.Name,
		FIFOGroups:       schema.DefaultFIFOGroups,
		MaxAttempts:      awsclient.DefaultMaxAttempts, // as in AWS: retries amplify a burst
		AttemptTimeout:   LocalAttemptTimeout,
	}}
	for _, t := range schema.Tables {
		name := prefix + t.Name
		if err := createTable(ctx, dyn, name, t); err != nil {
			return r, err
		}
		r.Tables = append(r.Tables, name)
	}
	// schema.Queues lists dead-letter queues first, so their ARNs are known
	// before the queues that redrive to them.
	arns := map[string]string{}
	for _, q := range schema.Queues {
		url, arn, err := createQueue(ctx, sq, prefix, q, arns)
		if err != nil {
			return r, err
		}
		arns[q.Name] = arn
		r.QueueURLs = append(r.QueueURLs, url)
		switch q.Name {
		case schema.OrdersQueue.Name:
			r.Settings.OrdersQueueURL = url
		case schema.OrdersDLQ.Name:
			r.DLQURL = url
		}
	}
	return r, nil
}

func createTable(ctx context.Context, dyn *dynamodb.Client, name string, t schema.Table) error {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: dtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dtypes.AttributeDefinition{
			{AttributeName: aws.String(t.PartitionKey.Name), AttributeType: dtypes.ScalarAttributeType(t.PartitionKey.Type)},
		},
		KeySchema: []dtypes.KeySchemaElement{
			{AttributeName: aws.String(t.PartitionKey.Name), KeyType: dtypes.KeyTypeHash},
		},
	}
	if t.SortKey != nil {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			dtypes.AttributeDefinition{AttributeName: aws.String(t.SortKey.Name), AttributeType: dtypes.ScalarAttributeType(t.SortKey.Type)})
		in.KeySchema = append(in.KeySchema,
			dtypes.KeySchemaElement{AttributeName: aws.String(t.SortKey.Name), KeyType: dtypes.KeyTypeRange})
	}
	_, err := dyn.CreateTable(ctx, in)
	var inUse *dtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	// DynamoDB Local makes tables ACTIVE at once; the waiter costs one call.
	if err := dynamodb.NewTableExistsWaiter(dyn).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute,
		func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 100 * time.Millisecond
			o.MaxDelay = time.Second
		}); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if t.TTLAttribute == "" {
		return nil
	}
	ttl, err := dyn.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe TTL of %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && d.TimeToLiveStatus == dtypes.TimeToLiveStatusEnabled {
		return nil // enabling twice is a ValidationException
	}
	if _, err := dyn.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &dtypes.TimeToLiveSpecification{
			AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("enable TTL on %s: %w", name, err)
	}
	return nil
}

// QueueAttributes turns a schema queue into CreateQueue attributes. dlqARN is
// the dead-letter queue's ARN when q has one.
func QueueAttributes(q schema.Queue, dlqARN string) map[string]string {
	a := map[string]string{
		string(qtypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(int(q.VisibilityTimeout / time.Second)),
		string(qtypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(q.RetentionPeriod / time.Second)),
	}
	if q.FIFO {
		a[string(qtypes.QueueAttributeNameFifoQueue)] = "true"
		// Dedup IDs are explicit (the order ID), never a body hash.
		a[string(qtypes.QueueAttributeNameContentBasedDeduplication)] = "false"
	}
	if q.HighThroughput {
		a[string(qtypes.QueueAttributeNameDeduplicationScope)] = "messageGroup"
		a[string(qtypes.QueueAttributeNameFifoThroughputLimit)] = "perMessageGroupId"
	}
	if q.DeadLetter != nil {
		a[string(qtypes.QueueAttributeNameRedrivePolicy)] = marshalJSON(map[string]any{
			"deadLetterTargetArn": dlqARN,
			"maxReceiveCount":     q.MaxReceiveCount,
		})
	}
	return a
}

func createQueue(ctx context.Context, sq *sqs.Client, prefix string, q schema.Queue, arns map[string]string) (url, arn string, err error) {
	name := prefix + q.Name
	var dlqARN string
	if q.DeadLetter != nil {
		dlqARN = arns[q.DeadLetter.Name]
		if dlqARN == "" {
			return "", "", fmt.Errorf("queue %s: dead-letter queue %s must come first in schema.Queues", q.Name, q.DeadLetter.Name)
		}
	}
	// CreateQueue returns the existing queue when its attributes match.
	out, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: QueueAttributes(q, dlqARN)})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []qtypes.QueueAttributeName{qtypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("get ARN of queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), attrs.Attributes[string(qtypes.QueueAttributeNameQueueArn)], nil
}

// DeleteResources deletes what CreateResources made, trying everything and
// reporting every failure.
func DeleteResources(ctx context.Context, dyn *dynamodb.Client, sq *sqs.Client, r Resources) error {
	var errs []error
	for _, t := range r.Tables {
		if _, err := dyn.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)}); err != nil {
			errs = append(errs, fmt.Errorf("delete table %s: %w", t, err))
		}
	}
	for _, u := range r.QueueURLs {
		if _, err := sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", u, err))
		}
	}
	return errors.Join(errs...)
}
