// Package infra is the flashsale stack in the AWS CDK: the REST API with its
// throttles, Cognito and WAF (IP bans, per-IP rate rule); one Lambda per
// apispec function; the tables and queues from shared/schema; and the
// schedules, alarms and dashboard that run a sale, and the preparation
// phase's schedule group, scheduler role and reminder topic. cdk.json runs
// infra/cdkapp, and template-tests/ builds the same stack.
package infra

import (
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/schema"
)

// FlashSaleStackProps configures one deployment of the stack. Zero values take
// the stage's defaults.
type FlashSaleStackProps struct {
	awscdk.StackProps
	// Stage is "dev" or "prod": it selects apispec limits, removal policies
	// (prod retains data and turns on deletion protection) and log retention.
	Stage string
	// AlarmEmail, if set, subscribes an address to the alarm topic.
	AlarmEmail string
	// ReservedConcurrency caps and guarantees the reserve function's
	// concurrency, isolating the burst from the other functions.
	ReservedConcurrency int
	// ProvisionedConcurrency keeps that many reserve environments warm
	// outside sales: the baseline the warm-up adds each sale's share to
	// (WARM_BASELINE); 0 provisions none. It must not exceed
	// ReservedConcurrency, which is the warm-up's ceiling.
	ProvisionedConcurrency int
	// WarmThroughput pre-warms both tables for a sale day; nil leaves
	// DynamoDB's default.
	WarmThroughput *WarmThroughput
	// OrderWriterMaxConcurrency caps the order writer's concurrent batches.
	OrderWriterMaxConcurrency int
	// FIFOGroups is how many message groups orders spread over.
	FIFOGroups int
	// PrepareLead is how long before a sale opens its warm-up and first
	// reminders run (PREPARE_LEAD); 0 means flashsale.DefaultLead.
	PrepareLead time.Duration
	// APIGatewayAccountRole says whether this stack owns the region's one
	// API Gateway CloudWatch Logs role (AWS::ApiGateway::Account), which
	// access and execution logs need. nil takes the stage's default: prod
	// owns it and retains it on delete, dev relies on the account's (prod's)
	// so that destroying dev never breaks prod's logging. A dev-only
	// account sets it true (docs/deploy.md, "First deploy in a fresh
	// account").
	APIGatewayAccountRole *bool
	// SESFromAddress, if set, makes Cognito send its emails (sign-up codes,
	// password resets) through SES from this verified address, instead of
	// Cognito's built-in sender, whose daily limit is below a sale's
	// sign-ups. SESRegion is the SES region of that identity; it is
	// required unless the stack's env names a region.
	SESFromAddress string
	SESRegion      string
	// AppCallbackURLs and AppLogoutURLs are the mobile app client's OAuth
	// redirect URLs (the app's own scheme); empty takes
	// DefaultAppCallbackURL and DefaultAppLogoutURL.
	AppCallbackURLs []string
	AppLogoutURLs   []string
	// WAFRateLimit is the WebACL's per-IP limit, requests per client IP in
	// 5 minutes; 0 takes the stage's apispec value. WAF's minimum is 10.
	// The local gateway keeps apispec's number.
	WAFRateLimit int
	// FinanceReaderPrincipal, if set, adds the FinanceReportsReader role,
	// which it may assume to read the reports bucket: a 12-digit account ID
	// or an IAM role or user ARN (docs/deploy.md, "Reports bucket").
	FinanceReaderPrincipal string
	// AssetRoot holds one folder per function with its arm64 bootstrap, as
	// make build writes them ("build" by default, relative to the working
	// directory). Tests point it at placeholder folders.
	AssetRoot string
}

// WarmThroughput is the read and write capacity, in units per second, a table
// can serve instantly (on-demand tables start at 12,000 reads and 4,000 writes).
type WarmThroughput struct {
	ReadUnitsPerSecond  int
	WriteUnitsPerSecond int
}

// stageDefaults are the per-stage values props may override.
type stageDefaults struct {
	reservedConcurrency int
	writerConcurrency   int
	retain              bool
	// accountRole: the stage owns the API Gateway account's logging role.
	accountRole bool
}

