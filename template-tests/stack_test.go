package templatetests

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"flashsale/infra"
	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/metric"
	"flashsale/shared/schema"
)

func TestFunctions_Arm64OnProvidedAL2023(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		all := ofType(b, "AWS::Lambda::Function")
		if got, want := len(all), len(apispec.FunctionNames()); got != want {
			t.Fatalf("got %d functions, want %d (one per apispec function)", got, want)
		}
		good := find(t, b, "AWS::Lambda::Function", map[string]any{
			"Runtime":       "provided.al2023",
			"Architectures": []any{"arm64"},
			"Handler":       "bootstrap",
		})
		for id := range all {
			if _, ok := good[id]; !ok {
				p := props(all[id])
				t.Errorf("function %s: got runtime %v, architectures %v, handler %v; want provided.al2023, [arm64], bootstrap",
					tag(p, infra.FunctionTag), p["Runtime"], p["Architectures"], p["Handler"])
			}
		}
		for _, name := range apispec.FunctionNames() {
			p := function(t, b, name)
			// apispec declares each function once; the local gateway applies
			// the same timeouts.
			spec, err := apispec.FunctionNamed(name)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := num(t, p["Timeout"], name+" Timeout"), spec.Timeout.Seconds(); got != want {
				t.Errorf("%s: got timeout %v s, want %v s (apispec.Functions)", name, got, want)
			}
			if got, want := num(t, p["MemorySize"], name+" MemorySize"), float64(spec.MemoryMB); got != want {
				t.Errorf("%s: got memory %v MB, want %v MB (apispec.Functions)", name, got, want)
			}
			lg, ok := b.res[ref(p["LoggingConfig"].(map[string]any)["LogGroup"])].(map[string]any)
			if !ok || props(lg)["RetentionInDays"] == nil {
				t.Errorf("%s: want its own log group with a retention", name)
			}
		}
	})
}

func TestFunctions_Environment(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		sales, orders := tableID(t, b, schema.Sales), tableID(t, b, schema.Orders)
		for _, name := range apispec.FunctionNames() {
			vars, _ := function(t, b, name)["Environment"].(map[string]any)["Variables"].(map[string]any)
			if got := ref(vars[awsclient.EnvSalesTable]); got != sales {
				t.Errorf("%s: %s refers to %q, want the Sales table %q", name, awsclient.EnvSalesTable, got, sales)
			}
			if got := ref(vars[awsclient.EnvOrdersTable]); got != orders {
				t.Errorf("%s: %s refers to %q, want the Orders table %q", name, awsclient.EnvOrdersTable, got, orders)
			}
			if got := ref(vars[awsclient.EnvOrdersQueueURL]); got != ordersQueueID(t, b) {
				t.Errorf("%s: %s refers to %q, want the orders queue", name, awsclient.EnvOrdersQueueURL, got)
			}
			_, hasSecret := vars[awsclient.EnvWebhookSecretARN]
			if want := name == apispec.FunctionOrders; hasSecret != want {
				t.Errorf("%s: has %s = %v, want %v (only the webhook's function)", name, awsclient.EnvWebhookSecretARN, hasSecret, want)
			}
		}
	})
}

func TestReserve_ReservedConcurrency(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		// The function behind the purchase route, found through the route.
		r, ok := routes(t, b)[apispec.PurchaseRoute]
		if !ok {
			t.Fatalf("no method for %s", apispec.PurchaseRoute)
		}
		if r.function != apispec.FunctionReserve {
			t.Fatalf("%s invokes %s, want %s", apispec.PurchaseRoute, r.function, apispec.FunctionReserve)
		}
		got, ok := function(t, b, r.function)["ReservedConcurrentExecutions"]
		if !ok || num(t, got, "ReservedConcurrentExecutions") < 1 {
			t.Errorf("reserve: got reserved concurrency %v, want a positive number", got)
		}
		// The ban sync and the warm-up reserve 1 each to run one at a time
		// (TestBans_SyncFunction, TestPrepare_WarmUpRunsOneAtATime); the
		// account's quota must cover all three (capacity.AccountNeeded).
		oneAtATime := map[string]bool{apispec.FunctionIPBanSync: true, apispec.FunctionWarmUp: true}
		for _, name := range apispec.FunctionNames() {
			got, ok := function(t, b, name)["ReservedConcurrentExecutions"]
			switch {
			case name == apispec.FunctionReserve:
			case oneAtATime[name] && got != 1.0:
				t.Errorf("%s: reserved concurrency %v, want 1 (one run at a time)", name, got)
			case !oneAtATime[name] && ok:
				t.Errorf("%s: has reserved concurrency %v; only reserve, the ban sync's 1 and the warm-up's 1 should take from the account pool", name, got)
			}
		}
		// The alias and its baseline: TestPrepare_ReserveAliasAlwaysExistsAndTheAPIInvokesIt.
	})
}

