package templatetests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/local/s3local"
	"flashsale/shared/schema"
)

// EnvIAMParity names the file of calls the integration tests recorded
// (awsclient.EnvIAMRecord). scripts/test.sh runs the whole suite with the
// recorder on, then TestIAMParity with this set to the same file; unset,
// as in a plain go test ./..., the test skips. It is a variable of its own
// so that the recording run's template-tests do not check a file still
// being written.
const EnvIAMParity = "FLASHSALE_IAM_PARITY"

// grantAllowlist holds the grants the integration tests cannot exercise
// locally, each with why. Function "*" is every function; an action may be
// a pattern ("logs:*"). Anything else a role allows must be used by a
// recorded call, or TestIAMParity fails.
var grantAllowlist = []struct {
	function, action, reason string
}{
	// The Lambda runtime, not the code, uses these.
	{"*", "logs:*", "Lambda writes the function's own log group"},
	{"*", "xray:*", "Lambda uploads the function's traces (Tracing: ACTIVE)"},
	// The event source mapping receives with the function's role; locally
	// shared/local/poller stands in for it outside any function.
	{apispec.FunctionOrderWriter, "sqs:ReceiveMessage", "the event source mapping polls the orders queue with the writer's role"},
	{apispec.FunctionOrderWriter, "sqs:DeleteMessage", "the event source mapping deletes the batch's processed messages"},
	{apispec.FunctionOrderWriter, "sqs:ChangeMessageVisibility", "the event source mapping returns failed messages"},
	{apispec.FunctionOrderWriter, "sqs:GetQueueAttributes", "the event source mapping reads the queue's attributes when it starts"},
	{apispec.FunctionOrderWriter, "sqs:GetQueueUrl", "granted with the event source mapping's consume actions (CDK's grantConsumeMessages)"},
	// Secrets: locally the keys come from WEBHOOK_SECRET and ADMISSION_KEYS.
	{apispec.FunctionOrders, "secretsmanager:GetSecretValue", "the webhook signing secret is an environment variable locally"},
	{apispec.FunctionReserve, "secretsmanager:GetSecretValue", "the admission keys are an environment variable locally"},
	{apispec.FunctionAdmission, "secretsmanager:GetSecretValue", "the admission keys are an environment variable locally"},
	// Services with no local emulator: the local stack puts stand-ins in
	// their place (shared/local/prepare's scheduler, outbox and
	// provisioner; the gateway's own ban reload for WAF).
	{apispec.FunctionAdmin, "scheduler:CreateSchedule", "EventBridge Scheduler: locally shared/local/prepare keeps the schedules"},
	{apispec.FunctionAdmin, "scheduler:UpdateSchedule", "EventBridge Scheduler: locally shared/local/prepare keeps the schedules"},
	{apispec.FunctionAdmin, "iam:PassRole", "hands the scheduler role to EventBridge Scheduler, which does not run locally"},
	{apispec.FunctionAdmin, "lambda:InvokeFunction", "the nudge of ip-ban-sync: locally the gateway rereads the bans itself"},
	{apispec.FunctionIPBanSync, "wafv2:*", "WAF IP sets: locally the gateway enforces the bans itself"},
	{apispec.FunctionIPBanSync, "dynamodb:Query", "ip-ban-sync runs only deployed (its handler needs the WAF IP sets); locally the gateway's ban reload makes this Query outside any function"},
	{apispec.FunctionWarmUp, "lambda:*ProvisionedConcurrencyConfig", "Lambda provisioned concurrency: locally shared/local/prepare's provisioner records it"},
	{apispec.FunctionNotifier, "sns:Publish", "SNS: locally shared/local/prepare's outbox receives the reminders"},
	{apispec.FunctionAccountCreated, "cognito-idp:AdminUpdateUserAttributes", "Cognito's post-confirmation trigger: locally tokens come from devauth, with no user pool"},
	// The reports bucket.
	{apispec.FunctionAdmin, "s3:ListBucket", "makes S3 answer a missing report file with 404 NoSuchKey rather than 403; the archive never lists"},
}

// allowlisted reports whether fn's action is in grantAllowlist.
func allowlisted(fn, action string) bool {
	for _, a := range grantAllowlist {
		if a.function != "*" && a.function != fn {
			continue
		}
		if ok, _ := path.Match(a.action, action); ok {
			return true
		}
	}
	return false
}

// grant is one action a function's role allows on one resource: a logical
// ID, or the resource as written ("*", an Fn::Join's JSON) when it refers
// to none.
type grant struct{ action, resource string }

