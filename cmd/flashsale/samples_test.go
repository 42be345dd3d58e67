package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
)

// sampleCase says which function takes a sample in events/ and what a
// successful invocation answers.
type sampleCase struct {
	function string
	// status is the HTTP status an API sample must answer; 0 for the
	// functions that are no API route.
	status int
	// check looks at the answer; nil checks nothing more.
	check func(answer any, summary string) error
}

// samples covers every file in events/; TestInvoke_EverySample fails on a
// file missing here.
var samples = map[string]sampleCase{
	"account-created.json": {function: "account-created", check: summaryHas("custom:created_at=")},
	"admin-allowlist.json": {function: "admin", status: http.StatusOK, check: bodyHas(`"total":`)},
	// spring-1, or spring-1-<unix> once spring-1 exists.
	"admin-create-sale.json": {function: "admin", status: http.StatusCreated, check: bodyHas(`"saleId":"spring-1`)},
	"admin-report.json":      {function: "admin", status: http.StatusOK, check: bodyHas("TOTAL")},
	"admin-restock.json":     {function: "admin", status: http.StatusOK, check: bodyHas(`"saleId":"spring-1"`)},
	"admin-sale.json":        {function: "admin", status: http.StatusOK, check: bodyHas(`"saleId":"spring-1"`)},
	"admin-settle.json":      {function: "admin", status: http.StatusOK, check: bodyHas(`"balanced":true`)},
	"challenge.json":         {function: "admission", status: http.StatusOK, check: bodyHas(`"signature":`)},
	"ip-ban-sync.json":       {function: "ip-ban-sync", check: answerHas(sampleBan)},
	"my-orders.json":         {function: "orders", status: http.StatusOK, check: bodyHas(`"orders":`)},
	"notifier.json":          {function: "notifier", check: summaryHas("reminder(s) sent")},
	"order-cancel.json":      {function: "orders", status: http.StatusOK, check: bodyHas(`"status":"cancelled"`)},
	"order-get.json":         {function: "orders", status: http.StatusOK, check: bodyHas(`"orderId":"spring-1.`)},
	"order-writer.json":      {function: "order-writer", check: answerHas(`"batchItemFailures":null`)},
	"purchase-token.json":    {function: "admission", status: http.StatusCreated, check: bodyHas(`"purchaseToken":`)},
	// 201 the first time, 200 once subscribed.
	"reminder.json":   {function: "orders", status: -1, check: bodyHas(`"saleId":"spring-2"`)},
	"reserve.json":    {function: "reserve", status: http.StatusAccepted, check: bodyHas(`"status":"reserved"`)},
	"sale-info.json":  {function: "sale-info", status: http.StatusOK, check: bodyHas(`"status":"open"`)},
	"settlement.json": {function: "settlement", check: summaryHas("settled")},
	"warm-up.json":    {function: "warm-up", check: summaryHas("provisioned concurrency would be")},
	"webhook.json":    {function: "orders", status: http.StatusOK, check: bodyHas(`"result":"paid"`)},
}

// sampleBan is an IP ban the test adds, so ip-ban-sync has one to sync.
const sampleBan = "198.51.100.0/24"

