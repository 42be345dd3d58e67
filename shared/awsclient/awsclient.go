// Package awsclient builds the SDK clients every process uses, in AWS or
// against the local emulators, from one place.
package awsclient

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/schema"
)

// Settings says where the tables, queues and the reports bucket are.
// Empty endpoints mean AWS.
type Settings struct {
	DynamoDBEndpoint string
	SQSEndpoint      string
	S3Endpoint       string
	SalesTable       string
	OrdersTable      string
	OrdersQueueURL   string
	// ReportsBucket keeps every settlement report version
	// (shared/s3reports); empty, the process has no report archive.
	ReportsBucket string
	FIFOGroups    int
	// MaxAttempts bounds SDK retries. The purchase path keeps it low: retries
	// amplify load during a burst and the client gets a 503 with Retry-After.
	MaxAttempts int
	// AttemptTimeout bounds one HTTP attempt of an SDK call: connecting,
	// sending and reading the whole answer. Zero leaves only the caller's
	// context, so a peer that hangs holds the call until that ends. See
	// docs/design/reserve-path.md, "Faults at the wire".
	AttemptTimeout time.Duration
}

// What the functions use in AWS (FromEnv). A call makes at most
// DefaultMaxAttempts attempts of at most DefaultAttemptTimeout each, with
// the SDK's jittered backoff between them (under 25 ms for DynamoDB, 50 ms
// for SQS, 1 s after a throttle), so one call ends within about 2 s (3 s
// when throttled), and the handful of calls a purchase makes fit inside
// the reserve function's 10 s timeout. DynamoDB and SQS answer in
// milliseconds, so a 1 s attempt only ends on a peer that is hung or gone.
const (
	DefaultMaxAttempts    = 2
	DefaultAttemptTimeout = time.Second
)

// FromEnv reads Settings from the environment the CDK stack (or the local
// stack) sets.
func FromEnv() (Settings, error) {
	s := Settings{
		DynamoDBEndpoint: os.Getenv(EnvDynamoDBEndpoint),
		SQSEndpoint:      os.Getenv(EnvSQSEndpoint),
		S3Endpoint:       os.Getenv(EnvS3Endpoint),
		ReportsBucket:    os.Getenv(EnvReportsBucket),
		SalesTable:       os.Getenv(EnvSalesTable),
		OrdersTable:      os.Getenv(EnvOrdersTable),
		OrdersQueueURL:   os.Getenv(EnvOrdersQueueURL),
		FIFOGroups:       schema.DefaultFIFOGroups,
		MaxAttempts:      DefaultMaxAttempts,
		AttemptTimeout:   DefaultAttemptTimeout,
	}
	if v := os.Getenv(EnvFIFOGroups); v != "" {
		g, err := strconv.Atoi(v)
		if err != nil || g < 1 {
			return s, fmt.Errorf("%s=%q: want a positive integer", EnvFIFOGroups, v)
		}
		s.FIFOGroups = g
	}
	if s.SalesTable == "" || s.OrdersTable == "" {
		return s, fmt.Errorf("%s and %s must be set", EnvSalesTable, EnvOrdersTable)
	}
	return s, nil
}

// Environ is the inverse of FromEnv, for starting local processes.
func (s Settings) Environ() []string {
	return []string{
		EnvDynamoDBEndpoint + "=" + s.DynamoDBEndpoint,
		EnvSQSEndpoint + "=" + s.SQSEndpoint,
		EnvSalesTable + "=" + s.SalesTable,
		EnvOrdersTable + "=" + s.OrdersTable,
		EnvOrdersQueueURL + "=" + s.OrdersQueueURL,
		EnvFIFOGroups + "=" + strconv.Itoa(s.FIFOGroups),
		EnvS3Endpoint + "=" + s.S3Endpoint,
		EnvReportsBucket + "=" + s.ReportsBucket,
	}
}

// Local reports whether the settings point at emulators.
func (s Settings) Local() bool {
	return s.DynamoDBEndpoint != "" || s.SQSEndpoint != "" || s.S3Endpoint != ""
}

// LoadConfig loads the AWS config once per process. Against emulators it uses
// static dummy credentials and never reads the machine's AWS profile, so a
// local run can never reach a real account.
func LoadConfig(ctx context.Context, s Settings) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{}
	if s.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(s.MaxAttempts))
	}
	if s.AttemptTimeout > 0 {
		// The SDK's own client (its dialer and transport defaults), with
		// http.Client.Timeout as the per-attempt bound.
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(s.AttemptTimeout)))
	}
	if s.Local() {
		opts = append(opts,
			config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
			config.WithSharedConfigProfile(""),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
		)
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	// Every client built from cfg records its functions' calls when a
	// test run asks for it (EnvIAMRecord).
	if rec := recordFromEnv(); rec != nil {
		cfg.APIOptions = append(cfg.APIOptions, rec)
	}
	return cfg, nil
}

// DynamoDB returns a client for the settings' endpoint; extra options (a
// counting HTTP client in tests) apply last.
func DynamoDB(cfg aws.Config, s Settings, extra ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		if s.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(s.DynamoDBEndpoint)
			// DynamoDB Local's error responses carry a wrong CRC32.
			o.DisableValidateResponseChecksum = true
		}
	}}, extra...)...)
}

// SQS returns a client for the settings' endpoint; extra options apply last.
func SQS(cfg aws.Config, s Settings, extra ...func(*sqs.Options)) *sqs.Client {
	return sqs.NewFromConfig(cfg, append([]func(*sqs.Options){func(o *sqs.Options) {
		if s.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(s.SQSEndpoint)
		}
	}}, extra...)...)
}

// S3 returns a client for the settings' endpoint; extra options apply
// last. Against a local endpoint (shared/local/s3local) it addresses
// buckets by path, since 127.0.0.1 has no bucket subdomains. The SDK's
// checksum defaults stay as in AWS: over plain HTTP it sends a PutObject's
// CRC32 as a header, which gofakes3 ignores, and never the aws-chunked
// body with a trailing checksum that gofakes3 cannot read (the SDK uses
// that over TLS only; s3local's tests prove the defaults work).
func S3(cfg aws.Config, s Settings, extra ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		if s.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(s.S3Endpoint)
			o.UsePathStyle = true
		}
	}}, extra...)...)
}

// WithAllAttributes makes in ask for every system attribute (MessageGroupId,
// ApproximateReceiveCount, ...) and every message attribute, and returns it.
// It names the system attributes twice: MessageSystemAttributeNames is what
// SQS documents, and the deprecated AttributeNames is what local-aws-sqs
// honours: it ignores the former and then returns no system attribute at all
// (checked against local-aws-sqs 2.0.2; TestWithAllAttributes proves it
// against the emulator). SQS accepts both in one request.
func WithAllAttributes(in *sqs.ReceiveMessageInput) *sqs.ReceiveMessageInput {
	in.MessageSystemAttributeNames = []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}
	//lint:ignore SA1019 local-aws-sqs ignores MessageSystemAttributeNames and honours only AttributeNames: All (see the doc comment)
	in.AttributeNames = []types.QueueAttributeName{types.QueueAttributeNameAll}
	in.MessageAttributeNames = []string{"All"}
	return in
}
