package templatetests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
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
// ends in its name.
func localResources(tb testing.TB, b *built) func(string) (string, bool) {
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

// TestIAMParity checks each function's synthesized role against the AWS
// calls its handlers made during the integration tests (scripts/test.sh):
// every recorded call must be allowed, on its resource, and every grant
// must be used by some recorded call or sit in grantAllowlist. It catches
// an AccessDenied before any deploy, and a grant nobody needs.
func TestIAMParity(t *testing.T) {
	file := os.Getenv(EnvIAMParity)
	if file == "" {
		t.Skipf("%s is unset: make test records the integration tests' calls and runs this test on them", EnvIAMParity)
	}
	calls := recordedCalls(t, file)
	eachStack(t, func(t *testing.T, b *built) {
		resolve := localResources(t, b)
		grants := roleGrants(t, b)
		used := map[string]map[grant]bool{}
		var missing []string
		for _, c := range calls {
			if _, err := apispec.FunctionNamed(c.Function); err != nil {
				t.Errorf("recorded call %+v: %v", c, err)
				continue
			}
			id, ok := resolve(c.Resource)
			if !ok {
				t.Errorf("%s: recorded %s on %q (%s), which names no table or queue of shared/schema", c.Function, c.Action, c.Resource, c.Operation)
				continue
			}
			var hit []grant
			for g := range grants[c.Function] {
				if ok, _ := path.Match(g.action, c.Action); ok && (g.resource == id || g.resource == "*") {
					hit = append(hit, g)
				}
			}
			if len(hit) == 0 {
				// One line per logical resource, whatever the local
				// prefixes of the runs that made the call.
				missing = append(missing, fmt.Sprintf("%s: %s on %s (from %s)", c.Function, c.Action, id, c.Operation))
				continue
			}
			if used[c.Function] == nil {
				used[c.Function] = map[grant]bool{}
			}
			for _, g := range hit {
				used[c.Function][g] = true
			}
		}
		sort.Strings(missing)
		for _, m := range slices.Compact(missing) {
			t.Errorf("not allowed: %s", m)
		}
		var unused []string
		for fn, gs := range grants {
			for g := range gs {
				if !used[fn][g] && !allowlisted(fn, g.action) {
					unused = append(unused, fmt.Sprintf("%s: %s on %s", fn, g.action, g.resource))
				}
			}
		}
		sort.Strings(unused)
		for _, u := range unused {
			t.Errorf("granted but never called by the integration tests (remove it, or add it to grantAllowlist with the reason): %s", u)
		}
	})
}
