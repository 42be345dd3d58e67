package awsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// EnvIAMRecord names a file to which every process appends the AWS calls
// its handlers make, one JSON line (a Call) per distinct call. The test
// run sets it (scripts/test.sh) and the IAM parity test
// (template-tests/iam_parity_test.go) checks the lines against each
// function's synthesized role. Unset, as in AWS, nothing is recorded.
const EnvIAMRecord = "FLASHSALE_IAM_RECORD"

// Call is one AWS call a function made, as IAM authorizes it: Action is the
// IAM action ("dynamodb:UpdateItem"), which for an item of a
// TransactWriteItems is that item's own action, and Resource is the table
// name, queue URL, secret id, topic ARN, function name... it acted on, or
// "" where the input names none. Operation is the API call that carried it
// ("DynamoDB.TransactWriteItems").
type Call struct {
	Function  string `json:"function"`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Operation string `json:"operation"`
}

type functionKey struct{}

// WithFunction tags ctx with the apispec name of the function whose
// handler runs under it; the recorder attributes the calls made under ctx
// to that function.
func WithFunction(ctx context.Context, function string) context.Context {
	return context.WithValue(ctx, functionKey{}, function)
}

// FunctionOf returns the function ctx was tagged with, or "".
func FunctionOf(ctx context.Context) string {
	s, _ := ctx.Value(functionKey{}).(string)
	return s
}

// recorders holds one recorder per file, so every client of a process
// shares its set of calls already written.
var (
	recordersMu sync.Mutex
	recorders   = map[string]*recorder{}
)

// recordFromEnv returns the API option that records calls to the file
// EnvIAMRecord names, or nil when it is unset.
func recordFromEnv() func(*middleware.Stack) error {
	path := os.Getenv(EnvIAMRecord)
	if path == "" {
		return nil
	}
	recordersMu.Lock()
	defer recordersMu.Unlock()
	r := recorders[path]
	if r == nil {
		r = &recorder{path: path, seen: map[Call]bool{}}
		recorders[path] = r
	}
	return r.addTo
}

// recorder appends each distinct Call once per process. Lines are written
// with O_APPEND and one write each, far below PIPE_BUF, so the processes of
// a test run (one per package) can share the file.
type recorder struct {
	path string
	mu   sync.Mutex
	seen map[Call]bool
}

const recorderID = "flashsale/iam-record"

func (r *recorder) addTo(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(recorderID, func(
		ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
	) (middleware.InitializeOutput, middleware.Metadata, error) {
		// Recorded before the call: a call AWS would deny still needs
		// its grant.
		if fn := FunctionOf(ctx); fn != "" {
			op := awsmiddleware.GetOperationName(ctx)
			service := awsmiddleware.GetServiceID(ctx)
			for _, c := range callsOf(service, op, in.Parameters) {
				c.Function = fn
				if err := r.write(c); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
			}
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.After)
}

func (r *recorder) write(c Call) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[c] {
		return nil
	}
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvIAMRecord, err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", EnvIAMRecord, err)
	}
	r.seen[c] = true
	return nil
}

// iamPrefixes maps the SDK's service IDs to IAM's action prefixes where
// the two differ by more than case and spaces.
var iamPrefixes = map[string]string{
	"Cognito Identity Provider": "cognito-idp",
}

// resourceFields are the input fields, tried in order, that name what a
// call acts on.
var resourceFields = []string{"TableName", "QueueUrl", "SecretId", "TopicArn", "FunctionName", "UserPoolId", "Id", "Name"}

// s3Actions maps the S3 operations whose IAM action has another name.
var s3Actions = map[string]string{
	"HeadObject":         "GetObject",
	"ListObjectsV2":      "ListBucket",
	"ListObjectVersions": "ListBucketVersions",
	"HeadBucket":         "ListBucket",
}

// callsOf returns the IAM actions and resources of one SDK call. DynamoDB
// batches act on every table they name, and a TransactWriteItems is
// authorized item by item, as that item's Put, Update, Delete or
// ConditionCheck.
func callsOf(service, op string, params any) []Call {
	prefix, ok := iamPrefixes[service]
	if !ok {
		prefix = strings.ToLower(strings.ReplaceAll(service, " ", ""))
	}
	one := func(action, resource string) Call {
		return Call{Action: prefix + ":" + action, Resource: resource, Operation: service + "." + op}
	}
	if service == "S3" {
		// IAM names an object "bucket/key" (arn:aws:s3:::bucket/key) and a
		// bucket by its name; a GET of a version is its own action. A
		// presigned GET is recorded as the signer's GetObject: whoever
		// follows the link acts with the signer's permissions.
		action := op
		if a, ok := s3Actions[op]; ok {
			action = a
		}
		bucket, key := stringField(params, "Bucket"), stringField(params, "Key")
		if op == "GetObject" && stringField(params, "VersionId") != "" {
			action = "GetObjectVersion"
		}
		if key != "" {
			return []Call{one(action, bucket+"/"+key)}
		}
		return []Call{one(action, bucket)}
	}
	var out []Call
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, one("PutItem", deref(it.Put.TableName)))
			case it.Update != nil:
				out = append(out, one("UpdateItem", deref(it.Update.TableName)))
			case it.Delete != nil:
				out = append(out, one("DeleteItem", deref(it.Delete.TableName)))
			case it.ConditionCheck != nil:
				out = append(out, one("ConditionCheckItem", deref(it.ConditionCheck.TableName)))
			}
		}
		return out
	case *dynamodb.TransactGetItemsInput:
		for _, it := range in.TransactItems {
			if it.Get != nil {
				out = append(out, one("GetItem", deref(it.Get.TableName)))
			}
		}
		return out
	case *dynamodb.BatchGetItemInput:
		for t := range in.RequestItems {
			out = append(out, one(op, t))
		}
		return out
	case *dynamodb.BatchWriteItemInput:
		for t := range in.RequestItems {
			out = append(out, one(op, t))
		}
		return out
	}
	return []Call{one(op, resourceOf(params))}
}

// resourceOf reads the first of resourceFields that params has as a
// string or *string.
func resourceOf(params any) string {
	for _, name := range resourceFields {
		if s := stringField(params, name); s != "" {
			return s
		}
	}
	return ""
}

// stringField reads params' field name as a string or *string, or "".
func stringField(params any, name string) string {
	v := reflect.ValueOf(params)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName(name)
	switch {
	case !f.IsValid():
	case f.Kind() == reflect.String:
		return f.String()
	case f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.String:
		return f.Elem().String()
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
