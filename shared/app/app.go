// Package app wires adapters, the domain service and the handlers together.
// The Lambda mains and the local stack both build through it, so local and
// deployed run the same code.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/ebscheduler"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/lambdawarm"
	"flashsale/shared/metric"
	"flashsale/shared/s3reports"
	"flashsale/shared/snsnotifier"
	"flashsale/shared/sqsqueue"
	"flashsale/shared/wafsync"
	"flashsale/shared/warmup"
)

// APIHandler is the signature of every API Gateway proxy handler.
type APIHandler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// SQSHandler consumes one batch and reports per-message failures.
type SQSHandler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// App is everything one process needs.
type App struct {
	Service *flashsale.Service
	// Handlers maps an apispec function name to its handler.
	Handlers map[string]APIHandler
	// OrderWriter consumes the orders queue.
	OrderWriter SQSHandler
	// Settlement is the scheduled settlement Lambda's handler.
	Settlement func(context.Context, events.EventBridgeEvent) error
	// Settle runs one settlement pass over every recent sale.
	Settle func(context.Context) error
	// BanSync is the ip-ban-sync Lambda's handler: it brings the WAF IP
	// sets into line with the active IP bans.
	BanSync func(context.Context, events.EventBridgeEvent) error
	// AccountCreated is the user pool's post-confirmation trigger: it
	// records custom:created_at, which a sale's minimum account age reads.
	AccountCreated func(context.Context, events.CognitoEventUserPoolsPostConfirmation) (events.CognitoEventUserPoolsPostConfirmation, error)
	// WarmUp is the warm-up function's handler: a sale's warm-up or
	// cool-down schedule fired, so set the reserve function's provisioned
	// concurrency for the sales running now (warmup.Warmer).
	WarmUp func(context.Context, flashsale.Schedule) (warmup.Target, error)
	// Remind is the notifier function's handler: a sale's remind schedule
	// fired, so notify its subscribers.
	Remind func(context.Context, flashsale.Schedule) (flashsale.RemindStats, error)
	// Preload reads the sales opening within the lead (plus a margin) into
	// the service's cache; the purchase functions call it during init.
	Preload func(context.Context) (int, error)
}

// Options tune a process; zero values are the defaults.
type Options struct {
	// WebhookSecret verifies payment webhooks. New falls back to the
	// environment: WEBHOOK_SECRET, or the Secrets Manager secret named by
	// WEBHOOK_SECRET_ARN.
	WebhookSecret string
	Logger        *slog.Logger
	// AdmissionKeys sign challenges and purchase tokens. New falls back to
	// the environment: ADMISSION_KEYS, or the Secrets Manager secret named
	// by ADMISSION_KEYS_ARN (either holds an admission.KeySet's JSON).
	AdmissionKeys *admission.Keys
	// RequireAdmissionKeys makes New fail without admission keys, for the
	// functions that sign or check tokens: with a key of its own, each
	// container would refuse every other container's tokens.
	RequireAdmissionKeys bool
	// Metrics receives settlement metrics as EMF lines; nil drops them.
	Metrics io.Writer
	// BanNotifier hears of IP-ban changes; New sets it from
	// BAN_SYNC_FUNCTION (a nudge of the sync function). Nil locally, where
	// the gateway rereads the bans itself.
	BanNotifier handler.BanNotifier
	// WAFSync brings the WAF IP sets into line (the ip-ban-sync function);
	// New sets it from the IPSET_* environment.
	WAFSync *wafsync.Syncer
	// ChallengeGovernor sets the issue rate per container above which the
	// challenge's difficulty rises, and its ceiling; nil keeps the
	// defaults. New reads CHALLENGE_RATE and CHALLENGE_CEILING.
	ChallengeGovernor *ChallengeGovernor
	// Cognito is the user pool API the post-confirmation trigger calls; New
	// builds it.
	Cognito UserPoolAPI
	// Lead is how long before a sale opens its warm-up and reminders run;
	// 0: flashsale.DefaultLead. New reads PREPARE_LEAD.
	Lead time.Duration
	// Scheduler receives each new sale's preparation schedules; nil
	// schedules nothing. New builds EventBridge Scheduler's from the
	// environment.
	Scheduler flashsale.Scheduler
	// Notifier delivers reminders, paced by ReminderPacing (zero: the
	// default); New builds SNS's from REMINDER_TOPIC_ARN.
	Notifier       flashsale.Notifier
	ReminderPacing flashsale.ReminderPacing
	// Provisioner sets the reserve function's provisioned concurrency
	// within Warm's baseline and ceiling; New builds Lambda's from the
	// environment.
	Provisioner warmup.Provisioner
	Warm        warmup.Config
	// DeadLetters is where the order writer sets poison messages aside at
	// once; nil leaves them to the queue's redrive policy. New builds it
	// from ORDERS_DLQ_URL.
	DeadLetters handler.DeadLetterQueue
	// ReportArchive keeps every settlement report version as files, and
	// the report routes read from it; New builds the S3 one when
	// REPORTS_BUCKET is set. Without one, settlement keeps only the
	// summary and report downloads fail (flashsale.ErrNoArchive).
	ReportArchive flashsale.ReportArchive
	// Service passes options to the domain service (clock, IDs, cache TTL).
	Service []flashsale.Option
}

