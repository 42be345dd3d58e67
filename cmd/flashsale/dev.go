package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/poller"
)

func init() { rootCmd.AddCommand(newDevCmd()) }

// devOptions are `flashsale dev`'s flags.
type devOptions struct {
	emulatorFlags
	port        int
	settleEvery time.Duration
	grace       time.Duration
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
schedule and seeds an open demo sale with id "demo". Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, devstack.DefaultDynamoDBPort, devstack.DefaultSQSPort)
	cmd.Flags().IntVar(&o.port, "port", DefaultGatewayPort, "gateway port on 127.0.0.1")
	cmd.Flags().DurationVar(&o.settleEvery, "settle-every", time.Minute, "how often the settlement schedule runs")
	cmd.Flags().DurationVar(&o.grace, "grace", 2*time.Minute, "how long a purchase's hold may stay pending before settlement presumes its request dead and reclaims its units")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "debug logs, including one line per request")
	cmd.Flags().StringVar(&o.state, "state", "", "state folder for keys, logs and stack.json (default $"+devauth.StateEnv+" or <repo>/.flashsale)")
	return cmd
}

// runDev brings the stack up, serves until ctx ends, then takes it down in
// reverse: gateway, poller and schedule, then the emulators.
func runDev(ctx context.Context, o devOptions, stdout, stderr io.Writer) (err error) {
	start := time.Now()
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	root, err := devstack.FindRoot(".")
	if err != nil {
		return err
	}
	if err := devstack.CheckPrerequisites(ctx, root); err != nil {
		return fmt.Errorf("prerequisites:\n%w", err)
	}
	// The other subcommands find a non-default state folder only if told.
	stateArg := ""
	if o.state == "" {
		if o.state, err = devauth.DefaultStateDir(); err != nil {
			return err
		}
	} else {
		if o.state, err = filepath.Abs(o.state); err != nil {
			return fmt.Errorf("state folder: %w", err)
		}
		stateArg = " --state " + o.state
	}
	// Claim the gateway port first: a busy port should fail before the
	// emulators take seconds to start.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %d is busy, so the gateway cannot listen there: stop whatever uses it or pick another port with --port", o.port)
	}
	if err != nil {
		return fmt.Errorf("gateway port %d (change it with --port): %w", o.port, err)
	}
	defer ln.Close()

	emus, err := devstack.StartEmulators(ctx, devstack.EmulatorConfig{
		Root: root, DynamoDBPort: o.dynamoDBPort, SQSPort: o.sqsPort, DataDir: o.data,
		LogDir: filepath.Join(o.state, "logs"), Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping emulators")
		err = errors.Join(err, emus.Stop())
	}()
	log.Info("emulators ready", "dynamodb", emus.DynamoDBEndpoint, "sqs", emus.SQSEndpoint,
		"logs", filepath.Join(o.state, "logs"), "after", devSince(start))

	cfg, err := awsclient.LoadConfig(ctx, emus.Settings())
	if err != nil {
		return err
	}
	res, err := devstack.CreateResources(ctx, awsclient.DynamoDB(cfg, emus.Settings()), awsclient.SQS(cfg, emus.Settings()), devstack.DevPrefix)
	if err != nil {
		return err
	}
	log.Info("tables and queues ready", "sales", res.Settings.SalesTable, "orders", res.Settings.OrdersTable,
		"queue", res.Settings.OrdersQueueURL, "dlq", res.DLQURL)

	issuer, err := devauth.LoadOrCreate(o.state)
	if err != nil {
		return err
	}
	// Settlement metrics (EMF JSON lines, what CloudWatch would ingest) go
	// to a file, so the terminal stays readable.
	metricsPath := filepath.Join(o.state, "metrics.log")
	metrics, err := os.OpenFile(metricsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open metrics log: %w", err)
	}
	defer metrics.Close()
	a, err := app.New(ctx, res.Settings, app.Options{WebhookSecret: issuer.WebhookSecret(), Logger: log, Metrics: metrics,
		Service: []flashsale.Option{flashsale.WithStaleAfter(o.grace)}})
	if err != nil {
		return fmt.Errorf("build app: %w", err)
	}
	log.Info("settlement metrics go to a file", "path", metricsPath, "every", o.settleEvery)
	limits, err := apispec.LimitsFor("dev")
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{
		Routes: apispec.Routes, Handlers: a.Handlers, Verifier: issuer.Verifier(),
		Limits: limits, APIKeys: []string{issuer.APIKey()}, Stage: "local", Logger: log,
	})
	if err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	gatewayURL := "http://" + ln.Addr().String()

	// The poller and the schedule get their own context so they stop after
	// the gateway has drained, not at the first Ctrl-C.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		log.Info("stopping gateway")
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, srv.Shutdown(shutCtx))
		log.Info("stopping poller and settlement schedule")
		stopBG()
		wg.Wait()
	}()
	p := poller.New(poller.Config{
		Client: awsclient.SQS(cfg, res.Settings), QueueURL: res.Settings.OrdersQueueURL,
		Handler: a.OrderWriter, BatchSize: poller.MaxBatchSize, Logger: log,
	})
	wg.Go(func() {
		if err := p.Run(bg); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("poller stopped", "err", err)
		}
	})
	wg.Go(func() { settleEvery(bg, o.settleEvery, a.Settle, log) })

	if err := devstack.WriteStackInfo(o.state, devstack.StackInfo{
		GatewayURL: gatewayURL, Settings: res.Settings, DLQURL: res.DLQURL, PID: os.Getpid(), StartedAt: start.UTC(),
	}); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, devstack.RemoveStackInfo(o.state)) }()

	if err := seedDemo(ctx, gatewayURL, issuer, time.Now()); err != nil {
		// The stack is still useful without the demo sale; say so loudly.
		log.Error("could not seed the demo sale", "err", err)
	}
	printQuickstart(stdout, gatewayURL, issuer.APIKey(), o.state, stateArg)
	log.Info("flashsale dev is up; stop with Ctrl-C", "url", gatewayURL, "after", devSince(start))

	select {
	case <-ctx.Done():
		log.Info("shutting down", "signal", context.Cause(ctx))
		return nil
	case err := <-serveErr:
		return fmt.Errorf("gateway stopped: %w", err)
	}
}

