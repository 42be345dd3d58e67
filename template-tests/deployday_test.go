package templatetests

// Deploy day (issue 16): what an AWS review of the synthesized dev and prod
// templates found, each point with the test that would have caught it. The
// test names carry the point numbers.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"flashsale/infra"
	"flashsale/shared/apispec"
)

// The context values the extra stack is built with: a dev-only account that
// owns the API Gateway role, sends Cognito's email through SES, redirects to
// its own app URLs and has chosen its per-IP limit.
const (
	ctxSESAddress  = "no-reply@example.com"
	ctxSESRegion   = "eu-west-1"
	ctxCallbackURL = "flashsale-beta://auth/callback"
	ctxLogoutURL   = "flashsale-beta://auth/signout"
	ctxWAFLimit    = 500
)

var (
	ctxOnce  sync.Once
	ctxBuilt *built
	ctxErr   error
)

// contextStack synthesizes, once, a dev stack from the context values a
// deploy would pass on the command line, through infra.PropsFromContext as
// cdkapp reads them. It is a separate app: main_test.go's holds one stack
// per stage name.
func contextStack(tb testing.TB) *built {
	tb.Helper()
	ctxOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				ctxErr = fmt.Errorf("synth: %v", r)
			}
		}()
		out, err := os.MkdirTemp("", "flashsale-deployday-")
		if err != nil {
			ctxErr = err
			return
		}
		ctx := map[string]any{
			infra.ContextStage:                 "dev",
			infra.ContextAPIGatewayAccountRole: "true",
			infra.ContextSESFromAddress:        ctxSESAddress,
			infra.ContextSESRegion:             ctxSESRegion,
			infra.ContextAppCallbackURLs:       ctxCallbackURL,
			infra.ContextAppLogoutURLs:         ctxLogoutURL,
			infra.ContextWAFRateLimit:          fmt.Sprint(ctxWAFLimit),
			infra.ContextAssetRoot:             stacks[0].props.AssetRoot,
		}
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(out, "cdk.out")), Context: &ctx})
		p, err := infra.PropsFromContext(app.Node())
		if err != nil {
			ctxErr = err
			return
		}
		limits, err := apispec.LimitsFor(p.Stage)
		if err != nil {
			ctxErr = err
			return
		}
		st := infra.NewFlashSaleStack(app, "FlashSale-devctx", p)
		app.Synth(nil)
		b := &built{stage: "dev (context)", props: *p, limits: limits, stack: st, tpl: assertions.Template_FromStack(st, nil)}
		b.res, _ = (*b.tpl.ToJSON())["Resources"].(map[string]any)
		ctxBuilt = b
	})
	if ctxErr != nil {
		tb.Fatalf("context stack: %v", ctxErr)
	}
	return ctxBuilt
}

// allStacks runs f for dev, prod and the context stack.
func allStacks(t *testing.T, f func(t *testing.T, b *built)) {
	t.Helper()
	eachStack(t, f)
	b := contextStack(t)
	t.Run(b.stage, func(t *testing.T) { f(t, b) })
}

// only returns the one resource of type typ, failing unless there is one.
func only(tb testing.TB, b *built, typ string) (string, map[string]any) {
	tb.Helper()
	all := ofType(b, typ)
	if len(all) != 1 {
		tb.Fatalf("got %d %s, want 1", len(all), typ)
	}
	for id, r := range all {
		return id, r
	}
	return "", nil
}

