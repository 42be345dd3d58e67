package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
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
	// challengeMax is the demo sale's challengeMaxNumber.
	challengeMax int64
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play a whole flash sale on the local stack and check the invariants",
		Long: `demo uses the running local stack (or starts one in-process on free ports, and
stops it after). First the preparation: it imports a sale opening 20 s later
from a catalog file (flashsale sales import), 100 buyers ask to be reminded,
and it waits for the sale's warm-up and remind schedules to fire (on a stack
of its own the lead is 15 s; a running 'make dev' fires them at once), then
runs the notifier once more to show nobody is reminded twice. When the sale
opens it releases a crowd of buyers on it through
the gateway with a live progress bar. Each buyer goes through the sale's
admission with the reference client (shared/client): challenge, solve,
purchase token, then the order with its token. A share of the winners pay
right after their 202, the rest let their order expire. Once the payment window after the
last acceptance has passed it settles, prints the finance report and verifies
the invariants. It exits non-zero if any fails.`,
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
	f.Int64Var(&o.challengeMax, "challenge-max", demoChallengeMax,
		"the demo sale's challengeMaxNumber (0: tokens without a challenge); the crowd solves on the same cores as the stack")
	return cmd
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	if o.units < 1 || o.buyers < 1 || o.rate <= 0 || o.payShare < 0 || o.payShare > 1 || o.window < time.Second || o.challengeMax < 0 {
		return errors.New("demo: need units ≥ 1, buyers ≥ 1, rate > 0, 0 ≤ pay ≤ 1, payment window ≥ 1s, challenge-max ≥ 0")
	}
	started := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	state, err := stateDir(o.state)
	if err != nil {
		return err
	}
	api, stop, err := demoStack(ctx, state, say)
	if err != nil {
		return err
	}
	defer stop()
	saleID := fmt.Sprintf("demo-%d", time.Now().Unix())
	say("minting %d buyer tokens...", o.buyers)
	tokens, err := mintCrowd(api.issuer, saleID+"-buyer-", o.buyers)
	if err != nil {
		return err
	}
	prep, err := prepareDemoSale(ctx, api, state, o, saleID, tokens, say, stdout, stderr)
	if err != nil {
		return err
	}
	say("\nsale %s: %d units at 19.99 USD, one per buyer, %s to pay; purchase tokens on, challenge maxNumber %d", saleID, o.units, o.window, o.challengeMax)
	c, err := runCrowd(ctx, api, o, saleID, tokens, say, stderr)
	if err != nil {
		return err
	}
	if err := waitForExpiry(ctx, c.unpaidExpiry(), say); err != nil {
		return err
	}
	rep, err := settleDemo(ctx, api, saleID, stdout, say)
	if err != nil {
		return err
	}
	failed := checkDemo(say, o, rep, c, prep)
	files, err := saveDemoReports(ctx, api, state, saleID)
	if err != nil {
		return err
	}
	say("\nfinance reports (as the report route serves them):")
	for _, f := range files {
		say("  %s", f)
	}
	say("\ndemo finished in %s", time.Since(started).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d invariant checks failed", failed)
	}
	return nil
}

