package awsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"flashsale/shared/local/s3local"
)

// TestCallsOf: a transaction is authorized item by item, as that item's
// action on its table; other calls name their resource from the input.
func TestCallsOf(t *testing.T) {
	tests := []struct {
		name    string
		service string
		op      string
		params  any
		want    []Call
	}{
		{"transaction", "DynamoDB", "TransactWriteItems", &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("t-Orders")}},
			{Update: &types.Update{TableName: aws.String("t-Sales")}},
			{Delete: &types.Delete{TableName: aws.String("t-Orders")}},
		}}, []Call{
			{Action: "dynamodb:PutItem", Resource: "t-Orders", Operation: "DynamoDB.TransactWriteItems"},
			{Action: "dynamodb:UpdateItem", Resource: "t-Sales", Operation: "DynamoDB.TransactWriteItems"},
			{Action: "dynamodb:DeleteItem", Resource: "t-Orders", Operation: "DynamoDB.TransactWriteItems"},
		}},
		{"batch", "DynamoDB", "BatchGetItem", &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"t-Sales": {}}},
			[]Call{{Action: "dynamodb:BatchGetItem", Resource: "t-Sales", Operation: "DynamoDB.BatchGetItem"}}},
		{"table", "DynamoDB", "GetItem", &dynamodb.GetItemInput{TableName: aws.String("t-Sales")},
			[]Call{{Action: "dynamodb:GetItem", Resource: "t-Sales", Operation: "DynamoDB.GetItem"}}},
		{"queue", "SQS", "SendMessage", &sqs.SendMessageInput{QueueUrl: aws.String("http://q/t-orders.fifo")},
			[]Call{{Action: "sqs:SendMessage", Resource: "http://q/t-orders.fifo", Operation: "SQS.SendMessage"}}},
		{"object", "S3", "PutObject", &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("sales/s1/report.csv")},
			[]Call{{Action: "s3:PutObject", Resource: "b/sales/s1/report.csv", Operation: "S3.PutObject"}}},
		{"object version", "S3", "GetObject", &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: aws.String("v1")},
			[]Call{{Action: "s3:GetObjectVersion", Resource: "b/k", Operation: "S3.GetObject"}}},
		{"bucket listing", "S3", "ListObjectsV2", &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("sales/")},
			[]Call{{Action: "s3:ListBucket", Resource: "b", Operation: "S3.ListObjectsV2"}}},
		{"service name", "Cognito Identity Provider", "AdminUpdateUserAttributes", struct{ UserPoolId *string }{aws.String("pool")},
			[]Call{{Action: "cognito-idp:AdminUpdateUserAttributes", Resource: "pool", Operation: "Cognito Identity Provider.AdminUpdateUserAttributes"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := callsOf(tc.service, tc.op, tc.params); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeDynamoDB is a loopback DynamoDB that answers every request with an
// empty JSON object (a GetItem that found nothing) and counts them.
func fakeDynamoDB(tb testing.TB) (*httptest.Server, *atomic.Int32) {
	tb.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte("{}"))
	}))
	tb.Cleanup(srv.Close)
	return srv, &n
}

// recordingClient builds a DynamoDB client the way every process does
// (LoadConfig, then DynamoDB) against srv, and reports through *recorded
// whether the recorder sat in the middleware stack of its last call.
func recordingClient(tb testing.TB, srv *httptest.Server, recorded *bool) *dynamodb.Client {
	tb.Helper()
	s := Settings{DynamoDBEndpoint: srv.URL, MaxAttempts: 1}
	cfg, err := LoadConfig(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	// Applied after the config's API options, so it sees the stack whole.
	return DynamoDB(cfg, s, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			_, *recorded = stack.Initialize.Get(recorderID)
			return nil
		})
	})
}

func getItem(tb testing.TB, ctx context.Context, c *dynamodb.Client) {
	tb.Helper()
	if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String("t-Sales"),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "s.1"}},
	}); err != nil {
		tb.Fatalf("GetItem: %v", err)
	}
}

// TestRecord_OffWhenUnset: without EnvIAMRecord, as in AWS, the clients
// carry no recorder, even for a call made under a function's context.
func TestRecord_OffWhenUnset(t *testing.T) {
	t.Setenv(EnvIAMRecord, "")
	srv, calls := fakeDynamoDB(t)
	var recorded bool
	c := recordingClient(t, srv, &recorded)
	getItem(t, WithFunction(t.Context(), "sale-info"), c)
	if got := calls.Load(); got != 1 {
		t.Fatalf("got %d requests, want 1", got)
	}
	if recorded {
		t.Errorf("the call's middleware stack holds %s, want no recorder", recorderID)
	}
}

// TestRecord_OnlyTaggedCalls: with EnvIAMRecord set, a call made under a
// context tagged with a function is written once, as that function's; an
// untagged call (a test's own setup, the local poller) writes nothing.
func TestRecord_OnlyTaggedCalls(t *testing.T) {
	file := filepath.Join(t.TempDir(), "calls.jsonl")
	t.Setenv(EnvIAMRecord, file)
	srv, calls := fakeDynamoDB(t)
	var recorded bool
	c := recordingClient(t, srv, &recorded)

	getItem(t, t.Context(), c)
	if !recorded {
		t.Fatalf("the call's middleware stack has no %s", recorderID)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after an untagged call, %s: got %v, want no file", file, err)
	}

	ctx := WithFunction(t.Context(), "sale-info")
	getItem(t, ctx, c)
	getItem(t, ctx, c) // the same call again: still one line
	if got := calls.Load(); got != 3 {
		t.Errorf("got %d requests, want 3: recording must not stop a call", got)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got []Call
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var c Call
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, c)
	}
	want := []Call{{Function: "sale-info", Action: "dynamodb:GetItem", Resource: "t-Sales", Operation: "DynamoDB.GetItem"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestRecord_S3CallsAndPresigns: the S3 client awsclient builds carries
// the recorder too, and a presigned GET is recorded as the signer's
// GetObject on the object, as IAM authorizes the link's download.
func TestRecord_S3CallsAndPresigns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "calls.jsonl")
	t.Setenv(EnvIAMRecord, file)
	srv := s3local.StartT(t)
	s := Settings{S3Endpoint: srv.Endpoint, MaxAttempts: 1}
	cfg, err := LoadConfig(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	c := S3(cfg, s)
	ctx := WithFunction(t.Context(), "admin")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/s1/report.json"),
		Body: bytes.NewReader([]byte("{}"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/s1/report.csv")}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got []Call
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var c Call
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, c)
	}
	want := []Call{
		{Function: "admin", Action: "s3:PutObject", Resource: srv.Bucket + "/sales/s1/report.json", Operation: "S3.PutObject"},
		{Function: "admin", Action: "s3:GetObject", Resource: srv.Bucket + "/sales/s1/report.csv", Operation: "S3.GetObject"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
