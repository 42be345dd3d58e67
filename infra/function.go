package infra

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

// DynamoDB grants name each action a function's code calls on a table, with
// the store calls that need it (shared/dynamostore). Transactions need no
// action of their own: DynamoDB authorizes each Put, Update and Delete
// inside TransactWriteItems as PutItem, UpdateItem and DeleteItem on that
// item's table (no transaction holds a ConditionCheck, so no function has
// ConditionCheckItem). The IAM parity test (template-tests) checks these
// against the calls the integration tests record, both ways.
const (
	ddbGet      = "dynamodb:GetItem"
	ddbBatchGet = "dynamodb:BatchGetItem"
	ddbQuery    = "dynamodb:Query"
	ddbScan     = "dynamodb:Scan"
	ddbPut      = "dynamodb:PutItem"
	ddbUpdate   = "dynamodb:UpdateItem"
	ddbDelete   = "dynamodb:DeleteItem"
	ddbBatchPut = "dynamodb:BatchWriteItem"
)

// admissionKeyReaders are the functions that read the admission key set:
// admission signs challenges and tokens, reserve verifies tokens. No other
// function gets the secret's ARN or may read it.
var admissionKeyReaders = map[string]bool{
	apispec.FunctionAdmission: true,
	apispec.FunctionReserve:   true,
}

// leadReaders are the functions that read PREPARE_LEAD: admin schedules by
// it, orders and the purchase functions preload and cache by it, warm-up
// and notifier count sales inside it.
var leadReaders = map[string]bool{
	apispec.FunctionAdmin:     true,
	apispec.FunctionOrders:    true,
	apispec.FunctionReserve:   true,
	apispec.FunctionAdmission: true,
	apispec.FunctionWarmUp:    true,
	apispec.FunctionNotifier:  true,
}

// ReserveAlias is the alias of the reserve function that API Gateway
// invokes and whose provisioned concurrency the warm-up sets.
const ReserveAlias = "live"

// functions are the deployed Lambdas by apispec name. api holds what API
// Gateway invokes: the function, or for reserve its alias.
type functions struct {
	byName       map[string]awslambda.Function
	api          map[string]awslambda.IFunction
	reserveAlias awslambda.Alias
}

// grantTable lets fn take actions on table t, and nothing else.
func grantTable(fn awslambda.Function, t awsdynamodb.Table, actions ...string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(*t.TableArn()),
	}))
}

// logRetention keeps dev logs a week and prod logs three months (long enough
// to investigate a sale's disputes).
func (s *stack) logRetention() awslogs.RetentionDays {
	if s.removal == awscdk.RemovalPolicy_RETAIN {
		return awslogs.RetentionDays_THREE_MONTHS
	}
	return awslogs.RetentionDays_ONE_WEEK
}

