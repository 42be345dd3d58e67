package apispec

import (
	"fmt"
	"time"

	"flashsale/shared/schema"
)

// Function is one Lambda function: what the CDK stack deploys and what the
// local stack runs in-process.
type Function struct {
	// Name is the folder under functions/ and the function's construct ID.
	Name string
	// MemoryMB is the deployed memory size. Lambda gives CPU in proportion to
	// memory; Go handlers use little memory, so memory here buys CPU (TLS and
	// JSON).
	MemoryMB int
	// Timeout bounds one invocation. The CDK stack deploys it and the local
	// gateway applies it to each handler call.
	Timeout time.Duration
}

// IntegrationTimeout is the REST API's integration timeout for a Lambda
// proxy integration: API Gateway gives up on the function after 29 s.
const IntegrationTimeout = 29 * time.Second

// Functions are every function, in build order.
var Functions = []Function{
	// Cacheable read; API Gateway's cache absorbs most of the load. API
	// functions fail fast at 10 s, well inside API Gateway's 29 s.
	{Name: FunctionSaleInfo, MemoryMB: 256, Timeout: 10 * time.Second},
	// The burst path: 512 MB halves cold-start init and p99 against 256 MB
	// for a few more GB-seconds; every call is a handful of DynamoDB writes.
	{Name: FunctionReserve, MemoryMB: 512, Timeout: 10 * time.Second},
	{Name: FunctionOrders, MemoryMB: 256, Timeout: 10 * time.Second},
	// Challenges and purchase tokens: one HMAC or SHA-256 each, and one
	// allowlist read per token. Its own function, so the token rush before
	// the order rush cannot take the reserve function's concurrency.
	{Name: FunctionAdmission, MemoryMB: 256, Timeout: 10 * time.Second},
	// Admin preloads shards and runs an on-demand settlement behind the API,
	// so it gets API Gateway's whole 29 s and more CPU.
	{Name: FunctionAdmin, MemoryMB: 512, Timeout: IntegrationTimeout},
	// The orders queue's visibility timeout is derived from this (≥ 6×).
	{Name: FunctionOrderWriter, MemoryMB: 256, Timeout: schema.OrderWriterTimeout},
	// The IP-ban sync reads the active bans and brings the WebACL's two IP
	// sets into line: a few small calls, retried on WAF's optimistic lock.
	{Name: FunctionIPBanSync, MemoryMB: 256, Timeout: time.Minute},
	// The user pool's post-confirmation trigger: one Cognito call per
	// sign-up. Cognito waits at most 5 s for a trigger.
	{Name: FunctionAccountCreated, MemoryMB: 256, Timeout: 5 * time.Second},
	// The warm-up target of the preparation schedules: one Scan of the
	// sales and one Lambda API call to set the reserve alias's provisioned
	// concurrency.
	{Name: FunctionWarmUp, MemoryMB: 256, Timeout: time.Minute},
	// The remind target: claims and notifies every subscriber of a sale,
	// paced (flashsale.DefaultReminderPacing spreads a run over 2 minutes;
	// a million subscribers at 3,000/s take under 6), within Lambda's
	// 15-minute maximum.
	{Name: FunctionNotifier, MemoryMB: 512, Timeout: 15 * time.Minute},
	// Settlement scans sales and queries every order bucket; it runs every
	// SettlementEvery under a lease, so a long run is skipped, not doubled.
	{Name: FunctionSettlement, MemoryMB: 1024, Timeout: 5 * time.Minute},
}

// SettlementEvery is how often the schedule runs settlement: the deployed
// EventBridge rule and `flashsale dev`'s default. Unpaid orders come back on
// sale within this long of their payment window closing. EventBridge rates
// are whole minutes.
const SettlementEvery = time.Minute

// BanSyncEvery is how often a schedule runs the IP-ban sync, so expired bans
// leave the WAF IP sets even when nobody changes a ban. The admin routes
// also run it at once after each change.
const BanSyncEvery = time.Minute

// FunctionNamed returns the function called name, or an error naming the
// known ones.
func FunctionNamed(name string) (Function, error) {
	for _, f := range Functions {
		if f.Name == name {
			return f, nil
		}
	}
	return Function{}, fmt.Errorf("unknown function %q (want one of %v)", name, FunctionNames())
}

// FunctionNames returns the names of Functions, in build order: the stack
// deploys each as a Lambda from AssetRoot/<name>/bootstrap, and
// TestFunctionNames checks them against the folders under functions/.
func FunctionNames() []string {
	names := make([]string, len(Functions))
	for i, f := range Functions {
		names[i] = f.Name
	}
	return names
}
