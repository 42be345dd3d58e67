package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/schema"
)

// data is the stateful part of the stack.
type data struct {
	sales, orders awsdynamodb.Table
	queue, dlq    awssqs.Queue
	// webhookSecret holds the payment provider's signing secret.
	webhookSecret awssecretsmanager.Secret
	// admissionKeys holds the admission.KeySet that signs challenges and
	// purchase tokens.
	admissionKeys awssecretsmanager.Secret
}

// AdmissionKeysTemplate and AdmissionKeysSecretField shape the generated
// admission secret: Secrets Manager puts a random value under
// AdmissionKeysSecretField in the template, which makes the whole secret an
// admission.KeySet with one key, "k1".
const (
	AdmissionKeysTemplate    = `{"kid":"k1"}`
	AdmissionKeysSecretField = "secret"
	// AdmissionKeysSecretLength is well over admission.MinSecretLen; without
	// punctuation the value needs no escaping inside the JSON.
	AdmissionKeysSecretLength = 64
)

// newData creates every table and queue in shared/schema, the webhook
// secret and the admission keys.
func (s *stack) newData() *data {
	tables := map[string]awsdynamodb.Table{}
	for _, t := range schema.Tables {
		tables[t.Name] = s.newTable(t)
	}
	queues := map[string]awssqs.Queue{}
	for _, q := range schema.Queues { // dead-letter queues come first
		var dlq awssqs.Queue
		if q.DeadLetter != nil {
			var ok bool
			if dlq, ok = queues[q.DeadLetter.Name]; !ok {
				panic(fmt.Errorf("queue %s: dead-letter queue %s is not defined before it", q.Name, q.DeadLetter.Name))
			}
		}
		queues[q.Name] = s.newQueue(q, dlq)
	}
	secret := awssecretsmanager.NewSecret(s.st, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Payment provider's webhook signing secret; replace the generated value with the provider's (docs/deploy.md)."),
		// A random value so the webhook is never open with a known secret
		// before the real one is put in.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
		RemovalPolicy:        s.removal,
	})
	admissionKeys := awssecretsmanager.NewSecret(s.st, jsii.String("AdmissionKeys"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Admission key set (kid, secret, retired keys) that signs challenges and purchase tokens; rotation in docs/deploy.md."),
		// Generated, never typed in: nobody needs to know it, and the
		// first deploy can take purchases at once.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(AdmissionKeysTemplate),
			GenerateStringKey:    jsii.String(AdmissionKeysSecretField),
			PasswordLength:       jsii.Number(AdmissionKeysSecretLength),
			ExcludePunctuation:   jsii.Bool(true),
		},
		RemovalPolicy: s.removal,
	})
	return &data{
		sales:         tables[schema.Sales.Name],
		orders:        tables[schema.Orders.Name],
		queue:         queues[schema.OrdersQueue.Name],
		dlq:           queues[schema.OrdersDLQ.Name],
		webhookSecret: secret,
		admissionKeys: admissionKeys,
	}
}

// attributeType maps a schema type to the CDK's.
func attributeType(t string) awsdynamodb.AttributeType {
	switch t {
	case schema.TypeString:
		return awsdynamodb.AttributeType_STRING
	case schema.TypeNumber:
		return awsdynamodb.AttributeType_NUMBER
	}
	panic(fmt.Errorf("schema attribute type %q is not mapped", t))
}

// newTable translates one schema table: on-demand, point-in-time recovery,
// AWS-owned encryption, TTL when the schema names one. The table name is left
// to CloudFormation (stack-prefixed) so dev and prod never collide.
func (s *stack) newTable(t schema.Table) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(t.PartitionKey.Name), Type: attributeType(t.PartitionKey.Type)},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// Encrypted at rest with the AWS-owned key (CloudFormation shows it as
		// SSEEnabled false): free, and no KMS dependency on the hottest path,
		// where a customer key would add $1/month plus KMS requests.
		Encryption:         awsdynamodb.TableEncryption_DEFAULT,
		DeletionProtection: jsii.Bool(s.removal == awscdk.RemovalPolicy_RETAIN),
		RemovalPolicy:      s.removal,
	}
	if t.SortKey != nil {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(t.SortKey.Name), Type: attributeType(t.SortKey.Type)}
	}
	if t.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
	}
	if w := s.props.WarmThroughput; w != nil {
		props.WarmThroughput = &awsdynamodb.WarmThroughput{
			ReadUnitsPerSecond:  jsii.Number(w.ReadUnitsPerSecond),
			WriteUnitsPerSecond: jsii.Number(w.WriteUnitsPerSecond),
		}
	}
	return awsdynamodb.NewTable(s.st, jsii.String(t.Name+"Table"), props)
}

// queueID is a queue's construct ID: "queue-" and its schema name without
// ".fifo" (functions own the bare names).
func queueID(q schema.Queue) string {
	return "queue-" + strings.TrimSuffix(q.Name, ".fifo")
}

// newQueue translates one schema queue: SQS-managed encryption at rest (no
// KMS key to pay for or grant), TLS only, and the redrive to dlq if given.
func (s *stack) newQueue(q schema.Queue, dlq awssqs.IQueue) awssqs.Queue {
	props := &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(q.VisibilityTimeout.Seconds())),
		RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(q.RetentionPeriod.Seconds())),
		RemovalPolicy:     s.removal,
	}
	if q.FIFO {
		props.Fifo = jsii.Bool(true)
	}
	if q.HighThroughput {
		props.DeduplicationScope = awssqs.DeduplicationScope_MESSAGE_GROUP
		props.FifoThroughputLimit = awssqs.FifoThroughputLimit_PER_MESSAGE_GROUP_ID
	}
	if dlq != nil {
		if q.MaxReceiveCount < 1 {
			panic(fmt.Errorf("queue %s: a dead-letter queue needs MaxReceiveCount ≥ 1", q.Name))
		}
		props.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(q.MaxReceiveCount)}
	}
	return awssqs.NewQueue(s.st, jsii.String(queueID(q)), props)
}
