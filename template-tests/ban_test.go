package templatetests

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

// The perimeter's bans on WAF (design brief, "Perimeter (v2)"; issue 12):
// two IP sets, rule 0 of the WebACL blocking them, the ip-ban-sync function
// that fills them, its schedule, IAM and alarm, and the admin function's
// nudge. The expected values are written out from the brief.

// ipSetIDs returns the logical IDs of the IPv4 and IPv6 sets, failing unless
// the stack has exactly one of each and nothing else.
func ipSetIDs(tb testing.TB, b *built) (v4, v6 string) {
	tb.Helper()
	sets := ofType(b, "AWS::WAFv2::IPSet")
	if len(sets) != 2 {
		tb.Fatalf("got %d WAF IP sets, want 2 (IPv4 and IPv6)", len(sets))
	}
	for id, r := range sets {
		switch v := props(r)["IPAddressVersion"]; v {
		case "IPV4":
			v4 = id
		case "IPV6":
			v6 = id
		default:
			tb.Fatalf("IP set %s: got IPAddressVersion %v, want IPV4 or IPV6", id, v)
		}
	}
	if v4 == "" || v6 == "" {
		tb.Fatalf("IP sets %v: want one IPV4 and one IPV6", sets)
	}
	return v4, v6
}

// getAtt is the template's {"Fn::GetAtt": [id, attr]} as strs renders it.
func getAtt(id, attr string) string {
	b, _ := json.Marshal(map[string]any{"Fn::GetAtt": []any{id, attr}})
	return string(b)
}

// webACL returns the one WebACL's properties.
func webACL(tb testing.TB, b *built) map[string]any {
	tb.Helper()
	acls := ofType(b, "AWS::WAFv2::WebACL")
	if len(acls) != 1 {
		tb.Fatalf("got %d WebACLs, want 1", len(acls))
	}
	for _, a := range acls {
		return props(a)
	}
	return nil
}

// wafRules returns the WebACL's rules sorted by priority, failing unless
// the priorities are unique.
func wafRules(tb testing.TB, b *built) []map[string]any {
	tb.Helper()
	list, _ := webACL(tb, b)["Rules"].([]any)
	var rules []map[string]any
	seen := map[float64]string{}
	for _, r := range list {
		m := r.(map[string]any)
		p := num(tb, m["Priority"], fmt.Sprint(m["Name"], " Priority"))
		if other, dup := seen[p]; dup {
			tb.Fatalf("rules %v and %v share priority %v; WAF needs unique priorities", other, m["Name"], p)
		}
		seen[p] = fmt.Sprint(m["Name"])
		rules = append(rules, m)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i]["Priority"].(float64) < rules[j]["Priority"].(float64) })
	return rules
}

// blockResponse returns a rule's custom block status and the body it
// refers to in the WebACL's CustomResponseBodies.
func blockResponse(tb testing.TB, b *built, rule map[string]any) (status float64, body map[string]any) {
	tb.Helper()
	action, _ := rule["Action"].(map[string]any)
	block, ok := action["Block"].(map[string]any)
	if !ok {
		tb.Fatalf("rule %v: got action %v, want Block", rule["Name"], rule["Action"])
	}
	cr, _ := block["CustomResponse"].(map[string]any)
	key, _ := cr["CustomResponseBodyKey"].(string)
	bodies, _ := webACL(tb, b)["CustomResponseBodies"].(map[string]any)
	body, _ = bodies[key].(map[string]any)
	if body == nil {
		tb.Fatalf("rule %v: custom response body key %q is not in CustomResponseBodies %v", rule["Name"], key, bodies)
	}
	return num(tb, cr["ResponseCode"], fmt.Sprint(rule["Name"], " ResponseCode")), body
}

func TestBans_TwoEmptyRegionalIPSets(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		v4, v6 := ipSetIDs(t, b)
		for _, id := range []string{v4, v6} {
			p := props(b.res[id].(map[string]any))
			if p["Scope"] != "REGIONAL" {
				t.Errorf("IP set %s: got scope %v, want REGIONAL (as the WebACL of a regional REST API)", id, p["Scope"])
			}
			// The sync owns the addresses; the template deploys none.
			if a, ok := p["Addresses"].([]any); !ok || len(a) != 0 {
				t.Errorf("IP set %s: got addresses %v, want an empty list", id, p["Addresses"])
			}
			if name, _ := p["Name"].(string); !regexp.MustCompile(`^[\w-]{1,128}$`).MatchString(name) || !strings.Contains(name, *b.stack.StackName()) {
				t.Errorf("IP set %s: got name %q, want a valid WAF name that carries the stack name %s", id, name, *b.stack.StackName())
			}
		}
		if webACL(t, b)["Scope"] != "REGIONAL" {
			t.Errorf("WebACL scope %v, want REGIONAL like its IP sets", webACL(t, b)["Scope"])
		}
	})
}