// recordedCalls reads the recorder's file.
func recordedCalls(tb testing.TB, file string) []awsclient.Call {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatalf("%s: %v", EnvIAMParity, err)
	}
	defer f.Close()
	var out []awsclient.Call
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var c awsclient.Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("%s line %d: %v", file, n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s holds no calls: did the tests run with %s set?", file, awsclient.EnvIAMRecord)
	}
	return out
}

// localResources maps a local run's tables and queues to the template's
// logical IDs by their schema name: devstack and testenv name them
// <prefix><schema name> ("dev-Sales", "t3f9a0c1d-Orders"), and a queue URL
// ends in its name. An object of the local reports bucket (s3local's,
// "flashsale-reports/sales/s1/report.csv") maps to the bucket's logical ID
// and the key ("Reports1A2B3C4D/sales/s1/report.csv"), as roleGrants writes
// a grant on the bucket's objects.
func localResources(tb testing.TB, b *built) func(string) (string, bool) {
	tb.Helper()
	bucket, _ := only(tb, b, "AWS::S3::Bucket")
	tables := tableResources(tb, b)
	return func(resource string) (string, bool) {
		if name, key, _ := strings.Cut(resource, "/"); name == s3local.DefaultBucket {
			if key == "" {
				return bucket, true
			}
			return bucket + "/" + key, true
		}
		return tables(resource)
	}
}

// tableResources maps the tables and queues (localResources).
func tableResources(tb testing.TB, b *built) func(string) (string, bool) {
	tb.Helper()
	orders := ordersQueueID(tb, b)
	redrive, _ := props(b.res[orders].(map[string]any))["RedrivePolicy"].(map[string]any)
	dlq := ref(redrive["deadLetterTargetArn"])
	if dlq == "" {
		tb.Fatalf("orders queue %s: no dead-letter queue in its RedrivePolicy", orders)
	}
	names := []struct{ suffix, id string }{
		// The DLQ before the queue: both end in ".fifo".
		{schema.OrdersDLQ.Name, dlq},
		{schema.OrdersQueue.Name, orders},
		{schema.Sales.Name, tableID(tb, b, schema.Sales)},
		{schema.Orders.Name, tableID(tb, b, schema.Orders)},
	}
	return func(resource string) (string, bool) {
		last := resource[strings.LastIndex(resource, "/")+1:]
		for _, n := range names {
			if last == n.suffix || strings.HasSuffix(last, "-"+n.suffix) {
				return n.id, true
			}
		}
		return "", false
	}
}

// roleGrants returns what each function's role allows, by apispec name.
func roleGrants(tb testing.TB, b *built) map[string]map[grant]bool {
	tb.Helper()
	byRole := map[string]string{}
	for _, name := range apispec.FunctionNames() {
		byRole[ref(function(tb, b, name)["Role"])] = name
	}
	out := map[string]map[grant]bool{}
	for _, s := range statements(b) {
		fn, ok := byRole[s.role]
		if !ok || s.effect != "Allow" {
			continue
		}
		if out[fn] == nil {
			out[fn] = map[grant]bool{}
		}
		for _, a := range s.actions {
			for _, r := range s.resources {
				res := r
				if id := refOfResource(r); id != "" {
					res = id
				} else if id, suffix := arnJoin(r); id != "" {
					res = id + suffix
				}
				out[fn][grant{a, res}] = true
			}
		}
	}
	return out
}

// refOfResource returns the logical ID a resource written as JSON refers
// to directly, or "".
func refOfResource(r string) string {
	var v any
	if json.Unmarshal([]byte(r), &v) != nil {
		return ""
	}
	return ref(v)
}

// arnJoin reads a resource written as {"Fn::Join": ["", [{"Fn::GetAtt":
// [id, "Arn"]}, suffix]]}, as CDK writes a bucket's objects
// ("<bucket ARN>/sales/*"): it returns id and suffix, or "".
func arnJoin(r string) (id, suffix string) {
	var v struct {
		Join []json.RawMessage `json:"Fn::Join"`
	}
	if json.Unmarshal([]byte(r), &v) != nil || len(v.Join) != 2 || string(v.Join[0]) != `""` {
		return "", ""
	}
	var parts []any
	if json.Unmarshal(v.Join[1], &parts) != nil || len(parts) != 2 {
		return "", ""
	}
	ga, _ := parts[0].(map[string]any)["Fn::GetAtt"].([]any)
	s, ok := parts[1].(string)
	if len(ga) != 2 || ga[1] != "Arn" || !ok {
		return "", ""
	}
	return ref(parts[0]), s
}

// covers reports whether a grant's resource covers the resource a call
// resolved to: the same, "*", or a pattern whose * matches any run of
// characters, "/" included, as in IAM ("Reports1A2B3C4D/sales/*").
func covers(grant, resource string) bool {
	if grant == resource || grant == "*" {
		return true
	}
	if !strings.Contains(grant, "*") {
		return false
	}
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(grant), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, resource)
	return ok
}