// Point 1: one retained owner of the account's API Gateway logging role.
// dev must not set it (destroying dev would leave prod's logs pointing at a
// deleted role); prod, or a dev-only account that asks with
// apiGatewayAccountRole=true, sets it and retains it and its role.
func TestDeployDay1_OneRetainedOwnerOfTheAPIGatewayAccountRole(t *testing.T) {
	allStacks(t, func(t *testing.T, b *built) {
		accounts := ofType(b, "AWS::ApiGateway::Account")
		// The props as given: nil takes the stage's default, prod's only.
		owner := b.stage == "prod"
		if b.props.APIGatewayAccountRole != nil {
			owner = *b.props.APIGatewayAccountRole
		}
		if want := map[bool]int{true: 1, false: 0}[owner]; len(accounts) != want {
			t.Fatalf("got %d AWS::ApiGateway::Account, want %d (apiGatewayAccountRole %v)", len(accounts), want, owner)
		}
		for id, acc := range accounts {
			retained(t, id, acc)
			roleID := ref(props(acc)["CloudWatchRoleArn"])
			role, ok := b.res[roleID].(map[string]any)
			if !ok || role["Type"] != "AWS::IAM::Role" {
				t.Fatalf("account %s: CloudWatchRoleArn %v is not a role of the stack", id, props(acc)["CloudWatchRoleArn"])
			}
			retained(t, roleID, role)
		}
		if !owner {
			for id, r := range ofType(b, "AWS::IAM::Role") {
				for _, m := range strs(props(r)["ManagedPolicyArns"]) {
					if strings.Contains(m, "AmazonAPIGatewayPushToCloudWatchLogs") {
						t.Errorf("role %s carries the API Gateway logging policy in a stack that does not own the account role", id)
					}
				}
			}
		}
	})
}

// retained fails unless a resource survives both deletion and replacement.
func retained(tb testing.TB, id string, r map[string]any) {
	tb.Helper()
	if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
		tb.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want both Retain", id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
	}
}

// Point 2: Cognito sends through SES when sesFromAddress is given, and a
// prod synth without one warns that the built-in sender's daily limit is
// below production volume. dev without one stays quiet.
func TestDeployDay2_CognitoEmailThroughSES(t *testing.T) {
	b := contextStack(t)
	_, pool := only(t, b, "AWS::Cognito::UserPool")
	ec, _ := props(pool)["EmailConfiguration"].(map[string]any)
	if ec["EmailSendingAccount"] != "DEVELOPER" {
		t.Errorf("EmailSendingAccount %v, want DEVELOPER (SES)", ec["EmailSendingAccount"])
	}
	if from, _ := ec["From"].(string); !strings.Contains(from, ctxSESAddress) {
		t.Errorf("From %v, want it to carry %s", ec["From"], ctxSESAddress)
	}
	arn, _ := json.Marshal(ec["SourceArn"])
	for _, want := range []string{":ses:" + ctxSESRegion + ":", ":identity/" + ctxSESAddress} {
		if !strings.Contains(string(arn), want) {
			t.Errorf("SourceArn %s lacks %q", arn, want)
		}
	}

	warning := assertions.Match_StringLikeRegexp(jsii.String(".*sesFromAddress.*daily.*"))
	for _, b := range append(slices.Clone(stacks), b) {
		t.Run(b.stage, func(t *testing.T) {
			ann := assertions.Annotations_FromStack(b.stack)
			if b.stage == "prod" && b.props.SESFromAddress == "" {
				_, pool := only(t, b, "AWS::Cognito::UserPool")
				if ec, _ := props(pool)["EmailConfiguration"].(map[string]any); ec["EmailSendingAccount"] == "DEVELOPER" {
					t.Errorf("prod without sesFromAddress uses SES: %v", ec)
				}
				if err := panics(func() { ann.HasWarning(jsii.String("*"), warning) }); err != nil {
					t.Errorf("prod without sesFromAddress: want the built-in sender warning, got none: %v", err)
				}
				return
			}
			if err := panics(func() { ann.HasNoWarning(jsii.String("*"), warning) }); err != nil {
				t.Errorf("want no email warning: %v", err)
			}
		})
	}
}