func TestBans_Rule0BlocksBothIPSetsWith403(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		v4, v6 := ipSetIDs(t, b)
		rules := wafRules(t, b)
		if len(rules) == 0 {
			t.Fatal("the WebACL has no rules")
		}
		ban := rules[0]
		if p := num(t, ban["Priority"], "ban rule Priority"); p != 0 {
			t.Errorf("first rule %v has priority %v, want 0", ban["Name"], p)
		}
		stmt, _ := ban["Statement"].(map[string]any)
		or, ok := stmt["OrStatement"].(map[string]any)
		if !ok || len(stmt) != 1 {
			t.Fatalf("rule 0 (%v): got statement %v, want only an OrStatement", ban["Name"], stmt)
		}
		var arns []string
		for _, s := range or["Statements"].([]any) {
			m := s.(map[string]any)
			ref, ok := m["IPSetReferenceStatement"].(map[string]any)
			if !ok || len(m) != 1 {
				t.Errorf("rule 0: got inner statement %v, want an IPSetReferenceStatement", m)
				continue
			}
			if fwd, ok := ref["IPSetForwardedIPConfig"]; ok {
				t.Errorf("rule 0: matches a forwarded header %v; a regional API's WAF sees the client IP", fwd)
			}
			arns = append(arns, strs(ref["Arn"])...)
		}
		sort.Strings(arns)
		want := []string{getAtt(v4, "Arn"), getAtt(v6, "Arn")}
		sort.Strings(want)
		if !slices.Equal(arns, want) {
			t.Errorf("rule 0 references %v, want exactly the two IP sets %v", arns, want)
		}
		status, body := blockResponse(t, b, ban)
		if status != 403 {
			t.Errorf("rule 0: got status %v, want 403", status)
		}
		if body["Content"] != `{"message":"Forbidden"}` || body["ContentType"] != "APPLICATION_JSON" {
			t.Errorf("rule 0: got body %v, want {\"message\":\"Forbidden\"} as APPLICATION_JSON", body)
		}

		// The rate rule still answers 429 with its body, after the ban:
		// banned requests stop at rule 0 and never count toward it.
		var rate map[string]any
		for _, r := range rules {
			if st, _ := r["Statement"].(map[string]any); st["RateBasedStatement"] != nil {
				if rate != nil {
					t.Fatalf("got two rate-based rules, want 1")
				}
				rate = r
			}
		}
		if rate == nil {
			t.Fatal("no rate-based rule")
		}
		if p := num(t, rate["Priority"], "rate rule Priority"); p <= 0 {
			t.Errorf("rate rule has priority %v, want after the ban rule (> 0)", p)
		}
		rs := rate["Statement"].(map[string]any)["RateBasedStatement"].(map[string]any)
		if num(t, rs["Limit"], "rate Limit") != float64(b.limits.WAFRateLimit) || rs["AggregateKeyType"] != "IP" || rs["EvaluationWindowSec"] != 300.0 {
			t.Errorf("rate rule: got %v, want limit %v per IP over 300 s", rs, b.limits.WAFRateLimit)
		}
		status, body = blockResponse(t, b, rate)
		if status != 429 || body["Content"] != `{"message":"Too Many Requests"}` || body["ContentType"] != "APPLICATION_JSON" {
			t.Errorf("rate rule: got %v %v, want 429 {\"message\":\"Too Many Requests\"} as APPLICATION_JSON", status, body)
		}
	})
}