// demoStack returns a client for the running local stack, or opens a stack
// of its own on free ports (its log goes to the state folder) and returns
// the function that closes it.
func demoStack(ctx context.Context, state string, say func(string, ...any)) (*apiClient, func(), error) {
	// Enough idle connections for the payers, who call while the crowd runs.
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	if info, err := devstack.ReadStackInfo(state); err == nil {
		say("using the local stack at %s", info.GatewayURL)
		api, err := openAPI(state, info.GatewayURL)
		if err != nil {
			return nil, nil, err
		}
		api.client = client
		return api, func() {}, nil
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(state, "demo-stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	say("starting the local stack (log: %s)...", logPath)
	limits, err := apispec.LimitsFor("dev") // as `flashsale dev` runs by default
	if err != nil {
		return nil, nil, err
	}
	st, err := devstack.Open(ctx, devstack.Config{
		StateDir: state, Limits: limits, Seed: devstack.SeedDemo, Lead: demoLead, Logger: slog.New(slog.NewTextHandler(logFile, nil)),
	})
	if err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("start the local stack (log: %s): %w", logPath, err)
	}
	say("local stack up at %s", st.URL)
	return &apiClient{url: st.URL, issuer: st.Issuer, client: client}, func() { st.Close(); logFile.Close() }, nil
}

// demoChallengeMax is the demo sale's challenge difficulty. A phone solves
// the default 50,000 in well under a second, but here one machine solves for
// the whole crowd beside the stack: 50,000 costs about 8 ms of CPU a buyer
// (docs/BENCHMARKS.md), which would stretch the demo to minutes.
const demoChallengeMax = 2000

// runCrowd releases the crowd on the sale with a progress bar. A share of
// the winners pay as soon as their 202 arrives, each on their own, as real
// buyers do; so a slow machine (a cold DynamoDB Local, a busy CPU) stretches
// the burst, not the time between a buyer's order and their payment.
func runCrowd(ctx context.Context, api *apiClient, o demoOptions, saleID string, tokens []string,
	say func(string, ...any), stderr io.Writer) (*crowd, error) {
	c := &crowd{share: o.payShare, results: map[string]string{}}
	crowdHTTP := newCrowdOf(tokens, apispec.IntegrationTimeout+5*time.Second)
	admit, err := crowdHTTP.admission(ctx, api.url, api.issuer.APIKey(), saleID, tokens, apispec.IntegrationTimeout+5*time.Second)
	if err != nil {
		return nil, err
	}
	var payers sync.WaitGroup
	bar := progressbar.NewOptions64(int64(o.buyers), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("buyers"), progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	res, err := loadtest.Run(ctx, loadtest.Config{
		Target: api.url, SaleID: saleID, Tokens: tokens, APIKey: api.issuer.APIKey(),
		Mode: loadtest.Open, Rate: o.rate, Requests: int64(o.buyers), MaxInFlight: 256,
		// Longer than API Gateway's 29 s, so every buyer hears the gateway's
		// answer rather than giving up on an order that then exists.
		Timeout:       apispec.IntegrationTimeout + 5*time.Second,
		PurchaseToken: admit,
		HTTPFor:       crowdHTTP.httpFor,
		Progress:      func(p loadtest.Progress) { bar.Set64(p.Total()) },
		OnAnswer: func(status int, body []byte) {
			at := time.Now()
			var rc flashsale.Receipt
			if status == http.StatusAccepted && json.Unmarshal(body, &rc) == nil && c.accept(rc) {
				payers.Go(func() { c.pay(ctx, api, rc, at) })
			}
		},
	})
	bar.Finish()
	payers.Wait()
	if err != nil {
		return nil, err
	}
	n := res.Status
	c.errors = n.Other
	say("\nthe burst: %d requests in %.1f s (%.0f/s)", res.Requests, res.ElapsedSeconds, res.ThroughputPerSecond)
	say("  accepted %d · sold out %d · throttled %d · errors %d (answers by status: %s)", n.Accepted, n.SoldOut, n.Throttled, n.Other, loadtest.FormatCodes(res.Codes))
	say("  latency p50 %.1f ms · p95 %.1f ms · p99 %.1f ms", res.Latency.P50Ms, res.Latency.P95Ms, res.Latency.P99Ms)
	paid, late := c.count()
	say("\n%d winners paid right after their 202 (%d in time, %d too late: refund due); %d let their order expire",
		paid+late, paid, late, len(c.receipts)-paid-late)
	say("  from the 202 to the payment's 200: p50 %s · max %s", c.delay(0.5), c.delay(1))
	return c, c.payErr
}

// crowd is what the burst produced: the 202 receipts in arrival order and
// what each payment's webhook answered.
type crowd struct {
	share float64

	mu       sync.Mutex
	receipts []flashsale.Receipt
	results  map[string]string // order ID → the webhook's result: paid or refund_due
	delays   []time.Duration   // from the 202 to the payment's 200
	payErr   error
	// errors counts requests answered neither 202 nor a clean refusal
	// (e.g. 502 after a timeout): an order may exist for them unseen.
	errors int64
}

// accept records a receipt and says whether its buyer pays: the n-th winner
// pays when floor(n × share) grows, which spreads payers evenly over the
// burst and makes them floor(winners × share) in all.
func (c *crowd) accept(rc flashsale.Receipt) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receipts = append(c.receipts, rc)
	n := float64(len(c.receipts))
	return math.Floor(n*c.share) > math.Floor((n-1)*c.share)
}

// pay sends the order's payment webhook, as the payment provider would: it
// retries with the same event ID while the gateway throttles (429) or is
// briefly unavailable (5xx), since the crowd shares the stage's limit.
func (c *crowd) pay(ctx context.Context, api *apiClient, rc flashsale.Receipt, accepted time.Time) {
	body, _ := json.Marshal(flashsale.Payment{EventID: "evt_" + flashsale.NewUniqueID(), OrderID: rc.OrderID,
		AmountCents: rc.AmountCents, Currency: rc.Currency, Status: flashsale.PaymentSucceeded})
	backoff := 20 * time.Millisecond
	for deadline := accepted.Add(2 * time.Minute); ; {
		sig := webhook.Sign([]byte(api.issuer.WebhookSecret()), time.Now(), body)
		status, b, err := api.call(ctx, http.MethodPost, "/payments/webhook", "", map[string]string{webhook.Header: sig}, body)
		var answer struct{ Result string }
		switch {
		case err == nil && status == http.StatusOK && json.Unmarshal(b, &answer) == nil:
			c.mu.Lock()
			c.results[rc.OrderID] = answer.Result
			c.delays = append(c.delays, time.Since(accepted))
			c.mu.Unlock()
			return
		case (err == nil && status != http.StatusTooManyRequests && status < 500) || time.Now().After(deadline) || ctx.Err() != nil:
			c.mu.Lock()
			perr := err
			if perr == nil {
				_, msg := apiError(b)
				perr = fmt.Errorf("the gateway answered %d %s", status, msg)
			}
			c.payErr = errors.Join(c.payErr, fmt.Errorf("pay %s: %w", rc.OrderID, perr))
			c.mu.Unlock()
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// count returns the payments that paid their order and those that came too
// late and became a refund due.
func (c *crowd) count() (paid, late int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.results {
		switch r {
		case flashsale.LedgerPaid:
			paid++
		case flashsale.LedgerRefundDue:
			late++
		}
	}
	return paid, late
}

// delay is the q-quantile of the time from a 202 to its payment's 200.
func (c *crowd) delay(q float64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.delays) == 0 {
		return 0
	}
	d := slices.Clone(c.delays)
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))].Round(time.Millisecond)
}