// panics runs f and returns what it panicked with, as an error, or nil. The
// assertions library reports a failed assertion as a JavaScript exception,
// which jsii raises as a panic.
func panics(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

// restAccessLogVariables are the $context variables AWS documents for REST
// API access logging ("Variables for access logging for API Gateway",
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html),
// the subset a log line might use. $context.cacheHit is not among them.
// $context.authorizer.claims.<property> is matched by prefix.
var restAccessLogVariables = []string{
	"$context.accountId", "$context.apiId", "$context.awsEndpointRequestId",
	"$context.authorize.error", "$context.authorize.latency", "$context.authorize.status",
	"$context.authorizer.error", "$context.authorizer.integrationLatency", "$context.authorizer.integrationStatus",
	"$context.authorizer.latency", "$context.authorizer.principalId", "$context.authorizer.requestId", "$context.authorizer.status",
	"$context.authenticate.error", "$context.authenticate.latency", "$context.authenticate.status",
	"$context.customDomain.basePathMatched", "$context.deploymentId", "$context.domainName", "$context.domainPrefix",
	"$context.endpointType",
	"$context.error.message", "$context.error.messageString", "$context.error.responseType", "$context.error.validationErrorString",
	"$context.extendedRequestId", "$context.httpMethod",
	"$context.identity.accountId", "$context.identity.apiKey", "$context.identity.apiKeyId", "$context.identity.caller",
	"$context.identity.clientCert.clientCertPem", "$context.identity.sourceIp", "$context.identity.user", "$context.identity.userAgent",
	"$context.identity.userArn",
	"$context.integration.error", "$context.integration.integrationStatus", "$context.integration.latency",
	"$context.integration.requestId", "$context.integration.status",
	"$context.integrationLatency", "$context.integrationStatus",
	"$context.isCanaryRequest", "$context.path", "$context.protocol",
	"$context.requestId", "$context.requestOverride.header.header_name", "$context.requestTime", "$context.requestTimeEpoch",
	"$context.resourceId", "$context.resourcePath", "$context.responseLatency", "$context.responseLength",
	"$context.stage", "$context.status",
	"$context.waf.error", "$context.waf.latency", "$context.waf.status", "$context.wafResponseCode", "$context.webaclArn",
	"$context.xrayTraceId",
}

// contextVariable finds each $context variable in a format.
var contextVariable = regexp.MustCompile(`\$context\.[A-Za-z0-9_.]*[A-Za-z0-9_]`)

// Point 3: the access log format uses only documented REST API $context
// variables (the review found $context.cacheHit, which is not one).
func TestDeployDay3_AccessLogFormatUsesOnlyDocumentedVariables(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, st := only(t, b, "AWS::ApiGateway::Stage")
		als, _ := props(st)["AccessLogSetting"].(map[string]any)
		format, _ := als["Format"].(string)
		var fields map[string]string
		if err := json.Unmarshal([]byte(format), &fields); err != nil {
			t.Fatalf("access log format is not one JSON object of strings: %v", err)
		}
		vars := contextVariable.FindAllString(format, -1)
		if len(vars) != len(fields) {
			t.Errorf("got %d $context variables in %d fields; want one per field", len(vars), len(fields))
		}
		for _, v := range vars {
			if slices.Contains(restAccessLogVariables, v) || strings.HasPrefix(v, "$context.authorizer.claims.") {
				continue
			}
			t.Errorf("access log format uses %s, which is not a documented REST API access-logging variable", v)
		}
	})
}