// problemKind says what checkIAMParity found wrong.
type problemKind int

const (
	// problemBadCall: a recorded call names no function of apispec, or no
	// table or queue of shared/schema.
	problemBadCall problemKind = iota
	// problemNotAllowed: the function's role does not allow a recorded
	// call on its resource; in AWS it would get AccessDenied.
	problemNotAllowed
	// problemUnused: the role allows something no recorded call used, and
	// grantAllowlist does not excuse it.
	problemUnused
)

// parityProblem is one finding of checkIAMParity.
type parityProblem struct {
	kind     problemKind
	function string
	action   string
	// resource is the logical ID the call or grant is on, or the grant's
	// resource as written; for a bad call, what was recorded.
	resource  string
	operation string // the API call that carried a recorded call
	// err says why a bad call is bad.
	err error
}

func (p parityProblem) String() string {
	switch p.kind {
	case problemNotAllowed:
		return fmt.Sprintf("not allowed: %s: %s on %s (from %s)", p.function, p.action, p.resource, p.operation)
	case problemUnused:
		return fmt.Sprintf("granted but never called by the integration tests (remove it, or add it to grantAllowlist with the reason): %s: %s on %s", p.function, p.action, p.resource)
	}
	return fmt.Sprintf("%s: recorded %s on %q (%s): %v", p.function, p.action, p.resource, p.operation, p.err)
}

// checkIAMParity checks b's function roles against calls, both ways: every
// call must be allowed on its resource by its function's role, and every
// grant must be used by some call or sit in grantAllowlist. It returns the
// bad calls in the order recorded, then the calls not allowed (one per
// function, action, logical resource and operation, whatever the local
// prefixes of the runs that made them), then the unused grants, each
// sorted. tb fails only on a template it cannot read.
func checkIAMParity(tb testing.TB, b *built, calls []awsclient.Call) []parityProblem {
	tb.Helper()
	resolve := localResources(tb, b)
	grants := roleGrants(tb, b)
	used := map[string]map[grant]bool{}
	var bad []parityProblem
	missing := map[parityProblem]bool{}
	for _, c := range calls {
		p := parityProblem{kind: problemBadCall, function: c.Function, action: c.Action, resource: c.Resource, operation: c.Operation}
		if _, err := apispec.FunctionNamed(c.Function); err != nil {
			p.err = err
			bad = append(bad, p)
			continue
		}
		id, ok := resolve(c.Resource)
		if !ok {
			p.err = errors.New("names no table or queue of shared/schema, nor the reports bucket")
			bad = append(bad, p)
			continue
		}
		var hit []grant
		for g := range grants[c.Function] {
			if ok, _ := path.Match(g.action, c.Action); ok && covers(g.resource, id) {
				hit = append(hit, g)
			}
		}
		if len(hit) == 0 {
			missing[parityProblem{kind: problemNotAllowed, function: c.Function, action: c.Action, resource: id, operation: c.Operation}] = true
			continue
		}
		if used[c.Function] == nil {
			used[c.Function] = map[grant]bool{}
		}
		for _, g := range hit {
			used[c.Function][g] = true
		}
	}
	var unused []parityProblem
	for fn, gs := range grants {
		for g := range gs {
			if !used[fn][g] && !allowlisted(fn, g.action) {
				unused = append(unused, parityProblem{kind: problemUnused, function: fn, action: g.action, resource: g.resource})
			}
		}
	}
	byText := func(a, b parityProblem) int { return strings.Compare(a.String(), b.String()) }
	notAllowed := slices.SortedFunc(maps.Keys(missing), byText)
	slices.SortFunc(unused, byText)
	return slices.Concat(bad, notAllowed, unused)
}

// TestIAMParity checks each function's synthesized role against the AWS
// calls its handlers made during the integration tests (scripts/test.sh):
// every recorded call must be allowed, on its resource, and every grant
// must be used by some recorded call or sit in grantAllowlist. It catches
// an AccessDenied before any deploy, and a grant nobody needs.
// TestCheckIAMParity_* show, on a fixed set of calls, that the check fails
// when a grant is missing.
func TestIAMParity(t *testing.T) {
	file := os.Getenv(EnvIAMParity)
	if file == "" {
		t.Skipf("%s is unset: make test records the integration tests' calls and runs this test on them", EnvIAMParity)
	}
	calls := recordedCalls(t, file)
	eachStack(t, func(t *testing.T, b *built) {
		for _, p := range checkIAMParity(t, b, calls) {
			t.Error(p)
		}
	})
}
