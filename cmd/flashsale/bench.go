package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"flashsale/shared/awsclient"
	"flashsale/shared/client"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/callcount"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/ops/bench"
	"flashsale/shared/ops/loadtest"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

type benchOptions struct {
	runs     int
	duration time.Duration
	inFlight int
	rejectIn int
	out      string
	goBench  bool
	// keepProfiles keeps the CPU profiles in this folder.
	keepProfiles string
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark suite on this machine and rewrite docs/BENCHMARKS.md",
		Long: `bench starts its own emulators, gateway and a bare net/http baseline on free
loopback ports, then measures, each --runs times, side by side in one run:
the store's raw conditional-UpdateItem ceiling, accepted purchases through the
gateway, the sold-out rejection path (without and with purchase tokens)
against the bare server, store and queue calls per request, and latency. It
adds the cost of challenge and token verification (testing.Benchmark) and the
median solve time at the default difficulty, Go benchmarks of the handlers
(benchstat) and each bootstrap's size and init time, and writes the medians.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.runs, "runs", 3, "repetitions of each measurement; figures are medians")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load measurement")
	f.IntVar(&o.inFlight, "in-flight", 64, "concurrent requests for the store ceiling and the purchase path")
	f.IntVar(&o.rejectIn, "reject-in-flight", 128, "concurrent requests for the sold-out path and its baseline")
	f.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "where to write the results")
	f.BoolVar(&o.goBench, "go-bench", true, "also run the handler Go benchmarks through benchstat")
	f.StringVar(&o.keepProfiles, "profiles", "", "keep the CPU profiles of the first run in this folder")
	return cmd
}

// benchRun is one repetition's figures.
type benchRun struct {
	ceiling                  float64 // conditional UpdateItem/s on one item
	txn                      float64 // TransactWriteItems/s of 3 fresh items
	accepted                 float64 // accepted purchases/s through the gateway
	acceptedP50, acceptedP99 float64
	storePerAccepted         float64
	queuePerAccepted         float64
	rejected                 float64 // sold-out answers/s through the gateway
	rejectedP50, rejectedP99 float64
	storePerRejected         float64
	queuePerRejected         float64
	// The same sold-out path on a sale with purchase tokens, every request
	// carrying its buyer's valid token: reserve checks it (one HMAC) before
	// the sold-out flag.
	rejectedTok                    float64
	rejectedTokP50, rejectedTokP99 float64
	storePerRejectedTok            float64
	queuePerRejectedTok            float64
	bare                           float64 // the bare 410 server, same load
	bareP50, bareP99               float64
	// bareTok is the bare server under figure 4's load: the same requests,
	// each carrying its Purchase-Token header, so the ratio compares like
	// with like (the header costs the load generator and net/http too).
	bareTok            float64
	dynamoCPU, selfCPU float64 // CPU seconds during the purchase run
}

func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	started := time.Now()
	root, err := devstack.FindRoot(".")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flashsale-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b, err := openBench(ctx, o, root, tmp, stderr)
	if err != nil {
		return err
	}
	defer b.close()

	if err := b.warmUp(ctx); err != nil {
		return err
	}
	var runs []benchRun
	for i := range o.runs {
		r, err := b.run(ctx, i)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		b.step("run %d/%d: ceiling %.0f/s, accepted %.0f/s, rejected %.0f/s, bare %.0f/s", i+1, o.runs, r.ceiling, r.accepted, r.rejected, r.bare)
	}
	top, rejectTop := pprofTop(b.profile), pprofTop(b.rejectProfile)
	b.step("admission: verification benchmarks and %d solves at maxNumber %d", admissionSolves, admissionDefaultMax)
	adm, err := bench.MeasureAdmission(ctx, admissionDefaultMax, admissionSolves)
	if err != nil {
		return err
	}

	var goBench string
	if o.goBench {
		b.step("handler Go benchmarks (benchstat)")
		if goBench, err = handlerBenchmarks(ctx, root); err != nil {
			return err
		}
	}
	b.step("bootstrap sizes and init times")
	boots, err := bootstraps(ctx, root, tmp, b.st, o.runs)
	if err != nil {
		return err
	}
	doc := benchDoc(o, runs, adm, top, rejectTop, goBench, boots, time.Since(started))
	path := o.out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	// The soak and reports sections come from runs of their own (`make
	// soak`, the report benchmarks): keep them.
	if old, err := os.ReadFile(path); err == nil {
		for _, m := range [][2]string{{reportsBegin, reportsEnd}, {soakBegin, soakEnd}} {
			if kept := sectionOf(old, m[0], m[1]); kept != "" {
				doc = withSection(doc, m[0], m[1], kept)
			}
		}
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s in %s\n", o.out, time.Since(started).Round(time.Second))
	return nil
}

// Markers around the reports section (docs/BENCHMARKS.md), written from
// the report renderers' and archive's Go benchmarks.
const (
	reportsBegin = "<!-- reports:begin -->"
	reportsEnd   = "<!-- reports:end -->"
)

// benchEnv is what every measurement shares: a local stack of its own with
// call counters under the app's clients, a bare baseline server, and tokens.
type benchEnv struct {
	o                      benchOptions
	st                     *devstack.Stack
	storeCalls, queueCalls *callcount.Counter
	bareURL                string
	stopBare               func()
	tokens                 []string
	now                    time.Time
	step                   func(format string, args ...any)
	// profile and rejectProfile receive the first run's CPU profiles.
	profile, rejectProfile string
}

// openBench starts the stack on free ports with throttling off (the bench
// measures the code and the store, not the configured limits, which would
// cap it at a few thousand req/s), one attempt per SDK call, and no poller
// or schedule (deployed, the order writer runs on its own capacity).
func openBench(ctx context.Context, o benchOptions, root, tmp string, stderr io.Writer) (*benchEnv, error) {
	b := &benchEnv{o: o, storeCalls: &callcount.Counter{}, queueCalls: &callcount.Counter{}, now: time.Now().UTC(),
		step:    func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) },
		profile: filepath.Join(tmp, "purchase.pprof"), rejectProfile: filepath.Join(tmp, "reject.pprof")}
	if o.keepProfiles != "" {
		b.profile, b.rejectProfile = filepath.Join(o.keepProfiles, "purchase.pprof"), filepath.Join(o.keepProfiles, "reject.pprof")
	}
	b.step("starting the stack on free ports")
	var err error
	b.st, err = devstack.Open(ctx, devstack.Config{
		Root: root, StateDir: filepath.Join(tmp, "state"), Prefix: "bench-", MaxAttempts: 1, Stage: "bench",
		DynamoDBOptions: []func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: b.storeCalls} }},
		SQSOptions:      []func(*sqs.Options){func(o *sqs.Options) { o.HTTPClient = &http.Client{Transport: b.queueCalls} }},
		NoBackground:    true,
		Logger:          slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, err
	}
	if b.bareURL, b.stopBare, err = bench.BareServer(ctx); err != nil {
		b.st.Close()
		return nil, err
	}
	b.tokens = make([]string, 2000)
	for i := range b.tokens {
		if b.tokens[i], err = b.st.Issuer.Token(devauth.TokenRequest{UserID: fmt.Sprintf("bench-%d", i), TTL: time.Hour}); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *benchEnv) close() {
	if b.stopBare != nil {
		b.stopBare()
	}
	b.st.Close()
}