func TestAPI_ThrottlesEqualApispec(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		l := b.limits
		purchase, ok := apispec.Lookup(apispec.PurchaseRoute)
		if !ok {
			t.Fatalf("apispec.PurchaseRoute %s is not in apispec.Routes", apispec.PurchaseRoute)
		}
		purchasePath := resourcePath(purchase.Path)
		token, ok := apispec.Lookup(apispec.TokenRoute)
		if !ok {
			t.Fatalf("apispec.TokenRoute %s is not in apispec.Routes", apispec.TokenRoute)
		}
		mustFind(t, b, "AWS::ApiGateway::Stage", map[string]any{
			"StageName": b.stage,
			"MethodSettings": assertions.Match_ArrayWith(&[]any{
				like(map[string]any{"HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": l.Stage.RateLimit, "ThrottlingBurstLimit": l.Stage.BurstLimit}),
				like(map[string]any{"HttpMethod": "POST", "ResourcePath": purchasePath, "ThrottlingRateLimit": l.Purchase.RateLimit, "ThrottlingBurstLimit": l.Purchase.BurstLimit}),
				like(map[string]any{"HttpMethod": token.Method, "ResourcePath": resourcePath(token.Path), "ThrottlingRateLimit": l.TokenIssue.RateLimit, "ThrottlingBurstLimit": l.TokenIssue.BurstLimit}),
			}),
		})
		// No method may be left unthrottled or throttled above the stage.
		for _, st := range ofType(b, "AWS::ApiGateway::Stage") {
			for _, s := range props(st)["MethodSettings"].([]any) {
				ms := s.(map[string]any)
				rate, ok := ms["ThrottlingRateLimit"].(float64)
				if !ok || rate > l.Stage.RateLimit {
					t.Errorf("method setting %v %v: got rate %v, want ≤ stage rate %v", ms["HttpMethod"], ms["ResourcePath"], ms["ThrottlingRateLimit"], l.Stage.RateLimit)
				}
			}
		}
		// Every route carries exactly its apispec throttle: a method throttle
		// where MethodThrottle gives one, else the stage's (a cache override
		// repeats it).
		for _, r := range apispec.Routes {
			want, throttled := l.MethodThrottle(r.Key())
			if !throttled {
				want = l.Stage
			}
			ms, ok := methodSetting(t, b, r.Method, r.Path)
			if !ok {
				if throttled {
					t.Errorf("%s: no method setting, want its throttle %+v", r.Key(), want)
				}
				continue
			}
			if ms["ThrottlingRateLimit"] != want.RateLimit || ms["ThrottlingBurstLimit"] != float64(want.BurstLimit) {
				t.Errorf("%s: got throttle %v/%v, want %v/%d", r.Key(), ms["ThrottlingRateLimit"], ms["ThrottlingBurstLimit"], want.RateLimit, want.BurstLimit)
			}
		}
		mustFind(t, b, "AWS::ApiGateway::UsagePlan", map[string]any{
			"Throttle": map[string]any{"RateLimit": l.App.RateLimit, "BurstLimit": l.App.BurstLimit},
			"Quota":    map[string]any{"Limit": l.App.QuotaPerDay, "Period": "DAY"},
		})
		if n := len(ofType(b, "AWS::ApiGateway::UsagePlanKey")); n != 1 {
			t.Errorf("got %d usage plan keys, want 1 (the mobile app's)", n)
		}
		mustFind(t, b, "AWS::WAFv2::WebACL", map[string]any{
			"Scope": "REGIONAL",
			"Rules": assertions.Match_ArrayWith(&[]any{
				like(map[string]any{"Statement": map[string]any{"RateBasedStatement": map[string]any{"Limit": l.WAFRateLimit, "AggregateKeyType": "IP", "EvaluationWindowSec": 300}}}),
				like(map[string]any{"Statement": map[string]any{"ManagedRuleGroupStatement": map[string]any{"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}}}),
			}),
		})
		stages := ofType(b, "AWS::ApiGateway::Stage")
		acls := ofType(b, "AWS::WAFv2::WebACL")
		for _, a := range ofType(b, "AWS::WAFv2::WebACLAssociation") {
			if !slices.ContainsFunc(refsIn(props(a)["ResourceArn"]), func(id string) bool { return stages[id] != nil }) {
				t.Errorf("WebACL association targets %v, want the API stage", props(a)["ResourceArn"])
			}
			if acls[ref(props(a)["WebACLArn"])] == nil {
				t.Errorf("WebACL association uses %v, want the stack's WebACL", props(a)["WebACLArn"])
			}
		}
		if n := len(ofType(b, "AWS::WAFv2::WebACLAssociation")); n != 1 {
			t.Errorf("got %d WebACL associations, want 1", n)
		}
	})
}

func TestAPI_StageLoggingCachingValidation(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		mustFind(t, b, "AWS::ApiGateway::Stage", map[string]any{
			"AccessLogSetting":    map[string]any{"DestinationArn": assertions.Match_AnyValue(), "Format": assertions.Match_StringLikeRegexp(jsii.String(`^\{.*"requestId":"\$context\.requestId".*\}$`))},
			"CacheClusterEnabled": true,
			"CacheClusterSize":    "0.5",
			"TracingEnabled":      true,
		})
		for _, r := range apispec.Routes {
			if r.CacheSeconds == 0 {
				continue
			}
			mustFind(t, b, "AWS::ApiGateway::Stage", map[string]any{"MethodSettings": assertions.Match_ArrayWith(&[]any{like(map[string]any{
				"HttpMethod": r.Method, "ResourcePath": resourcePath(r.Path),
				"CachingEnabled": true, "CacheTtlInSeconds": r.CacheSeconds,
			})})})
		}
		mustFind(t, b, "AWS::ApiGateway::RequestValidator", map[string]any{"ValidateRequestBody": true, "ValidateRequestParameters": true})
	})
}