// Point 4: caching is off on /*/* explicitly, every other method setting
// says false too, and only GET /sales/{saleId} turns it on.
func TestDeployDay4_CachingExplicitlyOffButOnSaleInfo(t *testing.T) {
	cached := map[string]bool{}
	for _, r := range apispec.Routes {
		if r.CacheSeconds > 0 {
			cached[r.Method+" "+resourcePath(r.Path)] = true
		}
	}
	saleInfo, _ := apispec.Lookup(apispec.RouteSaleInfo)
	if want := map[string]bool{saleInfo.Method + " " + resourcePath(saleInfo.Path): true}; !equalSets(cached, want) {
		t.Fatalf("apispec caches %v, want only %s", cached, apispec.RouteSaleInfo)
	}
	eachStack(t, func(t *testing.T, b *built) {
		_, st := only(t, b, "AWS::ApiGateway::Stage")
		settings, _ := props(st)["MethodSettings"].([]any)
		stageWide := false
		for _, s := range settings {
			ms := s.(map[string]any)
			key := fmt.Sprint(ms["HttpMethod"], " ", ms["ResourcePath"])
			if key == "* /*" { // the CDK's /*/* as CloudFormation writes it
				stageWide = true
			}
			got, ok := ms["CachingEnabled"].(bool)
			if !ok {
				t.Errorf("method setting %s leaves CachingEnabled unset; want it explicit", key)
				continue
			}
			if got != cached[key] {
				t.Errorf("method setting %s: CachingEnabled %v, want %v", key, got, cached[key])
			}
		}
		if !stageWide {
			t.Errorf("no stage-wide (/*/*) method setting")
		}
	})
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// samplingRuleFields are the fields of AWS::XRay::SamplingRule's
// SamplingRule that the stack must set. The CloudFormation reference marks
// FixedRate, Host, HTTPMethod, Priority, ReservoirSize, ResourceARN,
// ServiceName, ServiceType and URLPath required. RuleName is the rule's
// name when it has no RuleARN yet, as a new rule has not. Version is the
// rule format (1) X-Ray's own SamplingRule shape carries, and
// CloudFormation can set it only when it creates the rule: a rule deployed
// without it cannot gain it by an update.
var samplingRuleFields = []string{
	"FixedRate", "Host", "HTTPMethod", "Priority", "ReservoirSize", "ResourceARN",
	"ServiceName", "ServiceType", "URLPath", "RuleName", "Version",
}

// Point 7, tracing: the stage has its own X-Ray sampling rule (1/s plus 1%),
// ahead of X-Ray's default (1/s plus 5%), with every field CloudFormation
// needs, and it matches this stage's requests only.
func TestDeployDay7_XRaySamplingRuleForTheStage(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, r := only(t, b, "AWS::XRay::SamplingRule")
		rule, _ := props(r)["SamplingRule"].(map[string]any)
		for _, f := range samplingRuleFields {
			if v, ok := rule[f]; !ok || v == nil || v == "" {
				t.Errorf("SamplingRule.%s: got %v, want it set", f, v)
			}
		}
		if rule["FixedRate"] != infra.SamplingFixedRate || rule["ReservoirSize"] != float64(infra.SamplingReservoir) {
			t.Errorf("got FixedRate %v, ReservoirSize %v; want %v and %v", rule["FixedRate"], rule["ReservoirSize"], infra.SamplingFixedRate, infra.SamplingReservoir)
		}
		if p := num(t, rule["Priority"], "Priority"); p < 1 || p >= 10000 {
			t.Errorf("Priority %v, want 1..9999 (before the default rule)", p)
		}
		if v := rule["Version"]; v != float64(1) {
			t.Errorf("Version %v, want 1 (the only sampling rule format)", v)
		}
		// The stage's own requests, whatever their host, method or path.
		for _, f := range []string{"Host", "HTTPMethod", "URLPath"} {
			if rule[f] != "*" {
				t.Errorf("%s %v, want *", f, rule[f])
			}
		}
		apiID, api := only(t, b, "AWS::ApiGateway::RestApi")
		if want := fmt.Sprint(props(api)["Name"], "/", b.stage); rule["ServiceName"] != want || rule["ServiceType"] != "AWS::ApiGateway::Stage" {
			t.Errorf("service %v (%v), want %s (AWS::ApiGateway::Stage)", rule["ServiceName"], rule["ServiceType"], want)
		}
		stageID := stageOf(t, b)
		got := joined(rule["ResourceARN"])
		want := "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${" + apiID + "}/stages/${" + stageID + "}"
		if got != want {
			t.Errorf("ResourceARN %s, want the stage's ARN %s", got, want)
		}
		if name, _ := rule["RuleName"].(string); len(name) == 0 || len(name) > 32 {
			t.Errorf("RuleName %q, want 1 to 32 characters", name)
		}
	})
}

// stageOf returns the logical ID of the AWS::ApiGateway::Stage named after
// b's stage.
func stageOf(tb testing.TB, b *built) string {
	tb.Helper()
	for id, r := range ofType(b, "AWS::ApiGateway::Stage") {
		if props(r)["StageName"] == b.stage {
			return id
		}
	}
	tb.Fatalf("no AWS::ApiGateway::Stage named %s", b.stage)
	return ""
}

// joined renders a string, a Ref or an Fn::Join of them as one string, each
// Ref as ${logical ID}; anything else comes back as its JSON.
func joined(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if id, ok := x["Ref"].(string); ok {
			return "${" + id + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			var out []string
			for _, p := range parts {
				out = append(out, joined(p))
			}
			return strings.Join(out, sep)
		}
	}
	j, _ := json.Marshal(v)
	return string(j)
}