// PreloadMargin is how much further than the lead a container's preload
// looks: a container that starts a little before the warm-up still finds
// the sale.
const PreloadMargin = 5 * time.Minute

// New builds the App on real clients: AWS, or the emulators the settings
// point at.
func New(ctx context.Context, s awsclient.Settings, o Options) (*App, error) {
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if s.OrdersQueueURL == "" {
		return nil, fmt.Errorf("app: no orders queue URL")
	}
	if o.WebhookSecret == "" {
		if o.WebhookSecret, err = webhookSecret(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if o.AdmissionKeys == nil {
		v, err := secret(ctx, cfg, awsclient.EnvAdmissionKeys, awsclient.EnvAdmissionKeysARN)
		if err != nil {
			return nil, fmt.Errorf("read admission keys: %w", err)
		}
		if v != "" {
			if o.AdmissionKeys, err = admission.ParseKeys([]byte(v)); err != nil {
				return nil, err
			}
		}
	}
	if o.AdmissionKeys == nil && o.RequireAdmissionKeys {
		return nil, fmt.Errorf("no admission keys: set %s or %s", awsclient.EnvAdmissionKeys, awsclient.EnvAdmissionKeysARN)
	}
	if o.ChallengeGovernor == nil {
		if o.ChallengeGovernor, err = challengeGovernorFromEnv(); err != nil {
			return nil, err
		}
	}
	if o.Lead == 0 {
		if o.Lead, err = leadFromEnv(); err != nil {
			return nil, err
		}
	}
	if o.Cognito == nil {
		o.Cognito = cognitoidentityprovider.NewFromConfig(cfg) // makes no call until used
	}
	if o.BanNotifier == nil && o.WAFSync == nil {
		o.BanNotifier, o.WAFSync = banSyncFromEnv(cfg)
	}
	if err := prepareFromEnv(cfg, &o); err != nil {
		return nil, err
	}
	if url := os.Getenv(awsclient.EnvOrdersDLQURL); url != "" && o.DeadLetters == nil {
		o.DeadLetters = sqsqueue.NewDeadLetter(awsclient.SQS(cfg, s), url)
	}
	if s.ReportsBucket != "" && o.ReportArchive == nil {
		// Only the settlement and admin functions get the bucket (and a
		// grant on it); the client makes no call until used.
		o.ReportArchive = s3reports.New(awsclient.S3(cfg, s), s.ReportsBucket)
	}
	store := dynamostore.New(awsclient.DynamoDB(cfg, s), s.SalesTable, s.OrdersTable)
	queue := sqsqueue.New(awsclient.SQS(cfg, s), s.OrdersQueueURL, s.FIFOGroups)
	return Build(store, queue, o), nil
}

// webhookSecret reads the payment provider's signing secret once per
// container.
func webhookSecret(ctx context.Context, cfg aws.Config) (string, error) {
	v, err := secret(ctx, cfg, awsclient.EnvWebhookSecret, awsclient.EnvWebhookSecretARN)
	if err != nil {
		return "", fmt.Errorf("read webhook secret: %w", err)
	}
	return v, nil
}

// secret reads a secret once per container: from the environment variable
// env locally, from the Secrets Manager secret that arnEnv names in AWS.
// Neither set is no secret: functions that do not use it get none.
func secret(ctx context.Context, cfg aws.Config, env, arnEnv string) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	arn := os.Getenv(arnEnv)
	if arn == "" {
		return "", nil
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

// Build wires an App from any Store and OrderQueue (tests pass wrappers that
// count calls or inject faults). Without AdmissionKeys the service signs
// with a key of its own process: fine for one process, but tokens would not
// verify across Lambda containers, so the stack always configures them.
func Build(store flashsale.Store, queue flashsale.OrderQueue, o Options) *App {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []flashsale.Option{flashsale.WithLogger(log)}
	if o.AdmissionKeys != nil {
		opts = append(opts, flashsale.WithAdmissionKeys(o.AdmissionKeys))
	}
	if g := o.ChallengeGovernor; g != nil {
		opts = append(opts, flashsale.WithChallengeGovernor(g.Rate, g.Ceiling))
	}
	var emf *metric.EMF
	if o.Metrics != nil {
		emf = metric.NewEMF(o.Metrics, log)
		opts = append(opts, flashsale.WithMetrics(emf))
	}
	if o.Lead <= 0 {
		o.Lead = flashsale.DefaultLead
	}
	opts = append(opts, flashsale.WithLead(o.Lead))
	if o.Scheduler != nil {
		opts = append(opts, flashsale.WithScheduler(o.Scheduler))
	}
	if o.Notifier != nil {
		if o.ReminderPacing == (flashsale.ReminderPacing{}) {
			o.ReminderPacing = flashsale.DefaultReminderPacing
		}
		opts = append(opts, flashsale.WithNotifier(o.Notifier, o.ReminderPacing))
	}
	if o.ReportArchive != nil {
		opts = append(opts, flashsale.WithReportArchive(o.ReportArchive))
	}
	svc := flashsale.NewService(store, queue, append(opts, o.Service...)...)
	o.Warm.Lead = o.Lead
	var writerOpts []handler.WriterOption
	if o.DeadLetters != nil {
		var poisoned handler.PoisonCounter
		if emf != nil {
			poisoned = emf
		}
		writerOpts = append(writerOpts, handler.WithDeadLetters(o.DeadLetters, poisoned))
	}
	warmer := &warmup.Warmer{ListSales: store.ListSales, Provisioner: o.Provisioner, Config: o.Warm, Now: svc.Now, Log: log}
	settlement := handler.NewSettlement(svc, log)
	bans := banSync(svc, o.WAFSync, log)
	account := accountCreated(o.Cognito, svc.Now)
	writer := handler.NewOrderWriter(svc, log, writerOpts...)
	// Each handler runs on a context tagged with its function, which the
	// IAM parity test's recorder (awsclient.EnvIAMRecord) reads.
	tag := awsclient.WithFunction
	return &App{
		Service:  svc,
		Handlers: apiHandlers(handler.NewAPI(svc, []byte(o.WebhookSecret), o.BanNotifier, log)),
		OrderWriter: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			return writer(tag(ctx, apispec.FunctionOrderWriter), ev)
		},
		Settlement: func(ctx context.Context, ev events.EventBridgeEvent) error {
			return settlement(tag(ctx, apispec.FunctionSettlement), ev)
		},
		// Settle is the local schedule's stand-in for the settlement
		// function.
		Settle: func(ctx context.Context) error { return svc.SettleAll(tag(ctx, apispec.FunctionSettlement)) },
		BanSync: func(ctx context.Context, ev events.EventBridgeEvent) error {
			return bans(tag(ctx, apispec.FunctionIPBanSync), ev)
		},
		AccountCreated: func(ctx context.Context, ev events.CognitoEventUserPoolsPostConfirmation) (events.CognitoEventUserPoolsPostConfirmation, error) {
			return account(tag(ctx, apispec.FunctionAccountCreated), ev)
		},
		WarmUp: func(ctx context.Context, sc flashsale.Schedule) (warmup.Target, error) {
			if o.Provisioner == nil {
				return warmup.Target{}, errors.New("warm-up: no provisioner configured")
			}
			return warmer.Run(tag(ctx, apispec.FunctionWarmUp), sc)
		},
		Remind: func(ctx context.Context, sc flashsale.Schedule) (flashsale.RemindStats, error) {
			return svc.SendReminders(tag(ctx, apispec.FunctionNotifier), sc.SaleID)
		},
		// Only reserve preloads (MustFromEnv).
		Preload: func(ctx context.Context) (int, error) {
			return svc.Preload(tag(ctx, apispec.FunctionReserve), o.Lead+PreloadMargin)
		},
	}
}

// apiHandlers gives each function of apispec.Routes a dispatch table of its
// routes, so a function answers only the routes apispec gives it. A route
// with no handler in api answers 404 not_found from its function;
// TestRoutes_ReachAHandler fails on that.
func apiHandlers(api handler.Routes) map[string]APIHandler {
	tables := map[string]handler.Routes{}
	for _, r := range apispec.Routes {
		t := tables[r.Function]
		if t == nil {
			t = handler.Routes{}
			tables[r.Function] = t
		}
		if h, ok := api[r.Key()]; ok {
			t[r.Key()] = h
		}
	}
	out := make(map[string]APIHandler, len(tables))
	for fn, t := range tables {
		out[fn] = func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return t.Serve(awsclient.WithFunction(ctx, fn), req)
		}
	}
	return out
}

// MustFromEnv is what every Lambda main calls once per container: read the
// settings from the environment, load the AWS config, build the App. It
// logs as JSON (slog) and exits when the configuration is unusable, since a
// container that cannot start should fail its init, not every request.
func MustFromEnv(function string) *App {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
	slog.SetDefault(log)
	settings, err := awsclient.FromEnv()
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(1)
	}
	// The functions that sign or check purchase tokens must share the
	// stack's keys.
	signs := function == apispec.FunctionAdmission || function == apispec.FunctionReserve
	// Without its dead-letter queue the writer would leave a poison
	// message blocking its group for maxReceiveCount visibility timeouts.
	if function == apispec.FunctionOrderWriter && os.Getenv(awsclient.EnvOrdersDLQURL) == "" {
		log.Error("bad configuration", "err", awsclient.EnvOrdersDLQURL+" must be set for the order writer")
		os.Exit(1)
	}
	a, err := New(context.Background(), settings, Options{Logger: log, Metrics: os.Stdout, RequireAdmissionKeys: signs})
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	// Data warm-up: a reserve environment that provisioned concurrency
	// starts (at the warm-up) loads the sales about to open into its cache,
	// so the burst's first purchase makes no sale read. On-demand inits,
	// which happen during the burst, skip it: a Scan there would only slow
	// them. A failure costs only that read later.
	if function == apispec.FunctionReserve && os.Getenv(envInitType) == initProvisioned {
		ctx, cancel := context.WithTimeout(context.Background(), preloadTimeout)
		n, err := a.Preload(ctx)
		cancel()
		if err != nil {
			log.Warn("preload failed; sales will be read on first use", "err", err)
		} else {
			log.Info("preloaded sales", "count", n)
		}
	}
	return a
}

