package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
)

func init() { rootCmd.AddCommand(newDevCmd()) }

// devOptions are `flashsale dev`'s flags.
type devOptions struct {
	emulatorFlags
	port        int
	controlPort int
	lead        time.Duration
	settleEvery time.Duration
	grace       time.Duration
	limits      string
	waf         string
	wafSet      bool // --waf was given, not defaulted
	state       string
	verbose     bool
}

// DefaultGatewayPort is where `flashsale dev` serves the API.
const DefaultGatewayPort = 3000

func newDevCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole stack locally: emulators, gateway, queue poller, settlement schedule",
		Long: `Checks the prerequisites, starts DynamoDB Local and the local SQS, creates the
tables and queues from shared/schema (prefix dev-), serves the API through the
local gateway, feeds the orders queue to the order writer, runs settlement on a
schedule and seeds an open demo sale with id "demo". The gateway answers 503
until all of that is done. Ctrl-C stops everything.

Limits: by default the gateway enforces the dev stage's numbers from
shared/apispec, as deployed. First the WebACL's per-IP rate rule: more
than ` + strconv.Itoa(apispec.Stages["dev"].WAFRateLimit) + ` requests (WAFRateLimit) from one source IP in a trailing
5 minutes answer 429 {"message":"Too Many Requests"} on every route, until
that IP's rate falls back under the limit; requests it refuses count too.
It keys on the TCP peer address, so tools that play a crowd send each buyer
from its own loopback address (127.0.0.0/8; see shared/client's
SourceAddr). Then API Gateway's stage, method and usage-plan throttles.
--waf off turns the per-IP rule off and keeps the throttles; --limits off
turns everything off, the per-IP rule included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.wafSet = cmd.Flags().Changed("waf")
			return runDev(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, devstack.DefaultDynamoDBPort, devstack.DefaultSQSPort)
	cmd.Flags().IntVar(&o.port, "port", DefaultGatewayPort, "gateway port on 127.0.0.1")
	cmd.Flags().IntVar(&o.controlPort, "control-port", 0, "control port on 127.0.0.1 (GET /schedules, GET /provisioned); 0 picks a free one, which stack.json records")
	cmd.Flags().DurationVar(&o.lead, "lead", flashsale.DefaultLead, "how long before a sale opens its warm-up and reminders run (deployed: the prepareLead context value)")
	cmd.Flags().DurationVar(&o.settleEvery, "settle-every", apispec.SettlementEvery, "how often the settlement schedule runs")
	cmd.Flags().StringVar(&o.limits, "limits", "on", `the dev stage's limits: throttles (stage, method, usage plan) and the per-IP rate rule; "off" for none at all, for benchmarks and experiments`)
	cmd.Flags().StringVar(&o.waf, "waf", "on", `the WebACL's per-IP rate rule (WAFRateLimit requests per source IP per 5 minutes, then 429); "off" keeps the throttles but lets one address send any number`)
	cmd.Flags().DurationVar(&o.grace, "grace", 2*time.Minute, "how long a purchase's hold may stay pending before settlement presumes its request dead and reclaims its units")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "debug logs, including one line per request")
	cmd.Flags().StringVar(&o.state, "state", "", "state folder for keys, logs and stack.json (default $"+devauth.StateEnv+" or <repo>/.flashsale)")
	return cmd
}

// runDev brings the stack up, prints the quickstart once it is ready, serves
// until ctx ends, then takes it down (devstack.Stack.Close).
func runDev(ctx context.Context, o devOptions, stdout, stderr io.Writer) (err error) {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	limits, err := devLimits(o.limits)
	if err != nil {
		return err
	}
	noIPRule, err := devIPRateRule(o.waf, o.wafSet, limits)
	if err != nil {
		return err
	}
	if o.lead <= 0 {
		return fmt.Errorf("--lead %s: want a positive duration (default %s)", o.lead, flashsale.DefaultLead)
	}
	if o.grace <= 0 {
		return fmt.Errorf("--grace %s: want a positive duration, longer than any request (default 2m)", o.grace)
	}
	root, err := devstack.FindRoot(".")
	if err != nil {
		return err
	}
	if err := devstack.CheckPrerequisites(ctx, root); err != nil {
		return fmt.Errorf("prerequisites:\n%w", err)
	}
	// The other subcommands find a non-default state folder only if told.
	state, stateArg := o.state, ""
	if state == "" {
		if state, err = devauth.DefaultStateDir(); err != nil {
			return err
		}
	} else {
		if state, err = filepath.Abs(state); err != nil {
			return fmt.Errorf("state folder: %w", err)
		}
		stateArg = " --state " + state
	}
	st, err := devstack.Open(ctx, devstack.Config{
		Root: root, StateDir: state, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)),
		ControlAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(o.controlPort)),
		DynamoDBPort: o.dynamoDBPort, SQSPort: o.sqsPort, DataDir: o.data,
		Limits: limits, NoIPRateRule: noIPRule, SettleEvery: o.settleEvery, Grace: o.grace, Lead: o.lead, Seed: devstack.SeedDemo, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	limitsOff := limits == apispec.Limits{}
	ipRule := limits.WAFRateLimit
	if noIPRule {
		ipRule = 0
	}
	switch {
	case limitsOff:
		log.Warn("throttling is off (--limits off): no per-IP rule, no stage, method or usage-plan limits")
	case ipRule == 0:
		log.Warn("the per-IP rate rule is off (--waf off); the throttles are on")
	}
	printQuickstart(stdout, st.URL, st.Issuer.APIKey(), state, stateArg, limitsOff, ipRule)
	log.Info("flashsale dev is up; stop with Ctrl-C", "url", st.URL, "after", time.Since(st.StartedAt).Round(time.Millisecond))
	if err := st.Wait(ctx); err != nil {
		return err
	}
	log.Info("shutting down", "signal", context.Cause(ctx))
	return nil
}

