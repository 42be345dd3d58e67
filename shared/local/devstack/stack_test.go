package devstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/client"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
	"flashsale/shared/s3reports"
	"flashsale/shared/webhook"
)

// TestOpen_AnswersOnly503UntilTheDemoSaleIsServed polls GET /sales/demo from
// before the port listens until the stack has answered 200 many times in a
// row. While it starts, the stack may refuse connections or answer 503; it
// must never answer anything else (a 404 for the demo sale was the bug), and
// once it answers 200 it must stay ready.
func TestOpen_AnswersOnly503UntilTheDemoSaleIsServed(t *testing.T) {
	cfg := testenv.StackConfig(t)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	url := "http://" + cfg.Addr + "/sales/" + devstack.DemoSaleID

	type answer struct {
		status int
		body   string
		seeded bool // the seed had finished when the answer arrived
	}
	var (
		mu       sync.Mutex
		answers  []answer
		seeded   atomic.Bool
		seeding  = make(chan struct{}) // closed when the seed starts
		answered = make(chan struct{}) // closed at the first answer after that
		once     sync.Once
		done     = make(chan struct{})
	)
	const wantReadyRun = 20
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 10 * time.Second}
		ready := 0
		for deadline := time.Now().Add(3 * time.Minute); ready < wantReadyRun && time.Now().Before(deadline); {
			resp, err := client.Get(url)
			if err != nil {
				// Not listening yet: try again at once, but do not spin a
				// core the stack needs to start.
				time.Sleep(2 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a := answer{status: resp.StatusCode, body: string(b), seeded: seeded.Load()}
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
			select {
			case <-seeding:
				once.Do(func() { close(answered) })
			default:
			}
			if a.status == http.StatusOK {
				ready++
			} else {
				time.Sleep(2 * time.Millisecond) // as above
			}
		}
	}()

	// The seed waits until the poller has had an answer, so the test always
	// looks into the window in which the gateway listens and the app is
	// built but the demo sale does not exist yet.
	cfg.Seed = func(ctx context.Context, a *app.App) error {
		close(seeding)
		select {
		case <-answered:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := devstack.SeedDemo(ctx, a)
		seeded.Store(true)
		return err
	}
	testenv.OpenStack(t, cfg)
	<-done

	mu.Lock()
	defer mu.Unlock()
	counts := map[int]int{}
	firstOK := -1
	for i, a := range answers {
		counts[a.status]++
		switch {
		case a.status != http.StatusOK && a.status != http.StatusServiceUnavailable:
			t.Errorf("answer %d: %d %s; want only 503 while starting, then 200", i, a.status, a.body)
		case a.status == http.StatusOK && !a.seeded:
			t.Errorf("answer %d: 200 before the demo sale was seeded", i)
		case a.status == http.StatusOK && firstOK < 0:
			firstOK = i
			if !strings.Contains(a.body, `"status":"open"`) {
				t.Errorf("first 200 = %s, want the open demo sale", a.body)
			}
		case a.status == http.StatusServiceUnavailable && firstOK >= 0:
			t.Errorf("answer %d: 503 after the stack was ready (answer %d was 200)", i, firstOK)
		}
	}
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusOK] < wantReadyRun {
		t.Errorf("answers by status %v; want some 503s while starting and %d 200s after", counts, wantReadyRun)
	}
	t.Logf("answers by status: %v", counts)
}