// TestInvoke_EverySample runs `flashsale invoke` with every file in events/
// on a fresh local stack with the demo sale, as `make dev` seeds it: first
// in the order of the file names, then again in reverse, so a sample
// succeeds whether or not the others ran before it, and more than once.
func TestInvoke_EverySample(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in events/: %v", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
		if _, ok := samples[names[i]]; !ok {
			t.Errorf("events/%s is not covered: add it to samples with its function and answer", names[i])
		}
	}
	for name := range samples {
		if !slices.Contains(names, name) {
			t.Errorf("samples lists %s, which events/ lacks", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	cfg := testenv.StackConfig(t)
	cfg.Seed = devstack.SeedDemo
	st := testenv.OpenStack(t, cfg)
	reason := "a sample ban"
	ttl := int64(3600)
	if _, err := st.App.Service.BanIP(t.Context(), sampleBan, &ttl, reason); err != nil {
		t.Fatal(err)
	}

	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	for pass, order := range [][]string{files, reversed} {
		for _, file := range order {
			name := filepath.Base(file)
			t.Run(fmt.Sprintf("pass%d/%s", pass+1, name), func(t *testing.T) {
				tc := samples[name]
				var logs lockedBuffer
				res, err := invokeEvent(t.Context(), invokeOptions{state: cfg.StateDir, function: tc.function, event: file}, &logs)
				if err != nil {
					t.Fatalf("invoke %s with %s: %v\nlogs:\n%s", tc.function, name, err, logs.String())
				}
				t.Logf("invoke: %s", res.Summary)
				if err := checkSample(tc, res); err != nil {
					t.Errorf("%s: %v\nsummary: %s\nlogs:\n%s", name, err, res.Summary, logs.String())
				}
			})
		}
	}
}

// checkSample says how an invocation falls short of tc, or nil.
func checkSample(tc sampleCase, res invokeResult) error {
	if !res.OK {
		return fmt.Errorf("did not succeed: %s", res.Summary)
	}
	if resp, ok := res.Answer.(events.APIGatewayProxyResponse); ok {
		switch {
		case tc.status == 0:
			return fmt.Errorf("answered HTTP %d, want no API answer from %s", resp.StatusCode, tc.function)
		case tc.status > 0 && resp.StatusCode != tc.status:
			return fmt.Errorf("got status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
		}
	} else if tc.status != 0 {
		return fmt.Errorf("answered %T, want an API answer", res.Answer)
	}
	if tc.check != nil {
		return tc.check(res.Answer, res.Summary)
	}
	return nil
}

func bodyHas(want string) func(any, string) error {
	return func(answer any, _ string) error {
		resp, _ := answer.(events.APIGatewayProxyResponse)
		if !strings.Contains(resp.Body, want) {
			return fmt.Errorf("body %s lacks %s", resp.Body, want)
		}
		return nil
	}
}

func answerHas(want string) func(any, string) error {
	return func(answer any, _ string) error {
		b, err := json.Marshal(answer)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("answer %s lacks %s", b, want)
		}
		return nil
	}
}

func summaryHas(want string) func(any, string) error {
	return func(_ any, summary string) error {
		if !strings.Contains(summary, want) {
			return fmt.Errorf("summary %q lacks %q", summary, want)
		}
		return nil
	}
}

// TestCheckSample_CanFail feeds checkSample answers that must not pass.
func TestCheckSample_CanFail(t *testing.T) {
	api := func(status int, body string) invokeResult {
		return invokeResult{OK: status < 300, Answer: events.APIGatewayProxyResponse{StatusCode: status, Body: body}}
	}
	for name, tc := range map[string]struct {
		sample sampleCase
		res    invokeResult
	}{
		"not ok":           {samples["reserve.json"], api(403, `{"error":{"code":"sale_not_open"}}`)},
		"other 2xx":        {samples["reserve.json"], api(200, `{"status":"reserved"}`)},
		"body lacks":       {samples["webhook.json"], api(200, `{"result":"refund_due"}`)},
		"api for non-api":  {samples["settlement.json"], api(200, `{}`)},
		"non-api for api":  {samples["sale-info.json"], invokeResult{OK: true, Answer: map[string]string{}}},
		"summary lacks":    {samples["warm-up.json"], invokeResult{OK: true, Answer: map[string]any{}, Summary: "ran"}},
		"ban not synced":   {samples["ip-ban-sync.json"], invokeResult{OK: true, Answer: map[string][]string{"ipv4": {}}}},
		"writer failed ok": {samples["order-writer.json"], invokeResult{OK: false, Answer: map[string]any{}}},
	} {
		if err := checkSample(tc.sample, tc.res); err == nil {
			t.Errorf("%s: checkSample passed %+v, want an error", name, tc.res)
		}
	}
}
