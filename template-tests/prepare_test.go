package templatetests

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
	"flashsale/shared/schema"
)

// The preparation phase (issue 13): the schedule group, the scheduler role,
// admin's right to put schedules and pass that role, the warm-up's and the
// notifier's grants, the reminder topic, the always-present reserve alias,
// PREPARE_LEAD and the alarms. Grants are compared as exact sets, so a test
// fails when one is widened as well as when it is removed. The expected
// values are written out from the issue.

// groupName is the stage's schedule group, as the issue names it.
func groupName(b *built) string { return "flashsale-" + b.stage }

// lead is the PREPARE_LEAD a stack should carry.
func lead(b *built) time.Duration {
	if b.props.PrepareLead == 0 {
		return flashsale.DefaultLead
	}
	return b.props.PrepareLead
}

// refJSON is the template's {"Ref": id} as strs renders it.
func refJSON(id string) string { return `{"Ref":"` + id + `"}` }

// grants lists what a role may do as sorted "action on resource" lines, a
// condition appended as " if <json>". Every function may write its own log
// group and upload X-Ray traces; pass that log group to leave those out.
func grants(tb testing.TB, b *built, role, logGroup string) []string {
	tb.Helper()
	var out []string
	for _, s := range statements(b) {
		if s.role != role {
			continue
		}
		if s.effect != "Allow" {
			tb.Errorf("role %s: %s statement %v; want Allow statements only", role, s.effect, s.actions)
			continue
		}
		for _, a := range s.actions {
			if slices.Contains(xrayActions, a) && slices.Equal(s.resources, []string{"*"}) {
				continue
			}
			if strings.HasPrefix(a, "logs:") && logGroup != "" && slices.Equal(s.resourceIDs, []string{logGroup}) && len(s.resources) == 1 {
				continue
			}
			for _, r := range s.resources {
				line := a + " on " + r
				if s.condition != nil {
					line += " if " + mustJSON(tb, s.condition)
				}
				out = append(out, line)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// functionGrants is grants for a function's role, without its logs and
// tracing.
func functionGrants(tb testing.TB, b *built, name string) []string {
	tb.Helper()
	fn := function(tb, b, name)
	return grants(tb, b, ref(fn["Role"]), ref(fn["LoggingConfig"].(map[string]any)["LogGroup"]))
}

// lines builds the expected "action on resource" lines, sorted.
func lines(resource string, actions ...string) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a+" on "+resource)
	}
	return out
}

func sorted(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

// scheduleGroupID returns the one schedule group.
func scheduleGroupID(tb testing.TB, b *built) string {
	tb.Helper()
	groups := ofType(b, "AWS::Scheduler::ScheduleGroup")
	if len(groups) != 1 {
		tb.Fatalf("got %d schedule groups, want 1 per stack", len(groups))
	}
	for id := range groups {
		return id
	}
	return ""
}

// schedulerRoleID returns the one role Scheduler may assume.
func schedulerRoleID(tb testing.TB, b *built) string {
	tb.Helper()
	var ids []string
	for id, r := range ofType(b, "AWS::IAM::Role") {
		doc, _ := props(r)["AssumeRolePolicyDocument"].(map[string]any)
		if strings.Contains(mustJSON(tb, doc), `"scheduler.amazonaws.com"`) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		tb.Fatalf("got %d roles that scheduler.amazonaws.com may assume (%v), want 1", len(ids), ids)
	}
	return ids[0]
}

// reserveAliasID returns the one Lambda alias.
func reserveAliasID(tb testing.TB, b *built) string {
	tb.Helper()
	aliases := ofType(b, "AWS::Lambda::Alias")
	if len(aliases) != 1 {
		tb.Fatalf("got %d Lambda aliases, want 1 (reserve's live)", len(aliases))
	}
	for id := range aliases {
		return id
	}
	return ""
}

// topicIDs returns the alarm topic and the reminder topic (the one the
// notifier is told to publish to), failing unless those are the only two.
func topicIDs(tb testing.TB, b *built) (alarms, reminders string) {
	tb.Helper()
	topics := ofType(b, "AWS::SNS::Topic")
	if len(topics) != 2 {
		tb.Fatalf("got %d SNS topics, want 2 (alarms and reminders)", len(topics))
	}
	reminders = ref(envOf(tb, b, apispec.FunctionNotifier)[awsclient.EnvReminderTopic])
	if _, ok := topics[reminders]; !ok {
		tb.Fatalf("notifier's %s does not refer to a topic of the stack", awsclient.EnvReminderTopic)
	}
	for id := range topics {
		if id != reminders {
			alarms = id
		}
	}
	return alarms, reminders
}

// envOf returns a function's environment variables.
func envOf(tb testing.TB, b *built, name string) map[string]any {
	tb.Helper()
	vars, _ := function(tb, b, name)["Environment"].(map[string]any)["Variables"].(map[string]any)
	return vars
}

// checkEnv fails for each variable whose template value differs from want's
// (compared as JSON).
func checkEnv(t *testing.T, b *built, name string, want map[string]any) {
	t.Helper()
	vars := envOf(t, b, name)
	for k, w := range want {
		if got, want := mustJSON(t, vars[k]), mustJSON(t, w); got != want {
			t.Errorf("%s: %s = %s, want %s", name, k, got, want)
		}
	}
}

func TestPrepare_ScheduleGroupPerStack(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		r := b.res[scheduleGroupID(t, b)].(map[string]any)
		if got := props(r)["Name"]; got != groupName(b) {
			t.Errorf("schedule group name %v, want %s", got, groupName(b))
		}
		want := map[string]string{"dev": "Delete", "prod": "Retain"}[b.stage]
		if r["DeletionPolicy"] != want {
			t.Errorf("schedule group deletion policy %v, want %s (like the stage's data)", r["DeletionPolicy"], want)
		}
		outputs, _ := (*b.tpl.ToJSON())["Outputs"].(map[string]any)
		if o, _ := outputs["ScheduleGroupName"].(map[string]any); o["Value"] != groupName(b) {
			t.Errorf("output ScheduleGroupName = %v, want %s", o["Value"], groupName(b))
		}
	})
}