// resourcePath is how a stage's MethodSettings name a path: "/" and the path
// with each "/" escaped as "~1".
func resourcePath(path string) string { return "/" + strings.ReplaceAll(path, "/", "~1") }

// pathParams lists a route path's {params}.
var pathParams = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

func TestRoutes_EqualApispec(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		got := routes(t, b)
		for _, r := range apispec.Routes {
			t.Run(string(r.Key()), func(t *testing.T) {
				m, ok := got[r.Key()]
				if !ok {
					t.Fatalf("route missing from the template")
				}
				if m.function != r.Function {
					t.Errorf("got function %s, want %s", m.function, r.Function)
				}
				wantAuth := map[apispec.Auth]string{apispec.AuthNone: "NONE", apispec.AuthCognito: "COGNITO_USER_POOLS"}[r.Auth]
				if a := m.props["AuthorizationType"]; a != wantAuth {
					t.Errorf("got authorization %v, want %s", a, wantAuth)
				}
				if r.Auth == apispec.AuthCognito {
					az, ok := b.res[ref(m.props["AuthorizerId"])].(map[string]any)
					if !ok || props(az)["Type"] != "COGNITO_USER_POOLS" {
						t.Errorf("got authorizer %v, want a Cognito user pools authorizer", m.props["AuthorizerId"])
					}
				}
				if k, _ := m.props["ApiKeyRequired"].(bool); k != r.APIKeyRequired {
					t.Errorf("got ApiKeyRequired %v, want %v", k, r.APIKeyRequired)
				}
				if m.props["RequestValidatorId"] == nil {
					t.Errorf("no request validator")
				}
				var wantKeys []string
				if r.CacheSeconds > 0 {
					for _, p := range pathParams.FindAllStringSubmatch(r.Path, -1) {
						wantKeys = append(wantKeys, "method.request.path."+p[1])
					}
				}
				integ, _ := m.props["Integration"].(map[string]any)
				if gotKeys := strs(integ["CacheKeyParameters"]); !slices.Equal(gotKeys, wantKeys) {
					t.Errorf("got cache key parameters %v, want %v", gotKeys, wantKeys)
				}
			})
		}
		if len(got) != len(apispec.Routes) {
			t.Errorf("got %d methods, want exactly the %d apispec routes", len(got), len(apispec.Routes))
		}
	})
}

