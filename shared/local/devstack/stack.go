package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/livestats"
	"flashsale/shared/local/poller"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/s3local"
	"flashsale/shared/s3reports"
	"flashsale/shared/sqsqueue"
)

// Config says how to assemble a local stack. Only StateDir is required.
type Config struct {
	// Root is the repository root, whose node_modules holds the emulators;
	// default: FindRoot(".").
	Root string
	// StateDir holds the dev keys (devauth), the emulators' logs/,
	// metrics.log and, while the stack runs, stack.json.
	StateDir string
	// Addr is where the gateway listens; default 127.0.0.1:0 (a free port).
	Addr string

	// DynamoDBEndpoint and SQSEndpoint reuse emulators that already run
	// (tests set both). When they are empty, Open starts its own on
	// DynamoDBPort and SQSPort (0: a free port) and stops them on Close.
	DynamoDBEndpoint, SQSEndpoint string
	DynamoDBPort, SQSPort         int
	// S3Addr is where the in-process S3 server (s3local) that keeps the
	// report files listens; default 127.0.0.1:0 (a free port). It keeps
	// them in memory: a restart forgets the files, though DataDir keeps
	// the reports' summaries (`flashsale report --settle` writes them again:
	// on-demand settlement checks that the files are there).
	S3Addr string
	// DataDir makes a started DynamoDB Local keep its tables there.
	DataDir string
	// Prefix names the tables and queues; default DevPrefix.
	Prefix string
	// MaxAttempts bounds the SDK's attempts per call; 0 keeps
	// CreateResources' default.
	MaxAttempts int
	// DynamoDBOptions and SQSOptions adjust the app's clients, e.g. to count
	// calls with an HTTP transport.
	DynamoDBOptions []func(*dynamodb.Options)
	SQSOptions      []func(*sqs.Options)

	// Limits are the gateway's throttles and the WebACL's per-IP rate rule
	// (WAFRateLimit): apispec.LimitsFor("dev") as deployed, or the zero
	// Limits for none at all.
	Limits apispec.Limits
	// NoIPRateRule turns the per-IP rate rule off and keeps the throttles,
	// for experiments that play many buyers from one address.
	NoIPRateRule bool
	// Stage goes into requestContext.stage; default "local".
	Stage string
	// SettleEvery is the settlement schedule's period; default
	// apispec.SettlementEvery.
	SettleEvery time.Duration
	// Grace is how long a purchase's hold may stay pending before settlement
	// presumes its request dead and reclaims its units; 0 keeps the
	// service's default (2 minutes). The crash test shortens it.
	Grace time.Duration
	// NoBackground leaves out the queue poller, the settlement schedule
	// and the tick of the preparation schedules (Stack.Schedules.RunDue
	// still fires them), for measuring the purchase path alone (deployed,
	// the order writer runs on its own Lambda capacity, not beside the
	// gateway).
	NoBackground bool
	// Now is the clock of the service and of the preparation schedules;
	// nil means time.Now in UTC. Tests set a testclock's Now and call
	// Stack.Schedules.RunDue after moving it. The gateway keeps the wall
	// clock, for throttles and token expiry.
	Now func() time.Time
	// Lead is how long before a sale opens its warm-up and reminders run;
	// 0 means flashsale.DefaultLead.
	Lead time.Duration
	// ControlAddr is where the control port listens (GET /schedules, GET
	// /provisioned); default 127.0.0.1:0 (a free port). stack.json gives
	// its URL as controlUrl.
	ControlAddr string
	// Seed runs after the app is built and before the gateway answers
	// anything but 503, e.g. SeedDemo.
	Seed func(context.Context, *app.App) error

	// Logger receives the stack's logs; nil means slog.Default().
	Logger *slog.Logger
	// LogRequests logs one line per request at Info rather than Debug.
	LogRequests bool
}