// Lambda's AWS_LAMBDA_INITIALIZATION_TYPE says how an environment started:
// "on-demand", "provisioned-concurrency" or "snap-start".
const (
	envInitType     = "AWS_LAMBDA_INITIALIZATION_TYPE"
	initProvisioned = "provisioned-concurrency"
)

// preloadTimeout bounds the preload inside Lambda's 10 s init.
const preloadTimeout = 3 * time.Second

// leadFromEnv reads PREPARE_LEAD; unset is the default lead.
func leadFromEnv() (time.Duration, error) {
	v := os.Getenv(awsclient.EnvLead)
	if v == "" {
		return flashsale.DefaultLead, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive Go duration such as 10m", awsclient.EnvLead, v)
	}
	return d, nil
}

// prepareFromEnv builds the preparation phase's adapters that o lacks
// from the environment. Each function gets only the variables of its own
// part (the admin function the schedule ones, the warm-up function the
// reserve ones, the notifier the topic), so a group entirely unset builds
// nothing; a group half set is a stack bug, refused at init rather than
// found when the first sale fails to warm up.
func prepareFromEnv(cfg aws.Config, o *Options) error {
	if o.Scheduler == nil {
		env, err := envGroup(awsclient.EnvScheduleGroup, awsclient.EnvSchedulerRole, awsclient.EnvWarmUpFunction, awsclient.EnvNotifierFunction)
		if err != nil {
			return err
		}
		if env != nil {
			sc, err := ebscheduler.New(scheduler.NewFromConfig(cfg), ebscheduler.Config{
				Group: env[0], RoleARN: env[1], WarmUpARN: env[2], NotifierARN: env[3],
			}, time.Now)
			if err != nil {
				return err
			}
			o.Scheduler = sc
		}
	}
	if o.Notifier == nil {
		if topic := os.Getenv(awsclient.EnvReminderTopic); topic != "" {
			n, err := snsnotifier.New(sns.NewFromConfig(cfg), topic)
			if err != nil {
				return err
			}
			o.Notifier = n
		}
	}
	if o.Provisioner == nil {
		env, err := envGroup(awsclient.EnvReserveFunction, awsclient.EnvReserveAlias)
		if err != nil {
			return err
		}
		if env != nil {
			p, err := lambdawarm.New(lambda.NewFromConfig(cfg), env[0], env[1], o.Logger)
			if err != nil {
				return err
			}
			o.Provisioner = p
		}
	}
	if o.Warm.Baseline == 0 && o.Warm.Ceiling == 0 {
		w, err := warmFromEnv()
		if err != nil {
			return err
		}
		o.Warm.Baseline, o.Warm.Ceiling = w.Baseline, w.Ceiling
	}
	return nil
}

