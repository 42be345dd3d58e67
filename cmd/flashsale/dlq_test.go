package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/testenv"
	"flashsale/shared/schema"
)

// TestDLQCommand_ListAndRedrive runs the commands against the test SQS
// emulator through --dlq-url/--queue-url (loopback URLs select the
// emulator, never AWS).
func TestDLQCommand_ListAndRedrive(t *testing.T) {
	env := testenv.Require(t)
	group := flashsale.FIFOGroup("erin", schema.DefaultFIFOGroups)
	if _, err := env.SQS.SendMessage(t.Context(), &sqs.SendMessageInput{
		QueueUrl:       aws.String(env.DLQURL),
		MessageBody:    aws.String(`{"orderId":"demo.E1","saleId":"demo","userId":"erin","quantity":1}`),
		MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String("demo.E1"),
	}); err != nil {
		t.Fatal(err)
	}
	urls := []string{"--state", t.TempDir(), "--dlq-url", env.DLQURL}

	out, err := runCmd(t, newDLQCmd(), append([]string{"list"}, urls...)...)
	if err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "MESSAGE ID") || lines[2] != "1 message(s)" {
		t.Fatalf("dlq list printed %q, want a header, one row and a count", out)
	}
	for _, want := range []string{group, "demo.E1", "demo", "erin"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("dlq list row %q lacks %q", lines[1], want)
		}
	}

	out, err = runCmd(t, newDLQCmd(), append([]string{"redrive", "--queue-url", env.Settings.OrdersQueueURL}, urls...)...)
	if err != nil {
		t.Fatalf("dlq redrive: %v", err)
	}
	if !strings.Contains(out, "moved ") || !strings.Contains(out, "order demo.E1, group "+group) || !strings.Contains(out, "1 message(s) moved") {
		t.Errorf("dlq redrive printed %q, want the moved order and a count of 1", out)
	}
	if out, err = runCmd(t, newDLQCmd(), append([]string{"list"}, urls...)...); err != nil || strings.TrimSpace(out) != "the DLQ is empty" {
		t.Errorf("dlq list after redrive = %q, %v; want the DLQ is empty", out, err)
	}
}

func TestDLQCommand_Errors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no stack, no urls", args: []string{"list", "--state", t.TempDir()}, wantErr: "no local stack: run `make dev`"},
		{name: "redrive needs the queue too", args: []string{"redrive", "--state", t.TempDir(), "--dlq-url", "http://127.0.0.1:1/q/dlq.fifo"}, wantErr: "--queue-url"},
		{name: "bad max", args: []string{"list", "--max", "0", "--dlq-url", "http://127.0.0.1:1/q/dlq.fifo"}, wantErr: "--max 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCmd(t, newDLQCmd(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("dlq %v: err = %v, want one containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestLoopbackOrigin(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"ipv4 loopback", "http://127.0.0.1:9624/123456789012/dev-orders.fifo", "http://127.0.0.1:9624"},
		{"localhost", "http://localhost:9324/q", "http://localhost:9324"},
		{"aws", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo", ""},
		{"garbage", "::", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := loopbackOrigin(tc.url); got != tc.want {
				t.Errorf("loopbackOrigin(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}