func TestPrepare_SchedulerRoleTrustsSchedulerOfItsGroup(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		role := props(b.res[schedulerRoleID(t, b)].(map[string]any))
		want := []any{map[string]any{
			"Action":    "sts:AssumeRole",
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
			"Condition": map[string]any{"StringEquals": map[string]any{
				"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
				"aws:SourceArn":     map[string]any{"Fn::GetAtt": []any{scheduleGroupID(t, b), "Arn"}},
			}},
		}}
		doc, _ := role["AssumeRolePolicyDocument"].(map[string]any)
		if got := mustJSON(t, doc["Statement"]); got != mustJSON(t, want) {
			t.Errorf("scheduler role trust:\n got %s\nwant %s", got, mustJSON(t, want))
		}
		if role["ManagedPolicyArns"] != nil || role["Policies"] != nil {
			t.Errorf("scheduler role has managed or inline policies %v %v; want its one statement only", role["ManagedPolicyArns"], role["Policies"])
		}
	})
}

func TestPrepare_SchedulerRoleOnlyInvokesWarmUpAndNotifier(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		got := grants(t, b, schedulerRoleID(t, b), "")
		want := sorted(
			lines(getAtt(fns[apispec.FunctionWarmUp], "Arn"), "lambda:InvokeFunction"),
			lines(getAtt(fns[apispec.FunctionNotifier], "Arn"), "lambda:InvokeFunction"),
		)
		if !slices.Equal(got, want) {
			t.Errorf("scheduler role may:\n %v\nwant exactly\n %v", got, want)
		}
		// Scheduler invokes with the role; no resource policy opens the
		// two targets to anyone else.
		for _, name := range []string{apispec.FunctionWarmUp, apispec.FunctionNotifier} {
			for id, p := range ofType(b, "AWS::Lambda::Permission") {
				if slices.Contains(refsIn(props(p)["FunctionName"]), fns[name]) {
					t.Errorf("permission %s lets %v invoke %s; only the scheduler role should", id, props(p)["Principal"], name)
				}
			}
		}
	})
}