func TestCognito_PoolGroupsAndClient(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		for _, g := range []string{apispec.GroupAdmin, apispec.GroupFinance} {
			mustFind(t, b, "AWS::Cognito::UserPoolGroup", map[string]any{"GroupName": g})
		}
		mustFind(t, b, "AWS::Cognito::UserPoolClient", map[string]any{"GenerateSecret": false})
		mustFind(t, b, "AWS::ApiGateway::Authorizer", map[string]any{"Type": "COGNITO_USER_POOLS"})
	})
}

// tableID finds the table defined by t, failing unless exactly one matches.
func tableID(tb testing.TB, b *built, t schema.Table) string {
	tb.Helper()
	keys := []any{map[string]any{"AttributeName": t.PartitionKey.Name, "KeyType": "HASH"}}
	attrs := []any{map[string]any{"AttributeName": t.PartitionKey.Name, "AttributeType": t.PartitionKey.Type}}
	if t.SortKey != nil {
		keys = append(keys, map[string]any{"AttributeName": t.SortKey.Name, "KeyType": "RANGE"})
		attrs = append(attrs, map[string]any{"AttributeName": t.SortKey.Name, "AttributeType": t.SortKey.Type})
	}
	got := find(tb, b, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema":            assertions.Match_Exact(keys),
		"AttributeDefinitions": assertions.Match_Exact(attrs),
	})
	if len(got) != 1 {
		tb.Fatalf("table %s: got %d tables with its key schema, want 1", t.Name, len(got))
	}
	for id := range got {
		return id
	}
	return ""
}

func TestTables_EqualSchema(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		if got, want := len(ofType(b, "AWS::DynamoDB::Table")), len(schema.Tables); got != want {
			t.Errorf("got %d tables, want %d", got, want)
		}
		prod := b.stage == "prod"
		for _, st := range schema.Tables {
			t.Run(st.Name, func(t *testing.T) {
				r := b.res[tableID(t, b, st)].(map[string]any)
				p := props(r)
				if p["BillingMode"] != "PAY_PER_REQUEST" {
					t.Errorf("got billing %v, want PAY_PER_REQUEST", p["BillingMode"])
				}
				if pitr, _ := p["PointInTimeRecoverySpecification"].(map[string]any); pitr["PointInTimeRecoveryEnabled"] != true {
					t.Errorf("got PITR %v, want enabled", p["PointInTimeRecoverySpecification"])
				}
				ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
				if st.TTLAttribute == "" && ttl != nil {
					t.Errorf("got TTL %v, want none", ttl)
				}
				if st.TTLAttribute != "" && (ttl["AttributeName"] != st.TTLAttribute || ttl["Enabled"] != true) {
					t.Errorf("got TTL %v, want %s enabled", ttl, st.TTLAttribute)
				}
				if got := p["DeletionProtectionEnabled"] == true; got != prod {
					t.Errorf("got deletion protection %v, want %v", got, prod)
				}
				wantPolicy := map[bool]string{true: "Retain", false: "Delete"}[prod]
				if r["DeletionPolicy"] != wantPolicy {
					t.Errorf("got deletion policy %v, want %s", r["DeletionPolicy"], wantPolicy)
				}
				w := b.props.WarmThroughput
				wt, _ := p["WarmThroughput"].(map[string]any)
				switch {
				case w == nil && wt != nil:
					t.Errorf("got warm throughput %v, want none", wt)
				case w != nil && (wt["ReadUnitsPerSecond"] != float64(w.ReadUnitsPerSecond) || wt["WriteUnitsPerSecond"] != float64(w.WriteUnitsPerSecond)):
					t.Errorf("got warm throughput %v, want %+v", wt, *w)
				}
			})
		}
	})
}