// TestOpen_ServesAPurchaseEndToEnd buys, pays and settles through the
// stack's gateway and checks stack.json lives exactly as long as the stack.
func TestOpen_ServesAPurchaseEndToEnd(t *testing.T) {
	cfg := testenv.StackConfig(t)
	cfg.Seed = devstack.SeedDemo
	cfg.Limits, _ = apispec.LimitsFor("dev")
	st := testenv.OpenStack(t, cfg)

	info, err := devstack.ReadStackInfo(cfg.StateDir)
	if err != nil || info.GatewayURL != st.URL || info.Settings.SalesTable != cfg.Prefix+"Sales" {
		t.Fatalf("stack.json = %+v, %v; want gateway %s and table %sSales", info, err, st.URL, cfg.Prefix)
	}
	// The demo sale asks for a purchase token: the reference client runs
	// the challenge, the solve and the token before the order.
	buyer := &client.Client{BaseURL: st.URL, Token: token(t, st.Issuer, "alice"), APIKey: st.Issuer.APIKey()}
	p, err := buyer.Buy(t.Context(), "demo", 1)
	if err != nil {
		t.Fatalf("buy from the demo sale: %v, want 202", err)
	}
	rc := p.Order
	pay, _ := json.Marshal(flashsale.Payment{EventID: "evt-1", OrderID: rc.OrderID, AmountCents: rc.AmountCents,
		Currency: rc.Currency, Status: flashsale.PaymentSucceeded})
	if status, body := call(t, "POST", st.URL+"/payments/webhook", string(pay),
		webhook.Header, webhook.Sign([]byte(st.Issuer.WebhookSecret()), time.Now(), pay)); status != http.StatusOK {
		t.Fatalf("webhook = %d %s, want 200", status, body)
	}
	status, body := call(t, "POST", st.URL+"/admin/sales/demo/settle", "", "Authorization", token(t, st.Issuer, "ops", apispec.GroupAdmin))
	var rep flashsale.Report
	if status != http.StatusOK || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("settle = %d %s, want 200 with the report", status, body)
	}
	if !rep.Balanced || rep.Units.Paid != 1 || len(rep.Orders) != 1 || rep.Orders[0].OrderID != rc.OrderID {
		t.Errorf("report: balanced %v, units %+v, orders %+v; want balanced with order %s paid", rep.Balanced, rep.Units, rep.Orders, rc.OrderID)
	}
	// stack.json names the reports bucket, and settlement put every
	// format of the report there.
	if info.Settings.S3Endpoint != st.S3.Endpoint || info.Settings.ReportsBucket == "" {
		t.Errorf("stack.json settings %+v; want S3 endpoint %s and a reports bucket", info.Settings, st.S3.Endpoint)
	}
	s3c := awsclient.S3(st.AWS, info.Settings)
	for _, format := range flashsale.ReportFormats {
		key := s3reports.Key("demo", format)
		if _, err := s3c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &info.Settings.ReportsBucket, Key: &key}); err != nil {
			t.Errorf("report file %s: %v", key, err)
		}
	}

	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := devstack.ReadStackInfo(cfg.StateDir); !errors.Is(err, devstack.ErrNotRunning) {
		t.Errorf("ReadStackInfo after Close: %v, want ErrNotRunning", err)
	}
	if _, err := http.Get(st.URL + "/sales/demo"); err == nil {
		t.Errorf("the gateway still answers after Close")
	}
	if _, err := http.Get(st.S3.Endpoint); err == nil {
		t.Errorf("the S3 server still answers after Close")
	}
}

func TestOpen_LimitsReachTheGateway(t *testing.T) {
	tests := []struct {
		name     string
		limits   apispec.Limits
		noIPRule bool
		want429s bool
	}{
		{"one request a second", apispec.Limits{Stage: apispec.Throttle{RateLimit: 1, BurstLimit: 1}}, false, true},
		{"limits off", apispec.Limits{}, false, false},
		{"per-IP rate rule", apispec.Limits{WAFRateLimit: 10}, false, true},
		{"per-IP rate rule off", apispec.Limits{WAFRateLimit: 10}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.StackConfig(t)
			cfg.Limits = tc.limits
			cfg.NoIPRateRule = tc.noIPRule
			cfg.NoBackground = true
			st := testenv.OpenStack(t, cfg)
			throttled := 0
			for range 20 {
				if status, _ := call(t, "GET", st.URL+"/sales/none", ""); status == http.StatusTooManyRequests {
					throttled++
				}
			}
			if got := throttled > 0; got != tc.want429s {
				t.Errorf("%d of 20 quick requests throttled; want throttling %v", throttled, tc.want429s)
			}
		})
	}
}

// TestOpen_OwnEmulatorsStopOnClose opens a stack that starts its own
// emulators on free ports and checks Close leaves no child process.
func TestOpen_OwnEmulatorsStopOnClose(t *testing.T) {
	root, err := devstack.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devstack.DynamoDBLocalDir(root); err != nil {
		if os.Getenv(testenv.EnvRequireEmulators) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	state := t.TempDir()
	st, err := devstack.Open(t.Context(), devstack.Config{Root: root, StateDir: state, NoBackground: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	pids := st.Emulators.PIDs()
	if len(pids) != 2 {
		t.Fatalf("emulator PIDs %v, want 2", pids)
	}
	if status, body := call(t, "GET", st.URL+"/sales/none", ""); status != http.StatusNotFound {
		t.Errorf("GET /sales/none = %d %s, want the handler's 404", status, body)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !devstack.Gone(pid) {
			t.Errorf("emulator %d (or its group) still runs after Close", pid)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(state, "logs", "*.log")); len(logs) != 2 {
		t.Errorf("emulator logs %v, want dynamodb.log and sqs.log in the state folder", logs)
	}
}

func TestOpen_BusyPortFailsFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// No emulator endpoints: had Open not failed on the port first, it
	// would start emulators.
	_, err = devstack.Open(t.Context(), devstack.Config{StateDir: t.TempDir(), Addr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "is busy") || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("Open on a busy port = %v, want an error saying it is busy and naming --port", err)
	}
}

func token(tb testing.TB, iss *devauth.Issuer, user string, groups ...string) string {
	tb.Helper()
	tok, err := iss.Token(devauth.TokenRequest{UserID: user, Groups: groups})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// call sends one request; headers are name/value pairs.
func call(tb testing.TB, method, url, body string, headers ...string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		tb.Fatal(fmt.Errorf("%s %s: %w", method, url, err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
