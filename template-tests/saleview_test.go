package templatetests

import (
	"encoding/json"
	"strings"
	"testing"

	"flashsale/shared/metric"
)

// TestDashboard_SaleDay: the dashboard shows the remaining stock per sale,
// the answers by class (429 from the access log, 410, other 4xx and 5xx
// from the handlers' EMF) and the WAF's blocked requests of the stack's
// own web ACL and each of its rules.
func TestDashboard_SaleDay(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		dashboards := ofType(b, "AWS::CloudWatch::Dashboard")
		if len(dashboards) != 1 {
			t.Fatalf("%d dashboards, want 1", len(dashboards))
		}
		var body string
		for _, d := range dashboards {
			raw, err := json.Marshal(props(d)["DashboardBody"])
			if err != nil {
				t.Fatal(err)
			}
			body = string(raw)
		}
		for _, want := range []string{
			"Remaining stock by sale", "SEARCH('{" + metric.Namespace + "," + metric.DimensionSaleID + "} MetricName=",
			metric.RemainingStock, metric.Throttled, metric.Gone, metric.ClientErrors, metric.ServerErrors,
			"AWS/WAFV2", "BlockedRequests",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard body has no %q", want)
			}
		}
		// The WAF widgets name the web ACL and the rules by the metric
		// names the WebACL really has.
		acls := ofType(b, "AWS::WAFv2::WebACL")
		if len(acls) != 1 {
			t.Fatalf("%d web ACLs, want 1", len(acls))
		}
		for _, acl := range acls {
			p := props(acl)
			names := []any{p["VisibilityConfig"].(map[string]any)["MetricName"]}
			for _, r := range p["Rules"].([]any) {
				names = append(names, r.(map[string]any)["VisibilityConfig"].(map[string]any)["MetricName"])
			}
			for _, n := range names {
				s, _ := n.(string)
				if s == "" || !strings.Contains(body, `\"`+s+`\"`) {
					t.Errorf("dashboard has no WAF metric for %v", n)
				}
			}
		}
	})
}

// TestMetricFilter_429FromTheAccessLog: throttled requests never reach a
// function, so their count comes from the stage's access log.
func TestMetricFilter_429FromTheAccessLog(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		filters := mustFind(t, b, "AWS::Logs::MetricFilter", map[string]any{
			"FilterPattern": `{ $.status = "429" }`,
			"MetricTransformations": []any{map[string]any{
				"MetricName": metric.Throttled, "MetricNamespace": metric.Namespace, "MetricValue": "1",
			}},
		})
		var accessLog string
		for _, st := range ofType(b, "AWS::ApiGateway::Stage") {
			if s, ok := props(st)["AccessLogSetting"].(map[string]any); ok {
				accessLog = ref(s["DestinationArn"])
			}
		}
		if accessLog == "" {
			t.Fatal("the stage has no access log")
		}
		for id, f := range filters {
			if got := ref(props(f)["LogGroupName"]); got != accessLog {
				t.Errorf("metric filter %s reads log group %q, want the stage's access log %q", id, got, accessLog)
			}
		}
	})
}