// ordersQueueID is the queue that has a redrive policy.
func ordersQueueID(tb testing.TB, b *built) string {
	tb.Helper()
	got := find(tb, b, "AWS::SQS::Queue", map[string]any{"RedrivePolicy": assertions.Match_AnyValue()})
	if len(got) != 1 {
		tb.Fatalf("got %d queues with a redrive policy, want 1 (orders)", len(got))
	}
	for id := range got {
		return id
	}
	return ""
}

func TestQueue_HighThroughputFIFOWithFIFODLQ(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		id := ordersQueueID(t, b)
		q := props(b.res[id].(map[string]any))
		for k, want := range map[string]any{
			"FifoQueue":            true,
			"DeduplicationScope":   "messageGroup",
			"FifoThroughputLimit":  "perMessageGroupId",
			"SqsManagedSseEnabled": true,
		} {
			if q[k] != want {
				t.Errorf("orders queue %s: got %v, want %v", k, q[k], want)
			}
		}
		rp := q["RedrivePolicy"].(map[string]any)
		if got := num(t, rp["maxReceiveCount"], "maxReceiveCount"); got != float64(schema.OrdersQueue.MaxReceiveCount) || got != 5 {
			t.Errorf("got maxReceiveCount %v, want 5 (schema: %d)", got, schema.OrdersQueue.MaxReceiveCount)
		}
		dlq, ok := b.res[ref(rp["deadLetterTargetArn"])].(map[string]any)
		if !ok || dlq["Type"] != "AWS::SQS::Queue" {
			t.Fatalf("dead-letter target %v is not a queue in the stack", rp["deadLetterTargetArn"])
		}
		if p := props(dlq); p["FifoQueue"] != true || p["SqsManagedSseEnabled"] != true {
			t.Errorf("DLQ: got FifoQueue %v, SqsManagedSseEnabled %v; want both true", p["FifoQueue"], p["SqsManagedSseEnabled"])
		}
		// enforceSSL: each queue's policy denies non-TLS access.
		for qid := range ofType(b, "AWS::SQS::Queue") {
			if len(find(t, b, "AWS::SQS::QueuePolicy", map[string]any{
				"Queues": []any{map[string]any{"Ref": qid}},
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{like(map[string]any{
					"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})})},
			})) == 0 {
				t.Errorf("queue %s: no policy denying non-TLS access", qid)
			}
		}
	})
}

func TestQueue_VisibilityAtLeastSixTimesConsumerTimeout(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		esms := ofType(b, "AWS::Lambda::EventSourceMapping")
		if len(esms) != 1 {
			t.Fatalf("got %d event source mappings, want 1", len(esms))
		}
		for _, e := range esms {
			p := props(e)
			fn := props(b.res[ref(p["FunctionName"])].(map[string]any))
			q := props(b.res[ref(p["EventSourceArn"])].(map[string]any))
			timeout := num(t, fn["Timeout"], "consumer Timeout")
			if vis := num(t, q["VisibilityTimeout"], "VisibilityTimeout"); vis < 6*timeout {
				t.Errorf("got visibility timeout %v s, want ≥ 6 × consumer timeout %v s = %v s", vis, timeout, 6*timeout)
			}
			if name := tag(fn, infra.FunctionTag); name != apispec.FunctionOrderWriter {
				t.Errorf("queue consumer is %s, want %s", name, apispec.FunctionOrderWriter)
			}
		}
	})
}

func TestEventSourceMapping_PartialBatchFailures(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		for _, e := range mustFind(t, b, "AWS::Lambda::EventSourceMapping", map[string]any{
			"FunctionResponseTypes": assertions.Match_ArrayWith(&[]any{"ReportBatchItemFailures"}),
			"ScalingConfig":         map[string]any{"MaximumConcurrency": assertions.Match_AnyValue()},
		}) {
			p := props(e)
			if bs := num(t, p["BatchSize"], "BatchSize"); bs < 1 || bs > 10 {
				t.Errorf("got batch size %v, want 1..10", bs)
			}
			if _, ok := p["MaximumBatchingWindowInSeconds"]; ok {
				t.Errorf("batching window set; FIFO event sources do not support one")
			}
		}
	})
}