// Stack is a running local stack: emulators, tables and queues, the app,
// the gateway, the queue poller, the settlement schedule and the sales'
// preparation schedules. `flashsale dev`, `bench`, `demo` and the
// end-to-end tests all run this one type.
type Stack struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:3000.
	URL string
	// ControlURL is the control port's base URL (prepare.NewControl).
	ControlURL string
	// Settings point at the emulators and name the tables and queue.
	Settings awsclient.Settings
	// Resources are the tables and queues Open created (or found).
	Resources Resources
	Issuer    *devauth.Issuer
	App       *app.App
	Gateway   *gateway.Gateway
	// Emulators are the child processes Open started; nil when reused.
	Emulators *Emulators
	// S3 is the in-process S3 server holding the reports bucket
	// (Settings.S3Endpoint, Settings.ReportsBucket).
	S3 *s3local.Server
	// Schedules runs the sales' preparation schedules on Config.Now,
	// persisted in the state folder (prepare.SchedulesFile). The
	// background ticks it every ScheduleEvery unless NoBackground; tests
	// call RunDue.
	Schedules *prepare.Scheduler
	// Provisioned records the provisioned-concurrency changes the warm-up
	// would make, from a baseline of 0.
	Provisioned *prepare.Recorder
	// Outbox receives the reminders, in the state folder
	// (prepare.OutboxFile).
	Outbox *prepare.Outbox
	// Stats counts the gateway's answers for the live view, which the
	// control port serves at livestats.Path.
	Stats *livestats.Collector
	// AWS, DynamoDB and SQS are plain clients for the emulators, without
	// Config's options (e.g. for raw measurements or cleanup).
	AWS       aws.Config
	DynamoDB  *dynamodb.Client
	SQS       *sqs.Client
	StartedAt time.Time

	cfg       Config
	log       *slog.Logger
	gate      *gateway.Gate
	stopServe context.CancelFunc
	controlLn net.Listener
	control   *http.Server
	served    chan struct{} // closed when the gate's Serve returned
	serveErr  error         // what it returned
	stopBG    context.CancelFunc
	bg        sync.WaitGroup
	metrics   *os.File
	wroteInfo bool
	closeOnce sync.Once
	closeErr  error
}

