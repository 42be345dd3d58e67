package devstack

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	qtypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

func TestParseJavaVersion(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want int
		err  bool
	}{
		{name: "openjdk 17", out: "openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment", want: 17},
		{name: "oracle 21", out: `java version "21.0.2" 2024-01-16 LTS`, want: 21},
		{name: "bare major", out: `openjdk version "22" 2024-03-19`, want: 22},
		{name: "early access", out: `openjdk version "23-ea" 2024-09-17`, want: 23},
		{name: "old scheme 1.8", out: `java version "1.8.0_292"`, want: 8},
		{name: "garbage", out: "command not found", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJavaVersion(tc.out)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseJavaVersion(%q) = %d, want an error", tc.out, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseJavaVersion(%q) = %d, %v; want %d, nil", tc.out, got, err, tc.want)
			}
		})
	}
}

func TestQueueAttributes(t *testing.T) {
	got := QueueAttributes(schema.OrdersQueue, "arn:aws:sqs:us-east-1:123456789012:orders-dlq.fifo")
	want := map[string]string{
		"FifoQueue":                 "true",
		"ContentBasedDeduplication": "false",
		"DeduplicationScope":        "messageGroup",
		"FifoThroughputLimit":       "perMessageGroupId",
		"VisibilityTimeout":         strconv.Itoa(int(schema.OrdersQueue.VisibilityTimeout / time.Second)),
		"MessageRetentionPeriod":    strconv.Itoa(int(schema.OrdersQueue.RetentionPeriod / time.Second)),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(got["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", got["RedrivePolicy"], err)
	}
	if redrive.MaxReceiveCount != schema.OrdersQueue.MaxReceiveCount || !strings.HasSuffix(redrive.DeadLetterTargetArn, "orders-dlq.fifo") {
		t.Errorf("RedrivePolicy = %+v, want maxReceiveCount %d to the DLQ", redrive, schema.OrdersQueue.MaxReceiveCount)
	}
	if _, ok := QueueAttributes(schema.OrdersDLQ, "")["RedrivePolicy"]; ok {
		t.Errorf("the DLQ got a RedrivePolicy, want none")
	}
}

func TestPortBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	root := repoRoot(t)
	_, err = StartEmulators(t.Context(), EmulatorConfig{Root: root, DynamoDBPort: port, SQSPort: freePort(t), LogDir: t.TempDir()})
	if err == nil {
		t.Fatal("StartEmulators on a busy port succeeded, want an error")
	}
	for _, want := range []string{strconv.Itoa(port), "--dynamodb-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestEmulators starts both emulators, creates the schema twice, checks what
// the local SQS honours, then stops them and checks no process is left.
func TestEmulators(t *testing.T) {
	root := repoRoot(t)
	requirePrerequisites(t, root)
	ctx := t.Context()
	start := time.Now()
	e, err := StartEmulators(ctx, EmulatorConfig{
		Root: root, DynamoDBPort: freePort(t), SQSPort: freePort(t), LogDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("StartEmulators: %v", err)
	}
	t.Logf("emulators up in %s", time.Since(start).Round(time.Millisecond))
	pids := e.PIDs()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			e.Stop()
		}
	})

	s := e.Settings()
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	dyn, sq := awsclient.DynamoDB(cfg, s), awsclient.SQS(cfg, s)

	var r Resources
	t.Run("create resources twice", func(t *testing.T) {
		for i := range 2 {
			r, err = CreateResources(ctx, dyn, sq, "ut-")
			if err != nil {
				t.Fatalf("CreateResources run %d: %v", i+1, err)
			}
		}
		if r.Settings.SalesTable != "ut-Sales" || r.Settings.OrdersTable != "ut-Orders" {
			t.Errorf("tables = %q, %q; want ut-Sales, ut-Orders", r.Settings.SalesTable, r.Settings.OrdersTable)
		}
		if !strings.HasSuffix(r.Settings.OrdersQueueURL, "/ut-orders.fifo") || !strings.HasSuffix(r.DLQURL, "/ut-orders-dlq.fifo") {
			t.Errorf("queue URLs = %q, %q; want ut-orders.fifo and ut-orders-dlq.fifo", r.Settings.OrdersQueueURL, r.DLQURL)
		}
		if r.Settings.DynamoDBEndpoint != e.DynamoDBEndpoint || r.Settings.SQSEndpoint != e.SQSEndpoint {
			t.Errorf("endpoints = %q, %q; want %q, %q", r.Settings.DynamoDBEndpoint, r.Settings.SQSEndpoint, e.DynamoDBEndpoint, e.SQSEndpoint)
		}
	})

	t.Run("orders table keys and TTL", func(t *testing.T) {
		d, err := dyn.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(r.Settings.OrdersTable)})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(d.Table.KeySchema); n != 2 {
			t.Errorf("orders key schema has %d elements, want 2", n)
		}
		ttl, err := dyn.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(r.Settings.OrdersTable)})
		if err != nil {
			t.Fatal(err)
		}
		if got := ttl.TimeToLiveDescription; got == nil || got.TimeToLiveStatus != dtypes.TimeToLiveStatusEnabled || aws.ToString(got.AttributeName) != schema.AttrTTL {
			t.Errorf("orders TTL = %+v, want enabled on %q", got, schema.AttrTTL)
		}
	})

	t.Run("queue attributes as created", func(t *testing.T) {
		a, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(r.Settings.OrdersQueueURL), AttributeNames: []qtypes.QueueAttributeName{qtypes.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"} {
			if got := a.Attributes[k]; got != want {
				t.Errorf("orders queue %s = %q, want %q", k, got, want)
			}
		}
		if !strings.Contains(a.Attributes["RedrivePolicy"], "ut-orders-dlq.fifo") {
			t.Errorf("orders queue RedrivePolicy = %q, want it to name the DLQ", a.Attributes["RedrivePolicy"])
		}
	})

	t.Run("dedup and redrive to the DLQ", func(t *testing.T) {
		for range 2 { // the second send is a duplicate and must vanish
			if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl: aws.String(r.Settings.OrdersQueueURL), MessageBody: aws.String(`{"orderId":"o1"}`),
				MessageGroupId: aws.String("g1"), MessageDeduplicationId: aws.String("o1"),
			}); err != nil {
				t.Fatal(err)
			}
		}
		// Receive it MaxReceiveCount times without deleting, with a one-second
		// visibility timeout, as a failed batch item comes back. Then it must
		// move to the DLQ. (ChangeMessageVisibility would not do here: the
		// local SQS counts it as a receive, unlike AWS.)
		for i := range schema.OrdersQueue.MaxReceiveCount {
			msgs := receive(t, sq, r.Settings.OrdersQueueURL, 1, 1)
			if len(msgs) != 1 {
				t.Fatalf("receive %d got %d messages, want 1 (dedup keeps one)", i+1, len(msgs))
			}
		}
		dlq := receive(t, sq, r.DLQURL, 0, 1)
		if len(dlq) != 1 || aws.ToString(dlq[0].Body) != `{"orderId":"o1"}` {
			t.Fatalf("DLQ holds %d messages, want the one order", len(dlq))
		}
		if left := receive(t, sq, r.Settings.OrdersQueueURL, 0, 0); len(left) != 0 {
			t.Errorf("orders queue still holds %d messages after redrive, want 0", len(left))
		}
	})

	t.Run("delete resources", func(t *testing.T) {
		if err := DeleteResources(ctx, dyn, sq, r); err != nil {
			t.Fatalf("DeleteResources: %v", err)
		}
		tables, err := dyn.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tables.TableNames) != 0 {
			t.Errorf("tables left after delete: %v", tables.TableNames)
		}
	})

	if err := e.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	stopped = true
	AssertGone(t, pids)
	if err := e.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// AssertGone fails unless every process, and every process group they led,