// load runs the closed-model load generator with users in flight; with
// purchaseTokens, buyer i's requests carry purchaseTokens[i].
func (b *benchEnv) load(ctx context.Context, target, sale string, users int, d time.Duration, purchaseTokens ...string) (loadtest.Result, error) {
	cfg := loadtest.Config{
		Target: target, SaleID: sale, Tokens: b.tokens, APIKey: b.st.Issuer.APIKey(),
		Mode: loadtest.Closed, Users: users, Duration: d,
	}
	if len(purchaseTokens) > 0 {
		cfg.PurchaseToken = func(_ context.Context, i int) (string, error) { return purchaseTokens[i], nil }
	}
	return loadtest.Run(ctx, cfg)
}

// admissionDefaultMax and admissionSolves: the solve time is reported at
// the contract's default difficulty, as the median of this many solves.
const (
	admissionDefaultMax = 50_000
	admissionSolves     = 101
)

// tokenSale creates a one-unit sale with purchase tokens through the admin
// API (as an operator would), admits every bench buyer with the reference
// client while the unit is still there (no challenge: the solve is measured
// on its own, and this is the reserve path), then sells the unit and lets
// a loser discover the sell-out. It returns each buyer's purchase token.
func (b *benchEnv) tokenSale(ctx context.Context, id string) ([]string, error) {
	body, _ := json.Marshal(map[string]any{
		"saleId": id, "name": id, "priceCents": 1999, "currency": "USD",
		"startsAt": b.now.Add(-time.Minute).Format(time.RFC3339), "endsAt": b.now.Add(24 * time.Hour).Format(time.RFC3339),
		"stock": 1, "perUserLimit": 1, "paymentWindowSeconds": 600, "shards": 1,
		"admission": map[string]any{"purchaseToken": true, "challengeMaxNumber": 0},
	})
	admin, err := b.st.Issuer.Token(devauth.TokenRequest{UserID: "bench-admin", Groups: []string{"admin"}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.st.URL+"/admin/sales", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", id, err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("create %s: %d %s", id, resp.StatusCode, answer)
	}
	base := &client.Client{BaseURL: b.st.URL, APIKey: b.st.Issuer.APIKey()}
	tokens := make([]string, len(b.tokens))
	errs := make([]error, len(b.tokens))
	runParallel(16, len(b.tokens), func(i int) {
		tokens[i], errs[i] = base.ForBuyer(b.tokens[i]).PurchaseToken(ctx, id)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("purchase tokens for %s: %w", id, err)
	}
	if _, err := b.load(ctx, b.st.URL, id, 2, b.o.duration/2, tokens...); err != nil {
		return nil, err
	}
	return tokens, nil
}

func (b *benchEnv) newSale(ctx context.Context, id string, stock int64, shards int, limit int64) error {
	_, err := b.st.App.Service.CreateSale(ctx, flashsale.NewSale{ID: id, Name: id, PriceCents: 1999, Currency: "USD",
		StartsAt: b.now.Add(-time.Minute), EndsAt: b.now.Add(24 * time.Hour), Stock: stock, PerUserLimit: limit,
		PaymentWindowSeconds: 600, Shards: shards,
		// No purchase tokens: figures 1-3 measure reserve as before; figure 4
		// is the same path with tokens (tokenSale).
		Admission: &flashsale.Admission{PurchaseToken: false}})
	return err
}

// warmUp runs DynamoDB Local's JIT and the connection pools in first: the
// first seconds of a fresh JVM run far slower and would skew run 1.
func (b *benchEnv) warmUp(ctx context.Context) error {
	b.step("warming up")
	if _, err := bench.Ceiling(ctx, b.st.DynamoDB, b.st.Settings.SalesTable, b.o.inFlight, 3*time.Second); err != nil {
		return err
	}
	if err := b.newSale(ctx, "warm-up", flashsale.MaxStock, 8, 1_000_000); err != nil {
		return err
	}
	_, err := b.load(ctx, b.st.URL, "warm-up", b.o.inFlight, 3*time.Second)
	return err
}

// run is one repetition: the store's ceilings, accepted purchases, then the
// sold-out path against the bare server.
func (b *benchEnv) run(ctx context.Context, i int) (benchRun, error) {
	var r benchRun
	var err error
	b.step("run %d/%d: store ceiling", i+1, b.o.runs)
	if r.ceiling, err = bench.Ceiling(ctx, b.st.DynamoDB, b.st.Settings.SalesTable, b.o.inFlight, b.o.duration); err != nil {
		return r, err
	}
	if r.txn, err = bench.TransactCeiling(ctx, b.st.DynamoDB, b.st.Settings.SalesTable, b.o.inFlight, b.o.duration/2); err != nil {
		return r, err
	}
	b.step("run %d/%d: accepted purchases through the gateway", i+1, b.o.runs)
	if err := b.purchases(ctx, i, &r); err != nil {
		return r, err
	}
	b.step("run %d/%d: sold-out rejections vs a bare server", i+1, b.o.runs)
	gone := fmt.Sprintf("gone-%d", i)
	if err := b.newSale(ctx, gone, 1, 1, 1); err != nil {
		return r, err
	}
	// Sell the unit, then let one loser discover the sell-out.
	if _, err := b.load(ctx, b.st.URL, gone, 2, b.o.duration); err != nil {
		return r, err
	}
	goneTok := fmt.Sprintf("gone-tok-%d", i)
	tokens, err := b.tokenSale(ctx, goneTok)
	if err != nil {
		return r, err
	}
	// Rotate which goes first, so drift on a shared machine is spread.
	order := []func() error{
		func() error { return b.rejections(ctx, i, gone, &r) },
		func() error { return b.rejectionsWithTokens(ctx, goneTok, tokens, &r) },
		func() error { return b.bare(ctx, gone, &r) },
		func() error { return b.bareWithTokens(ctx, goneTok, tokens, &r) },
	}
	k := i % len(order)
	order = append(order[k:], order[:k]...)
	for _, m := range order {
		if err := m(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// purchases measures accepted purchases through the gateway, with plenty of
// stock and no practical per-user limit: every request is a full purchase.
func (b *benchEnv) purchases(ctx context.Context, i int, r *benchRun) error {
	sale := fmt.Sprintf("buy-%d", i)
	if err := b.newSale(ctx, sale, flashsale.MaxStock, 8, 1_000_000); err != nil {
		return err
	}
	st0, q0 := b.storeCalls.Calls(), b.queueCalls.Calls()
	dynamoPID := b.st.Emulators.PIDs()[0]
	cpu0, self0 := processCPU(dynamoPID), processCPU(os.Getpid())
	var buy loadtest.Result
	err := profiled(b.profile, i == 0, func() (err error) {
		buy, err = b.load(ctx, b.st.URL, sale, b.o.inFlight, b.o.duration)
		return err
	})
	if err != nil {
		return err
	}
	r.dynamoCPU, r.selfCPU = processCPU(dynamoPID)-cpu0, processCPU(os.Getpid())-self0
	if buy.Status.Accepted == 0 {
		return fmt.Errorf("no purchase accepted; answers: %s", loadtest.FormatCodes(buy.Codes))
	}
	r.accepted = buy.AcceptedPerSecond
	acc := buy.LatencyByClass[loadtest.Accepted]
	r.acceptedP50, r.acceptedP99 = acc.P50Ms, acc.P99Ms
	r.storePerAccepted = float64(b.storeCalls.Calls()-st0) / float64(buy.Status.Accepted)
	r.queuePerAccepted = float64(b.queueCalls.Calls()-q0) / float64(buy.Status.Accepted)
	return nil
}

// soldOutFigures are one measurement of the sold-out path.
type soldOutFigures struct {
	perSecond, p50, p99 float64
	storePer, queuePer  float64 // calls per rejection
}

// soldOut measures the sold-out path of sale through the gateway, each
// request with its buyer's purchase token when tokens are given; with
// profile, under the CPU profiler.
func (b *benchEnv) soldOut(ctx context.Context, sale string, profile bool, tokens ...string) (soldOutFigures, error) {
	st0, q0 := b.storeCalls.Calls(), b.queueCalls.Calls()
	var rej loadtest.Result
	err := profiled(b.rejectProfile, profile, func() (err error) {
		rej, err = b.load(ctx, b.st.URL, sale, b.o.rejectIn, b.o.duration, tokens...)
		return err
	})
	if err != nil {
		return soldOutFigures{}, err
	}
	if rej.Status.SoldOut == 0 {
		return soldOutFigures{}, fmt.Errorf("sold-out path of %s answered %s", sale, loadtest.FormatCodes(rej.Codes))
	}
	l := rej.LatencyByClass[loadtest.SoldOut]
	n := float64(rej.Status.SoldOut)
	return soldOutFigures{
		perSecond: n / rej.ElapsedSeconds, p50: l.P50Ms, p99: l.P99Ms,
		storePer: float64(b.storeCalls.Calls()-st0) / n, queuePer: float64(b.queueCalls.Calls()-q0) / n,
	}, nil
}

// rejections measures the sold-out path through the gateway.
func (b *benchEnv) rejections(ctx context.Context, i int, gone string, r *benchRun) error {
	f, err := b.soldOut(ctx, gone, i == 0)
	r.rejected, r.rejectedP50, r.rejectedP99, r.storePerRejected, r.queuePerRejected = f.perSecond, f.p50, f.p99, f.storePer, f.queuePer
	return err
}

// rejectionsWithTokens measures the sold-out path of a sale with purchase
// tokens, every request with its buyer's valid token.
func (b *benchEnv) rejectionsWithTokens(ctx context.Context, sale string, tokens []string, r *benchRun) error {
	f, err := b.soldOut(ctx, sale, false, tokens...)
	r.rejectedTok, r.rejectedTokP50, r.rejectedTokP99, r.storePerRejectedTok, r.queuePerRejectedTok = f.perSecond, f.p50, f.p99, f.storePer, f.queuePer
	return err
}

// bare measures the bare 410 server under the same load.
func (b *benchEnv) bare(ctx context.Context, gone string, r *benchRun) error {
	res, err := b.load(ctx, b.bareURL, gone, b.o.rejectIn, b.o.duration)
	if err != nil {
		return err
	}
	r.bare = res.ThroughputPerSecond
	r.bareP50, r.bareP99 = res.Latency.P50Ms, res.Latency.P99Ms
	return nil
}

// bareWithTokens measures the bare 410 server under figure 4's load.
func (b *benchEnv) bareWithTokens(ctx context.Context, sale string, tokens []string, r *benchRun) error {
	res, err := b.load(ctx, b.bareURL, sale, b.o.rejectIn, b.o.duration, tokens...)
	if err != nil {
		return err
	}
	r.bareTok = res.ThroughputPerSecond
	return nil
}

// profiled runs f, with a CPU profile written to path when on.
func profiled(path string, on bool, f func() error) error {
	if !on {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return f()
}

func pprofTop(path string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=30", path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(pprof failed: %v)\n%s", err, out)
	}
	return string(out)
}

// processCPU is a process's user+system CPU seconds so far, from /proc.
func processCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ") ".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return (utime + stime) / ticks
}

func handlerBenchmarks(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "6", "./shared/handler/")
	cmd.Dir = root
	raw, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go benchmarks: %v\n%s", err, raw)
	}
	stat := exec.CommandContext(ctx, "go", "tool", "benchstat", "-")
	stat.Dir = root
	stat.Stdin = bytes.NewReader(raw)
	out, err := stat.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("benchstat: %v\n%s", err, out)
	}
	return string(out), nil
}