// newFunctions creates one function per apispec.Functions entry, each with
// its own role holding only what it uses.
func (s *stack) newFunctions(d *data, bans *ipSets) *functions {
	// The orders queue must stay invisible while the writer may still be
	// working on a message, retries included (AWS: ≥ 6× the timeout).
	if want := 6 * mustFunction(apispec.FunctionOrderWriter).Timeout; schema.OrdersQueue.VisibilityTimeout < want {
		panic(fmt.Errorf("orders queue visibility %s < 6 × order-writer timeout (%s)", schema.OrdersQueue.VisibilityTimeout, want))
	}
	env := map[string]*string{
		awsclient.EnvSalesTable:     d.sales.TableName(),
		awsclient.EnvOrdersTable:    d.orders.TableName(),
		awsclient.EnvOrdersQueueURL: d.queue.QueueUrl(), // app.New needs it in every process
		awsclient.EnvFIFOGroups:     jsii.String(strconv.Itoa(s.props.FIFOGroups)),
	}
	f := &functions{byName: map[string]awslambda.Function{}, api: map[string]awslambda.IFunction{}}
	for _, name := range apispec.FunctionNames() {
		fnEnv := map[string]*string{}
		for k, v := range env {
			fnEnv[k] = v
		}
		if name == apispec.FunctionOrders {
			fnEnv[awsclient.EnvWebhookSecretARN] = d.webhookSecret.SecretArn()
		}
		if admissionKeyReaders[name] {
			fnEnv[awsclient.EnvAdmissionKeysARN] = d.admissionKeys.SecretArn()
		}
		if leadReaders[name] {
			fnEnv[awsclient.EnvLead] = jsii.String(s.props.PrepareLead.String())
		}
		if name == apispec.FunctionIPBanSync {
			fnEnv[awsclient.EnvIPSetV4Name] = jsii.String(s.ipSetName("ipv4"))
			fnEnv[awsclient.EnvIPSetV4ID] = bans.v4.AttrId()
			fnEnv[awsclient.EnvIPSetV6Name] = jsii.String(s.ipSetName("ipv6"))
			fnEnv[awsclient.EnvIPSetV6ID] = bans.v6.AttrId()
			fnEnv[awsclient.EnvWAFScope] = jsii.String(wafScope)
		}
		f.byName[name] = s.newFunction(name, fnEnv)
		f.api[name] = f.byName[name]
	}
	// The admin function nudges the sync after each IP-ban change. Admin
	// comes first in apispec's order, so its variable is added once both
	// functions exist.
	sync := f.byName[apispec.FunctionIPBanSync]
	f.byName[apispec.FunctionAdmin].AddEnvironment(jsii.String(awsclient.EnvBanSyncFunction), sync.FunctionName(), nil)

	grant := func(fn string, t awsdynamodb.Table, actions ...string) { grantTable(f.byName[fn], t, actions...) }

	// sale-info: the sale (Sale) and its shards' stock (Available).
	grant(apispec.FunctionSaleInfo, d.sales, ddbGet, ddbBatchGet)

	// reserve, on Sales: the sale (Sale); UpdateItem takes units from a
	// shard (TakeStock), marks it sold out (MarkSoldOut) and gives units
	// back after a failed enqueue or an overdue order (ReturnStock). Scan:
	// an init for provisioned concurrency preloads the sales about to open
	// (Preload/ListSales); on-demand inits do not.
	grant(apispec.FunctionReserve, d.sales, ddbGet, ddbUpdate, ddbScan)
	// reserve, on Orders: GetItem reads the idempotency record, the order
	// (replay, settled) and the user's claim (expireOverdue); Query the
	// user bans it refreshes every few seconds (UserBans); the Reserve
	// transaction puts the idempotency record and the hold and updates the
	// claim; UpdateItem accepts (Accept), expires (Release, MarkRestocked)
	// and aborts; Abort's transaction deletes the idempotency record.
	grant(apispec.FunctionReserve, d.orders, ddbGet, ddbQuery, ddbPut, ddbUpdate, ddbDelete)
	// SendMessage alone (Enqueue): no GetQueueUrl or GetQueueAttributes,
	// the URL comes from the environment.
	f.byName[apispec.FunctionReserve].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: jsii.Strings(*d.queue.QueueArn()),
	}))

	// orders, on Sales: the sale (locate, LookupSale) and, on cancel, the
	// units back to a shard (ReturnStock).
	grant(apispec.FunctionOrders, d.sales, ddbGet, ddbUpdate)
	// orders, on Orders: GetItem reads the order (GetOrder, and Release
	// before it cancels) and the user's claim (MyOrders); the payment
	// transactions put the payment and its ledger entry (RecordPayment,
	// PayOrder); UpdateItem pays, cancels (Release, MarkRestocked) and
	// subscribes or unsubscribes reminders (AddReminder, DeleteReminder).
	grant(apispec.FunctionOrders, d.orders, ddbGet, ddbPut, ddbUpdate)
	// The payment webhook reads the signing secret once per container:
	// GetSecretValue alone, no DescribeSecret.
	f.byName[apispec.FunctionOrders].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*d.webhookSecret.SecretArn()),
	}))

	// admission only reads: the sale (is it open, what does it admit), for
	// an allowlisted sale the caller's allowlist entry (GetItem), and the
	// user bans it refreshes every few seconds (Query on BAN#USER).
	// Challenges and tokens are HMACs, stored nowhere.
	grant(apispec.FunctionAdmission, d.sales, ddbGet)
	grant(apispec.FunctionAdmission, d.orders, ddbGet, ddbQuery)
	// GetSecretValue alone: the functions read the key set once per
	// container and never describe or list secrets.
	for name := range admissionKeyReaders {
		f.byName[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: jsii.Strings(*d.admissionKeys.SecretArn()),
		}))
	}

	// admin, on Sales: GetItem reads the sale and its latest report;
	// BatchGetItem the shards (AdminSale, the settlement audit); PutItem
	// creates the sale and its shards (CreateSale's transaction) and saves
	// reports; UpdateItem marks schedules put (MarkScheduled), restocks
	// (AddStock), takes and releases the settlement lease, returns units,
	// repairs leaks, clears a stale sold-out mark and counts the allowlist.
	grant(apispec.FunctionAdmin, d.sales, ddbGet, ddbBatchGet, ddbPut, ddbUpdate)
	// admin, on Orders (the ban items live there too, under BAN#IP and
	// BAN#USER): GetItem reads an order before settlement expires it;
	// Query lists a sale's orders, ledger and adjustments, and the bans;
	// BatchGetItem and BatchWriteItem check and write an allowlist import
	// 100 and 25 entries a call; PutItem writes bans and adjustments;
	// UpdateItem expires and aborts orders; DeleteItem removes bans and,
	// in an abort, an idempotency record.
	grant(apispec.FunctionAdmin, d.orders, ddbGet, ddbQuery, ddbBatchGet, ddbBatchPut, ddbPut, ddbUpdate, ddbDelete)
	// After each IP-ban change admin invokes the sync asynchronously, so the
	// ban reaches WAF in seconds rather than at the next scheduled pass. The
	// unqualified ARN alone: no versions or aliases of it, no other function.
	f.byName[apispec.FunctionAdmin].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*sync.FunctionArn()),
	}))

	// The sync reads the active IP bans (Query on BAN#IP, never a write: TTL
	// deletes them, admin removes them) and rewrites the two IP sets, Get
	// then Update with the LockToken. Nothing else: no queue, no secret.
	grant(apispec.FunctionIPBanSync, d.orders, ddbQuery)
	sync.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("wafv2:GetIPSet", "wafv2:UpdateIPSet"),
		Resources: jsii.Strings(*bans.v4.AttrArn(), *bans.v6.AttrArn()),
	}))

	// The order writer marks each accepted order persisted, one
	// conditional UpdateItem (Persist), and reads nothing.
	grant(apispec.FunctionOrderWriter, d.orders, ddbUpdate)

	// The writer sets poison messages aside in the DLQ at once
	// (handler.NewOrderWriter), so their group moves on: SendMessage on the
	// DLQ alone. The OrdersDlqDepth alarm covers them.
	writer := f.byName[apispec.FunctionOrderWriter]
	writer.AddEnvironment(jsii.String(awsclient.EnvOrdersDLQURL), d.dlq.QueueUrl(), nil)
	writer.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: jsii.Strings(*d.dlq.QueueArn()),
	}))

	// settlement, on Sales: Scan lists the sales (SettleAll); GetItem reads
	// the sale and the latest report, BatchGetItem the shards (audit);
	// UpdateItem takes and releases the lease, returns expired units,
	// repairs leaks and clears a stale sold-out mark; PutItem saves the
	// report.
	grant(apispec.FunctionSettlement, d.sales, ddbScan, ddbGet, ddbBatchGet, ddbUpdate, ddbPut)
	// settlement, on Orders: Query reads a sale's orders, ledger and
	// adjustments; GetItem an order before it expires it (Release);
	// UpdateItem expires and aborts; PutItem records adjustments; Abort's
	// transaction deletes the dead request's idempotency record.
	grant(apispec.FunctionSettlement, d.orders, ddbQuery, ddbGet, ddbUpdate, ddbPut, ddbDelete)

	// The event source grants the writer exactly the consume actions on the
	// queue. Batches of 10 are SQS's maximum per receive; the writer reports
	// failures per message, and MaxConcurrency bounds its load on DynamoDB.
	f.byName[apispec.FunctionOrderWriter].AddEventSource(awslambdaeventsources.NewSqsEventSource(d.queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(s.props.OrderWriterMaxConcurrency),
	}))

	// The alias always exists, so the warm-up has something to provision
	// and API Gateway invokes the same ARN in and out of sales. Its
	// provisioned concurrency in the template is the baseline; the
	// warm-up raises it per sale outside CloudFormation. That is drift: a
	// deploy that updates the alias (any reserve change publishes a new
	// version) sets it back to the baseline, so never deploy inside a
	// sale window (docs/deploy.md, "Preparation timeline").
	reserve := f.byName[apispec.FunctionReserve]
	aliasProps := &awslambda.AliasProps{AliasName: jsii.String(ReserveAlias), Version: reserve.CurrentVersion()}
	if n := s.props.ProvisionedConcurrency; n > 0 {
		aliasProps.ProvisionedConcurrentExecutions = jsii.Number(n)
	}
	f.reserveAlias = awslambda.NewAlias(s.st, jsii.String("ReserveLive"), aliasProps)
	f.api[apispec.FunctionReserve] = f.reserveAlias
	return f
}