func TestBans_SyncFunction(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		v4, v6 := ipSetIDs(t, b)
		fn := function(t, b, apispec.FunctionIPBanSync)
		// Written out from the brief: 256 MB, 60 s.
		if fn["MemorySize"] != 256.0 || fn["Timeout"] != 60.0 {
			t.Errorf("sync: got %v MB, %v s; want 256 MB, 60 s", fn["MemorySize"], fn["Timeout"])
		}
		// One run at a time, so an older read of the bans never writes last.
		if got := fn["ReservedConcurrentExecutions"]; got != 1.0 {
			t.Errorf("sync: ReservedConcurrentExecutions %v, want 1", got)
		}
		if _, ok := routesTo(t, b)[apispec.FunctionIPBanSync]; ok {
			t.Errorf("sync is behind an API route; it runs on its schedule and admin's nudges only")
		}
		vars, _ := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		name := func(id string) any { return props(b.res[id].(map[string]any))["Name"] }
		for k, want := range map[string]any{
			awsclient.EnvIPSetV4Name: name(v4),
			awsclient.EnvIPSetV4ID:   map[string]any{"Fn::GetAtt": []any{v4, "Id"}},
			awsclient.EnvIPSetV6Name: name(v6),
			awsclient.EnvIPSetV6ID:   map[string]any{"Fn::GetAtt": []any{v6, "Id"}},
			awsclient.EnvWAFScope:    "REGIONAL",
		} {
			if got, _ := json.Marshal(vars[k]); string(got) != mustJSON(t, want) {
				t.Errorf("sync: %s = %s, want %s", k, got, mustJSON(t, want))
			}
		}
		if _, ok := vars[awsclient.EnvBanSyncFunction]; ok {
			t.Errorf("sync: has %s; only admin invokes it", awsclient.EnvBanSyncFunction)
		}
		// No other function learns the IP sets.
		for _, other := range apispec.FunctionNames() {
			if other == apispec.FunctionIPBanSync {
				continue
			}
			ov, _ := function(t, b, other)["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, k := range []string{awsclient.EnvIPSetV4ID, awsclient.EnvIPSetV6ID, awsclient.EnvIPSetV4Name, awsclient.EnvIPSetV6Name, awsclient.EnvWAFScope} {
				if _, ok := ov[k]; ok {
					t.Errorf("%s: has %s; only the sync needs the IP sets", other, k)
				}
			}
		}
	})
}

// routesTo returns the functions some API route invokes.
func routesTo(tb testing.TB, b *built) map[string]bool {
	tb.Helper()
	out := map[string]bool{}
	for _, r := range routes(tb, b) {
		out[r.function] = true
	}
	return out
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestBans_SyncIAMIsExactlyWAFSetsAndOrdersQuery(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		v4, v6 := ipSetIDs(t, b)
		orders := tableID(t, b, schema.Orders)
		fn := function(t, b, apispec.FunctionIPBanSync)
		role := ref(fn["Role"])
		logGroup := ref(fn["LoggingConfig"].(map[string]any)["LogGroup"])
		setARNs := []string{getAtt(v4, "Arn"), getAtt(v6, "Arn")}
		sort.Strings(setARNs)

		var wafActions, ddb []string
		for _, s := range statements(b) {
			if s.role != role {
				continue
			}
			if s.effect != "Allow" {
				continue
			}
			for _, a := range s.actions {
				service, _, _ := strings.Cut(a, ":")
				switch {
				case strings.ContainsAny(a, "*?"):
					t.Errorf("sync: wildcard action %q; want named actions", a)
				case service == "wafv2":
					wafActions = append(wafActions, a)
					res := slices.Clone(s.resources)
					sort.Strings(res)
					if !slices.Equal(res, setARNs) {
						t.Errorf("sync: %s on %v, want exactly the two IP sets %v", a, s.resources, setARNs)
					}
				case service == "dynamodb":
					ddb = append(ddb, a)
					if !slices.Equal(s.resourceIDs, []string{orders}) || len(s.resources) != 1 {
						t.Errorf("sync: %s on %v, want the Orders table only", a, s.resources)
					}
				case service == "logs":
					if !slices.Equal(s.resourceIDs, []string{logGroup}) {
						t.Errorf("sync: %s on %v, want its own log group only", a, s.resources)
					}
				case slices.Contains(xrayActions, a):
				default:
					t.Errorf("sync: may %s on %v; it needs only the WAF IP sets, a Query on Orders, its logs and X-Ray", a, s.resources)
				}
			}
		}
		sort.Strings(wafActions)
		if want := []string{"wafv2:GetIPSet", "wafv2:UpdateIPSet"}; !slices.Equal(slices.Compact(wafActions), want) {
			t.Errorf("sync: got WAF actions %v, want exactly %v", wafActions, want)
		}
		if !slices.Equal(slices.Compact(ddb), []string{"dynamodb:Query"}) {
			t.Errorf("sync: got DynamoDB actions %v, want only dynamodb:Query (it never writes)", ddb)
		}

		// Nobody else may touch the IP sets, and nobody has WAF actions.
		for _, s := range statements(b) {
			if s.role == role {
				continue
			}
			for _, a := range s.actions {
				if strings.HasPrefix(a, "wafv2:") {
					t.Errorf("role %s: may %s on %v; only the sync may change the IP sets", s.role, a, s.resources)
				}
			}
			if slices.Contains(s.resourceIDs, v4) || slices.Contains(s.resourceIDs, v6) {
				t.Errorf("role %s: may %v on an IP set; only the sync may", s.role, s.actions)
			}
		}
	})
}

