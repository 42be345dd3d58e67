package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
)

// TestDevCommand_ServesDemoThenStopsClean runs `flashsale dev` as a real
// process on free ports with its own state folder, waits until the gateway
// serves the demo sale and takes an order, sends SIGINT, and checks that it
// exits cleanly, leaves no emulator behind and removes stack.json.
func TestDevCommand_ServesDemoThenStopsClean(t *testing.T) {
	bin := stackBuildCLI(t)
	state := t.TempDir()
	port := stackFreePort(t)
	cmd := exec.Command(bin, "dev", "--port", strconv.Itoa(port),
		"--dynamodb-port", strconv.Itoa(stackFreePort(t)), "--sqs-port", strconv.Itoa(stackFreePort(t)),
		"--state", state, "--settle-every", "2s")
	var stderr strings.Builder
	var stdout lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Ready means ready: until the demo sale is served the gateway refuses
	// connections or answers 503, never a 404; once the quickstart is
	// printed, its first curl works.
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	status, body := 0, ""
	for time.Since(start) < 120*time.Second {
		printed := strings.Contains(stdout.String(), "flashsale dev is running at")
		status, body = stackHTTP(t, "GET", url+"/sales/demo", nil, "")
		switch {
		case status != 0 && status != http.StatusServiceUnavailable && status != http.StatusOK:
			t.Fatalf("GET /sales/demo while starting = %d %s; want no connection or 503 until the demo sale is served", status, body)
		case printed && status != http.StatusOK:
			t.Fatalf("GET /sales/demo after the quickstart was printed = %d %s, want 200", status, body)
		}
		if printed {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status != http.StatusOK || !strings.Contains(body, `"status":"open"`) {
		t.Fatalf("GET /sales/demo = %d %s, want 200 with an open sale; stderr:\n%s", status, body, &stderr)
	}
	t.Logf("demo sale served %s after start", time.Since(start).Round(time.Millisecond))

	info, err := devstack.ReadStackInfo(state)
	if err != nil {
		t.Fatalf("ReadStackInfo: %v", err)
	}
	if info.GatewayURL != url || info.Settings.SalesTable != "dev-Sales" || info.PID != cmd.Process.Pid {
		t.Errorf("stack.json = %+v, want gateway %s, table dev-Sales, pid %d", info, url, cmd.Process.Pid)
	}

	// A buyer order through the gateway, with the state folder's key and token.
	issuer, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	token, err := issuer.Token(devauth.TokenRequest{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart's first line: the demo sale asks for a purchase token,
	// and `flashsale buy` runs challenge, solve, token and order.
	body = stackRunCLI(t, bin, "buy", "--state", state, "--sale", "demo", "--user", "alice")
	var receipt struct{ OrderID, Status string }
	if err := json.Unmarshal([]byte(body), &receipt); err != nil || receipt.OrderID == "" || receipt.Status != "reserved" {
		t.Fatalf("flashsale buy printed %s (%v), want a reserved order's receipt", body, err)
	}
	stackPayAndReport(t, bin, state, url, token, receipt.OrderID)
	stackInvoke(t, bin, state)

	children := stackChildrenOf(t, cmd.Process.Pid)
	if len(children) != 2 {
		t.Fatalf("flashsale dev has children %v, want 2 (java and node)", children)
	}
	stackInterrupt(t, cmd, &stderr)
	stackAssertGone(t, children)
	if _, err := devstack.ReadStackInfo(state); !errors.Is(err, devstack.ErrNotRunning) {
		t.Errorf("ReadStackInfo after shutdown: %v, want ErrNotRunning", err)
	}
	if !strings.Contains(stderr.String(), "stopping emulators") {
		t.Errorf("stderr lacks the shutdown log; got:\n%s", &stderr)
	}
	if logs, _ := filepath.Glob(filepath.Join(state, "logs", "*.log")); len(logs) != 2 {
		t.Errorf("emulator logs in state folder = %v, want dynamodb.log and sqs.log", logs)
	}
}

// stackPayAndReport pays orderID with `flashsale pay`, checks the order
// reads as paid, settles and reads the CSV report with `flashsale report`,
// checks settlement metrics reach the state folder's metrics.log and that
// `flashsale dlq list` finds the stack's (empty) DLQ.
func stackPayAndReport(tb testing.TB, bin, state, url, buyerToken, orderID string) {
	tb.Helper()
	start := time.Now()
	out := stackRunCLI(tb, bin, "pay", "--state", state, "--order", orderID)
	if !strings.HasPrefix(out, "200 OK\n") {
		tb.Fatalf("flashsale pay printed %q, want 200 OK first", out)
	}
	status, body := stackHTTP(tb, "GET", url+"/orders/"+orderID, map[string]string{"Authorization": "Bearer " + buyerToken}, "")
	if status != http.StatusOK || !strings.Contains(body, `"status":"paid"`) || !strings.Contains(body, `"paidAt"`) {
		tb.Fatalf("GET /orders/%s after pay = %d %s, want 200 paid with paidAt", orderID, status, body)
	}

	out = stackRunCLI(tb, bin, "report", "--state", state, "--sale", "demo", "--settle", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		tb.Fatalf("flashsale report --format csv does not parse: %v\n%s", err, out)
	}
	if len(rows) != 3 {
		tb.Fatalf("report has %d rows, want header, the one order and TOTAL:\n%s", len(rows), out)
	}
	if got := rows[1]; got[0] != orderID || got[1] != "alice" || got[4] != "paid" {
		tb.Errorf("order row = %q, want %s by alice, paid", got, orderID)
	}
	if got, want := rows[2], []string{"TOTAL", "", "1", "1999", "paid", "", "", "USD"}; !slices.Equal(got, want) {
		tb.Errorf("TOTAL row = %q, want %q (one paid unit at 19.99)", got, want)
	}

	// Settlement ran (on demand and on the 2 s schedule); its EMF lines go
	// to the state folder, not the terminal.
	var metrics []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if metrics, _ = os.ReadFile(filepath.Join(state, "metrics.log")); bytes.Contains(metrics, []byte(`"saleId":"demo"`)) {
			break
		}
	}
	if !bytes.Contains(metrics, []byte(`"_aws"`)) || !bytes.Contains(metrics, []byte(`"saleId":"demo"`)) {
		tb.Errorf("metrics.log = %q, want EMF lines for sale demo", metrics)
	}

	if out := stackRunCLI(tb, bin, "dlq", "list", "--state", state); strings.TrimSpace(out) != "the DLQ is empty" {
		tb.Errorf("flashsale dlq list printed %q, want the DLQ is empty", out)
	}
	tb.Logf("pay, report and dlq list took %s", time.Since(start).Round(time.Millisecond))
}

// stackInvoke feeds the sample payloads of events/ to the handlers with
// `flashsale invoke`, against the running stack's tables.
func stackInvoke(tb testing.TB, bin, state string) {
	tb.Helper()
	invoke := func(function, event string) string {
		return stackRunCLI(tb, bin, "invoke", "--state", state, "--function", function, "--event", filepath.Join("..", "..", "events", event))
	}
	// invoke creates the sample's sale when it is missing (samples_test.go
	// runs every sample).
	if out := invoke("sale-info", "sale-info.json"); !strings.Contains(out, `"statusCode": 200`) || !strings.Contains(out, `spring-1`) {
		tb.Errorf("sale-info printed %s, want a 200 for spring-1, created on the way", out)
	}
	if out := invoke("admin", "admin-create-sale.json"); !strings.Contains(out, `"statusCode": 201`) {
		tb.Errorf("admin create printed %s, want a 201 (under a new id, spring-1 being taken)", out)
	}
	if out := invoke("order-writer", "order-writer.json"); !strings.Contains(out, `"batchItemFailures": null`) {
		tb.Errorf("order-writer printed %s, want no failures (a message for an unknown order is acknowledged)", out)
	}
	if out := invoke("settlement", "settlement.json"); !strings.Contains(out, "settled") {
		tb.Errorf("settlement printed %s", out)
	}
}

// stackRunCLI runs the flashsale binary and returns its stdout; a non-zero
// exit fails the test with stderr.
func stackRunCLI(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("flashsale %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.String()
}

// lockedBuffer is an io.Writer the child's output goes to while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func stackHTTP(tb testing.TB, method, url string, headers map[string]string, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// The gateway answers within its integration timeout (a 504 past it),
	// so the client waits a little longer than that: on a loaded machine a
	// settle can take seconds, and a client timeout would hide the answer.
	c := http.Client{Timeout: apispec.IntegrationTimeout + 5*time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