// Point 7, logs: the execution log group API Gateway writes to is the
// stack's, with the stage's retention, and exists before the stage.
func TestDeployDay7_ExecutionLogGroupHasRetention(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		apiID, _ := only(t, b, "AWS::ApiGateway::RestApi")
		stageID, st := only(t, b, "AWS::ApiGateway::Stage")
		want, _ := json.Marshal(map[string]any{"Fn::Join": []any{"", []any{"API-Gateway-Execution-Logs_", map[string]any{"Ref": apiID}, "/" + b.stage}}})
		var groupID string
		for id, lg := range ofType(b, "AWS::Logs::LogGroup") {
			if got, _ := json.Marshal(props(lg)["LogGroupName"]); string(got) == string(want) {
				groupID = id
			}
		}
		if groupID == "" {
			t.Fatalf("no log group named %s", want)
		}
		lg := b.res[groupID].(map[string]any)
		if got, want := props(lg)["RetentionInDays"], map[string]float64{"dev": 7, "prod": 90}[b.stage]; got != want {
			t.Errorf("retention %v days, want %v", got, want)
		}
		if want := map[string]string{"dev": "Delete", "prod": "Retain"}[b.stage]; lg["DeletionPolicy"] != want {
			t.Errorf("DeletionPolicy %v, want %s like the stage's other logs", lg["DeletionPolicy"], want)
		}
		if !slices.Contains(strs(st["DependsOn"]), groupID) {
			t.Errorf("stage %s DependsOn %v, want the execution log group %s (else API Gateway may create it first)", stageID, st["DependsOn"], groupID)
		}
		// Execution logging (stage-wide, ERROR) is what writes to the group.
		mustFind(t, b, "AWS::ApiGateway::Stage", map[string]any{"MethodSettings": assertions.Match_ArrayWith(&[]any{
			like(map[string]any{"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "ERROR"}),
		})})
	})
}

// Point 7, compression: responses of 1 KB and more are compressed for
// clients that accept it.
func TestDeployDay7_MinimumCompressionSize(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, api := only(t, b, "AWS::ApiGateway::RestApi")
		if got := props(api)["MinimumCompressionSize"]; got != 1024.0 {
			t.Errorf("MinimumCompressionSize %v, want 1024", got)
		}
	})
}

// Point 9: the mobile app client allows only what a mobile app uses: SRP and
// refresh tokens, the authorization code grant (with PKCE, from the app),
// no implicit grant, no secret, and redirects to the app's own URLs.
func TestDeployDay9_MobileAppClientFlows(t *testing.T) {
	allStacks(t, func(t *testing.T, b *built) {
		_, c := only(t, b, "AWS::Cognito::UserPoolClient")
		p := props(c)
		if p["GenerateSecret"] != false {
			t.Errorf("GenerateSecret %v, want false", p["GenerateSecret"])
		}
		flows := strs(p["ExplicitAuthFlows"])
		sort.Strings(flows)
		if want := []string{"ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"}; !slices.Equal(flows, want) {
			t.Errorf("ExplicitAuthFlows %v, want %v", flows, want)
		}
		if got := strs(p["AllowedOAuthFlows"]); !slices.Equal(got, []string{"code"}) || p["AllowedOAuthFlowsUserPoolClient"] != true {
			t.Errorf("AllowedOAuthFlows %v (user pool client %v), want only [code]", got, p["AllowedOAuthFlowsUserPoolClient"])
		}
		wantCallbacks, wantLogouts := []string{infra.DefaultAppCallbackURL}, []string{infra.DefaultAppLogoutURL}
		if b == ctxBuilt {
			wantCallbacks, wantLogouts = []string{ctxCallbackURL}, []string{ctxLogoutURL}
		}
		if got := strs(p["CallbackURLs"]); !slices.Equal(got, wantCallbacks) {
			t.Errorf("CallbackURLs %v, want %v", got, wantCallbacks)
		}
		if got := strs(p["LogoutURLs"]); !slices.Equal(got, wantLogouts) {
			t.Errorf("LogoutURLs %v, want %v", got, wantLogouts)
		}
		for _, u := range append(strs(p["CallbackURLs"]), strs(p["LogoutURLs"])...) {
			if strings.Contains(u, "example.com") {
				t.Errorf("redirect %s is a placeholder", u)
			}
		}
	})
}