// Open brings a stack up and returns once it is ready: the gateway listens
// from the start but answers 503 until the tables exist and Seed has run.
// On error it tears down whatever it started.
func Open(ctx context.Context, c Config) (*Stack, error) {
	s := &Stack{cfg: c, log: c.Logger, StartedAt: time.Now()}
	if err := s.defaults(); err != nil {
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Stack) open(ctx context.Context) error {
	// The port first: a busy port fails before the emulators take seconds.
	if err := s.listen(); err != nil {
		return err
	}
	if err := s.startEmulators(ctx); err != nil {
		return err
	}
	if err := s.createResources(ctx); err != nil {
		return err
	}
	if err := s.startS3(); err != nil {
		return err
	}
	if err := s.buildApp(ctx); err != nil {
		return err
	}
	s.startBackground()
	if s.cfg.Seed != nil {
		if err := s.cfg.Seed(ctx, s.App); err != nil {
			return err
		}
	}
	s.gate.Open(s.Gateway)
	// stack.json last, so a tool that finds it finds a ready stack.
	if err := WriteStackInfo(s.cfg.StateDir, s.Info()); err != nil {
		return err
	}
	s.wroteInfo = true
	return nil
}

func (s *Stack) defaults() error {
	c := &s.cfg
	if c.StateDir == "" {
		return errors.New("devstack: Config.StateDir is required")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if c.Root == "" {
		root, err := FindRoot(".")
		if err != nil {
			return err
		}
		c.Root = root
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.ControlAddr == "" {
		// Held from the start, so unlike an emulator's port (FreePort) no
		// one can take it between choosing and binding.
		c.ControlAddr = "127.0.0.1:0"
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
	if c.Lead <= 0 {
		c.Lead = flashsale.DefaultLead
	}
	if c.Prefix == "" {
		c.Prefix = DevPrefix
	}
	if c.SettleEvery <= 0 {
		c.SettleEvery = apispec.SettlementEvery
	}
	if (c.DynamoDBEndpoint == "") != (c.SQSEndpoint == "") {
		return errors.New("devstack: give both emulator endpoints or neither")
	}
	return os.MkdirAll(c.StateDir, 0o700)
}

// listen claims the gateway's address and serves the closed gate on it.
func (s *Stack) listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	_, port, _ := net.SplitHostPort(s.cfg.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %s is busy, so the gateway cannot listen there: stop whatever uses it or pick another port with --port", port)
	}
	if err != nil {
		return fmt.Errorf("gateway port %s (change it with --port): %w", port, err)
	}
	s.URL = "http://" + ln.Addr().String()
	if s.controlLn, err = net.Listen("tcp", s.cfg.ControlAddr); err != nil {
		ln.Close()
		return fmt.Errorf("control port %s (change it with --control-port): %w", s.cfg.ControlAddr, err)
	}
	s.ControlURL = "http://" + s.controlLn.Addr().String()
	s.gate = gateway.NewGate(s.log)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopServe, s.served = cancel, make(chan struct{})
	go func() {
		s.serveErr = s.gate.Serve(ctx, ln)
		close(s.served)
	}()
	return nil
}

func (s *Stack) startEmulators(ctx context.Context) error {
	c := s.cfg
	if c.DynamoDBEndpoint != "" {
		s.Settings = awsclient.Settings{DynamoDBEndpoint: c.DynamoDBEndpoint, SQSEndpoint: c.SQSEndpoint}
		return nil
	}
	var err error
	for _, p := range []*int{&c.DynamoDBPort, &c.SQSPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return err
			}
		}
	}
	logs := filepath.Join(c.StateDir, "logs")
	s.Emulators, err = StartEmulators(ctx, EmulatorConfig{
		Root: c.Root, DynamoDBPort: c.DynamoDBPort, SQSPort: c.SQSPort, DataDir: c.DataDir, LogDir: logs, Logger: s.log,
	})
	if err != nil {
		return err
	}
	s.log.Info("emulators ready", "dynamodb", s.Emulators.DynamoDBEndpoint, "sqs", s.Emulators.SQSEndpoint,
		"logs", logs, "after", since(s.StartedAt))
	s.Settings = s.Emulators.Settings()
	return nil
}

func (s *Stack) createResources(ctx context.Context) (err error) {
	base := s.Settings
	base.MaxAttempts = s.cfg.MaxAttempts
	if s.AWS, err = awsclient.LoadConfig(ctx, base); err != nil {
		return err
	}
	s.DynamoDB, s.SQS = awsclient.DynamoDB(s.AWS, base), awsclient.SQS(s.AWS, base)
	if s.Resources, err = CreateResources(ctx, s.DynamoDB, s.SQS, s.cfg.Prefix); err != nil {
		return err
	}
	s.Settings = s.Resources.Settings
	if s.cfg.MaxAttempts > 0 {
		s.Settings.MaxAttempts = s.cfg.MaxAttempts
	}
	s.log.Info("tables and queues ready", "sales", s.Settings.SalesTable, "orders", s.Settings.OrdersTable,
		"queue", s.Settings.OrdersQueueURL, "dlq", s.Resources.DLQURL)
	return nil
}

// startS3 starts the S3 server with the reports bucket, versioned as
// deployed, and points the settings at it, so stack.json (and every
// process started from it) finds the bucket.
func (s *Stack) startS3() (err error) {
	if s.S3, err = s3local.Start(s.cfg.S3Addr, ""); err != nil {
		return err
	}
	s.Settings.S3Endpoint, s.Settings.ReportsBucket = s.S3.Endpoint, s.S3.Bucket
	s.log.Info("reports bucket ready", "s3", s.S3.Endpoint, "bucket", s.S3.Bucket)
	return nil
}

// buildApp builds the app on the emulators and the gateway in front of it.
func (s *Stack) buildApp(ctx context.Context) (err error) {
	c := s.cfg
	if s.Issuer, err = devauth.LoadOrCreate(c.StateDir); err != nil {
		return err
	}
	s.Stats = s.newLiveStats()
	// Settlement metrics (EMF JSON lines, what CloudWatch would ingest) go
	// to a file, so the terminal stays readable.
	path := filepath.Join(c.StateDir, "metrics.log")
	if s.metrics, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("open metrics log: %w", err)
	}
	store := dynamostore.New(awsclient.DynamoDB(s.AWS, s.Settings, c.DynamoDBOptions...), s.Settings.SalesTable, s.Settings.OrdersTable)
	queue := sqsqueue.New(awsclient.SQS(s.AWS, s.Settings, c.SQSOptions...), s.Settings.OrdersQueueURL, s.Settings.FIFOGroups)
	service := []flashsale.Option{flashsale.WithClock(c.Now)}
	if c.Grace > 0 {
		service = append(service, flashsale.WithStaleAfter(c.Grace))
	}
	keys, err := admission.ParseKeys(s.Issuer.AdmissionKeys())
	if err != nil {
		return fmt.Errorf("admission keys: %w", err)
	}
	if err := s.buildPreparation(ctx, store); err != nil {
		return err
	}
	s.App = app.Build(store, queue, app.Options{WebhookSecret: s.Issuer.WebhookSecret(), AdmissionKeys: keys,
		Logger: s.log, Metrics: s.metrics, Service: service,
		Lead: c.Lead, Scheduler: s.Schedules, Notifier: s.Outbox, Provisioner: s.Provisioned,
		// As the deployed writer does (ORDERS_DLQ_URL): poison messages go
		// straight to the dead-letter queue.
		DeadLetters: sqsqueue.NewDeadLetter(awsclient.SQS(s.AWS, s.Settings, c.SQSOptions...), s.Resources.DLQURL),
		// As the deployed settlement and admin functions do (REPORTS_BUCKET).
		ReportArchive: s3reports.New(awsclient.S3(s.AWS, s.Settings), s.Settings.ReportsBucket)})
	if err := s.bindPreparation(ctx); err != nil {
		return err
	}
	if !c.NoBackground {
		s.log.Info("settlement metrics go to a file", "path", path, "every", c.SettleEvery)
	}
	s.Gateway, err = gateway.New(gateway.Config{
		Routes: apispec.Routes, Handlers: s.App.Handlers, Functions: apispec.Functions,
		Verifier: s.Issuer.Verifier(), Limits: c.Limits, NoIPRateRule: c.NoIPRateRule, APIKeys: []string{s.Issuer.APIKey()},
		Stage: c.Stage, Logger: s.log, LogRequests: c.LogRequests, Observer: s.Stats,
	})
	if err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	return nil
}