func TestSchedule_RunsSettlementEveryMinute(t *testing.T) {
	// The local stack's default cadence is the same constant.
	if apispec.SettlementEvery != time.Minute {
		t.Fatalf("apispec.SettlementEvery = %s; this test expects rate(1 minute)", apispec.SettlementEvery)
	}
	eachStack(t, func(t *testing.T, b *built) {
		settlement := functions(t, b)[apispec.FunctionSettlement]
		mustFind(t, b, "AWS::Events::Rule", map[string]any{
			"ScheduleExpression": "rate(1 minute)",
			"State":              "ENABLED",
			"Targets": assertions.Match_ArrayWith(&[]any{like(map[string]any{
				"Arn":         map[string]any{"Fn::GetAtt": []any{settlement, "Arn"}},
				"RetryPolicy": map[string]any{"MaximumRetryAttempts": 0},
			})}),
		})
	})
}

// xrayActions are the only actions allowed on Resource "*": X-Ray's trace
// upload actions support no resource-level permissions, so AWS requires "*".
var xrayActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

func TestIAM_NoWildcards(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		all := statements(b)
		if len(all) == 0 {
			t.Fatal("found no IAM statements")
		}
		for _, s := range all {
			for _, a := range s.actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("role %s: action %q; want named actions", s.role, a)
				}
			}
			if slices.Contains(s.resources, "*") {
				for _, a := range s.actions {
					if !slices.Contains(xrayActions, a) {
						t.Errorf("role %s: %s on Resource \"*\"; only %v may be (AWS requires it)", s.role, a, xrayActions)
					}
				}
			}
		}
		for _, r := range ofType(b, "AWS::IAM::Role") {
			for _, m := range strs(props(r)["ManagedPolicyArns"]) {
				if !strings.Contains(m, "AmazonAPIGatewayPushToCloudWatchLogs") {
					t.Errorf("role has managed policy %s; functions get explicit statements", m)
				}
			}
		}
	})
}

