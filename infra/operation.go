package infra

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/apispec"
	"flashsale/shared/metric"
)

// minute is the period of every alarm: a sale lasts minutes, not hours.
var minute = awscdk.Duration_Minutes(jsii.Number(1))

// settlementMetric is one of the custom metrics settlement emits through EMF.
func settlementMetric(name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(metric.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{metric.DimensionService: jsii.String(metric.ServiceSettlement)},
		Statistic:     jsii.String(statistic),
		Period:        minute,
	})
}

// every describes a schedule's rate: "every minute", "every 5 minutes".
func every(d time.Duration) string {
	if d == time.Minute {
		return "every minute"
	}
	return fmt.Sprintf("every %g minutes", d.Minutes())
}

// ownAlarm are the functions whose errors have an alarm of their own, which
// says what a failure means, instead of the generic one.
var ownAlarm = map[string]bool{
	apispec.FunctionIPBanSync: true,
	apispec.FunctionWarmUp:    true,
	apispec.FunctionNotifier:  true,
}

// newOperations adds the settlement and ban-sync schedules, the alarm topic,
// the alarms and the dashboard.
func (s *stack) newOperations(d *data, fns *functions, a *api, prep *preparation) {
	schedule := func(id, desc string, rate time.Duration, fn string) {
		awsevents.NewRule(s.st, jsii.String(id), &awsevents.RuleProps{
			Description: jsii.String(desc),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(rate.Minutes()))),
			Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fns.byName[fn], &awseventstargets.LambdaFunctionProps{
				RetryAttempts: jsii.Number(0), // the next tick is the retry
			})},
		})
	}
	// Settlement expires unpaid orders, so units come back on sale within
	// apispec.SettlementEvery of their payment window closing.
	schedule("SettlementSchedule", "Runs settlement "+every(apispec.SettlementEvery), apispec.SettlementEvery, apispec.FunctionSettlement)
	// The ban sync runs after each IP-ban change (admin nudges it); this
	// pass catches a nudge that failed and takes expired bans out of the
	// WAF IP sets within apispec.BanSyncEvery of their expiry.
	schedule("BanSyncSchedule", "Runs the IP-ban sync "+every(apispec.BanSyncEvery), apispec.BanSyncEvery, apispec.FunctionIPBanSync)
	// What an operator needs to lift a ban by hand (docs/deploy.md, "Bans").
	awscdk.NewCfnOutput(s.st, jsii.String("BanSyncFunctionName"), &awscdk.CfnOutputProps{
		Value:       fns.byName[apispec.FunctionIPBanSync].FunctionName(),
		Description: jsii.String("ip-ban-sync function (aws lambda invoke --function-name <this> out.json)"),
	})
	awscdk.NewCfnOutput(s.st, jsii.String("OrdersTableName"), &awscdk.CfnOutputProps{
		Value:       d.orders.TableName(),
		Description: jsii.String("Orders table: orders, allowlists and the BAN#IP / BAN#USER items"),
	})

	topic := awssns.NewTopic(s.st, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("flashsale " + s.props.Stage + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if s.props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.props.AlarmEmail), nil))
	} else if s.removal == awscdk.RemovalPolicy_RETAIN {
		// An info, not a warning: prod's only deliberate synth warning is
		// the missing SES address (issue 16); subscribing to the topic
		// later, outside the stack, is a fine choice.
		awscdk.Annotations_Of(topic).AddInfo(jsii.String(
			"no alarmEmail context: alarms publish to a topic nobody is subscribed to yet (-c alarmEmail=… subscribes one)"))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	newAlarm := func(id, desc string, m awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, threshold float64, periods int) {
		al := awscloudwatch.NewAlarm(s.st, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(periods),
			// No data means no traffic, deliveries or runs: all fine.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		al.AddAlarmAction(action)
		al.AddOkAction(action)
	}
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64, periods int) {
		newAlarm(id, desc, m, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, threshold, periods)
	}

	stage := a.rest.DeploymentStage()
	reserve := fns.byName[apispec.FunctionReserve]
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minute}
	max := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minute}

	alarm("OrdersDlqDepth", "Orders are in the dead-letter queue: accepted orders the writer could not persist; inspect and redrive.",
		d.dlq.MetricApproximateNumberOfMessagesVisible(max), 0, 1)
	alarm("SettlementUnbalanced", "Settlement found sales whose books do not balance (available + reserved + paid != loaded).",
		settlementMetric(metric.Unbalanced, "Maximum"), 0, 1)
	// 5XXError is 0 or 1 per request, so its average is the error rate. The
	// handlers answer 503 on purpose when shedding load, hence a rate over
	// three minutes rather than any single 5xx.
	alarm("Api5xxRate", "More than 1% of API requests failed with 5xx for 3 minutes.",
		stage.MetricServerError(&awscloudwatch.MetricOptions{Statistic: jsii.String("Average"), Period: minute}), 0.01, 3)
	alarm("ReserveThrottles", "The reserve function hit its reserved concurrency: purchases are being refused.",
		reserve.MetricThrottles(sum), 0, 1)
	alarm("OrdersQueueAge", "The oldest order has waited over 5 minutes for the writer.",
		d.queue.MetricApproximateAgeOfOldestMessage(max), 300, 3)
	for _, name := range apispec.FunctionNames() {
		if ownAlarm[name] {
			continue // its own alarm below says what a failure means
		}
		alarm("Errors-"+name, "The "+name+" function returned errors (a crash, timeout or an error return).",
			fns.byName[name].MetricErrors(sum), 0, 1)
	}
	// One failed sync in a minute is enough: until one succeeds, new IP bans
	// are not in the WAF IP sets, expired ones stay blocked, and after a
	// deploy that reset the sets nobody is blocked at all.
	banSync := fns.byName[apispec.FunctionIPBanSync]
	newAlarm("BanSyncFailed", "The ip-ban-sync function failed: IP bans may not be enforced by WAF (new bans missing, expired ones "+
		"still blocked, or none at all after a deploy reset the IP sets), e.g. over 10,000 addresses in a set or a WAF error. "+
		"Read its logs; docs/deploy.md, \"Bans\".",
		banSync.MetricErrors(sum), awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, 1)

	// The preparation phase: each alarm fires on the first failure, since
	// a sale's warm-up and reminders happen once, minutes before it opens.
	atLeastOne := func(id, desc string, m awscloudwatch.IMetric) {
		newAlarm(id, desc, m, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, 1)
	}
	warmUp := fns.byName[apispec.FunctionWarmUp]
	notifier := fns.byName[apispec.FunctionNotifier]
	atLeastOne("WarmUpFailed", "The warm-up function failed: the reserve alias's provisioned concurrency may not match the sales "+
		"(a sale about to open may be cold, or one that ended still billed). Lambda retries twice; if it keeps failing, read its "+
		"logs and invoke it by hand. docs/deploy.md, \"Preparation timeline\".",
		warmUp.MetricErrors(sum))
	atLeastOne("RemindFailed", "The notifier function failed: some subscribers were not reminded of a sale (failed sends are given "+
		"back and retried, then taken by the last call a minute before the opening). Read its logs. docs/deploy.md, \"Preparation timeline\".",
		notifier.MetricErrors(sum))
	// Scheduler's view: a target it could not invoke (the role, a throttle,
	// a deleted function), and a schedule it gave up on.
	atLeastOne("ScheduleTargetErrors", "EventBridge Scheduler could not invoke a preparation target (warm-up or notifier) of group "+
		ScheduleGroupName(s.props.Stage)+": check the scheduler role and the functions.",
		prep.group.MetricTargetErrors(sum))
	atLeastOne("ScheduleDropped", "EventBridge Scheduler dropped a preparation schedule after its retries: a sale's warm-up, reminder "+
		"or cool-down did not run. Run it by hand (docs/deploy.md, \"Preparation timeline\").",
		prep.group.MetricDropped(sum))

	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	p99 := &awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: minute}
	tableSum := func(metric string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: minute, Label: jsii.String(metric)}
	}
	writer := fns.byName[apispec.FunctionOrderWriter]
	admission := fns.byName[apispec.FunctionAdmission]
	awscloudwatch.NewDashboard(s.st, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(*s.st.StackName()),
		Widgets: &[]*[]awscloudwatch.IWidget{
			// First, what an operator watches during a sale (saleview.go).
			new(s.saleDayWidgets()),
			{
				graph("API requests, 4xx, 5xx", stage.MetricCount(sum), stage.MetricClientError(sum), stage.MetricServerError(sum)),
				graph("API latency p99", stage.MetricLatency(p99), stage.MetricIntegrationLatency(p99)),
				graph("API cache", stage.MetricCacheHitCount(sum), stage.MetricCacheMissCount(sum)),
			},
			{
				graph("Reserve invocations, errors, throttles", reserve.MetricInvocations(sum), reserve.MetricErrors(sum), reserve.MetricThrottles(sum)),
				graph("Reserve duration p99", reserve.MetricDuration(p99)),
				graph("Reserve concurrency", reserve.Metric(jsii.String("ConcurrentExecutions"), max)),
			},
			{
				// Buyers pass admission before they reach reserve: its rate
				// is how fast the sale admits them (docs/capacity.md).
				graph("Admission invocations, errors, throttles", admission.MetricInvocations(sum), admission.MetricErrors(sum), admission.MetricThrottles(sum)),
				graph("Admission duration p99", admission.MetricDuration(p99)),
				graph("Admission concurrency", admission.Metric(jsii.String("ConcurrentExecutions"), max)),
			},
			{
				graph("Orders queue", d.queue.MetricApproximateNumberOfMessagesVisible(max), d.queue.MetricApproximateAgeOfOldestMessage(max)),
				graph("Dead-letter queue", d.dlq.MetricApproximateNumberOfMessagesVisible(max)),
				graph("Order writer", writer.MetricInvocations(sum), writer.MetricErrors(sum), writer.MetricDuration(p99)),
			},
			{
				// The warm-up and cool-downs show as steps in provisioned
				// concurrency; spillover means the burst outgrew it.
				graph("Reserve provisioned concurrency",
					fns.reserveAlias.Metric(jsii.String("ProvisionedConcurrentExecutions"), max),
					fns.reserveAlias.Metric(jsii.String("ProvisionedConcurrencySpilloverInvocations"), sum)),
				graph("Warm-up and notifier invocations, errors",
					warmUp.MetricInvocations(sum), warmUp.MetricErrors(sum), notifier.MetricInvocations(sum), notifier.MetricErrors(sum)),
				graph("Preparation schedules", prep.group.MetricAttempts(sum), prep.group.MetricTargetErrors(sum), prep.group.MetricDropped(sum)),
			},
			{
				// Every apispec.BanSyncEvery and after each IP-ban change;
				// any error means WAF may not enforce the bans.
				graph("IP-ban sync invocations, errors", banSync.MetricInvocations(sum), banSync.MetricErrors(sum)),
				graph("IP-ban sync duration p99", banSync.MetricDuration(p99)),
			},
			{
				graph("Sales table writes and throttles",
					d.sales.MetricConsumedWriteCapacityUnits(sum), d.sales.Metric(jsii.String("WriteThrottleEvents"), tableSum("WriteThrottleEvents"))),
				graph("Orders table writes and throttles",
					d.orders.MetricConsumedWriteCapacityUnits(sum), d.orders.Metric(jsii.String("WriteThrottleEvents"), tableSum("WriteThrottleEvents"))),
				graph("Settlement",
					settlementMetric(metric.UnitsSold, "Sum"), settlementMetric(metric.UnitsExpired, "Sum"),
					settlementMetric(metric.LeaksRepaired, "Sum"), settlementMetric(metric.Unbalanced, "Maximum")),
			},
		},
	})
}