type bootstrapFigure struct {
	name        string
	sizeBytes   int64
	initMedian  time.Duration
	initSamples []time.Duration
}

// bootstraps reads the size of each deployable (arm64) bootstrap and times
// the init of the same function built for this machine.
func bootstraps(ctx context.Context, root, tmp string, st *devstack.Stack, runs int) ([]bootstrapFigure, error) {
	var out []bootstrapFigure
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	// Some functions refuse to start without their part of the stack
	// (app.MustFromEnv), as they would in AWS: the purchase-token keys,
	// the order writer's dead-letter queue.
	env := append(st.Settings.Environ(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		awsclient.EnvAdmissionKeys+"="+string(st.Issuer.AdmissionKeys()),
		awsclient.EnvOrdersDLQURL+"="+st.Resources.DLQURL)
	for _, e := range entries {
		f := bootstrapFigure{name: e.Name()}
		if st, err := os.Stat(filepath.Join(root, "build", e.Name(), "bootstrap")); err == nil {
			f.sizeBytes = st.Size()
		}
		host := filepath.Join(tmp, "host", e.Name(), "bootstrap")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", host, "./functions/"+e.Name())
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", e.Name(), err, b)
		}
		var xs []float64
		for range max(runs, 5) {
			d, err := bench.InitTime(ctx, host, env)
			if err != nil {
				return nil, err
			}
			f.initSamples = append(f.initSamples, d)
			xs = append(xs, float64(d))
		}
		f.initMedian = time.Duration(bench.Median(xs))
		out = append(out, f)
	}
	return out, nil
}

