package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
)

// crashGrace is the settlement grace the crashed stack runs with: how long a
// pending hold may live before its request is presumed dead. Short, so the
// test need not wait the default 2 minutes; far longer than any request.
const crashGrace = 3 * time.Second

// devProcess is one `flashsale dev` run on a state and a data folder.
type devProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
}

func startDev(tb testing.TB, bin, state, data string) *devProcess {
	tb.Helper()
	port := stackFreePort(tb)
	cmd := exec.Command(bin, "dev", "--port", strconv.Itoa(port),
		"--dynamodb-port", strconv.Itoa(stackFreePort(tb)), "--sqs-port", strconv.Itoa(stackFreePort(tb)),
		"--state", state, "--data", data, "--grace", crashGrace.String(), "--settle-every", "1h")
	d := &devProcess{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), stderr: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = io.Discard, d.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for start := time.Now(); time.Since(start) < 120*time.Second; time.Sleep(100 * time.Millisecond) {
		if status, _ := stackHTTP(tb, "GET", d.url+"/sales/demo", nil, ""); status == http.StatusOK {
			return d
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	tb.Fatalf("flashsale dev did not serve the demo sale within 120 s; stderr:\n%s", d.stderr)
	return nil
}

// accepted is one purchase answered 202 before the crash.
type accepted struct {
	user, key, body string
	orderID         string
}

// TestDevCommand_CrashMidBurstRecoversInOnePass kills `flashsale dev` with
// SIGKILL in the middle of a burst of purchases and restarts it on the same
// --data folder. Then: every 202 answered before the kill survived and
// replays byte for byte with its Idempotency-Key, and can be paid; nothing
// was oversold; no emulator outlived its parent; and one settlement pass
// after the grace makes the stock whole and the report balanced, with
// nothing left in limbo.
func TestDevCommand_CrashMidBurstRecoversInOnePass(t *testing.T) {
	bin := stackBuildCLI(t)
	state, data := t.TempDir(), t.TempDir()
	dev := startDev(t, bin, state, data)
	issuer, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := issuer.Token(devauth.TokenRequest{UserID: "ops", Groups: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	const stock = 300
	now := time.Now().UTC()
	// No admission gate: this test is about the crash, and its buyers post
	// orders as fast as they can (the admission tests cover the gate).
	sale := fmt.Sprintf(`{"saleId":"crash","name":"Crash","priceCents":500,"currency":"USD","startsAt":%q,"endsAt":%q,`+
		`"stock":%d,"perUserLimit":1,"paymentWindowSeconds":600,"shards":4,"admission":{"purchaseToken":false}}`,
		now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339), stock)
	if status, body := stackHTTP(t, "POST", dev.url+"/admin/sales", map[string]string{"Authorization": admin, "Content-Type": "application/json"}, sale); status != http.StatusCreated {
		t.Fatalf("create sale: %d %s", status, body)
	}

	// The burst: buyers one after another on 16 connections, until the kill.
	tokens := map[string]string{}
	var tokMu sync.Mutex
	tokenOf := func(user string) string {
		tokMu.Lock()
		defer tokMu.Unlock()
		if tok, ok := tokens[user]; ok {
			return tok
		}
		tok, err := issuer.Token(devauth.TokenRequest{UserID: user, TTL: time.Hour})
		if err != nil {
			t.Error(err)
		}
		tokens[user] = tok
		return tok
	}
	buy := func(url, user, key string) (int, string, http.Header) {
		req, _ := http.NewRequest("POST", url+"/sales/crash/orders", strings.NewReader(`{"quantity":1}`))
		req.Header.Set("Authorization", "Bearer "+tokenOf(user))
		req.Header.Set("x-api-key", issuer.APIKey())
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return 0, "", nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	var (
		mu       sync.Mutex
		accepts  []accepted
		next     atomic.Int64
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for range 16 {
		wg.Go(func() {
			for !stopping.Load() {
				n := next.Add(1)
				user, key := fmt.Sprintf("buyer-%d", n), fmt.Sprintf("key-%d", n)
				status, body, _ := buy(dev.url, user, key)
				if status != http.StatusAccepted {
					continue
				}
				var rc flashsale.Receipt
				if err := json.Unmarshal([]byte(body), &rc); err != nil {
					t.Errorf("202 body %q: %v", body, err)
					continue
				}
				mu.Lock()
				accepts = append(accepts, accepted{user: user, key: key, body: body, orderID: rc.OrderID})
				if len(accepts) >= 60 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(90 * time.Second):
		t.Fatalf("fewer than 60 purchases accepted in 90 s; stderr:\n%s", dev.stderr)
	}

	// Kill mid-burst: requests are in flight on every connection.
	children := stackChildrenOf(t, dev.cmd.Process.Pid)
	if len(children) != 2 {
		t.Fatalf("flashsale dev has children %v, want 2 (java and node)", children)
	}
	if err := dev.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	_ = dev.cmd.Wait()
	stopping.Store(true)
	wg.Wait()
	// The emulators die with their parent (parent-death signal); give the
	// kernel a moment to deliver it, polling rather than sleeping.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(stackChildrenAlive(children)) == 0 {
			break
		}
	}
	stackAssertGone(t, children)
	mu.Lock()
	before := append([]accepted(nil), accepts...)
	mu.Unlock()
	t.Logf("killed after %d accepted purchases, %d requests sent", len(before), next.Load())

	dev = startDev(t, bin, state, data)

	// Every 202 survived: it reads as reserved, and its key replays the
	// original body byte for byte.
	for i, a := range before {
		status, body := stackHTTP(t, "GET", dev.url+"/orders/"+a.orderID, map[string]string{"Authorization": "Bearer " + tokenOf(a.user)}, "")
		if status != http.StatusOK || !strings.Contains(body, `"status":"reserved"`) {
			t.Errorf("order %s answered 202 before the crash: GET = %d %s, want 200 reserved", a.orderID, status, body)
			continue
		}
		if i%5 == 0 { // replay a fifth of them; each replay is one more request
			status, body, h := buy(dev.url, a.user, a.key)
			if status != http.StatusAccepted || body != a.body || h.Get("Idempotent-Replayed") != "true" {
				t.Errorf("replay of %s: %d %q (replayed %q), want 202 with the original body", a.key, status, body, h.Get("Idempotent-Replayed"))
			}
		}
	}
	// And can be paid.
	if out := stackRunCLI(t, bin, "pay", "--state", state, "--order", before[0].orderID); !strings.HasPrefix(out, "200 OK\n") {
		t.Errorf("flashsale pay after the restart printed %q, want 200 OK", out)
	}

	// One pass after the grace makes everything whole. The wait is the
	// grace itself, measured from the kill: that is what settlement reads.
	if wait := crashGrace + time.Second - time.Since(killedAt); wait > 0 {
		time.Sleep(wait)
	}
	status, body := stackHTTP(t, "POST", dev.url+"/admin/sales/crash/settle", map[string]string{"Authorization": admin}, "")
	if status != http.StatusOK {
		t.Fatalf("settle: %d %s", status, body)
	}
	var rep flashsale.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	u := rep.Units
	kinds := map[string]int64{}
	for _, a := range rep.Adjustments {
		kinds[a.Kind] += a.Units
	}
	t.Logf("after one pass: %+v; adjustments (units by kind) %v", u, kinds)
	if u.Reserved+u.Paid < int64(len(before)) {
		t.Errorf("reserved %d + paid %d < %d orders answered 202: an accepted order was lost", u.Reserved, u.Paid, len(before))
	}
	if u.Reserved+u.Paid > stock {
		t.Errorf("oversell: reserved %d + paid %d > %d loaded", u.Reserved, u.Paid, stock)
	}
	if !rep.Balanced || u.InLimbo != 0 || u.Available+u.Reserved+u.Paid != u.Loaded || u.Loaded != stock {
		t.Errorf("after one pass: %+v balanced=%v, want available+reserved+paid == loaded %d, nothing in limbo", u, rep.Balanced, stock)
	}
	if u.Paid != 1 {
		t.Errorf("paid %d, want the 1 order paid after the restart", u.Paid)
	}

	children = stackChildrenOf(t, dev.cmd.Process.Pid)
	stackInterrupt(t, dev.cmd, dev.stderr)
	stackAssertGone(t, children)
}

// stackChildrenAlive returns those of pids that still run.
func stackChildrenAlive(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			alive = append(alive, pid)
		}
	}
	return alive
}
