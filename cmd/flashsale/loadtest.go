package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/ops/loadtest"
)

func init() { rootCmd.AddCommand(newLoadtestCmd()) }

// loadtestOptions are the flags of `flashsale loadtest`.
type loadtestOptions struct {
	state       string
	target      string
	mode        string
	rate        float64
	users       int
	duration    time.Duration
	requests    int64
	sale        string
	tokensFile  string
	prefix      string
	tokenCount  int
	apiKey      string
	timeout     time.Duration
	maxInFlight int
	out         string
	chart       string
	// noAdmission skips the admission step, as a scripted client would.
	noAdmission bool
}

func newLoadtestCmd() *cobra.Command {
	var o loadtestOptions
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Storm a sale with buyers (admission, then POST /sales/{id}/orders) and report throughput and latency",
		Long: `loadtest plays a crowd of buyers: each attempt buys one unit with a fresh
Idempotency-Key, and reports accepted (202), sold-out (410), throttled (429)
and other answers with p50/p95/p99 latency, overall and per second.

When the sale asks for purchase tokens, each buyer goes through the whole
flow with the reference client (shared/client) on their first attempt:
challenge, solve, purchase token; later attempts reuse the token until
shortly before it expires. An attempt refused at that step (410 once sold
out, 429, 403 not_eligible) counts with that answer, and its latency
includes the step. --no-admission sends bare orders, as a script would.

Open model, a constant arrival rate:   --mode open --rate 500 --duration 30s
Closed model, N users looping:         --mode closed --users 64 --duration 30s (or --requests N)

Without --target it runs against the local stack (make dev) and mints dev
tokens for users <prefix>1…<prefix>N with its API key. Against a deployed API
give --target, --tokens FILE (JWTs, one a line) and --api-key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runLoadtest(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.target, "target", "", "API base URL (default: the local stack's gateway)")
	f.StringVar(&o.mode, "mode", string(loadtest.Open), "load model: open (constant rate) or closed (N looping users)")
	f.Float64Var(&o.rate, "rate", 200, "open model: requests per second")
	f.IntVar(&o.users, "users", 64, "closed model: concurrent users")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "stop sending after this long (0: only --requests bounds the run)")
	f.Int64Var(&o.requests, "requests", 0, "stop after this many requests (0: only --duration bounds the run)")
	f.StringVar(&o.sale, "sale", devstack.DemoSaleID, "sale to buy from (make dev seeds "+devstack.DemoSaleID+")")
	// No backquotes in usage strings: pflag shows backquoted text as the
	// flag's value name ("--tokens flashsale token --users N").
	f.StringVar(&o.tokensFile, "tokens", "", "`FILE` of buyer JWTs, one a line, as 'flashsale token --users N' prints")
	f.StringVar(&o.prefix, "users-prefix", "buyer", "dev tokens: user id prefix")
	f.IntVar(&o.tokenCount, "token-count", 1000, "dev tokens: how many users to mint tokens for")
	f.StringVar(&o.apiKey, "api-key", "", "x-api-key (default: the local stack's dev key)")
	f.DurationVar(&o.timeout, "timeout", loadtest.DefaultTimeout, "per-request timeout; a request not answered in time counts as \"no answer (client timeout)\"")
	f.IntVar(&o.maxInFlight, "max-in-flight", loadtest.DefaultMaxInFlight, "open model: most requests in flight at once")
	f.StringVar(&o.out, "out", "", "write the result as JSON to this file")
	f.StringVar(&o.chart, "chart", "", "write a self-contained HTML chart of throughput and latency to this file")
	f.BoolVar(&o.noAdmission, "no-admission", false, "send orders without the admission step (no purchase token), as a scripted client would")
	cmd.MarkFlagsMutuallyExclusive("tokens", "users-prefix")
	cmd.MarkFlagsMutuallyExclusive("tokens", "token-count")
	return cmd
}

func runLoadtest(ctx context.Context, o loadtestOptions, stdout, stderr io.Writer) error {
	cfg := loadtest.Config{
		Target: o.target, SaleID: o.sale, APIKey: o.apiKey, Mode: loadtest.Mode(o.mode),
		Duration: o.duration, Requests: o.requests, Timeout: o.timeout, MaxInFlight: o.maxInFlight,
	}
	switch cfg.Mode {
	case loadtest.Open:
		cfg.Rate = o.rate
	case loadtest.Closed:
		cfg.Users = o.users
	default:
		return fmt.Errorf("--mode %q: want open or closed", o.mode)
	}
	if cfg.Target == "" {
		info, err := readStack(o.state)
		if err != nil {
			return fmt.Errorf("%w; or give --target", err)
		}
		cfg.Target = info.GatewayURL
	}
	var err error
	if o.tokensFile != "" {
		if cfg.Tokens, err = readTokens(o.tokensFile); err != nil {
			return err
		}
	}
	// Dev tokens and key come from the local stack's state folder, opened
	// only when one of them is needed.
	if o.tokensFile == "" || cfg.APIKey == "" {
		iss, err := openIssuer(o.state)
		if err != nil {
			return err
		}
		if cfg.APIKey == "" {
			cfg.APIKey = iss.APIKey()
		}
		if o.tokensFile == "" {
			fmt.Fprintf(stderr, "minting %d dev tokens (%s1…%s%d)…\n", o.tokenCount, o.prefix, o.prefix, o.tokenCount)
			if cfg.Tokens, err = mintTokens(iss, o.prefix, o.tokenCount); err != nil {
				return err
			}
		}
	}

	crowd := newCrowdOf(cfg.Tokens, cfg.Timeout)
	cfg.HTTPFor = crowd.httpFor
	if !o.noAdmission {
		if cfg.PurchaseToken, err = crowd.admission(ctx, cfg.Target, cfg.APIKey, cfg.SaleID, cfg.Tokens, cfg.Timeout); err != nil {
			return err
		}
	}

	start := time.Now()
	cfg.Progress = func(p loadtest.Progress) {
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Total()) / s
		}
		fmt.Fprintf(stderr, "\r%5.1fs  %d requests (%.0f/s)  accepted %d  sold out %d  throttled %d  other %d (no answer %d) ",
			p.Elapsed.Seconds(), p.Total(), rate, p.Accepted, p.SoldOut, p.Throttled, p.Other, p.NoAnswer)
	}
	fmt.Fprintf(stderr, "%s model against %s, sale %s\n", cfg.Mode, cfg.Target, cfg.SaleID)
	res, runErr := loadtest.Run(ctx, cfg)
	fmt.Fprintln(stderr)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	if errors.Is(runErr, context.Canceled) {
		fmt.Fprintf(stderr, "interrupted after %v: the result covers the requests made so far\n", time.Since(start).Round(time.Millisecond))
	}
	if err := writeLoadtestSummary(stdout, res); err != nil {
		return err
	}
	if o.out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	if o.chart != "" {
		if err := writeChartFile(o.chart, res); err != nil {
			return err
		}
	}
	return nil
}

// readTokens reads one JWT a line, skipping blank lines.
func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer f.Close()
	var tokens []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024) // a Cognito token with many groups can be long
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			tokens = append(tokens, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens %s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("tokens: %s has no tokens", path)
	}
	return tokens, nil
}

// mintTokens mints tokens for users prefix1…prefixN, valid for the run.
func mintTokens(iss *devauth.Issuer, prefix string, n int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("--token-count %d: want at least 1", n)
	}
	return mintCrowd(iss, prefix, n)
}

func writeChartFile(path string, res loadtest.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := loadtest.WriteChart(f, res); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// writeLoadtestSummary prints the result as a small table, then the
// answers by HTTP status and, apart from them, the requests that got none:
// a bare status 0 reads as nothing to someone who did not write the tool.
func writeLoadtestSummary(w io.Writer, r loadtest.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%d requests in %.2f s: %.0f req/s, %.0f accepted/s\n", r.Requests, r.ElapsedSeconds, r.ThroughputPerSecond, r.AcceptedPerSecond)
	fmt.Fprintln(tw, "outcome\trequests\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	row := func(name string, n int64, l loadtest.Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, n, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
	row("accepted (202)", r.Status.Accepted, r.LatencyByClass[loadtest.Accepted])
	row("sold out (410)", r.Status.SoldOut, r.LatencyByClass[loadtest.SoldOut])
	row("throttled (429)", r.Status.Throttled, r.LatencyByClass[loadtest.Throttled])
	row("other (incl. no answer)", r.Status.Other, r.LatencyByClass[loadtest.Other])
	row("all", r.Requests, r.Latency)
	if err := tw.Flush(); err != nil {
		return err
	}
	answers := make(map[int]int64, len(r.Codes))
	for code, n := range r.Codes {
		if code != 0 {
			answers[code] = n
		}
	}
	fmt.Fprintf(w, "answers by HTTP status: %s\n", loadtest.FormatCodes(answers))
	if n := r.NoAnswer.Timeouts; n > 0 {
		fmt.Fprintf(w, "no answer (client timeout after %s): %d\n", time.Duration(r.TimeoutSeconds*float64(time.Second)), n)
	}
	if n := r.NoAnswer.Errors; n > 0 {
		fmt.Fprintf(w, "no answer (connection error): %d\n", n)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "most frequent errors without an answer:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %d× %s\n", e.Count, e.Error)
		}
	}
	return nil
}