// has exited.
func AssertGone(tb testing.TB, pids []int) {
	tb.Helper()
	if len(pids) == 0 {
		tb.Fatal("no PIDs to check")
	}
	for _, pid := range pids {
		if !Gone(pid) {
			tb.Errorf("process %d or its group is still alive, want it gone", pid)
		}
	}
}

// receive polls a queue for up to three seconds until it has at least want
// messages; with want 0 it polls once. visibility 0 means the queue's own.
func receive(tb testing.TB, sq *sqs.Client, url string, visibility int32, want int) []qtypes.Message {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		out, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: visibility,
		})
		if err != nil {
			tb.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) >= want || time.Now().After(deadline) {
			return out.Messages
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := FindRoot(".")
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

func freePort(tb testing.TB) int {
	tb.Helper()
	p, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// requirePrerequisites skips when java, node or node_modules are missing,
// unless FLASHSALE_REQUIRE_EMULATORS=1 (make test) makes that a failure.
func requirePrerequisites(tb testing.TB, root string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CheckPrerequisites(ctx, root); err != nil {
		if os.Getenv("FLASHSALE_REQUIRE_EMULATORS") == "1" {
			tb.Fatalf("prerequisites: %v", err)
		}
		tb.Skipf("prerequisites missing, skipping (make test runs this): %v", err)
	}
}
