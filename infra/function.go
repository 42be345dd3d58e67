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

// DynamoDB actions, grouped as the functions use them. Transactions need no
// action of their own: DynamoDB authorizes each Put, Update, Delete and
// ConditionCheck inside TransactWriteItems as that action.
var (
	ddbRead     = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	ddbGetBatch = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem"}
	ddbUpdate   = []string{"dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"}
	ddbWrite    = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}
	ddbReadAll  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"}
)

// admissionKeyReaders are the functions that read the admission key set:
// admission signs challenges and tokens, reserve verifies tokens. No other
// function gets the secret's ARN or may read it.
var admissionKeyReaders = map[string]bool{
	apispec.FunctionAdmission: true,
	apispec.FunctionReserve:   true,
}

// functions are the deployed Lambdas by apispec name. api holds what API
// Gateway invokes: the function, or its provisioned alias.
type functions struct {
	byName map[string]awslambda.Function
	api    map[string]awslambda.IFunction
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
func (s *stack) newFunctions(d *data) *functions {
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
		f.byName[name] = s.newFunction(name, fnEnv)
		f.api[name] = f.byName[name]
	}

	grant := func(fn string, t awsdynamodb.Table, actions ...[]string) {
		var all []*string
		for _, a := range actions {
			all = append(all, *jsii.Strings(a...)...)
		}
		f.byName[fn].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   &all,
			Resources: jsii.Strings(*t.TableArn()),
		}))
	}
	grant(apispec.FunctionSaleInfo, d.sales, ddbRead)

	grant(apispec.FunctionReserve, d.sales, ddbGetBatch, ddbUpdate)
	grant(apispec.FunctionReserve, d.orders, ddbRead, ddbWrite)
	d.queue.GrantSendMessages(f.byName[apispec.FunctionReserve])

	// Orders serves status, cancel (units back to the shards) and the
	// payment webhook, which alone reads the signing secret.
	grant(apispec.FunctionOrders, d.sales, ddbGetBatch, ddbUpdate)
	grant(apispec.FunctionOrders, d.orders, ddbRead, ddbWrite)
	d.webhookSecret.GrantRead(f.byName[apispec.FunctionOrders], nil)

	// Admission only reads: the sale (is it open, what does it admit) and,
	// for an allowlisted sale, the caller's allowlist entry. Challenges and
	// tokens are HMACs, stored nowhere.
	grant(apispec.FunctionAdmission, d.sales, ddbRead)
	grant(apispec.FunctionAdmission, d.orders, []string{"dynamodb:GetItem"})
	// GetSecretValue alone: the functions read the key set once per
	// container and never describe or list secrets.
	for name := range admissionKeyReaders {
		f.byName[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: jsii.Strings(*d.admissionKeys.SecretArn()),
		}))
	}

	grant(apispec.FunctionAdmin, d.sales, ddbRead, ddbWrite)
	// BatchWriteItem: an allowlist import writes up to 25 entries a call.
	grant(apispec.FunctionAdmin, d.orders, ddbRead, ddbWrite, []string{"dynamodb:BatchWriteItem"})

	grant(apispec.FunctionOrderWriter, d.orders, []string{"dynamodb:GetItem"}, ddbWrite)

	// Settlement lists the sales (Scan) and writes leases, repairs and reports.
	grant(apispec.FunctionSettlement, d.sales, ddbReadAll, ddbWrite)
	grant(apispec.FunctionSettlement, d.orders, ddbRead, ddbWrite)

	// The event source grants the writer exactly the consume actions on the
	// queue. Batches of 10 are SQS's maximum per receive; the writer reports
	// failures per message, and MaxConcurrency bounds its load on DynamoDB.
	f.byName[apispec.FunctionOrderWriter].AddEventSource(awslambdaeventsources.NewSqsEventSource(d.queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(s.props.OrderWriterMaxConcurrency),
	}))

	if n := s.props.ProvisionedConcurrency; n > 0 {
		reserve := f.byName[apispec.FunctionReserve]
		f.api[apispec.FunctionReserve] = awslambda.NewAlias(s.st, jsii.String("ReserveLive"), &awslambda.AliasProps{
			AliasName:                       jsii.String("live"),
			Version:                         reserve.CurrentVersion(),
			ProvisionedConcurrentExecutions: jsii.Number(n),
		})
	}
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