func TestPrepare_AdminPutsSchedulesOfItsGroupAndPassesTheRole(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		role := schedulerRoleID(t, b)
		schedules := mustJSON(t, map[string]any{"Fn::Join": []any{"", []any{
			"arn:", map[string]any{"Ref": "AWS::Partition"}, ":scheduler:", map[string]any{"Ref": "AWS::Region"},
			":", map[string]any{"Ref": "AWS::AccountId"}, ":schedule/" + groupName(b) + "/*",
		}}})
		want := sorted(
			// Create, and Update when the create answers ConflictException
			// (shared/ebscheduler): no Get, no Delete.
			lines(schedules, "scheduler:CreateSchedule", "scheduler:UpdateSchedule"),
			[]string{"iam:PassRole on " + getAtt(role, "Arn") + ` if {"StringEquals":{"iam:PassedToService":"scheduler.amazonaws.com"}}`},
			lines(getAtt(fns[apispec.FunctionIPBanSync], "Arn"), "lambda:InvokeFunction"),
		)
		var got []string
		for _, g := range functionGrants(t, b, apispec.FunctionAdmin) {
			// The tables: TestIAM_LeastPrivilegePerFunction; the reports
			// bucket: TestReports_FunctionGrants.
			if !strings.HasPrefix(g, "dynamodb:") && !strings.HasPrefix(g, "s3:") {
				got = append(got, g)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("admin's grants beyond its tables:\n got %v\nwant %v", got, want)
		}
		// Nobody else schedules or passes roles.
		adminRole := ref(function(t, b, apispec.FunctionAdmin)["Role"])
		for _, s := range statements(b) {
			for _, a := range s.actions {
				if (strings.HasPrefix(a, "scheduler:") || strings.HasPrefix(a, "iam:")) && s.role != adminRole {
					t.Errorf("role %s may %s on %v; only admin schedules", s.role, a, s.resources)
				}
			}
		}
		checkEnv(t, b, apispec.FunctionAdmin, map[string]any{
			awsclient.EnvScheduleGroup:    props(b.res[scheduleGroupID(t, b)].(map[string]any))["Name"],
			awsclient.EnvSchedulerRole:    map[string]any{"Fn::GetAtt": []any{role, "Arn"}},
			awsclient.EnvWarmUpFunction:   map[string]any{"Fn::GetAtt": []any{fns[apispec.FunctionWarmUp], "Arn"}},
			awsclient.EnvNotifierFunction: map[string]any{"Fn::GetAtt": []any{fns[apispec.FunctionNotifier], "Arn"}},
		})
		if got := envOf(t, b, apispec.FunctionAdmin)[awsclient.EnvScheduleGroup]; got != groupName(b) {
			t.Errorf("admin: %s = %v, want %s", awsclient.EnvScheduleGroup, got, groupName(b))
		}
	})
}

func TestPrepare_WarmUpScansSalesAndProvisionsTheAliasOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		alias := reserveAliasID(t, b)
		want := sorted(
			lines(getAtt(tableID(t, b, schema.Sales), "Arn"), "dynamodb:Scan"),
			lines(refJSON(alias), "lambda:PutProvisionedConcurrencyConfig", "lambda:DeleteProvisionedConcurrencyConfig"),
		)
		if got := functionGrants(t, b, apispec.FunctionWarmUp); !slices.Equal(got, want) {
			t.Errorf("warm-up may:\n %v\nwant exactly\n %v", got, want)
		}
		reserve := function(t, b, apispec.FunctionReserve)
		checkEnv(t, b, apispec.FunctionWarmUp, map[string]any{
			awsclient.EnvReserveFunction: map[string]any{"Ref": fns[apispec.FunctionReserve]},
			awsclient.EnvReserveAlias:    props(b.res[alias].(map[string]any))["Name"],
			awsclient.EnvWarmBaseline:    strconv.Itoa(b.props.ProvisionedConcurrency),
			awsclient.EnvWarmCeiling:     strconv.Itoa(int(num(t, reserve["ReservedConcurrentExecutions"], "reserve ReservedConcurrentExecutions"))),
		})
		if got := envOf(t, b, apispec.FunctionWarmUp)[awsclient.EnvReserveAlias]; got != "live" {
			t.Errorf("warm-up: %s = %v, want live", awsclient.EnvReserveAlias, got)
		}
		// A retry reconciles to the moment it runs, so it is never stale.
		checkRetries(t, b, apispec.FunctionWarmUp, 2)
	})
}

