package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/metric"
)

// The sale-day row of the dashboard: what the local live view
// (shared/local/livestats) shows, from what CloudWatch has.
//
//   - Remaining stock per sale: RemainingStock by SaleId, EMF from the
//     sale-info function (at most once a second per container and sale,
//     from the figure it answered), reserve (the 0 of a sell-out) and
//     settlement. The sales are not known at synth time, so a SEARCH
//     expression draws one line per SaleId.
//   - Answers by class: API Gateway's 4XXError does not tell 429 from 410.
//     The 410s and the handlers' other 4xx and 5xx are EMF from the
//     handlers (Service=api); the 429s never reach a function, so they are
//     a metric filter on the stage's access log (status 429: the stage,
//     method and usage-plan throttles, and the WAF rate rule's custom 429).
//   - WAF: BlockedRequests of the web ACL and of each blocking rule.

// apiAccessLogID is the construct ID newAPI gives the access log group.
const apiAccessLogID = "ApiAccessLogs"

// wafRuleMetrics are the WebACL rules that block, by their metric name
// (newWAF's VisibilityConfig); the template test checks they match.
var wafRuleMetrics = []string{"BannedIp", "PerIpRate", "AwsCommon"}

// webACLMetricName is the web ACL's own metric name, as newWAF sets it.
func (s *stack) webACLMetricName() string {
	return strings.ReplaceAll(*s.st.StackName(), "-", "") + "Acl"
}

// saleDayWidgets adds the 429 metric filter and returns the dashboard's
// sale-day widgets.
func (s *stack) saleDayWidgets() []awscloudwatch.IWidget {
	custom := func(name, label, statistic string, dims map[string]*string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metric.Namespace), MetricName: jsii.String(name), DimensionsMap: &dims,
			Statistic: jsii.String(statistic), Period: minute, Label: jsii.String(label),
		})
	}
	api := map[string]*string{metric.DimensionService: jsii.String(metric.ServiceAPI)}

	// The access log group is newAPI's; found in the construct tree, so
	// this row needs no change to api.go.
	logs, ok := s.st.Node().TryFindChild(jsii.String(apiAccessLogID)).(awslogs.ILogGroup)
	if !ok {
		panic(fmt.Sprintf("infra: no access log group %q for the 429 metric filter", apiAccessLogID))
	}
	awslogs.NewMetricFilter(s.st, jsii.String("Api429Filter"), &awslogs.MetricFilterProps{
		LogGroup: logs,
		// The access log writes "status":"$context.status", a JSON string,
		// so the filter compares strings; a numeric { $.status = 429 }
		// would not match "429".
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.status"), jsii.String("="), jsii.String("429")),
		MetricNamespace: jsii.String(metric.Namespace),
		MetricName:      jsii.String(metric.Throttled),
		MetricValue:     jsii.String("1"),
		Unit:            awscloudwatch.Unit_COUNT,
	})

	remaining := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', 'Minimum', 60)`,
			metric.Namespace, metric.DimensionSaleID, metric.RemainingStock)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String(""),
		Period:       minute,
	})
	waf := func(rule, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/WAFV2"), MetricName: jsii.String("BlockedRequests"),
			DimensionsMap: &map[string]*string{"WebACL": jsii.String(s.webACLMetricName()), "Rule": jsii.String(rule),
				"Region": s.st.Region()},
			Statistic: jsii.String("Sum"), Period: minute, Label: jsii.String(label),
		})
	}
	blocked := []awscloudwatch.IMetric{waf("ALL", "all rules")}
	for _, r := range wafRuleMetrics {
		blocked = append(blocked, waf(r, r))
	}
	answers := []awscloudwatch.IMetric{
		custom(metric.Throttled, "429 (throttles, WAF rate rule)", "Sum", map[string]*string{}),
		custom(metric.Gone, "410 (sold out, closed)", "Sum", api),
		custom(metric.ClientErrors, "other 4xx (handlers)", "Sum", api),
		custom(metric.ServerErrors, "5xx (handlers)", "Sum", api),
	}
	graph := func(title string, left []awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	return []awscloudwatch.IWidget{
		graph("Remaining stock by sale", []awscloudwatch.IMetric{remaining}),
		graph("Answers by class: 429, 410, other 4xx, 5xx", answers),
		graph("WAF blocked requests", blocked),
	}
}
