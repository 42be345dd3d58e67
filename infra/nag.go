package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"flashsale/shared/apispec"
)

// publicRoutes says why each apispec route without an authorizer is public.
// A new AuthNone route fails synthesis until it gets a reason here.
var publicRoutes = map[apispec.RouteKey]string{
	apispec.RouteSaleInfo: "The sale page is public by contract (anyone may read price, window and remaining stock); " +
		"it is cached for a second, throttled by the stage and the WAF rate rule, and changes nothing.",
	apispec.RouteWebhook: "The payment provider cannot hold a Cognito token; the orders handler authenticates every call " +
		"by the HMAC-SHA256 Payment-Signature with a 300 s freshness window, and the WAF rate rule still applies.",
}

// suppress records one accepted finding on a construct and its children.
func suppress(construct any, id, reason string, appliesTo ...string) {
	sup := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		at := make([]any, len(appliesTo))
		for i, a := range appliesTo {
			at[i] = a
		}
		sup.AppliesTo = &at
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
}

// suppressNagFindings records, with a reason each, the cdk-nag AwsSolutions
// findings the design accepts. Each is scoped to the one resource (and, for
// IAM5, the one wildcard) it is about, so a new finding still fails synth.
func (s *stack) suppressNagFindings(d *data, fns *functions, a *api) {
	for _, r := range apispec.Routes {
		if r.Auth != apispec.AuthNone {
			continue
		}
		reason, ok := publicRoutes[r.Key()]
		if !ok {
			panic(fmt.Errorf("route %s has no authorizer and no reason in publicRoutes", r.Key()))
		}
		m := a.methods[r.Key()]
		suppress(m, "AwsSolutions-APIG4", reason)
		suppress(m, "AwsSolutions-COG4", reason)
	}

	for _, name := range apispec.FunctionNames() {
		suppress(fns.byName[name].Role(), "AwsSolutions-IAM5",
			"Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "+
				"permissions, so AWS requires Resource \"*\" (template-tests lists this as the only allowed case).",
			"Resource::*")
	}

	suppress(fns.byName[apispec.FunctionAccountCreated].Role(), "AwsSolutions-IAM5",
		"The post-confirmation trigger may set attributes in this account's user pools in this region: naming the one "+
			"pool would make a dependency cycle (the pool names its trigger), and the trigger only writes "+
			"custom:created_at of the user in its event, in the pool in its event.",
		"Resource::arn:<AWS::Partition>:cognito-idp:<AWS::Region>:<AWS::AccountId>:userpool/*")

	suppress(fns.byName[apispec.FunctionAdmin].Role(), "AwsSolutions-IAM5",
		"Admin creates one schedule per sale and job, named at run time (<saleId>.warm-up, …), so the resource is every "+
			"schedule of this stack's own group and no other; the actions are only Create, Update and Get.",
		"Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"+ScheduleGroupName(s.props.Stage)+"/*")

	// Only the stack that owns the account's API Gateway logging role has it.
	if role := a.rest.Node().TryFindChild(jsii.String("CloudWatchRole")); role != nil {
		suppress(role, "AwsSolutions-IAM4",
			"API Gateway's account-level logging role; AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for it "+
				"and it is what access and execution logging require.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
	}

	suppress(a.userPool, "AwsSolutions-COG2",
		"MFA is optional (TOTP): forcing it on every buyer before a timed sale costs conversions; staff in the admin "+
			"and finance groups are enrolled in TOTP as an onboarding step (docs/deploy.md).")
	suppress(a.userPool, "AwsSolutions-COG8",
		"The Plus feature plan bills every monthly active user; at a sale's audience that outweighs its adaptive "+
			"authentication. Abuse is bounded by the WAF rate rule, throttles, and per-user purchase limits.")

	suppress(d.webhookSecret, "AwsSolutions-SMG4",
		"The signing secret is issued by the payment provider and can only be rotated together with them; "+
			"there is no rotation Lambda for a third-party secret. Rotation is a documented manual step.")
	suppress(d.admissionKeys, "AwsSolutions-SMG4",
		"A rotation adds a new kid as current and keeps the old key under retired until the 5-minute challenges "+
			"and tokens it signed expire; Secrets Manager's single-user rotation would replace the value outright and "+
			"void the tokens in flight mid-sale. Rotation is a documented manual step (docs/deploy.md).")
}

// suppressReportFindings records the accepted findings on the reports
// bucket and the grants on its report prefix.
func (s *stack) suppressReportFindings(fns *functions, r *reports) {
	suppress(r.bucket, "AwsSolutions-S1",
		"Server access logs would need a log bucket of their own to retain; every read already leaves a trace: the "+
			"admin route's API access log names the caller, and finance's direct reads go through the FinanceReportsReader "+
			"role, whose AssumeRole CloudTrail records (enable S3 data events for per-object audit).")
	// The report files are named at run time (sales/<saleId>/report.<ext>):
	// the grants cover that prefix, never the bucket.
	prefix := []any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<Reports[0-9A-F]{8}\.Arn>\/sales\/\*$/g`)}}
	reason := "Report files are named per sale at run time (sales/<saleId>/report.<ext>); the grant covers that prefix " +
		"of the reports bucket only, with the actions this role needs and no delete."
	roles := []awsiam.IRole{fns.byName[apispec.FunctionAdmin].Role(), fns.byName[apispec.FunctionSettlement].Role()}
	if r.finance != nil {
		roles = append(roles, r.finance)
	}
	for _, role := range roles {
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String(reason), AppliesTo: &prefix,
		}}, jsii.Bool(true))
	}
}
