// Package testenv gives integration tests fresh tables and queues on the
// local emulators (Require), or a whole local stack on them (StackConfig,
// OpenStack). `make test` starts the emulators and sets the endpoints;
// plain `go test` skips these tests with a note on how to run them.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/s3local"
	"flashsale/shared/s3reports"
)

// Environment variables `make test` sets.
const (
	EnvDynamoDB         = devstack.EnvTestDynamoDB
	EnvSQS              = devstack.EnvTestSQS
	EnvRequireEmulators = "FLASHSALE_REQUIRE_EMULATORS"
)

// Env is one test's private slice of the emulators.
type Env struct {
	// Settings name this test's tables and queue, with the endpoints.
	Settings awsclient.Settings
	// DLQURL is this test's orders dead-letter queue.
	DLQURL   string
	Config   aws.Config
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// S3 is a client of this test's own in-process S3 server (s3local),
	// whose bucket Settings.ReportsBucket names; Archive is the report
	// archive on it, built as app.New builds it, so the IAM recorder
	// sees its calls.
	S3      *s3.Client
	Archive *s3reports.Archive
}

// Endpoints returns the emulator endpoints from the environment, defaulting
// to where `flashsale emulators` listens by default.
func Endpoints() (dynamoDB, sqsURL string) {
	dynamoDB, sqsURL = os.Getenv(EnvDynamoDB), os.Getenv(EnvSQS)
	if dynamoDB == "" {
		dynamoDB = "http://127.0.0.1:" + strconv.Itoa(devstack.DefaultTestDynamoDBPort)
	}
	if sqsURL == "" {
		sqsURL = "http://127.0.0.1:" + strconv.Itoa(devstack.DefaultTestSQSPort)
	}
	return dynamoDB, sqsURL
}

// reachable caches the first reachability check per process, so a package
// without emulators skips its tests quickly instead of timing out each time.
var reachable = sync.OnceValue(func() error {
	dyn, sq := Endpoints()
	s := awsclient.Settings{DynamoDBEndpoint: dyn, SQSEndpoint: sq, MaxAttempts: 1}
	cfg, err := awsclient.LoadConfig(context.Background(), s)
	if err != nil {
		return err
	}
	return devstack.Ping(context.Background(), awsclient.DynamoDB(cfg, s), awsclient.SQS(cfg, s))
})

// Require returns fresh, uniquely named tables and queues for this test and
// deletes them when it ends, so tests in parallel packages never collide. If
// the emulators do not answer it skips the test, or fails it when
// FLASHSALE_REQUIRE_EMULATORS=1 (as `make test` sets).
func Require(tb testing.TB) Env {
	tb.Helper()
	requireReachable(tb)
	dynEndpoint, sqsEndpoint := Endpoints()
	s := awsclient.Settings{DynamoDBEndpoint: dynEndpoint, SQSEndpoint: sqsEndpoint}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		tb.Fatal(err)
	}
	dyn, sq := awsclient.DynamoDB(cfg, s), awsclient.SQS(cfg, s)
	r, err := devstack.CreateResources(ctx, dyn, sq, Prefix())
	if err != nil {
		tb.Fatalf("create test resources: %v", err)
	}
	tb.Cleanup(func() {
		// Not tb.Context(): it is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := devstack.DeleteResources(ctx, dyn, sq, r); err != nil {
			tb.Errorf("delete test resources: %v", err)
		}
	})
	srv := s3local.StartT(tb)
	r.Settings.S3Endpoint, r.Settings.ReportsBucket = srv.Endpoint, srv.Bucket
	s3c := awsclient.S3(cfg, r.Settings)
	return Env{Settings: r.Settings, DLQURL: r.DLQURL, Config: cfg, DynamoDB: dyn, SQS: sq,
		S3: s3c, Archive: s3reports.New(s3c, srv.Bucket)}
}

// ReportArchive returns a report archive on an in-process S3 server of the
// test's own (s3local), for tests on memstore that need no emulator.
func ReportArchive(tb testing.TB) *s3reports.Archive {
	tb.Helper()
	srv := s3local.StartT(tb)
	s := awsclient.Settings{S3Endpoint: srv.Endpoint, ReportsBucket: srv.Bucket}
	cfg, err := awsclient.LoadConfig(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return s3reports.New(awsclient.S3(cfg, s), srv.Bucket)
}

// requireReachable skips the test when the emulators do not answer, or
// fails it when FLASHSALE_REQUIRE_EMULATORS=1 (as `make test` sets).
func requireReachable(tb testing.TB) {
	tb.Helper()
	if err := reachable(); err != nil {
		msg := "emulators not reachable (" + err.Error() + "): run `make test`, or start them with " +
			"`go run ./cmd/flashsale emulators` and set " + EnvDynamoDB + " and " + EnvSQS + " to the URLs it prints"
		if os.Getenv(EnvRequireEmulators) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
}

// Prefix returns a random name prefix such as "t3f9a0c1d-". Queue names stay
// well under SQS's 80 characters.
func Prefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return "t" + hex.EncodeToString(b) + "-"
}