// devLimits reads --limits: the dev stage's limits, or none.
func devLimits(flag string) (apispec.Limits, error) {
	switch flag {
	case "on":
		return apispec.LimitsFor("dev")
	case "off":
		return apispec.Limits{}, nil
	default:
		return apispec.Limits{}, fmt.Errorf("--limits %q: want on or off", flag)
	}
}

// devIPRateRule reads --waf (set: given on the command line) and says
// whether the per-IP rate rule is off on top of what --limits gave.
// --limits off already means no limit at all, so an explicit --waf on beside
// it asks for something it cannot have.
func devIPRateRule(flag string, set bool, limits apispec.Limits) (off bool, err error) {
	switch flag {
	case "on":
		if set && limits.WAFRateLimit == 0 {
			return false, errors.New("--waf on: --limits off turns every limit off, the per-IP rule included; use --limits on (the default) with --waf on")
		}
		return false, nil
	case "off":
		return true, nil
	default:
		return false, fmt.Errorf("--waf %q: want on or off", flag)
	}
}

// printQuickstart tells a developer how to call the running stack. stateArg
// is " --state DIR" when the state folder is not the default one; ipRule is
// the per-IP rate rule's limit, 0 when it is off.
func printQuickstart(w io.Writer, url, apiKey, state, stateArg string, limitsOff bool, ipRule int) {
	switch {
	case limitsOff:
		fmt.Fprint(w, `
WARNING: --limits off: the gateway limits nothing (no per-IP rate rule, no
stage, method or usage-plan throttles). The deployed API does; numbers
measured here will not hold there. Restart without --limits off to get the
dev stage's limits.
`)
	case ipRule == 0:
		fmt.Fprint(w, `
WARNING: --waf off: one address may send any number of requests. The
deployed WebACL refuses an IP over its per-IP rate; restart without --waf off
to get the dev stage's rule.
`)
	}
	fmt.Fprintf(w, `
flashsale dev is running at %[1]s  (state: %[3]s)

  # the whole purchase in one command: sale, challenge, solve, token, order
  go run ./cmd/flashsale buy%[4]s --sale demo --user alice

  # the same with curl: a buyer token (valid 1 h) and the app's API key
  TOKEN=$(go run ./cmd/flashsale token%[4]s --user bob)
  API_KEY=%[2]s
  AUTH=(-H "Authorization: Bearer $TOKEN" -H "x-api-key: $API_KEY")

  curl -s %[1]s/sales/demo          # "admission":{"purchaseToken":true,"challenge":true}
  curl -s "${AUTH[@]}" %[1]s/sales/demo/challenge > challenge.json
  N=$(go run ./cmd/flashsale solve < challenge.json)
  PT=$(curl -s "${AUTH[@]}" -X POST %[1]s/sales/demo/purchase-tokens \
    -H "Content-Type: application/json" -d "{\"challenge\":$(cat challenge.json),\"number\":$N}" |
    sed 's/.*"purchaseToken":"\([^"]*\)".*/\1/')
  curl -s "${AUTH[@]}" -X POST %[1]s/sales/demo/orders -H "Purchase-Token: $PT" \
    -H "Idempotency-Key: $(date +%%s%%N)" -H "Content-Type: application/json" \
    -d '{"quantity":1}'

  # pay it:            go run ./cmd/flashsale pay%[4]s --order <orderId>
  # settle and report: go run ./cmd/flashsale report%[4]s --sale demo --settle
  # dead letters:      go run ./cmd/flashsale dlq list%[4]s
  # a whole sale:      make demo   (in another terminal; it uses this stack)
`, url, apiKey, state, stateArg)
	if ipRule > 0 {
		fmt.Fprintf(w, `
  # Like the deployed WebACL, the gateway answers 429 to a source IP that sent
  # more than %d requests in the last 5 minutes (--waf off to lift it).
`, ipRule)
	}
	fmt.Fprintln(w)
}