// envGroup reads variables that go together: all set gives their values,
// none set gives nil, and anything between is an error naming the
// missing ones.
func envGroup(names ...string) ([]string, error) {
	vals := make([]string, len(names))
	var set, missing []string
	for i, n := range names {
		if vals[i] = os.Getenv(n); vals[i] == "" {
			missing = append(missing, n)
		} else {
			set = append(set, n)
		}
	}
	switch {
	case len(set) == 0:
		return nil, nil
	case len(missing) > 0:
		return nil, fmt.Errorf("%s set without %s: they go together", strings.Join(set, ", "), strings.Join(missing, ", "))
	}
	return vals, nil
}

// warmFromEnv reads WARM_BASELINE and WARM_CEILING; unset is 0 (no
// baseline, no cap).
func warmFromEnv() (warmup.Config, error) {
	var w warmup.Config
	for _, v := range []struct {
		name string
		to   *int
	}{{awsclient.EnvWarmBaseline, &w.Baseline}, {awsclient.EnvWarmCeiling, &w.Ceiling}} {
		s := os.Getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return warmup.Config{}, fmt.Errorf("%s=%q: want a whole number of environments, 0 or more", v.name, s)
		}
		*v.to = n
	}
	// The ceiling is the reserve function's reserved concurrency, which
	// the baseline alone must already fit under.
	if w.Ceiling > 0 && w.Baseline > w.Ceiling {
		return warmup.Config{}, fmt.Errorf("%s=%d is over %s=%d", awsclient.EnvWarmBaseline, w.Baseline, awsclient.EnvWarmCeiling, w.Ceiling)
	}
	return w, nil
}

// ChallengeGovernor is the difficulty governor's configuration
// (admission.Governor).
type ChallengeGovernor struct {
	Rate    float64 // challenges a second per container
	Ceiling int64
}

// challengeGovernorFromEnv reads CHALLENGE_RATE and CHALLENGE_CEILING;
// either unset keeps its default.
func challengeGovernorFromEnv() (*ChallengeGovernor, error) {
	g := &ChallengeGovernor{Rate: admission.DefaultGovernorRate, Ceiling: admission.DefaultGovernorCeiling}
	if v := os.Getenv(awsclient.EnvChallengeRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive number of challenges a second", awsclient.EnvChallengeRate, v)
		}
		g.Rate = r
	}
	if v := os.Getenv(awsclient.EnvChallengeCeiling); v != "" {
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil || c < 1 || c > flashsale.MaxChallengeMaxNumber {
			return nil, fmt.Errorf("%s=%q: want an integer between 1 and %d", awsclient.EnvChallengeCeiling, v, flashsale.MaxChallengeMaxNumber)
		}
		g.Ceiling = c
	}
	return g, nil
}