func TestIAM_LeastPrivilegePerFunction(t *testing.T) {
	read := []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	write := []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}
	// No transaction holds a ConditionCheck (shared/dynamostore), so no
	// function may take ConditionCheckItem; the rows below deny it where
	// a function writes.
	noCheck := []string{"dynamodb:ConditionCheckItem"}
	tests := []struct {
		name     string
		function string
		// resource is "sales", "orders", "queue", "webhook" (the signing
		// secret) or "admission-keys".
		resource string
		want     []string // every one must be allowed
		deny     []string // none may be allowed
	}{
		{name: "sale-info reads sales", function: apispec.FunctionSaleInfo, resource: "sales", want: []string{"dynamodb:GetItem", "dynamodb:BatchGetItem"}, deny: append(write, "dynamodb:Scan", "dynamodb:Query")},
		{name: "sale-info no orders", function: apispec.FunctionSaleInfo, resource: "orders", deny: append(read, write...)},
		{name: "sale-info no queue", function: apispec.FunctionSaleInfo, resource: "queue", deny: []string{"sqs:SendMessage"}},
		{name: "reserve decrements shards and preloads sales", function: apispec.FunctionReserve, resource: "sales", want: []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"}, deny: []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}},
		{name: "reserve writes orders and lists user bans", function: apispec.FunctionReserve, resource: "orders", want: []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, deny: []string{"dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"}},
		{name: "reserve enqueues", function: apispec.FunctionReserve, resource: "queue", want: []string{"sqs:SendMessage"}, deny: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}},
		{name: "reserve no webhook secret", function: apispec.FunctionReserve, resource: "webhook", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "reserve reads admission keys", function: apispec.FunctionReserve, resource: "admission-keys", want: []string{"secretsmanager:GetSecretValue"}},
		{name: "orders reads webhook secret", function: apispec.FunctionOrders, resource: "webhook", want: []string{"secretsmanager:GetSecretValue"}, deny: []string{"secretsmanager:DescribeSecret"}},
		{name: "orders no admission keys", function: apispec.FunctionOrders, resource: "admission-keys", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "admission reads sales", function: apispec.FunctionAdmission, resource: "sales", want: []string{"dynamodb:GetItem"}, deny: append(write, "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem")},
		{name: "admission reads allowlist and user bans", function: apispec.FunctionAdmission, resource: "orders", want: []string{"dynamodb:GetItem", "dynamodb:Query"}, deny: append(write, "dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem")},
		{name: "admission no queue", function: apispec.FunctionAdmission, resource: "queue", deny: []string{"sqs:SendMessage"}},
		{name: "admission reads admission keys", function: apispec.FunctionAdmission, resource: "admission-keys", want: []string{"secretsmanager:GetSecretValue"}},
		{name: "admission no webhook secret", function: apispec.FunctionAdmission, resource: "webhook", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "orders restocks", function: apispec.FunctionOrders, resource: "sales", want: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, deny: []string{"dynamodb:Scan", "dynamodb:PutItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}},
		{name: "orders pays, cancels and writes reminders", function: apispec.FunctionOrders, resource: "orders", want: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, deny: []string{"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}},
		{name: "warm-up no orders", function: apispec.FunctionWarmUp, resource: "orders", deny: append(read, write...)},
		{name: "warm-up no queue", function: apispec.FunctionWarmUp, resource: "queue", deny: []string{"sqs:SendMessage"}},
		{name: "notifier no queue", function: apispec.FunctionNotifier, resource: "queue", deny: []string{"sqs:SendMessage"}},
		{name: "notifier no secrets", function: apispec.FunctionNotifier, resource: "admission-keys", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "orders no queue", function: apispec.FunctionOrders, resource: "queue", deny: []string{"sqs:SendMessage"}},
		{name: "admin writes sales", function: apispec.FunctionAdmin, resource: "sales", want: []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, deny: []string{"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:ConditionCheckItem"}},
		{name: "admin imports allowlists, bans, settles", function: apispec.FunctionAdmin, resource: "orders", want: append([]string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:Query"}, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"), deny: append([]string{"dynamodb:Scan"}, noCheck...)},
		{name: "admin no webhook secret", function: apispec.FunctionAdmin, resource: "webhook", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "admin no admission keys", function: apispec.FunctionAdmin, resource: "admission-keys", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "writer consumes", function: apispec.FunctionOrderWriter, resource: "queue", want: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, deny: []string{"sqs:SendMessage"}},
		{name: "writer only updates orders", function: apispec.FunctionOrderWriter, resource: "orders", want: []string{"dynamodb:UpdateItem"}, deny: []string{"dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}},
		{name: "writer no sales", function: apispec.FunctionOrderWriter, resource: "sales", deny: append(read, write...)},
		{name: "settlement lists sales", function: apispec.FunctionSettlement, resource: "sales", want: []string{"dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"}, deny: []string{"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}},
		{name: "settlement settles orders", function: apispec.FunctionSettlement, resource: "orders", want: []string{"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, deny: []string{"dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"}},
		{name: "settlement no webhook secret", function: apispec.FunctionSettlement, resource: "webhook", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "settlement no admission keys", function: apispec.FunctionSettlement, resource: "admission-keys", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "ban sync queries bans", function: apispec.FunctionIPBanSync, resource: "orders", want: []string{"dynamodb:Query"}, deny: append([]string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"}, write...)},
		{name: "ban sync no sales", function: apispec.FunctionIPBanSync, resource: "sales", deny: append(read, write...)},
		{name: "ban sync no queue", function: apispec.FunctionIPBanSync, resource: "queue", deny: []string{"sqs:SendMessage", "sqs:ReceiveMessage"}},
		{name: "ban sync no webhook secret", function: apispec.FunctionIPBanSync, resource: "webhook", deny: []string{"secretsmanager:GetSecretValue"}},
		{name: "ban sync no admission keys", function: apispec.FunctionIPBanSync, resource: "admission-keys", deny: []string{"secretsmanager:GetSecretValue"}},
	}
	eachStack(t, func(t *testing.T, b *built) {
		ids := map[string]string{
			"sales":          tableID(t, b, schema.Sales),
			"orders":         tableID(t, b, schema.Orders),
			"queue":          ordersQueueID(t, b),
			"webhook":        webhookSecretID(t, b),
			"admission-keys": admissionKeysID(t, b),
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := allowed(t, b, tc.function, ids[tc.resource])
				for _, a := range tc.want {
					if !slices.Contains(got, a) {
						t.Errorf("%s on %s: got %v, want it to include %s", tc.function, tc.resource, got, a)
					}
				}
				for _, a := range tc.deny {
					if slices.Contains(got, a) {
						t.Errorf("%s on %s: got %v, must not include %s", tc.function, tc.resource, got, a)
					}
				}
			})
		}
	})
}

func TestAlarms_EachSignalNotifiesTopic(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		topic, _ := topicIDs(t, b)
		fns := functions(t, b)
		dlq := ref(props(b.res[ordersQueueID(t, b)].(map[string]any))["RedrivePolicy"].(map[string]any)["deadLetterTargetArn"])
		type signal struct {
			name string
			want map[string]any
		}
		signals := []signal{
			{"DLQ depth", map[string]any{
				"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 0,
				"Dimensions": []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{dlq, "QueueName"}}}},
			}},
			{"settlement unbalanced", map[string]any{
				"Namespace": metric.Namespace, "MetricName": metric.Unbalanced, "Threshold": 0,
				"Dimensions": []any{map[string]any{"Name": metric.DimensionService, "Value": metric.ServiceSettlement}},
			}},
			{"API 5xx", map[string]any{"Namespace": "AWS/ApiGateway", "MetricName": "5XXError"}},
			{"reserve throttles", map[string]any{
				"Namespace": "AWS/Lambda", "MetricName": "Throttles", "Threshold": 0,
				"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fns[apispec.FunctionReserve]}}},
			}},
		}
		for _, name := range apispec.FunctionNames() {
			if name == apispec.FunctionIPBanSync || name == apispec.FunctionWarmUp || name == apispec.FunctionNotifier {
				continue // their own alarms: TestBans_SyncFailureAlarm, TestPrepare_Alarms
			}
			signals = append(signals, signal{name + " errors", map[string]any{
				"Namespace": "AWS/Lambda", "MetricName": "Errors", "Threshold": 0,
				"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fns[name]}}},
			}})
		}
		for _, s := range signals {
			t.Run(s.name, func(t *testing.T) {
				s.want["ComparisonOperator"] = "GreaterThanThreshold"
				s.want["AlarmActions"] = assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})})
				mustFind(t, b, "AWS::CloudWatch::Alarm", s.want)
			})
		}
		if len(ofType(b, "AWS::CloudWatch::Dashboard")) != 1 {
			t.Errorf("want one dashboard")
		}
		subs := find(t, b, "AWS::SNS::Subscription", map[string]any{"Protocol": "email", "Endpoint": b.props.AlarmEmail})
		if want := b.props.AlarmEmail != ""; (len(subs) == 1) != want {
			t.Errorf("got %d email subscriptions, want one only if alarmEmail is set (%q)", len(subs), b.props.AlarmEmail)
		}
	})
}