// Point 10: the per-IP limit is a context value that reaches the WebACL's
// rate rule; without it the rule keeps apispec's number (which the local
// gateway also uses).
func TestDeployDay10_WAFRateLimitFromContext(t *testing.T) {
	allStacks(t, func(t *testing.T, b *built) {
		want := b.limits.WAFRateLimit
		if b == ctxBuilt {
			want = ctxWAFLimit
		}
		mustFind(t, b, "AWS::WAFv2::WebACL", map[string]any{
			"Rules": assertions.Match_ArrayWith(&[]any{like(map[string]any{
				"Name":      "per-ip-rate",
				"Statement": map[string]any{"RateBasedStatement": map[string]any{"Limit": want, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}},
			})}),
		})
	})
}

// The new context values parse, and the stack refuses bad ones before any
// jsii call (points 1, 2, 9 and 10).
func TestDeployDay_ContextValues(t *testing.T) {
	ctx := map[string]any{
		"apiGatewayAccountRole": "false", "sesFromAddress": "no-reply@example.com", "sesRegion": "us-east-1",
		"appCallbackUrls": "flashsale://auth/callback, https://app.example.org/cb", "appLogoutUrls": []any{"flashsale://auth/signout"},
		"wafRateLimit": "6000", "financeReaderPrincipal": " 111122223333 ",
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	p, err := infra.PropsFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	if p.APIGatewayAccountRole == nil || *p.APIGatewayAccountRole || p.SESFromAddress != "no-reply@example.com" || p.SESRegion != "us-east-1" ||
		!slices.Equal(p.AppCallbackURLs, []string{"flashsale://auth/callback", "https://app.example.org/cb"}) ||
		!slices.Equal(p.AppLogoutURLs, []string{"flashsale://auth/signout"}) || p.WAFRateLimit != 6000 ||
		p.FinanceReaderPrincipal != "111122223333" {
		t.Errorf("got %+v", *p)
	}
	bad := map[string]any{"apiGatewayAccountRole": "sometimes"}
	if _, err := infra.PropsFromContext(awscdk.NewApp(&awscdk.AppProps{Context: &bad}).Node()); err == nil || !strings.Contains(err.Error(), "apiGatewayAccountRole") {
		t.Errorf("apiGatewayAccountRole=sometimes: got %v, want an error naming it", err)
	}

	assets := stacks[0].props.AssetRoot
	tests := []struct {
		name    string
		props   infra.FlashSaleStackProps
		wantErr string
	}{
		{name: "WAF limit under WAF's minimum", props: infra.FlashSaleStackProps{WAFRateLimit: 9}, wantErr: "wafRateLimit"},
		{name: "SES address without region", props: infra.FlashSaleStackProps{SESFromAddress: "no-reply@example.com"}, wantErr: "sesRegion"},
		{name: "SES address not an address", props: infra.FlashSaleStackProps{SESFromAddress: "flashsale", SESRegion: "us-east-1"}, wantErr: "sesFromAddress"},
		{name: "http callback", props: infra.FlashSaleStackProps{AppCallbackURLs: []string{"http://example.org/cb"}}, wantErr: "http only for localhost"},
		{name: "relative callback", props: infra.FlashSaleStackProps{AppLogoutURLs: []string{"auth/signout"}}, wantErr: "absolute URL"},
		{name: "finance principal not an account or ARN", props: infra.FlashSaleStackProps{FinanceReaderPrincipal: "finance@example.com"}, wantErr: "financeReaderPrincipal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.props.AssetRoot = assets
			err := panics(func() { infra.NewFlashSaleStack(app, "Bad"+strings.ReplaceAll(tc.name, " ", ""), &tc.props) })
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// The context stack passes cdk-nag like the others.
func TestDeployDay_ContextStackNagClean(t *testing.T) {
	b := contextStack(t)
	ann := assertions.Annotations_FromStack(b.stack)
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	hasNo(t, "error", func() { ann.HasNoError(jsii.String("*"), nag) })
	hasNo(t, "warning", func() { ann.HasNoWarning(jsii.String("*"), nag) })
}