func TestBans_ScheduleRunsTheSync(t *testing.T) {
	if apispec.BanSyncEvery != time.Minute {
		t.Fatalf("apispec.BanSyncEvery = %s; this test expects rate(1 minute)", apispec.BanSyncEvery)
	}
	eachStack(t, func(t *testing.T, b *built) {
		sync := functions(t, b)[apispec.FunctionIPBanSync]
		rules := mustFind(t, b, "AWS::Events::Rule", map[string]any{
			"ScheduleExpression": "rate(1 minute)",
			"State":              "ENABLED",
			"Targets": assertions.Match_ArrayWith(&[]any{like(map[string]any{
				"Arn":         map[string]any{"Fn::GetAtt": []any{sync, "Arn"}},
				"RetryPolicy": map[string]any{"MaximumRetryAttempts": 0},
			})}),
		})
		// The operator's manual recovery needs the sync's name and the table.
		outs := *b.tpl.ToJSON()
		outputs, _ := outs["Outputs"].(map[string]any)
		for key, want := range map[string]string{"BanSyncFunctionName": sync, "OrdersTableName": tableID(t, b, schema.Orders)} {
			o, _ := outputs[key].(map[string]any)
			if ref(o["Value"]) != want {
				t.Errorf("output %s = %v, want a Ref to %s", key, o["Value"], want)
			}
		}
		// EventBridge may invoke the sync from that rule.
		for id := range rules {
			mustFind(t, b, "AWS::Lambda::Permission", map[string]any{
				"Action":       "lambda:InvokeFunction",
				"FunctionName": map[string]any{"Fn::GetAtt": []any{sync, "Arn"}},
				"Principal":    "events.amazonaws.com",
				"SourceArn":    map[string]any{"Fn::GetAtt": []any{id, "Arn"}},
			})
		}
	})
}

func TestBans_SyncFailureAlarm(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		sync := functions(t, b)[apispec.FunctionIPBanSync]
		topic, _ := topicIDs(t, b)
		alarms := mustFind(t, b, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
			"Dimensions":         []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": sync}}},
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1,
			"EvaluationPeriods": 1, "DatapointsToAlarm": 1,
			"AlarmActions": assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})}),
			"OKActions":    assertions.Match_ArrayWith(&[]any{like(map[string]any{"Ref": topic})}),
		})
		if len(alarms) != 1 {
			t.Errorf("got %d alarms on the sync's errors, want 1", len(alarms))
		}
		for id, a := range alarms {
			if d, _ := props(a)["AlarmDescription"].(string); !strings.Contains(strings.ToLower(d), "bans may not be enforced") {
				t.Errorf("alarm %s: description %q, want it to say the bans may not be enforced", id, d)
			}
		}
		for id, d := range ofType(b, "AWS::CloudWatch::Dashboard") {
			if !slices.Contains(refsIn(props(d)["DashboardBody"]), sync) {
				t.Errorf("dashboard %s does not show the sync function", id)
			}
		}
	})
}

func TestBans_AdminNudgesTheSyncOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fns := functions(t, b)
		sync := fns[apispec.FunctionIPBanSync]
		admin := function(t, b, apispec.FunctionAdmin)
		vars, _ := admin["Environment"].(map[string]any)["Variables"].(map[string]any)
		if got := mustJSON(t, vars[awsclient.EnvBanSyncFunction]); got != mustJSON(t, map[string]any{"Ref": sync}) {
			t.Errorf("admin: %s = %s, want the sync function's name (Ref %s)", awsclient.EnvBanSyncFunction, got, sync)
		}
		for _, name := range apispec.FunctionNames() {
			if name == apispec.FunctionAdmin {
				continue
			}
			v, _ := function(t, b, name)["Environment"].(map[string]any)["Variables"].(map[string]any)
			if _, ok := v[awsclient.EnvBanSyncFunction]; ok {
				t.Errorf("%s: has %s; only admin nudges the sync", name, awsclient.EnvBanSyncFunction)
			}
		}
		adminRole := ref(admin["Role"])
		invokes := 0
		for _, s := range statements(b) {
			for _, a := range s.actions {
				if !strings.HasPrefix(a, "lambda:") {
					continue
				}
				if s.role != adminRole && !slices.Contains(s.resourceIDs, sync) {
					continue // the preparation's: TestPrepare_LambdaActionsAreExactlyThePreparationOnes
				}
				if s.role != adminRole || a != "lambda:InvokeFunction" {
					t.Errorf("role %s: may %s on %v; only admin may invoke, and only the sync", s.role, a, s.resources)
					continue
				}
				invokes++
				if !slices.Equal(s.resources, []string{getAtt(sync, "Arn")}) {
					t.Errorf("admin: lambda:InvokeFunction on %v, want the sync function only (%s)", s.resources, getAtt(sync, "Arn"))
				}
			}
		}
		if invokes == 0 {
			t.Errorf("admin: no lambda:InvokeFunction on the sync")
		}
	})
}