func devSince(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// settleEvery runs settlement now and then on every tick, as the deployed
// EventBridge schedule does; failures are logged and the next tick retries.
func settleEvery(ctx context.Context, every time.Duration, settle func(context.Context) error, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		if err := settle(ctx); err != nil && ctx.Err() == nil {
			log.Error("scheduled settlement failed", "err", err)
			continue
		}
		log.Debug("scheduled settlement done", "took", devSince(start))
	}
}

// demoSaleID is the sale `flashsale dev` seeds.
const demoSaleID = "demo"

// demoSaleBody is an open sale: started a minute ago, ends in a day.
func demoSaleBody(now time.Time) string {
	return fmt.Sprintf(`{"saleId":%q,"name":"Demo drop","priceCents":1999,"currency":"USD",`+
		`"startsAt":%q,"endsAt":%q,"stock":1000,"perUserLimit":2,"paymentWindowSeconds":600,"shards":4}`,
		demoSaleID, now.Add(-time.Minute).UTC().Format(time.RFC3339), now.Add(24*time.Hour).UTC().Format(time.RFC3339))
}

// seedDemo creates the demo sale through the gateway with an admin token, the
// same path an operator takes. A 409 means it survives from a persisted
// --data folder, which is fine.
func seedDemo(ctx context.Context, gatewayURL string, issuer *devauth.Issuer, now time.Time) error {
	token, err := issuer.Token(devauth.TokenRequest{UserID: "flashsale-dev", Groups: []string{apispec.GroupAdmin}, TTL: time.Minute})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+"/admin/sales", bytes.NewBufferString(demoSaleBody(now)))
	if err != nil {
		return fmt.Errorf("seed demo sale: %w", err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("seed demo sale: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusConflict:
		return nil
	default:
		return fmt.Errorf("seed demo sale: POST /admin/sales answered %d: %s", resp.StatusCode, body)
	}
}

// printQuickstart tells a developer how to call the running stack. stateArg
// is " --state DIR" when the state folder is not the default one.
func printQuickstart(w io.Writer, url, apiKey, state, stateArg string) {
	fmt.Fprintf(w, `
flashsale dev is running at %[1]s  (state: %[3]s)

  # a buyer token (valid 1 h) and the app's API key
  TOKEN=$(go run ./cmd/flashsale token%[4]s --user alice)
  API_KEY=%[2]s

  curl -s %[1]s/sales/demo
  curl -s -X POST %[1]s/sales/demo/orders \
    -H "Authorization: Bearer $TOKEN" -H "x-api-key: $API_KEY" \
    -H "Idempotency-Key: $(date +%%s%%N)" -H "Content-Type: application/json" \
    -d '{"quantity":1}'

  # pay it:            go run ./cmd/flashsale pay%[4]s --order <orderId>
  # settle and report: go run ./cmd/flashsale report%[4]s --sale demo --settle
  # dead letters:      go run ./cmd/flashsale dlq list%[4]s
  # a whole sale:      make demo   (in another terminal; it uses this stack)

`, url, apiKey, state, stateArg)
}