// TestPrepare_WarmUpRunsOneAtATime: each run lists the sales and writes a
// total, so two overlapping runs (one sale's cool-down, another's warm-up)
// could write in the wrong order and drop a sale's share until its
// cool-down. With reserved concurrency 1 the later run reads later and
// writes last; Scheduler's async invokes that find it busy wait in Lambda's
// queue, and its retries stay.
func TestPrepare_WarmUpRunsOneAtATime(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		if got := function(t, b, apispec.FunctionWarmUp)["ReservedConcurrentExecutions"]; got != 1.0 {
			t.Errorf("warm-up: ReservedConcurrentExecutions %v, want 1", got)
		}
		checkRetries(t, b, apispec.FunctionWarmUp, 2)
	})
}

// TestPrepare_DeployDocNamesTheSchedulerGrants: docs/deploy.md's least
// privilege section names exactly the scheduler: actions the stack grants.
func TestPrepare_DeployDocNamesTheSchedulerGrants(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatalf("read docs/deploy.md: %v", err)
	}
	named := regexp.MustCompile(`scheduler:[A-Za-z]+`).FindAllString(string(doc), -1)
	sort.Strings(named)
	named = slices.Compact(named)
	eachStack(t, func(t *testing.T, b *built) {
		var granted []string
		for _, s := range statements(b) {
			for _, a := range s.actions {
				if strings.HasPrefix(a, "scheduler:") {
					granted = append(granted, a)
				}
			}
		}
		sort.Strings(granted)
		granted = slices.Compact(granted)
		if !slices.Equal(named, granted) {
			t.Errorf("docs/deploy.md names %v, the stack grants %v", named, granted)
		}
	})
}

func TestPrepare_NotifierReadsClaimsAndPublishesToTheReminderTopicOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, topic := topicIDs(t, b)
		orders := getAtt(tableID(t, b, schema.Orders), "Arn")
		want := sorted(
			lines(getAtt(tableID(t, b, schema.Sales), "Arn"), "dynamodb:GetItem"),
			lines(orders, "dynamodb:Query", "dynamodb:UpdateItem"),
			lines(refJSON(topic), "sns:Publish"),
		)
		if got := functionGrants(t, b, apispec.FunctionNotifier); !slices.Equal(got, want) {
			t.Errorf("notifier may:\n %v\nwant exactly\n %v", got, want)
		}
		checkEnv(t, b, apispec.FunctionNotifier, map[string]any{awsclient.EnvReminderTopic: map[string]any{"Ref": topic}})
		// Nobody else publishes reminders or learns the topic.
		notifierRole := ref(function(t, b, apispec.FunctionNotifier)["Role"])
		for _, s := range statements(b) {
			if s.role != notifierRole && (slices.Contains(s.resourceIDs, topic) || slices.ContainsFunc(s.actions, func(a string) bool { return strings.HasPrefix(a, "sns:") })) {
				t.Errorf("role %s may %v on %v; only the notifier publishes", s.role, s.actions, s.resources)
			}
		}
		for _, name := range apispec.FunctionNames() {
			if _, ok := envOf(t, b, name)[awsclient.EnvReminderTopic]; ok != (name == apispec.FunctionNotifier) {
				t.Errorf("%s: has %s = %v, want it on the notifier only", name, awsclient.EnvReminderTopic, ok)
			}
		}
		// A rerun notifies only unclaimed subscribers.
		checkRetries(t, b, apispec.FunctionNotifier, 2)
	})
}