// BanReloadEvery is how often the gateway rereads the IP bans: a ban or its
// removal takes effect locally within this long (the contract says 5 s).
const BanReloadEvery = 2 * time.Second

// startBackground runs the ban reloader, the poller and the schedule on a
// context of their own, so they stop after the gateway has drained, not at
// the first Ctrl-C. Bans are loaded once before it returns, so the gateway
// opens with them in force; NoBackground leaves out the poller and the
// schedule, never the bans.
func (s *Stack) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBG = cancel
	s.reloadBans(ctx)
	s.bg.Go(func() { onEveryTick(ctx, BanReloadEvery, s.reloadBans) })
	// The live view's snapshots cost no store call, so they run always.
	s.bg.Go(func() { onEveryTick(ctx, livestats.TickEvery, s.Stats.Tick) })
	if s.cfg.NoBackground {
		return
	}
	// Preparation runs no purchase, but its store calls would blur the
	// purchase path's call counts, hence out under NoBackground too.
	s.bg.Go(func() { onEveryTick(ctx, ScheduleEvery, s.Schedules.Tick) })
	p := poller.New(poller.Config{
		Client: awsclient.SQS(s.AWS, s.Settings), QueueURL: s.Settings.OrdersQueueURL,
		Handler: s.App.OrderWriter, BatchSize: poller.MaxBatchSize, Logger: s.log,
	})
	s.bg.Go(func() {
		if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("poller stopped", "err", err)
		}
	})
	// Each run gets the settlement function's timeout, as its Lambda would.
	fn, err := apispec.FunctionNamed(apispec.FunctionSettlement)
	if err != nil {
		panic(err) // apispec declares every function; a test checks it
	}
	settle := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, fn.Timeout)
		defer cancel()
		return s.App.Settle(ctx)
	}
	s.bg.Go(func() { settleEvery(ctx, s.cfg.SettleEvery, settle, s.log) })
}

// reloadBans hands the gateway the IP bans in force; on a failed read it
// keeps the last ones, as WAF keeps its IP sets when a sync fails.
func (s *Stack) reloadBans(ctx context.Context) {
	bans, err := s.App.IPBanPrefixes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("IP bans not reloaded; keeping the last ones", "err", err)
		}
		return
	}
	s.Gateway.SetIPBans(bans)
}

// Info describes the stack for stack.json.
func (s *Stack) Info() StackInfo {
	return StackInfo{GatewayURL: s.URL, ControlURL: s.ControlURL, Settings: s.Settings, DLQURL: s.Resources.DLQURL, PID: os.Getpid(),
		StartedAt: s.StartedAt.UTC(), LeadSeconds: int64(s.cfg.Lead / time.Second)}
}

// Wait blocks until ctx is done (nil) or the gateway stops serving on its
// own (its error). Close still has to be called.
func (s *Stack) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.served:
		return fmt.Errorf("gateway stopped: %w", s.serveErr)
	}
}

// Close takes the stack down in reverse: the gateway drains requests in
// flight (up to gateway.ShutdownGrace), the control port closes, the poller
// and the schedules stop (a run in flight ends on its cancelled context and
// is retried by the next start), stack.json goes, and the emulators Open
// started stop, leaving no child process. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Stack) close() error {
	var errs []error
	if s.stopServe != nil {
		s.log.Info("stopping gateway")
		s.stopServe()
		<-s.served
		errs = append(errs, s.serveErr)
	}
	if s.control != nil {
		ctx, cancel := context.WithTimeout(context.Background(), gateway.ShutdownGrace)
		errs = append(errs, s.control.Shutdown(ctx))
		cancel()
	} else if s.controlLn != nil {
		errs = append(errs, s.controlLn.Close())
	}
	if s.stopBG != nil {
		s.log.Info("stopping background work")
		s.stopBG()
		s.bg.Wait()
	}
	if s.Schedules != nil {
		s.Schedules.Wait() // runs Tick started end on the cancelled context
	}
	if s.wroteInfo {
		errs = append(errs, RemoveStackInfo(s.cfg.StateDir))
	}
	if s.metrics != nil {
		errs = append(errs, s.metrics.Close())
	}
	if s.S3 != nil {
		errs = append(errs, s.S3.Close())
	}
	if s.Emulators != nil {
		s.log.Info("stopping emulators")
		errs = append(errs, s.Emulators.Stop())
	}
	return errors.Join(errs...)
}