func medianOf(runs []benchRun, f func(benchRun) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return bench.Median(xs)
}

func allOf(runs []benchRun, format string, f func(benchRun) float64) string {
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = fmt.Sprintf(format, f(r))
	}
	return strings.Join(parts, ", ")
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average at the end " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d × %s%s, %s/%s, %s%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func metOrNot(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func benchDoc(o benchOptions, runs []benchRun, adm bench.AdmissionCost, top, rejectTop, goBench string, boots []bootstrapFigure, took time.Duration) string {
	m := func(f func(benchRun) float64) float64 { return medianOf(runs, f) }
	ceiling := m(func(r benchRun) float64 { return r.ceiling })
	accepted := m(func(r benchRun) float64 { return r.accepted })
	rejected := m(func(r benchRun) float64 { return r.rejected })
	bare := m(func(r benchRun) float64 { return r.bare })
	buyRatio := m(func(r benchRun) float64 { return r.accepted / r.ceiling })
	rejectRatio := m(func(r benchRun) float64 { return r.rejected / r.bare })
	rejStore := m(func(r benchRun) float64 { return r.storePerRejected })
	rejQueue := m(func(r benchRun) float64 { return r.queuePerRejected })
	rejectedTok := m(func(r benchRun) float64 { return r.rejectedTok })
	bareTok := m(func(r benchRun) float64 { return r.bareTok })
	rejectTokRatio := m(func(r benchRun) float64 { return r.rejectedTok / r.bareTok })
	rejTokStore := m(func(r benchRun) float64 { return r.storePerRejectedTok })
	rejTokQueue := m(func(r benchRun) float64 { return r.queuePerRejectedTok })

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (`go run ./cmd/flashsale bench --runs %d --duration %s --in-flight %d --reject-in-flight %d`) on %s, in %s.\n\n",
		o.runs, o.duration, o.inFlight, o.rejectIn, time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	w("Machine: %s.\n\n", machine())
	w("Every figure is the median of %d runs; each run measures everything side by side, in the same process, against the same DynamoDB Local 3.3.1 and local SQS. ", len(runs))
	w("The load generator (shared/ops/loadtest, closed model) runs on the same 2 cores as the gateway and the emulators, so absolute numbers are low and noisy; the ratios are what to read. ")
	w("The gateway runs with throttling off (the configured stage limits would cap it), and the order writer is not running during the purchase measurement: in AWS it runs on its own Lambda capacity, off the purchase path.\n\n")

	w("## Targets\n\n")
	w("| figure | median | all runs | target | verdict |\n|---|---|---|---|---|\n")
	w("| 1. store ceiling: conditional `UpdateItem`/s on one hot item (%d in flight) | %.0f/s | %s | | |\n", o.inFlight, ceiling, allOf(runs, "%.0f", func(r benchRun) float64 { return r.ceiling }))
	w("| 2. accepted purchases/s through the local gateway (%d in flight) | %.0f/s | %s | | |\n", o.inFlight, accepted, allOf(runs, "%.0f", func(r benchRun) float64 { return r.accepted }))
	w("| 2 ÷ 1 | %.2f | %s | ≥ 0.5 | %s |\n", buyRatio, allOf(runs, "%.2f", func(r benchRun) float64 { return r.accepted / r.ceiling }), metOrNot(buyRatio >= 0.5))
	w("| 3. sold-out rejections/s through the local gateway (%d in flight) | %.0f/s | %s | ≥ 20,000/s | %s |\n", o.rejectIn, rejected, allOf(runs, "%.0f", func(r benchRun) float64 { return r.rejected }), metOrNot(rejected >= 20000))
	w("| bare `net/http` server answering a fixed 410, same load | %.0f/s | %s | | |\n", bare, allOf(runs, "%.0f", func(r benchRun) float64 { return r.bare }))
	w("| 3 ÷ bare | %.2f | %s | ≥ 0.75 | %s |\n", rejectRatio, allOf(runs, "%.2f", func(r benchRun) float64 { return r.rejected / r.bare }), metOrNot(rejectRatio >= 0.75))
	w("| store calls per rejection | %.4f | %s | 0 | %s |\n", rejStore, allOf(runs, "%.4f", func(r benchRun) float64 { return r.storePerRejected }), metOrNot(rejStore < 0.001))
	w("| queue calls per rejection | %.4f | %s | 0 | %s |\n", rejQueue, allOf(runs, "%.4f", func(r benchRun) float64 { return r.queuePerRejected }), metOrNot(rejQueue < 0.001))
	w("| 4. sold-out rejections/s with purchase tokens (%d in flight, each with its buyer's valid `Purchase-Token`) | %.0f/s | %s | | |\n", o.rejectIn, rejectedTok, allOf(runs, "%.0f", func(r benchRun) float64 { return r.rejectedTok }))
	w("| bare `net/http` server answering a fixed 410, figure 4's load (each request with its `Purchase-Token`) | %.0f/s | %s | | |\n", bareTok, allOf(runs, "%.0f", func(r benchRun) float64 { return r.bareTok }))
	w("| 4 ÷ bare (figure 4's load) | %.2f | %s | ≥ 0.75 | %s |\n", rejectTokRatio, allOf(runs, "%.2f", func(r benchRun) float64 { return r.rejectedTok / r.bareTok }), metOrNot(rejectTokRatio >= 0.75))
	w("| store calls per rejection with tokens | %.4f | %s | 0 | %s |\n", rejTokStore, allOf(runs, "%.4f", func(r benchRun) float64 { return r.storePerRejectedTok }), metOrNot(rejTokStore < 0.001))
	w("| queue calls per rejection with tokens | %.4f | %s | 0 | %s |\n\n", rejTokQueue, allOf(runs, "%.4f", func(r benchRun) float64 { return r.queuePerRejectedTok }), metOrNot(rejTokQueue < 0.001))
	w("Store calls per rejection are counted by an HTTP transport under the SDK clients; the only calls on that path are the sold-out recheck, about one per second per container (here: %d s runs).\n\n", int(o.duration.Seconds()))

	w("## Calls per accepted purchase\n\n")
	w("| | median | all runs |\n|---|---|---|\n")
	w("| DynamoDB calls | %.2f | %s |\n", m(func(r benchRun) float64 { return r.storePerAccepted }), allOf(runs, "%.2f", func(r benchRun) float64 { return r.storePerAccepted }))
	w("| SQS calls | %.2f | %s |\n\n", m(func(r benchRun) float64 { return r.queuePerAccepted }), allOf(runs, "%.2f", func(r benchRun) float64 { return r.queuePerAccepted }))
	w("By design: one `TransactWriteItems` (idempotency key + per-user claim + pending hold; per-user items, never hot), one conditional `UpdateItem` on a stock shard (the only write on a hot item), one `UpdateItem` to accept, and one `SendMessage`. Later the order writer adds one `UpdateItem`, off the purchase path. See docs/design/reserve-path.md.\n\n")

	w("## Latency (ms)\n\n| path | p50 | p99 |\n|---|---|---|\n")
	w("| accepted purchase | %.1f | %.1f |\n", m(func(r benchRun) float64 { return r.acceptedP50 }), m(func(r benchRun) float64 { return r.acceptedP99 }))
	w("| sold-out rejection | %.2f | %.2f |\n", m(func(r benchRun) float64 { return r.rejectedP50 }), m(func(r benchRun) float64 { return r.rejectedP99 }))
	w("| sold-out rejection with a purchase token | %.2f | %.2f |\n", m(func(r benchRun) float64 { return r.rejectedTokP50 }), m(func(r benchRun) float64 { return r.rejectedTokP99 }))
	w("| bare 410 server | %.2f | %.2f |\n\n", m(func(r benchRun) float64 { return r.bareP50 }), m(func(r benchRun) float64 { return r.bareP99 }))

	w("## Admission\n\n")
	w("Measured in the bench process with `testing.Benchmark` (the bodies of `BenchmarkVerifyChallenge` and `BenchmarkVerifyToken` in shared/admission), and by solving %d fresh challenges one after another with `admission.Solve`, as the reference client does.\n\n", len(adm.Solves))
	w("| | figure |\n|---|---|\n")
	w("| challenge verification (`Keys.Verify`: one SHA-256, one HMAC), at token issue | %d ns/op, %d B/op, %d allocs/op |\n", adm.VerifyChallenge.NsPerOp(), adm.VerifyChallenge.AllocedBytesPerOp(), adm.VerifyChallenge.AllocsPerOp())
	w("| token verification (`Keys.VerifyToken`: one HMAC), on every reserve | %d ns/op, %d B/op, %d allocs/op |\n", adm.VerifyToken.NsPerOp(), adm.VerifyToken.AllocedBytesPerOp(), adm.VerifyToken.AllocsPerOp())
	w("| solve at the default difficulty (maxNumber %d), median of %d | %.1f ms (p90 %.1f ms, slowest %.1f ms) |\n\n", adm.MaxNumber, len(adm.Solves),
		ms(adm.SolveMedian()), ms(adm.SolveP90()), ms(adm.Solves[len(adm.Solves)-1]))
	w("The secret number is uniform in [0, maxNumber], so a solve takes anywhere from nothing to the full search; the median is about half of it. This is one core of this machine running Go's SHA-256; a phone running ALTCHA's solver in a web view or natively is slower. ")
	w("Figure 4 differs from figure 3 by the token check on every request, which is the HMAC above and no store or queue call, and by the header itself, which the load generator writes and net/http parses on every request; so figure 4 is compared with the bare server under the same token-carrying load.\n\n")

	w("## Where the time goes on the purchase path\n\n")
	w("CPU seconds used during each purchase measurement (%s each): DynamoDB Local (java) %s; the flashsale process (gateway, handlers, SDK clients and the load generator) %s.\n\n",
		o.duration, allOf(runs, "%.1f", func(r benchRun) float64 { return r.dynamoCPU }), allOf(runs, "%.1f", func(r benchRun) float64 { return r.selfCPU }))
	txn := m(func(r benchRun) float64 { return r.txn })
	w("What each store call costs DynamoDB Local, measured in the same runs: a conditional `UpdateItem` on one item runs at %.0f/s (figure 1); a `TransactWriteItems` of three fresh items at %.0f/s (all runs: %s), so one transaction costs about %.1f updates. ",
		ceiling, txn, allOf(runs, "%.0f", func(r benchRun) float64 { return r.txn }), ceiling/txn)
	w("A purchase makes one transaction and two updates, about %.1f update-equivalents, which caps accepted purchases near %.2f × the ceiling before any of our own code runs; the measured ratio is %.2f. ",
		ceiling/txn+2, 1/(ceiling/txn+2), buyRatio)
	dynCPU, selfCPU := m(func(r benchRun) float64 { return r.dynamoCPU }), m(func(r benchRun) float64 { return r.selfCPU })
	w("During the purchase runs DynamoDB Local used %.1f× the CPU of the whole flashsale process (gateway, handlers, SDK clients and load generator together): %.1f s against %.1f s. ",
		dynCPU/selfCPU, dynCPU, selfCPU)
	w("Reaching 0.5 would need at most two update-equivalents per purchase, i.e. giving up the transaction that writes the idempotency key, the per-user claim and the pending hold together; docs/design/reserve-path.md explains why that write is atomic and kept off the hot shard.\n\n")
	w("pprof top (by cumulative time) of the flashsale process during the first purchase measurement:\n\n```\n%s```\n\n", top)
	w("## Where the time goes on the sold-out path\n\n")
	w("pprof top (by cumulative time) of the flashsale process during the first sold-out measurement; the load generator shares the process and the 2 cores:\n\n```\n%s```\n\n", rejectTop)

	if goBench != "" {
		w("## Handler cost per request (Go benchmarks, in-memory adapters)\n\n")
		w("`go test -run '^$' -bench . -benchmem -count 6 ./shared/handler/ | go tool benchstat -`\n\n```\n%s```\n\n", goBench)
	}
	w("## Bootstraps\n\n| function | size (linux/arm64, stripped) | init, exec → first /next (median) |\n|---|---|---|\n")
	for _, f := range boots {
		w("| %s | %.1f MB | %.1f ms |\n", f.name, float64(f.sizeBytes)/1e6, float64(f.initMedian)/1e6)
	}
	w("\nInit is measured on this machine (amd64) with the same build flags, against a stand-in Lambda Runtime API on loopback: the time from exec until the bootstrap first asks for an invocation. It includes loading the AWS config and building the clients, not any call to AWS.\n")
	return b.String()
}