var defaults = map[string]stageDefaults{
	// dev needs an account concurrency quota of at least 200: AWS keeps 100
	// unreserved.
	"dev": {reservedConcurrency: 100, writerConcurrency: 10},
	// prod: 8,000 purchases/s at ~50 ms each is ~400 environments; 800 leaves
	// headroom and keeps the 200 others of a 1,000 quota for everything else.
	"prod": {reservedConcurrency: 800, writerConcurrency: 50, retain: true, accountRole: true},
}

// The mobile app client's default OAuth redirects: the app's own URL scheme,
// which the app registers; never a web page.
const (
	DefaultAppCallbackURL = "flashsale://auth/callback"
	DefaultAppLogoutURL   = "flashsale://auth/signout"
)

// The bounds of WAFRateLimit: WAF's rate-based rule takes 10 to 2e9.
const (
	MinWAFRateLimit = 10
	MaxWAFRateLimit = 2_000_000_000
)

// The bounds of PrepareLead.
const (
	MinPrepareLead = time.Minute
	MaxPrepareLead = 2 * time.Hour
)

// StackID is the construct ID (and CloudFormation stack name) of a stage, so
// dev and prod can live in one account.
func StackID(stage string) string { return "FlashSale-" + stage }

// stack holds what the builders share while the stack is assembled.
type stack struct {
	st      awscdk.Stack
	props   FlashSaleStackProps
	limits  apispec.Limits
	removal awscdk.RemovalPolicy
}

// NewFlashSaleStack builds the whole flashsale deployment and attaches the
// cdk-nag AwsSolutions checks to it. It panics, as constructs do, on invalid
// props or missing function assets.
func NewFlashSaleStack(scope constructs.Construct, id string, props *FlashSaleStackProps) awscdk.Stack {
	p, err := withDefaults(props)
	if err != nil {
		panic(fmt.Errorf("flashsale stack: %w", err))
	}
	limits, err := apispec.LimitsFor(p.Stage)
	if err != nil {
		panic(fmt.Errorf("flashsale stack: %w", err))
	}
	sp := p.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("flashsale " + p.Stage + ": REST API, purchase path, order queue and settlement")
	}
	s := &stack{st: awscdk.NewStack(scope, &id, &sp), props: p, limits: limits, removal: awscdk.RemovalPolicy_DESTROY}
	if defaults[p.Stage].retain {
		s.removal = awscdk.RemovalPolicy_RETAIN
	}
	awscdk.Tags_Of(s.st).Add(jsii.String("app"), jsii.String("flashsale"), nil)
	awscdk.Tags_Of(s.st).Add(jsii.String("stage"), jsii.String(p.Stage), nil)

	d := s.newData()
	bans := s.newIPSets()
	fns := s.newFunctions(d, bans)
	prep := s.newPreparation(d, fns)
	reps := s.newReports(fns)
	api := s.newAPI(fns, bans)
	s.newOperations(d, fns, api, prep)
	s.suppressNagFindings(d, fns, api)
	s.suppressReportFindings(fns, reps)

	awscdk.Aspects_Of(s.st).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s.st
}