// unpaidExpiry is when the last order not paid in time expires: the payment
// window after the last such acceptance.
func (c *crowd) unpaidExpiry() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, rc := range c.receipts {
		t, err := time.Parse(time.RFC3339, rc.ExpiresAt)
		if err == nil && c.results[rc.OrderID] != flashsale.LedgerPaid && t.After(last) {
			last = t
		}
	}
	return last
}

// waitForExpiry waits until every unpaid order has expired. expiresAt has
// whole seconds and the true expiry may be up to a second later.
func waitForExpiry(ctx context.Context, last time.Time, say func(string, ...any)) error {
	wait := time.Until(last.Add(time.Second))
	if wait <= 0 {
		return nil
	}
	say("waiting %s for the unpaid orders to expire...", wait.Round(time.Second))
	select {
	case <-time.After(wait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settleDemo settles the sale on demand and prints the finance report. It
// settles again while the report still holds reserved units (an order that
// expired a moment after the run read it), or while a scheduled run holds
// the sale's lease, a bounded number of times.
func settleDemo(ctx context.Context, api *apiClient, saleID string, stdout io.Writer, say func(string, ...any)) (flashsale.Report, error) {
	var rep flashsale.Report
	for attempt := 1; ; attempt++ {
		status, b, err := api.call(ctx, http.MethodPost, "/admin/sales/"+saleID+"/settle", "admin", nil, nil)
		retry := err == nil && status == http.StatusConflict
		if err == nil && status == http.StatusOK {
			if err := json.Unmarshal(b, &rep); err != nil {
				return rep, fmt.Errorf("settle: %w", err)
			}
			retry = rep.Units.Reserved > 0
		} else if err != nil {
			return rep, fmt.Errorf("settle: %w", err)
		} else if !retry {
			return rep, reportError("settle", "sale "+saleID, status, b)
		}
		if !retry || attempt == 5 {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return rep, ctx.Err()
		}
	}
	say("\nsettlement report")
	if len(rep.Orders) > 20 {
		// The table lists every order; keep the terminal readable.
		short := rep
		short.Orders = rep.Orders[:10]
		if err := reportfmt.WriteTable(stdout, short); err != nil {
			return rep, err
		}
		say("  … and %d more order lines (flashsale report --sale %s --format csv)", len(rep.Orders)-10, saleID)
		return rep, nil
	}
	return rep, reportfmt.WriteTable(stdout, rep)
}

// checkDemo verifies the invariants on the settled sale and says each.
func checkDemo(say func(string, ...any), o demoOptions, rep flashsale.Report, c *crowd, p prepared) int {
	failed := 0
	check := func(ok bool, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark, failed = "FAIL", failed+1
		}
		say("  %s %s", mark, fmt.Sprintf(format, args...))
	}
	u := rep.Units
	accepted := int64(len(c.receipts))
	paid, late := c.count()
	say("\ninvariants")
	check(accepted <= o.units, "no oversell: %d accepted ≤ %d units", accepted, o.units)
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
	for _, rc := range c.receipts {
		if lines[rc.OrderID] == 1 {
			once++
		}
	}
	// Lines without a 202 are orders whose buyer got an error instead (the
	// lost-202 case); there can be no more of them than such errors.
	unseen := int64(len(rep.Orders) - once)
	check(once == len(c.receipts) && unseen <= c.errors,
		"every 202 appears exactly once in the report (%d of %d; %d more lines, for requests answered an error: at most %d)",
		once, len(c.receipts), unseen, c.errors)
	over := 0
	for _, n := range perUser {
		if n > 1 {
			over++
		}
	}
	check(over == 0, "per-user limit: no buyer holds more than 1 unit (%d over)", over)
	check(u.Reserved == 0 && u.Paid == int64(paid) && u.Paid+u.Expired+u.Cancelled == int64(len(rep.Orders)),
		"every order is final: %d paid (%d payments in time), %d expired, %d still reserved", u.Paid, paid, u.Expired, u.Reserved)
	expiredRefunds := 0
	for _, r := range rep.Refunds {
		if r.Reason == flashsale.ReasonExpired {
			expiredRefunds++
		}
	}
	check(expiredRefunds == late && rep.RefundsDueCents == int64(late)*1999,
		"no payment dropped: %d late payments, %d refunds due for expired orders (%s)", late, expiredRefunds, reportfmt.Money(rep.RefundsDueCents, rep.Currency))
	check(rep.RevenueCents == u.Paid*1999, "revenue %s = paid units × price", reportfmt.Money(rep.RevenueCents, rep.Currency))
	check(u.Available == u.Loaded-u.Paid, "expired units are back on sale: %d available", u.Available)
	once, extra := 0, 0
	for _, user := range p.subscribers {
		if p.reminded[user] == 1 {
			once++
		}
	}
	for _, n := range p.reminded {
		extra += n
	}
	check(once == len(p.subscribers) && extra == len(p.subscribers),
		"reminders: each of %d subscribers got exactly one over two remind runs (%d of them once; %d outbox lines)", len(p.subscribers), once, extra)
	return failed
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

// saveDemoReports writes the sale's report as a workbook and as a page
// under the state folder and returns their paths.
func saveDemoReports(ctx context.Context, api *apiClient, state, saleID string) ([]string, error) {
	dir := filepath.Join(state, "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports folder: %w", err)
	}
	var paths []string
	for _, format := range []string{flashsale.FormatXLSX, flashsale.FormatHTML} {
		status, body, err := api.call(ctx, http.MethodGet, "/admin/sales/"+saleID+"/report", apispec.GroupFinance,
			map[string]string{"Accept": reportfmt.ContentType(format)}, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, reportError("report", "sale "+saleID, status, body)
		}
		path := filepath.Join(dir, saleID+"-report"+reportfmt.Ext(format))
		if err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(body); return err }); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
