package infra

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
)

// The preparation phase (docs/deploy.md, "Preparation timeline"): creating a
// sale makes admin put the sale's one-time schedules (flashsale.SchedulesFor)
// into the stack's schedule group. They invoke the warm-up function (the
// reserve alias's provisioned concurrency) and the notifier (reminders to an
// SNS topic), through a role that may invoke those two and nothing else.

// SchedulerService is EventBridge Scheduler's service principal: it assumes
// the scheduler role, and admin may pass that role to it alone.
const SchedulerService = "scheduler.amazonaws.com"

// ScheduleGroupName names a stage's schedule group. One group per stack
// scopes admin's schedule permissions and the scheduler alarms to this
// stage's schedules.
func ScheduleGroupName(stage string) string { return "flashsale-" + stage }

// Scheduler actions admin takes: create a sale's schedules, and update one
// whose create answers ConflictException (it exists already, from an
// earlier put of the same sale). No Get: the create's answer tells which of
// the two. No Delete: the schedules delete themselves after they fire
// (ActionAfterCompletion DELETE).
var schedulerActions = []string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule"}

// provisionedConcurrencyActions are what the warm-up does to the reserve
// alias (lambdawarm.Provisioner): set its provisioned concurrency (Put) or
// remove it (Delete). It never reads the configuration: each run computes
// the whole target from the sales.
var provisionedConcurrencyActions = []string{
	"lambda:PutProvisionedConcurrencyConfig", "lambda:DeleteProvisionedConcurrencyConfig",
}

// preparation is what the preparation phase adds to the stack.
type preparation struct {
	group awsscheduler.ScheduleGroup
	// role is the schedules' execution role.
	role awsiam.Role
	// reminders is the topic the notifier publishes each reminder to.
	reminders awssns.Topic
}

// newPreparation adds the schedule group, the scheduler role and the
// reminder topic, and gives admin, warm-up and notifier what they need of
// them (the purchase functions' grants are in newFunctions).
func (s *stack) newPreparation(d *data, f *functions) *preparation {
	admin := f.byName[apispec.FunctionAdmin]
	warmUp := f.byName[apispec.FunctionWarmUp]
	notifier := f.byName[apispec.FunctionNotifier]
	reserve := f.byName[apispec.FunctionReserve]
	p := &preparation{}

	p.group = awsscheduler.NewScheduleGroup(s.st, jsii.String("ScheduleGroup"), &awsscheduler.ScheduleGroupProps{
		ScheduleGroupName: jsii.String(ScheduleGroupName(s.props.Stage)),
		// Deleting the group deletes its schedules: dev goes with the
		// stack, prod keeps sales that are still scheduled.
		RemovalPolicy: s.removal,
	})

	// Scheduler may assume the role only for schedules of this account's
	// group (AWS's confused-deputy advice: the group's ARN, never a
	// schedule's).
	p.role = awsiam.NewRole(s.st, jsii.String("scheduler-role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String(SchedulerService), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{
				"aws:SourceAccount": s.st.Account(),
				"aws:SourceArn":     p.group.ScheduleGroupArn(),
			}},
		}),
		Description: jsii.String("flashsale " + s.props.Stage + " preparation schedules: invoke warm-up and notifier"),
	})
	// The unqualified ARNs alone, the ones admin puts in the schedules.
	p.role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*warmUp.FunctionArn(), *notifier.FunctionArn()),
	}))

	// Admin puts the schedules of the group, and may hand Scheduler this
	// one role, to Scheduler only.
	admin.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(schedulerActions...),
		Resources: jsii.Strings(*s.schedulesARN()),
	}))
	admin.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  jsii.Strings(*p.role.RoleArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": SchedulerService}},
	}))
	for k, v := range map[string]*string{
		awsclient.EnvScheduleGroup:    p.group.ScheduleGroupName(),
		awsclient.EnvSchedulerRole:    p.role.RoleArn(),
		awsclient.EnvWarmUpFunction:   warmUp.FunctionArn(),
		awsclient.EnvNotifierFunction: notifier.FunctionArn(),
	} {
		admin.AddEnvironment(jsii.String(k), v, nil)
	}

	// The warm-up lists the sales (Scan: warmup.Warmer's ListSales) and
	// sets the provisioned concurrency of the reserve alias, not of the
	// function or a version.
	grantTable(warmUp, d.sales, ddbScan)
	warmUp.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(provisionedConcurrencyActions...),
		Resources: jsii.Strings(*f.reserveAlias.FunctionArn()),
	}))
	for k, v := range map[string]*string{
		awsclient.EnvReserveFunction: reserve.FunctionName(),
		awsclient.EnvReserveAlias:    f.reserveAlias.AliasName(),
		// The context value stays the floor outside sales; reserved
		// concurrency is the ceiling Lambda enforces anyway.
		awsclient.EnvWarmBaseline: jsii.String(strconv.Itoa(s.props.ProvisionedConcurrency)),
		awsclient.EnvWarmCeiling:  jsii.String(strconv.Itoa(s.props.ReservedConcurrency)),
	} {
		warmUp.AddEnvironment(jsii.String(k), v, nil)
	}

	// One topic per stage; the mobile team subscribes its push fan-out, so
	// the backend holds no device tokens (docs/deploy.md). Encrypted with
	// the AWS-managed SNS key: no key to pay for, rotate or grant, since its
	// key policy lets this account's principals use it through SNS only.
	p.reminders = awssns.NewTopic(s.st, jsii.String("Reminders"), &awssns.TopicProps{
		DisplayName: jsii.String("flashsale " + s.props.Stage + " sale reminders"),
		MasterKey:   awskms.Alias_FromAliasName(s.st, jsii.String("SnsManagedKey"), jsii.String("alias/aws/sns")),
		EnforceSSL:  jsii.Bool(true),
	})
	// The notifier reads the sale (GetItem), queries its REMIND buckets
	// (Reminders), claims each subscriber, marks it sent or unclaims it
	// after a failed send (UpdateItem: ClaimReminder, MarkReminderSent,
	// UnclaimReminder), and publishes one message per subscriber.
	grantTable(notifier, d.sales, ddbGet)
	grantTable(notifier, d.orders, ddbQuery, ddbUpdate)
	notifier.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sns:Publish"),
		Resources: jsii.Strings(*p.reminders.TopicArn()),
	}))
	notifier.AddEnvironment(jsii.String(awsclient.EnvReminderTopic), p.reminders.TopicArn(), nil)

	awscdk.NewCfnOutput(s.st, jsii.String("ReminderTopicArn"), &awscdk.CfnOutputProps{
		Value:       p.reminders.TopicArn(),
		Description: jsii.String("SNS topic of sale reminders (one message per subscriber, userId attribute); the mobile push fan-out subscribes here"),
	})
	awscdk.NewCfnOutput(s.st, jsii.String("ScheduleGroupName"), &awscdk.CfnOutputProps{
		Value:       p.group.ScheduleGroupName(),
		Description: jsii.String("EventBridge Scheduler group of the sales' preparation schedules (aws scheduler list-schedules --group-name <this>)"),
	})
	return p
}

// schedulesARN matches every schedule in the stack's group.
func (s *stack) schedulesARN() *string {
	return s.st.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("scheduler"),
		Resource:     jsii.String("schedule"),
		ResourceName: jsii.String(ScheduleGroupName(s.props.Stage) + "/*"),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}