// withDefaults validates props and fills in the stage defaults.
func withDefaults(props *FlashSaleStackProps) (FlashSaleStackProps, error) {
	var p FlashSaleStackProps
	if props != nil {
		p = *props
	}
	if p.Stage == "" {
		p.Stage = "dev"
	}
	d, ok := defaults[p.Stage]
	if !ok {
		return p, fmt.Errorf("unknown stage %q (want dev or prod)", p.Stage)
	}
	if p.ReservedConcurrency == 0 {
		p.ReservedConcurrency = d.reservedConcurrency
	}
	if p.OrderWriterMaxConcurrency == 0 {
		p.OrderWriterMaxConcurrency = d.writerConcurrency
	}
	if p.FIFOGroups == 0 {
		p.FIFOGroups = schema.DefaultFIFOGroups
	}
	if p.AssetRoot == "" {
		p.AssetRoot = "build"
	}
	if p.PrepareLead == 0 {
		p.PrepareLead = flashsale.DefaultLead
	}
	if p.APIGatewayAccountRole == nil {
		p.APIGatewayAccountRole = jsii.Bool(d.accountRole)
	}
	if len(p.AppCallbackURLs) == 0 {
		p.AppCallbackURLs = []string{DefaultAppCallbackURL}
	}
	if len(p.AppLogoutURLs) == 0 {
		p.AppLogoutURLs = []string{DefaultAppLogoutURL}
	}
	if p.WAFRateLimit == 0 {
		limits, err := apispec.LimitsFor(p.Stage)
		if err != nil {
			return p, err
		}
		p.WAFRateLimit = limits.WAFRateLimit
	}
	stackRegion := p.Env != nil && p.Env.Region != nil && *p.Env.Region != ""
	switch {
	case p.ReservedConcurrency < 1:
		return p, fmt.Errorf("reservedConcurrency %d: want at least 1", p.ReservedConcurrency)
	case p.ProvisionedConcurrency < 0 || p.ProvisionedConcurrency > p.ReservedConcurrency:
		return p, fmt.Errorf("provisionedConcurrency %d: want 0..reservedConcurrency (%d)", p.ProvisionedConcurrency, p.ReservedConcurrency)
	// Lambda's SQS event source accepts a maximum concurrency of 2 to 1000.
	case p.OrderWriterMaxConcurrency < 2 || p.OrderWriterMaxConcurrency > 1000:
		return p, fmt.Errorf("orderWriterMaxConcurrency %d: want 2..1000", p.OrderWriterMaxConcurrency)
	case p.FIFOGroups < 1:
		return p, fmt.Errorf("fifoGroups %d: want at least 1", p.FIFOGroups)
	// Provisioned concurrency takes minutes to come up and is billed from
	// the warm-up on: a lead under a minute warms nothing, one over two
	// hours (a slip of "10h" for "10m") pays for idle environments.
	case p.PrepareLead < MinPrepareLead || p.PrepareLead > MaxPrepareLead:
		return p, fmt.Errorf("prepareLead %s: want %s..%s", p.PrepareLead, MinPrepareLead, MaxPrepareLead)
	case p.WarmThroughput != nil && (p.WarmThroughput.ReadUnitsPerSecond < 1 || p.WarmThroughput.WriteUnitsPerSecond < 1):
		return p, fmt.Errorf("warmThroughput %+v: want positive read and write units", *p.WarmThroughput)
	case p.WAFRateLimit < MinWAFRateLimit || p.WAFRateLimit > MaxWAFRateLimit:
		return p, fmt.Errorf("wafRateLimit %d: want %d..%d requests per IP per 5 minutes (WAF's bounds)", p.WAFRateLimit, MinWAFRateLimit, MaxWAFRateLimit)
	case p.SESFromAddress != "" && !validEmail(p.SESFromAddress):
		return p, fmt.Errorf("sesFromAddress %q: want an email address", p.SESFromAddress)
	case p.SESFromAddress != "" && p.SESRegion == "" && !stackRegion:
		return p, fmt.Errorf("sesFromAddress %s: give sesRegion too (the SES region of its verified identity, e.g. us-east-1): the stack names no region", p.SESFromAddress)
	case p.SESFromAddress == "" && p.SESRegion != "":
		return p, fmt.Errorf("sesRegion %s: give sesFromAddress too", p.SESRegion)
	}
	if p.FinanceReaderPrincipal != "" {
		if _, err := financePrincipal(p.FinanceReaderPrincipal); err != nil {
			return p, err
		}
	}
	for _, u := range append(append([]string{}, p.AppCallbackURLs...), p.AppLogoutURLs...) {
		if err := checkAppURL(u); err != nil {
			return p, err
		}
	}
	// Fail here with a hint rather than deep inside jsii with a stack trace.
	for _, name := range apispec.FunctionNames() {
		bin := filepath.Join(p.AssetRoot, name, "bootstrap")
		if _, err := os.Stat(bin); err != nil {
			return p, fmt.Errorf("function asset %s: %w (run make build first)", bin, err)
		}
	}
	return p, nil
}

// validEmail says whether a is a bare address (no display name).
func validEmail(a string) bool {
	m, err := mail.ParseAddress(a)
	return err == nil && m.Address == a
}

// checkAppURL accepts what Cognito accepts as an app client's redirect and
// a mobile app can receive: the app's own scheme (flashsale://auth/callback),
// https, or http on localhost only; no fragment.
func checkAppURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == ""):
		return fmt.Errorf("app URL %q: want an absolute URL such as %s", raw, DefaultAppCallbackURL)
	case u.Fragment != "":
		return fmt.Errorf("app URL %q: Cognito refuses a fragment (#)", raw)
	case u.Scheme == "http" && u.Hostname() != "localhost":
		return fmt.Errorf("app URL %q: http only for localhost; use https or the app's scheme", raw)
	}
	return nil
}