// checkRetries fails unless the function's async invoke config retries n
// times.
func checkRetries(t *testing.T, b *built, name string, n int) {
	t.Helper()
	got := find(t, b, "AWS::Lambda::EventInvokeConfig", map[string]any{"FunctionName": map[string]any{"Ref": functions(t, b)[name]}})
	if len(got) != 1 {
		t.Fatalf("%s: got %d event invoke configs, want 1", name, len(got))
	}
	for _, c := range got {
		if r := props(c)["MaximumRetryAttempts"]; r != float64(n) {
			t.Errorf("%s: MaximumRetryAttempts %v, want %d", name, r, n)
		}
	}
}

func TestPrepare_ReminderTopicEncryptedAndTLSOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, topic := topicIDs(t, b)
		p := props(b.res[topic].(map[string]any))
		if k := mustJSON(t, p["KmsMasterKeyId"]); !strings.Contains(k, "alias/aws/sns") {
			t.Errorf("reminder topic KmsMasterKeyId %s, want the AWS-managed SNS key alias/aws/sns", k)
		}
		mustFind(t, b, "AWS::SNS::TopicPolicy", map[string]any{
			"Topics": []any{map[string]any{"Ref": topic}},
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{like(map[string]any{
				"Effect": "Deny", "Action": "sns:Publish", "Principal": "*", "Resource": map[string]any{"Ref": topic},
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		})
		outputs, _ := (*b.tpl.ToJSON())["Outputs"].(map[string]any)
		if o, _ := outputs["ReminderTopicArn"].(map[string]any); ref(o["Value"]) != topic {
			t.Errorf("output ReminderTopicArn = %v, want a Ref to the reminder topic", o["Value"])
		}
	})
}

func TestPrepare_ReserveAliasAlwaysExistsAndTheAPIInvokesIt(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		alias := reserveAliasID(t, b)
		p := props(b.res[alias].(map[string]any))
		if p["Name"] != "live" || ref(p["FunctionName"]) != fns[apispec.FunctionReserve] {
			t.Errorf("alias %v of %v, want live of reserve", p["Name"], p["FunctionName"])
		}
		// The template holds the baseline; the warm-up adds each sale's
		// share at run time.
		pc, has := p["ProvisionedConcurrencyConfig"].(map[string]any)
		switch n := b.props.ProvisionedConcurrency; {
		case n == 0 && has:
			t.Errorf("alias provisions %v with a baseline of 0, want none", pc)
		case n > 0 && (!has || pc["ProvisionedConcurrentExecutions"] != float64(n)):
			t.Errorf("alias provisions %v, want the baseline %d", p["ProvisionedConcurrencyConfig"], n)
		}
		purchase, ok := routes(t, b)[apispec.PurchaseRoute]
		if !ok {
			t.Fatalf("no method for %s", apispec.PurchaseRoute)
		}
		integ, _ := purchase.props["Integration"].(map[string]any)
		if !slices.Contains(refsIn(integ["Uri"]), alias) {
			t.Errorf("%s integration %v, want the alias", apispec.PurchaseRoute, integ["Uri"])
		}
		mustFind(t, b, "AWS::Lambda::Permission", map[string]any{
			"Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com", "FunctionName": map[string]any{"Ref": alias},
		})
	})
}

