package infra

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Context keys the app reads (cdk -c key=value, or "context" in cdk.json).
const (
	ContextStage                  = "stage"
	ContextAlarmEmail             = "alarmEmail"
	ContextReservedConcurrency    = "reservedConcurrency"
	ContextProvisionedConcurrency = "provisionedConcurrency"
	// ContextWarmThroughput is "READ:WRITE" units per second, e.g. 40000:20000.
	ContextWarmThroughput    = "warmThroughput"
	ContextWriterConcurrency = "orderWriterMaxConcurrency"
	ContextFIFOGroups        = "fifoGroups"
	ContextAssetRoot         = "assetRoot"
	// ContextPrepareLead is a Go duration, e.g. 10m.
	ContextPrepareLead = "prepareLead"
	// ContextAPIGatewayAccountRole is true or false: whether this stack
	// owns the region's API Gateway logging role (default: prod yes, dev no).
	ContextAPIGatewayAccountRole = "apiGatewayAccountRole"
	ContextSESFromAddress        = "sesFromAddress"
	ContextSESRegion             = "sesRegion"
	// ContextAppCallbackURLs and ContextAppLogoutURLs are comma-separated
	// lists (or JSON lists in cdk.json).
	ContextAppCallbackURLs = "appCallbackUrls"
	ContextAppLogoutURLs   = "appLogoutUrls"
	// ContextWAFRateLimit is requests per client IP per 5 minutes.
	ContextWAFRateLimit = "wafRateLimit"
	// ContextFinanceReaderPrincipal is the account ID or IAM ARN that may
	// assume the FinanceReportsReader role; unset, there is no such role.
	ContextFinanceReaderPrincipal = "financeReaderPrincipal"
)

// PropsFromContext reads the stack props from the CDK context of node. Values
// given with -c arrive as strings, values in cdk.json as JSON numbers; both
// are accepted.
func PropsFromContext(node constructs.Node) (*FlashSaleStackProps, error) {
	str := func(key string) string {
		v := node.TryGetContext(jsii.String(key))
		if v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	list := func(key string) []string {
		var parts []string
		switch v := node.TryGetContext(jsii.String(key)).(type) {
		case nil:
		case []any:
			for _, e := range v {
				parts = append(parts, fmt.Sprint(e))
			}
		default:
			parts = strings.Split(fmt.Sprint(v), ",")
		}
		var out []string
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	num := func(key string) (int, error) {
		s := str(key)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("context %s=%q: want an integer", key, s)
		}
		return n, nil
	}
	p := &FlashSaleStackProps{
		Stage:           str(ContextStage),
		AlarmEmail:      str(ContextAlarmEmail),
		AssetRoot:       str(ContextAssetRoot),
		SESFromAddress:  str(ContextSESFromAddress),
		SESRegion:       str(ContextSESRegion),
		AppCallbackURLs: list(ContextAppCallbackURLs),
		AppLogoutURLs:   list(ContextAppLogoutURLs),

		FinanceReaderPrincipal: str(ContextFinanceReaderPrincipal),
	}
	var err error
	for key, dst := range map[string]*int{
		ContextReservedConcurrency:    &p.ReservedConcurrency,
		ContextProvisionedConcurrency: &p.ProvisionedConcurrency,
		ContextWriterConcurrency:      &p.OrderWriterMaxConcurrency,
		ContextFIFOGroups:             &p.FIFOGroups,
		ContextWAFRateLimit:           &p.WAFRateLimit,
	} {
		if *dst, err = num(key); err != nil {
			return nil, err
		}
	}
	if s := str(ContextWarmThroughput); s != "" {
		r, w, ok := strings.Cut(s, ":")
		read, err1 := strconv.Atoi(r)
		write, err2 := strconv.Atoi(w)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("context %s=%q: want READ:WRITE units per second, e.g. 40000:20000", ContextWarmThroughput, s)
		}
		p.WarmThroughput = &WarmThroughput{ReadUnitsPerSecond: read, WriteUnitsPerSecond: write}
	}
	if s := str(ContextAPIGatewayAccountRole); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("context %s=%q: want true or false", ContextAPIGatewayAccountRole, s)
		}
		p.APIGatewayAccountRole = &b
	}
	if s := str(ContextPrepareLead); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("context %s=%q: want a Go duration, e.g. 10m", ContextPrepareLead, s)
		}
		p.PrepareLead = d
	}
	return p, nil
}