// newFunction creates one arm64 provided.al2023 function from
// AssetRoot/<name>/bootstrap with its own log group and role.
func (s *stack) newFunction(name string, env map[string]*string) awslambda.Function {
	size := mustFunction(name)
	logs := awslogs.NewLogGroup(s.st, jsii.String(name+"-logs"), &awslogs.LogGroupProps{
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})
	// An explicit role instead of AWSLambdaBasicExecutionRole, which allows
	// writing to every log group in the account.
	role := awsiam.NewRole(s.st, jsii.String(name+"-role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("flashsale " + name + " function"),
	})
	logs.GrantWrite(role)

	props := &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(s.props.AssetRoot, name)), nil),
		MemorySize:   jsii.Number(size.MemoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(size.Timeout.Seconds())),
		Environment:  &env,
		Role:         role,
		LogGroup:     logs,
		Tracing:      awslambda.Tracing_ACTIVE,
		Description:  jsii.String("flashsale " + name),
	}
	switch name {
	case apispec.FunctionReserve:
		props.ReservedConcurrentExecutions = jsii.Number(s.props.ReservedConcurrency)
	case apispec.FunctionSettlement:
		// The schedule runs it again soon (apispec.SettlementEvery); retries
		// only pile up.
		props.RetryAttempts = jsii.Number(0)
	case apispec.FunctionIPBanSync:
		// Admin's nudges are asynchronous; Lambda would retry a failed one
		// after a minute or two, later than the scheduled pass
		// (apispec.BanSyncEvery), which reads the bans afresh anyway.
		props.RetryAttempts = jsii.Number(0)
		// One run at a time: two overlapping runs could read the bans
		// before and after a change and the older one write last, undoing
		// a ban until the next pass. Nudges that find it busy wait in
		// Lambda's async queue.
		props.ReservedConcurrentExecutions = jsii.Number(1)
	case apispec.FunctionWarmUp:
		// Each run sets what the sales want at that moment, so a retry is
		// never stale, and it may be all that keeps a sale from opening
		// cold: a lone sale's next schedule is its cool-down, after the
		// sale. Lambda's default two retries, stated.
		props.RetryAttempts = jsii.Number(2)
		// One run at a time: each run lists the sales and writes a total,
		// so two overlapping runs (B's cool-down and A's warm-up) could
		// write in the wrong order and drop A's share until its cool-down.
		// Serialised, the later run reads later and writes last.
		// Scheduler invokes asynchronously, so a run that finds it busy
		// waits in Lambda's async queue.
		props.ReservedConcurrentExecutions = jsii.Number(1)
	case apispec.FunctionNotifier:
		// A rerun notifies only subscribers not marked sent and not
		// claimed in the last minute, so a retry catches failed sends and
		// a crashed run's stale claims minutes before the last call does;
		// only a crash between a send and its mark sends twice. Lambda's
		// two retries, stated.
		props.RetryAttempts = jsii.Number(2)
	}
	fn := awslambda.NewFunction(s.st, jsii.String(name), props)
	// Names the function in the bill and for the template tests.
	awscdk.Tags_Of(fn).Add(jsii.String(FunctionTag), jsii.String(name), nil)
	return fn
}

// mustFunction returns apispec's declaration of a function; constructs panic
// on bad input, and a missing declaration is a programming error.
func mustFunction(name string) apispec.Function {
	f, err := apispec.FunctionNamed(name)
	if err != nil {
		panic(err)
	}
	return f
}

// FunctionTag is the tag whose value is a function's apispec name.
const FunctionTag = "flashsale:function"
