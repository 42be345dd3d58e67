package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"flashsale/shared/devauth"
	"flashsale/shared/devstack"
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
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	status, body := 0, ""
	for time.Since(start) < 120*time.Second {
		if status, body = stackHTTP(t, "GET", url+"/sales/demo", nil, ""); status == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
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
	status, body = stackHTTP(t, "POST", url+"/sales/demo/orders", map[string]string{
		"Authorization": "Bearer " + token, "x-api-key": issuer.APIKey(),
		"Idempotency-Key": "dev-test-1", "Content-Type": "application/json",
	}, `{"quantity":1}`)
	if status != http.StatusAccepted || !strings.Contains(body, `"status":"reserved"`) {
		t.Errorf("POST /sales/demo/orders = %d %s, want 202 reserved", status, body)
	}

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

func stackHTTP(tb testing.TB, method, url string, headers map[string]string, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSettleEvery_RunsOnEachTickUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		settleEvery(ctx, 10*time.Millisecond, func(context.Context) error {
			calls <- struct{}{}
			return errors.New("a failed run must not stop the schedule")
		}, slog.New(slog.DiscardHandler))
		close(done)
	}()
	for i := range 3 {
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("settlement ran %d times in 5 s, want 3", i)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("settleEvery still running 5 s after cancel, want it to return")
	}
}
