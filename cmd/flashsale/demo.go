package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/ops/loadtest"
	"flashsale/shared/reportfmt"
	"flashsale/shared/webhook"
)

func init() { rootCmd.AddCommand(newDemoCmd()) }

type demoOptions struct {
	state    string
	units    int64
	buyers   int
	rate     float64
	payShare float64
	window   time.Duration
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play a whole flash sale on the local stack and check the invariants",
		Long: `demo uses the running local stack (or starts one, and stops it after):
it creates a sale, releases a crowd of buyers on it through the gateway with
a live progress bar, pays a share of the winners, lets the rest expire,
settles, prints the finance report, and verifies the invariants. It exits
non-zero if any fails.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.state, "state", "", "state folder of the local stack (default: the repo's .flashsale)")
	f.Int64Var(&o.units, "units", 1000, "units on sale")
	f.IntVar(&o.buyers, "buyers", 20000, "buyers in the crowd, one purchase attempt each")
	f.Float64Var(&o.rate, "rate", 4000, "arrival rate of the crowd, requests per second")
	f.Float64Var(&o.payShare, "pay", 0.6, "share of the winners who pay; the rest let their order expire")
	f.DurationVar(&o.window, "payment-window", 15*time.Second, "payment window of the demo sale")
	return cmd
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	if o.units < 1 || o.buyers < 1 || o.rate <= 0 || o.payShare < 0 || o.payShare > 1 || o.window < time.Second {
		return errors.New("demo: need units ≥ 1, buyers ≥ 1, rate > 0, 0 ≤ pay ≤ 1, payment window ≥ 1s")
	}
	started := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	state, err := stateDir(o.state)
	if err != nil {
		return err
	}
	info, stop, err := ensureStack(ctx, state, say)
	if err != nil {
		return err
	}
	defer stop()
	api, err := openAPI(state, info.GatewayURL)
	if err != nil {
		return err
	}
	issuer := api.issuer

	// The sale.
	saleID := fmt.Sprintf("demo-%d", time.Now().Unix())
	now := time.Now().UTC()
	shards := int(math.Ceil(float64(o.units) / 250)) // a few hundred units a shard keeps probes rare
	body, _ := json.Marshal(map[string]any{
		"saleId": saleID, "name": "Demo flash sale", "priceCents": 1999, "currency": "USD",
		"startsAt": now.Add(-time.Minute).Format(time.RFC3339), "endsAt": now.Add(time.Hour).Format(time.RFC3339),
		"stock": o.units, "perUserLimit": 1, "paymentWindowSeconds": int(o.window.Seconds()), "shards": min(shards, 1000),
	})
	if status, b, err := api.call(ctx, http.MethodPost, "/admin/sales", "admin", nil, body); err != nil || status != http.StatusCreated {
		return fmt.Errorf("create sale: %d %s %v", status, b, err)
	}
	say("sale %s: %d units at 19.99 USD, one per buyer, %s to pay", saleID, o.units, o.window)

	// The crowd: one token per buyer.
	say("minting %d buyer tokens...", o.buyers)
	tokens, err := mintCrowd(issuer, saleID+"-buyer-", o.buyers)
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions64(int64(o.buyers), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("buyers"), progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	var mu sync.Mutex
	var receipts []flashsale.Receipt
	res, err := loadtest.Run(ctx, loadtest.Config{
		Target: info.GatewayURL, SaleID: saleID, Tokens: tokens, APIKey: issuer.APIKey(),
		Mode: loadtest.Open, Rate: o.rate, Requests: int64(o.buyers), MaxInFlight: 256,
		Progress: func(p loadtest.Progress) { bar.Set64(p.Total()) },
		OnAnswer: func(status int, body []byte) {
			if status != http.StatusAccepted {
				return
			}
			var rc flashsale.Receipt
			if json.Unmarshal(body, &rc) == nil {
				mu.Lock()
				receipts = append(receipts, rc)
				mu.Unlock()
			}
		},
	})
	bar.Finish()
	if err != nil {
		return err
	}
	c := res.Status
	say("\nthe burst: %d requests in %.1f s (%.0f/s)", res.Requests, res.ElapsedSeconds, res.ThroughputPerSecond)
	say("  accepted %d · sold out %d · throttled %d · errors %d", c.Accepted, c.SoldOut, c.Throttled, c.Other)
	say("  latency p50 %.1f ms · p95 %.1f ms · p99 %.1f ms", res.Latency.P50Ms, res.Latency.P95Ms, res.Latency.P99Ms)

	// After the burst: a share pays, the rest expire.
	toPay := int(math.Round(float64(len(receipts)) * o.payShare))
	say("\n%d winners pay; %d let their order expire", toPay, len(receipts)-toPay)
	paid := make(map[string]bool, toPay)
	var payErr error
	var payMu sync.Mutex
	runParallel(16, toPay, func(i int) {
		rc := receipts[i]
		err := payOrder(ctx, api, issuer, rc)
		payMu.Lock()
		defer payMu.Unlock()
		if err != nil && payErr == nil {
			payErr = err
		}
		paid[rc.OrderID] = err == nil
	})
	if payErr != nil {
		return payErr
	}
	var lastExpiry time.Time
	for _, rc := range receipts {
		if t, err := time.Parse(time.RFC3339, rc.ExpiresAt); err == nil && t.After(lastExpiry) {
			lastExpiry = t
		}
	}
	if wait := time.Until(lastExpiry) + 1500*time.Millisecond; wait > 0 {
		say("waiting %s for the unpaid orders to expire...", wait.Round(time.Second))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// Settlement and the finance report.
	status, b, err := api.call(ctx, http.MethodPost, "/admin/sales/"+saleID+"/settle", "admin", nil, nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("settle: %d %s %v", status, b, err)
	}
	var rep flashsale.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	say("\nsettlement report")
	if len(rep.Orders) > 20 {
		// The table lists every order; keep the terminal readable.
		short := rep
		short.Orders = rep.Orders[:10]
		if err := reportfmt.WriteTable(stdout, short); err != nil {
			return err
		}
		say("  … and %d more order lines (flashsale report --sale %s --format csv)", len(rep.Orders)-10, saleID)
	} else if err := reportfmt.WriteTable(stdout, rep); err != nil {
		return err
	}

	failed := checkDemo(say, o, rep, receipts, paid)
	say("\ndemo finished in %s", time.Since(started).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d invariant checks failed", failed)
	}
	return nil
}

// checkDemo verifies the invariants on the settled sale and says each.
func checkDemo(say func(string, ...any), o demoOptions, rep flashsale.Report, receipts []flashsale.Receipt, paid map[string]bool) int {
	failed := 0
	check := func(ok bool, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark, failed = "FAIL", failed+1
		}
		say("  %s %s", mark, fmt.Sprintf(format, args...))
	}
	u := rep.Units
	nPaid := int64(0)
	for _, ok := range paid {
		if ok {
			nPaid++
		}
	}
	say("\ninvariants")
	check(int64(len(receipts)) <= o.units, "no oversell: %d accepted ≤ %d units", len(receipts), o.units)
	check(rep.Balanced, "books balance: available %d + reserved %d + paid %d = loaded %d; restocked %d = expired %d + cancelled %d",
		u.Available, u.Reserved, u.Paid, u.Loaded, u.Restocked, u.Expired, u.Cancelled)
	lines := map[string]int{}
	perUser := map[string]int64{}
	for _, l := range rep.Orders {
		lines[l.OrderID]++
		if l.Status == string(flashsale.OrderPaid) || l.Status == string(flashsale.OrderReserved) {
			perUser[l.UserID] += l.Quantity
		}
	}
	once := 0
	for _, rc := range receipts {
		if lines[rc.OrderID] == 1 {
			once++
		}
	}
	check(once == len(receipts) && len(rep.Orders) == len(receipts), "every 202 appears exactly once in the report (%d of %d; %d lines)", once, len(receipts), len(rep.Orders))
	over := 0
	for _, n := range perUser {
		if n > 1 {
			over++
		}
	}
	check(over == 0, "per-user limit: no buyer holds more than 1 unit (%d over)", over)
	check(u.Paid == nPaid && u.Expired == int64(len(receipts))-nPaid && u.Reserved == 0,
		"every order is final: %d paid, %d expired, %d still reserved", u.Paid, u.Expired, u.Reserved)
	check(rep.RevenueCents == u.Paid*1999, "revenue %s = paid units × price", reportfmt.Money(rep.RevenueCents, rep.Currency))
	check(u.Available == u.Loaded-u.Paid, "expired units are back on sale: %d available", u.Available)
	return failed
}

func payOrder(ctx context.Context, api *apiClient, issuer *devauth.Issuer, rc flashsale.Receipt) error {
	body, _ := json.Marshal(flashsale.Payment{EventID: "evt_" + flashsale.NewUniqueID(), OrderID: rc.OrderID,
		AmountCents: rc.AmountCents, Currency: rc.Currency, Status: flashsale.PaymentSucceeded})
	sig := webhook.Sign([]byte(issuer.WebhookSecret()), time.Now(), body)
	status, b, err := api.call(ctx, http.MethodPost, "/payments/webhook", "", map[string]string{webhook.Header: sig}, body)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("pay %s: %d %s %v", rc.OrderID, status, b, err)
	}
	return nil
}

// mintCrowd signs tokens for users prefix1…prefixN on every core; RS256 signing is the
// slow part of preparing a crowd.
func mintCrowd(issuer *devauth.Issuer, prefix string, n int) ([]string, error) {
	tokens := make([]string, n)
	var mu sync.Mutex
	var first error
	runParallel(0, n, func(i int) {
		tok, err := issuer.Token(devauth.TokenRequest{UserID: prefix + strconv.Itoa(i+1), TTL: time.Hour})
		if err != nil {
			mu.Lock()
			first = errors.Join(first, err)
			mu.Unlock()
		}
		tokens[i] = tok
	})
	return tokens, first
}

// runParallel calls f(i) for i in [0,n) on workers goroutines (0: one per CPU).
func runParallel(workers, n int, f func(i int)) {
	if workers <= 0 {
		workers = max(1, runtime.NumCPU())
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// ensureStack returns the running local stack, or starts `flashsale dev` on
// free ports in the background and returns a function that stops it.
func ensureStack(ctx context.Context, state string, say func(string, ...any)) (devstack.StackInfo, func(), error) {
	if info, err := devstack.ReadStackInfo(state); err == nil {
		say("using the local stack at %s", info.GatewayURL)
		return info, func() {}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return devstack.StackInfo{}, nil, err
	}
	ports := make([]string, 3)
	for i := range ports {
		p, err := devstack.FreePort()
		if err != nil {
			return devstack.StackInfo{}, nil, err
		}
		ports[i] = strconv.Itoa(p)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return devstack.StackInfo{}, nil, err
	}
	logPath := filepath.Join(state, "demo-stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return devstack.StackInfo{}, nil, err
	}
	cmd := exec.Command(self, "dev", "--state", state, "--port", ports[0], "--dynamodb-port", ports[1], "--sqs-port", ports[2])
	cmd.Stdout, cmd.Stderr = logFile, logFile
	say("starting the local stack (log: %s)...", logPath)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return devstack.StackInfo{}, nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.After(120 * time.Second)
	for {
		if info, err := devstack.ReadStackInfo(state); err == nil {
			if resp, err := http.Get(info.GatewayURL + "/sales/demo"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					say("local stack up at %s", info.GatewayURL)
					return info, stop, nil
				}
			}
		}
		select {
		case <-exited:
			return devstack.StackInfo{}, nil, fmt.Errorf("the local stack exited while starting; see %s", logPath)
		case <-deadline:
			stop()
			return devstack.StackInfo{}, nil, fmt.Errorf("the local stack did not come up in 120 s; see %s", logPath)
		case <-ctx.Done():
			stop()
			return devstack.StackInfo{}, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