func TestPrepare_LeadAndPreloadScan(t *testing.T) {
	readers := []string{
		apispec.FunctionAdmin, apispec.FunctionOrders, apispec.FunctionReserve,
		apispec.FunctionAdmission, apispec.FunctionWarmUp, apispec.FunctionNotifier,
	}
	eachStack(t, func(t *testing.T, b *built) {
		for _, name := range apispec.FunctionNames() {
			v, ok := envOf(t, b, name)[awsclient.EnvLead]
			if !slices.Contains(readers, name) {
				if ok {
					t.Errorf("%s: has %s; only %v read it", name, awsclient.EnvLead, readers)
				}
				continue
			}
			s, _ := v.(string)
			if d, err := time.ParseDuration(s); err != nil || d != lead(b) {
				t.Errorf("%s: %s = %v, want %s", name, awsclient.EnvLead, v, lead(b))
			}
		}
		// Reserve preloads with a Scan (admission, never provisioned, does
		// not: stack_test denies it); orders subscribes and unsubscribes
		// through UpdateItem of the REMIND items, and never deletes them.
		sales, orders := tableID(t, b, schema.Sales), tableID(t, b, schema.Orders)
		for _, tc := range []struct {
			function, table string
			want            []string
		}{
			{apispec.FunctionReserve, sales, []string{"dynamodb:Scan"}},
			{apispec.FunctionOrders, orders, []string{"dynamodb:UpdateItem"}},
		} {
			got := allowed(t, b, tc.function, tc.table)
			for _, a := range tc.want {
				if !slices.Contains(got, a) {
					t.Errorf("%s on %s: got %v, want %s", tc.function, tc.table, got, a)
				}
			}
		}
		if got := allowed(t, b, apispec.FunctionOrders, orders); slices.Contains(got, "dynamodb:DeleteItem") {
			t.Errorf("orders on %s: got %v, want no dynamodb:DeleteItem (reminders are updated, never deleted)", orders, got)
		}
	})
}

func TestPrepare_LambdaActionsAreExactlyThePreparationOnes(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		role := func(name string) string { return ref(function(t, b, name)["Role"]) }
		alias := refJSON(reserveAliasID(t, b))
		want := sorted(
			[]string{role(apispec.FunctionAdmin) + ": lambda:InvokeFunction on " + getAtt(fns[apispec.FunctionIPBanSync], "Arn")},
			[]string{
				schedulerRoleID(t, b) + ": lambda:InvokeFunction on " + getAtt(fns[apispec.FunctionWarmUp], "Arn"),
				schedulerRoleID(t, b) + ": lambda:InvokeFunction on " + getAtt(fns[apispec.FunctionNotifier], "Arn"),
			},
			[]string{
				role(apispec.FunctionWarmUp) + ": lambda:DeleteProvisionedConcurrencyConfig on " + alias,
				role(apispec.FunctionWarmUp) + ": lambda:PutProvisionedConcurrencyConfig on " + alias,
			},
		)
		var got []string
		for _, s := range statements(b) {
			for _, a := range s.actions {
				if strings.HasPrefix(a, "lambda:") {
					for _, r := range s.resources {
						got = append(got, s.role+": "+a+" on "+r)
					}
				}
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("lambda: grants in the stack:\n got %v\nwant %v", got, want)
		}
	})
}

func TestPrepare_Alarms(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		topic, _ := topicIDs(t, b)
		fns := functions(t, b)
		group := []any{map[string]any{"Name": "ScheduleGroup", "Value": groupName(b)}}
		fn := func(name string) []any {
			return []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fns[name]}}}
		}
		for _, tc := range []struct {
			name, namespace, metric string
			dimensions              []any
		}{
			{"warm-up errors", "AWS/Lambda", "Errors", fn(apispec.FunctionWarmUp)},
			{"notifier errors", "AWS/Lambda", "Errors", fn(apispec.FunctionNotifier)},
			{"schedule target errors", "AWS/Scheduler", "TargetErrorCount", group},
			{"schedules dropped", "AWS/Scheduler", "InvocationDroppedCount", group},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := mustFind(t, b, "AWS::CloudWatch::Alarm", map[string]any{
					"Namespace": tc.namespace, "MetricName": tc.metric, "Dimensions": tc.dimensions,
					"Statistic": "Sum", "Period": 60,
					"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1,
					"EvaluationPeriods": 1, "DatapointsToAlarm": 1,
					"AlarmActions": assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})}),
					"OKActions":    assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})}),
				})
				if len(got) != 1 {
					t.Errorf("got %d such alarms, want 1", len(got))
				}
			})
		}
	})
}