func TestNag_NoUnsuppressedFindings(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		ann := assertions.Annotations_FromStack(b.stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		hasNo(t, "error", func() { ann.HasNoError(jsii.String("*"), nag) })
		hasNo(t, "warning", func() { ann.HasNoWarning(jsii.String("*"), nag) })
		// Every suppression carries a real reason.
		n := 0
		for id, r := range b.res {
			md, _ := r.(map[string]any)["Metadata"].(map[string]any)
			cn, _ := md["cdk_nag"].(map[string]any)
			rules, _ := cn["rules_to_suppress"].([]any)
			for _, rule := range rules {
				n++
				m := rule.(map[string]any)
				if reason, _ := m["reason"].(string); len(reason) < 40 {
					t.Errorf("%s: suppression of %v has reason %q; want a written reason", id, m["id"], reason)
				}
			}
		}
		if n == 0 {
			t.Errorf("found no cdk_nag suppression metadata; is cdk-nag attached?")
		}
	})
}

// hasNo runs one of the Annotations HasNo* assertions and fails t if it does
// not hold. The CDK reports a failed assertion as a JavaScript exception,
// which jsii raises as a Go panic whose message lists each finding with its
// construct path. (The Find* methods that return the findings hand back the
// deprecated cxapi.SynthesisMessage, whose fields staticcheck flags.)
func hasNo(t *testing.T, level string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("cdk-nag %s: %v", level, r)
		}
	}()
	assert()
}
