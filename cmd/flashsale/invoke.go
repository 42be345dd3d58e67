package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/spf13/cobra"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/prepare"
	"flashsale/shared/wafsync"
	"flashsale/shared/webhook"
)

func init() { rootCmd.AddCommand(newInvokeCmd()) }

type invokeOptions struct {
	state    string
	function string
	event    string
}

func newInvokeCmd() *cobra.Command {
	var o invokeOptions
	cmd := &cobra.Command{
		Use:   "invoke --function NAME --event FILE",
		Short: "Feed an event payload (e.g. from events/) to one function, on the running local stack",
		Long: `invoke calls one function's handler directly, as Lambda would, with the
payload in FILE: an API Gateway proxy request for the API functions, an SQS
batch for order-writer, a scheduled event for settlement and ip-ban-sync, a
schedule's input for warm-up and notifier, a Cognito trigger for
account-created. It runs against the tables and queue of the running local
stack (make dev), prints the answer on stdout and one line on stderr saying
what it did. There is no gateway in between: the payload's requestContext,
claims included, reaches the handler as written.

The samples in events/ are written for one morning (2026-12-01, sale
spring-1 open from 10:00 to 11:00 UTC), so invoke replays a payload as if it
arrived now:
  - every time in it moves by (now - the payload's own time: requestTimeEpoch,
    SentTimestamp, the event's time or the schedule's at);
  - a sale it names is created when missing, from admin-create-sale.json in
    the same folder, placed in time as the samples place it (so spring-1 is
    open, and spring-2, which reminder.json names, opens in an hour);
  - what the stack's own keys sign is signed again: the purchase token, the
    solved challenge and the webhook's Payment-Signature;
  - an order it names is one that exists: get reads the buyer's latest order
    (reserving one with reserve.json if there is none), cancel a reserved
    one, and the webhook pays a fresh order of a new buyer;
  - admin-create-sale.json creates its sale under a new id when its id is
    taken; the report is settled first when it never was.
ip-ban-sync and account-created call WAF and Cognito, which the local stack
does not run: invoke hands them in-memory stand-ins and prints what they
would have written.

invoke exits non-zero when the function fails or answers other than 2xx.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvoke(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.state, "state", "", "state folder of the local stack (default: the repo's .flashsale)")
	f.StringVar(&o.function, "function", "", "the function: "+fmt.Sprint(apispec.FunctionNames()))
	f.StringVar(&o.event, "event", "", "the payload file, e.g. events/reserve.json")
	cmd.MarkFlagRequired("function")
	cmd.MarkFlagRequired("event")
	return cmd
}

func runInvoke(ctx context.Context, o invokeOptions, stdout, stderr io.Writer) error {
	res, err := invokeEvent(ctx, o, stderr)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res.Answer); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "invoke: "+res.Summary)
	if !res.OK {
		return fmt.Errorf("%s did not succeed with %s", o.function, o.event)
	}
	return nil
}

// invokeResult is one invocation's outcome.
type invokeResult struct {
	// Answer is what the function returned, as it would reach Lambda.
	Answer any
	// OK is true when the function answered 2xx, or returned without error.
	OK bool
	// Summary says in one line what invoke prepared, what the function did
	// and what it answered.
	Summary string
}

// invoker runs one payload against the running local stack.
type invoker struct {
	app     *app.App
	keys    *admission.Keys
	secret  []byte
	info    devstack.StackInfo
	dir     string // the payload's folder, where reserve.json and admin-create-sale.json are
	now     time.Time
	prepped []string // what was done before the call, for the summary
	waf     *memWAF
	cognito *memCognito
}

func invokeEvent(ctx context.Context, o invokeOptions, stderr io.Writer) (invokeResult, error) {
	payload, err := os.ReadFile(o.event)
	if err != nil {
		return invokeResult{}, err
	}
	info, err := readStack(o.state)
	if err != nil {
		return invokeResult{}, err
	}
	issuer, err := openIssuer(o.state)
	if err != nil {
		return invokeResult{}, err
	}
	keys, err := admission.ParseKeys(issuer.AdmissionKeys())
	if err != nil {
		return invokeResult{}, err
	}
	iv := &invoker{keys: keys, secret: []byte(issuer.WebhookSecret()), info: info, dir: filepath.Dir(o.event),
		now: time.Now().UTC(), waf: newMemWAF(), cognito: &memCognito{}}
	iv.app, err = app.New(ctx, info.Settings, app.Options{
		WebhookSecret: issuer.WebhookSecret(),
		AdmissionKeys: keys,
		Logger:        slog.New(slog.NewTextHandler(stderr, nil)),
		WAFSync:       &wafsync.Syncer{API: iv.waf, IPv4: memIPv4, IPv6: memIPv6},
		Cognito:       iv.cognito,
	})
	if err != nil {
		return invokeResult{}, err
	}
	res, err := iv.invoke(ctx, o.function, payload)
	if err != nil {
		return invokeResult{}, fmt.Errorf("%s with %s: %w", o.function, o.event, err)
	}
	if len(iv.prepped) > 0 {
		res.Summary = strings.Join(iv.prepped, "; ") + "; then " + res.Summary
	}
	return res, nil
}

func (iv *invoker) invoke(ctx context.Context, function string, payload []byte) (invokeResult, error) {
	switch function {
	case apispec.FunctionWarmUp, apispec.FunctionNotifier:
		var sc flashsale.Schedule
		if err := strictJSON(payload, &sc); err != nil {
			return invokeResult{}, fmt.Errorf("not a schedule's input: %w", err)
		}
		return iv.schedule(ctx, function, sc)
	case apispec.FunctionOrderWriter:
		var ev events.SQSEvent
		if err := strictJSON(payload, &ev); err != nil {
			return invokeResult{}, fmt.Errorf("not an SQS event: %w", err)
		}
		return iv.orderWriter(ctx, ev)
	case apispec.FunctionSettlement, apispec.FunctionIPBanSync:
		var ev events.EventBridgeEvent
		if err := strictJSON(payload, &ev); err != nil {
			return invokeResult{}, fmt.Errorf("not a scheduled event: %w", err)
		}
		ev.Time = iv.now.Truncate(time.Second)
		if function == apispec.FunctionSettlement {
			if err := iv.app.Settlement(ctx, ev); err != nil {
				return invokeResult{}, err
			}
			return invokeResult{OK: true, Answer: map[string]string{"result": "settled every recent sale"},
				Summary: "settlement settled every sale that closed recently or is open"}, nil
		}
		if err := iv.app.BanSync(ctx, ev); err != nil {
			return invokeResult{}, err
		}
		v4, v6 := iv.waf.addresses(memIPv4.ID), iv.waf.addresses(memIPv6.ID)
		return invokeResult{OK: true, Answer: map[string][]string{"ipv4": v4, "ipv6": v6},
			Summary: fmt.Sprintf("ip-ban-sync put the %d banned ranges into an in-memory stand-in for the WAF IP sets (the local gateway reads the bans itself)", len(v4)+len(v6))}, nil
	case apispec.FunctionAccountCreated:
		var ev events.CognitoEventUserPoolsPostConfirmation
		if err := strictJSON(payload, &ev); err != nil {
			return invokeResult{}, fmt.Errorf("not a post-confirmation trigger: %w", err)
		}
		out, err := iv.app.AccountCreated(ctx, ev)
		if err != nil {
			return invokeResult{}, err
		}
		what := "wrote nothing (not a sign-up confirmation, or the attribute was there)"
		if w := iv.cognito.written; w != "" {
			what = "would set " + w + " in the user pool (an in-memory stand-in for Cognito)"
		}
		return invokeResult{OK: true, Answer: out, Summary: "account-created " + what}, nil
	}
	if _, ok := iv.app.Handlers[function]; !ok {
		return invokeResult{}, fmt.Errorf("--function %q: want one of %v", function, apispec.FunctionNames())
	}
	var req events.APIGatewayProxyRequest
	if err := strictJSON(payload, &req); err != nil {
		return invokeResult{}, fmt.Errorf("not an API Gateway proxy request: %w", err)
	}
	return iv.api(ctx, function, req)
}

// api replays an API Gateway request now, after preparing what its route
// needs.
func (iv *invoker) api(ctx context.Context, function string, req events.APIGatewayProxyRequest) (invokeResult, error) {
	key := apispec.KeyOf(req.HTTPMethod, req.Resource)
	route, ok := apispec.Lookup(key)
	if !ok {
		return invokeResult{}, fmt.Errorf("%s is no route of the API", key)
	}
	if route.Function != function {
		return invokeResult{}, fmt.Errorf("%s is the %s function's route, not %s's", key, route.Function, function)
	}
	shift := iv.now.Sub(time.UnixMilli(req.RequestContext.RequestTimeEpoch))
	shiftRequest(&req, shift)
	user := claim(req, "sub")
	if id := req.PathParameters["saleId"]; id != "" {
		if err := iv.ensureSale(ctx, id, shift); err != nil {
			return invokeResult{}, err
		}
	}
	var err error
	switch key {
	case apispec.RouteCreateSale:
		err = iv.freshSaleID(ctx, &req)
	case apispec.RoutePurchaseToken:
		err = iv.solveChallenge(ctx, &req, user)
	case apispec.RouteReserve:
		iv.purchaseToken(&req, user)
	case apispec.RouteGetOrder, apispec.RouteCancelOrder:
		err = iv.ownOrder(ctx, &req, key, user, shift)
	case apispec.RouteWebhook:
		err = iv.paidOrder(ctx, &req, shift)
	case apispec.RouteReport:
		err = iv.settledOnce(ctx, req.PathParameters["saleId"])
	}
	if err != nil {
		return invokeResult{}, err
	}
	resp, err := iv.app.Handlers[function](ctx, req)
	if err != nil {
		return invokeResult{}, err
	}
	return invokeResult{Answer: resp, OK: resp.StatusCode >= 200 && resp.StatusCode < 300,
		Summary: fmt.Sprintf("%s answered %s %s: %s", function, req.HTTPMethod, req.Path, answerLine(resp))}, nil
}

// answerLine reads a response as "202" or "403 sale_not_open (the sale has
// not started yet)".
func answerLine(resp events.APIGatewayProxyResponse) string {
	line := strconv.Itoa(resp.StatusCode)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal([]byte(resp.Body), &e) == nil && e.Error.Code != "" {
		line += " " + e.Error.Code + " (" + e.Error.Message + ")"
	}
	var ok struct{ Status, Result string }
	if json.Unmarshal([]byte(resp.Body), &ok) == nil {
		switch {
		case ok.Result != "":
			line += " (result " + ok.Result + ")"
		case ok.Status != "":
			line += " (status " + ok.Status + ")"
		}
	}
	if resp.Headers["Idempotent-Replayed"] == "true" {
		line += ", a replay of the first answer to this Idempotency-Key"
	}
	return line
}

// rfc3339 matches the times the samples' bodies carry.
var rfc3339 = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`)

// shiftText moves every RFC 3339 time in s by d, to the second.
func shiftText(s string, d time.Duration) string {
	return rfc3339.ReplaceAllStringFunc(s, func(t string) string {
		at, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return t
		}
		return at.Add(d).UTC().Truncate(time.Second).Format(time.RFC3339)
	})
}

// claimTime is how API Gateway writes a Cognito token's iat and exp claims.
const claimTime = "Mon Jan 02 15:04:05 MST 2006"

// shiftRequest moves the request's time, its token's iat and exp, and the
// times in its body by d.
func shiftRequest(req *events.APIGatewayProxyRequest, d time.Duration) {
	at := time.UnixMilli(req.RequestContext.RequestTimeEpoch).Add(d)
	req.RequestContext.RequestTimeEpoch = at.UnixMilli()
	req.Body = shiftText(req.Body, d)
	claims, _ := req.RequestContext.Authorizer["claims"].(map[string]any)
	for _, k := range []string{"iat", "exp"} {
		if v, ok := claims[k].(string); ok {
			if t, err := time.Parse(claimTime, v); err == nil {
				claims[k] = t.Add(d).UTC().Truncate(time.Second).Format(claimTime)
			}
		}
	}
}

func claim(req events.APIGatewayProxyRequest, name string) string {
	claims, _ := req.RequestContext.Authorizer["claims"].(map[string]any)
	s, _ := claims[name].(string)
	return s
}

// setHeader sets a header in both of API Gateway's header maps.
func setHeader(req *events.APIGatewayProxyRequest, name, value string) {
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	if req.MultiValueHeaders == nil {
		req.MultiValueHeaders = map[string][]string{}
	}
	req.Headers[name], req.MultiValueHeaders[name] = value, []string{value}
}

// sample reads another payload of the samples' folder.
func (iv *invoker) sample(name string) (events.APIGatewayProxyRequest, error) {
	var req events.APIGatewayProxyRequest
	b, err := os.ReadFile(filepath.Join(iv.dir, name))
	if err != nil {
		return req, fmt.Errorf("%w (invoke prepares with the samples beside the payload)", err)
	}
	if err := strictJSON(b, &req); err != nil {
		return req, fmt.Errorf("%s: %w", name, err)
	}
	return req, nil
}

// ensureSale creates sale id from admin-create-sale.json when it is
// missing, its times moved by shift like the payload's, so it sits where
// the samples put it relative to the request. An admin call, idempotent: a
// sale created meanwhile is just as good.
func (iv *invoker) ensureSale(ctx context.Context, id string, shift time.Duration) error {
	_, err := iv.app.Service.GetSale(ctx, id)
	if !errors.Is(err, flashsale.ErrSaleNotFound) {
		return err
	}
	req, err := iv.sample("admin-create-sale.json")
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		return fmt.Errorf("admin-create-sale.json body: %w", err)
	}
	body["saleId"], _ = json.Marshal(id)
	b, _ := json.Marshal(body)
	req.Body = shiftText(string(b), shift)
	req.RequestContext.RequestTimeEpoch = iv.now.UnixMilli()
	resp, err := iv.app.Handlers[apispec.FunctionAdmin](ctx, req)
	if err != nil {
		return err
	}
	var sale struct{ StartsAt, EndsAt, Status string }
	switch {
	case resp.StatusCode == http.StatusConflict:
		return nil // created meanwhile
	case resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(resp.Body), &sale) != nil:
		return fmt.Errorf("create sale %s: %s", id, answerLine(resp))
	}
	iv.prepped = append(iv.prepped, fmt.Sprintf("created sale %s (%s, %s to %s)", id, sale.Status, sale.StartsAt, sale.EndsAt))
	return nil
}

// freshSaleID gives a create-sale request a new sale id when its own is
// taken, so every run creates a sale.
func (iv *invoker) freshSaleID(ctx context.Context, req *events.APIGatewayProxyRequest) error {
	var body map[string]json.RawMessage
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		return nil // the handler answers 400, as it should
	}
	var id string
	if json.Unmarshal(body["saleId"], &id) != nil {
		return nil
	}
	if _, err := iv.app.Service.GetSale(ctx, id); err != nil {
		if errors.Is(err, flashsale.ErrSaleNotFound) {
			return nil
		}
		return err
	}
	fresh := id + "-" + strconv.FormatInt(iv.now.Unix(), 10)
	body["saleId"], _ = json.Marshal(fresh)
	b, _ := json.Marshal(body)
	req.Body = string(b)
	iv.prepped = append(iv.prepped, fmt.Sprintf("sale %s exists already, so the body's saleId became %s", id, fresh))
	return nil
}

// solveChallenge replaces the body's challenge with one the stack's keys
// sign for this buyer and sale now, solved as a client would.
func (iv *invoker) solveChallenge(ctx context.Context, req *events.APIGatewayProxyRequest, user string) error {
	var body struct {
		Challenge admission.Challenge `json:"challenge"`
		Number    int64               `json:"number"`
	}
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		return nil // the handler answers 400
	}
	sub := admission.Subject{UserID: user, SaleID: req.PathParameters["saleId"]}
	c, err := iv.keys.NewChallenge(sub, body.Challenge.MaxNumber, iv.now.Add(flashsale.AdmissionTTL))
	if err != nil {
		return err
	}
	if body.Number, err = admission.Solve(ctx, c); err != nil {
		return err
	}
	body.Challenge = c
	b, _ := json.Marshal(body)
	req.Body = string(b)
	iv.prepped = append(iv.prepped, fmt.Sprintf("issued and solved a challenge for %s in %s (number %d)", user, sub.SaleID, body.Number))
	return nil
}

// purchaseToken puts a purchase token the stack's keys sign for this buyer
// and sale in the request.
func (iv *invoker) purchaseToken(req *events.APIGatewayProxyRequest, user string) {
	sub := admission.Subject{UserID: user, SaleID: req.PathParameters["saleId"]}
	setHeader(req, "Purchase-Token", iv.keys.NewToken(sub, iv.now.Add(flashsale.AdmissionTTL)))
}

// reserve reserves one order with reserve.json, as user with
// Idempotency-Key key ("" keeps the sample's), and returns its receipt.
func (iv *invoker) reserve(ctx context.Context, saleID, user, key string, shift time.Duration) (flashsale.Receipt, error) {
	var rc flashsale.Receipt
	req, err := iv.sample("reserve.json")
	if err != nil {
		return rc, err
	}
	shiftRequest(&req, shift)
	req.RequestContext.RequestTimeEpoch = iv.now.UnixMilli()
	if claims, ok := req.RequestContext.Authorizer["claims"].(map[string]any); ok {
		claims["sub"], claims["cognito:username"] = user, user
	}
	if key != "" {
		setHeader(&req, "Idempotency-Key", key)
	}
	if err := iv.ensureSale(ctx, saleID, shift); err != nil {
		return rc, err
	}
	req.PathParameters["saleId"] = saleID
	iv.purchaseToken(&req, user)
	resp, err := iv.app.Handlers[apispec.FunctionReserve](ctx, req)
	if err != nil {
		return rc, err
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(resp.Body), &rc) != nil {
		return rc, fmt.Errorf("reserve an order for %s in %s with reserve.json: %s", user, saleID, answerLine(resp))
	}
	return rc, nil
}

// ownOrder points a get or cancel request at an order of its buyer: the
// latest one for get, a reserved one for cancel, reserving one when there
// is none.
func (iv *invoker) ownOrder(ctx context.Context, req *events.APIGatewayProxyRequest, key apispec.RouteKey, user string, shift time.Duration) error {
	saleID, err := flashsale.ParseOrderID(req.PathParameters["orderId"])
	if err != nil {
		return nil // the handler answers 404
	}
	if err := iv.ensureSale(ctx, saleID, shift); err != nil {
		return err
	}
	orders, err := iv.app.Service.MyOrders(ctx, saleID, user)
	if err != nil {
		return err
	}
	if key == apispec.RouteCancelOrder {
		orders = slices.DeleteFunc(orders, func(o flashsale.Order) bool { return o.Status != flashsale.OrderReserved })
	}
	var id string
	if len(orders) > 0 {
		o := orders[len(orders)-1]
		id = o.ID
		iv.prepped = append(iv.prepped, fmt.Sprintf("%s's latest %s order is %s", user, o.Status, id))
	} else {
		idem := "" // reserve.json's own key: reserve.json itself replays this order later
		if key == apispec.RouteCancelOrder {
			idem = "invoke-cancel-" + strconv.FormatInt(iv.now.UnixNano(), 36)
		}
		rc, err := iv.reserve(ctx, saleID, user, idem, shift)
		if err != nil {
			return err
		}
		id = rc.OrderID
		iv.prepped = append(iv.prepped, fmt.Sprintf("%s had no order to %s, so invoke reserved %s with reserve.json", user, map[bool]string{true: "cancel", false: "read"}[key == apispec.RouteCancelOrder], id))
	}
	replaceOrderID(req, id)
	return nil
}

// replaceOrderID points the request's path at orderID.
func replaceOrderID(req *events.APIGatewayProxyRequest, orderID string) {
	old := req.PathParameters["orderId"]
	req.PathParameters["orderId"] = orderID
	req.Path = strings.ReplaceAll(req.Path, old, orderID)
	req.RequestContext.Path = strings.ReplaceAll(req.RequestContext.Path, old, orderID)
}

// webhookBody is the payment provider's event, in the sample's field order.
type webhookBody struct {
	EventID     string `json:"eventId"`
	OrderID     string `json:"orderId"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
}

// paidOrder points the webhook at a fresh order of a new buyer (so runs do
// not use up one buyer's limit), under a new event ID (a repeated one is a
// duplicate that changes nothing), and signs it with the stack's secret.
func (iv *invoker) paidOrder(ctx context.Context, req *events.APIGatewayProxyRequest, shift time.Duration) error {
	var body webhookBody
	if err := strictJSON([]byte(req.Body), &body); err == nil {
		saleID, err := flashsale.ParseOrderID(body.OrderID)
		if err != nil {
			return fmt.Errorf("webhook body orderId %q: %w", body.OrderID, err)
		}
		suffix := strings.ToLower(rand.Text()[:8])
		buyer := "payer-" + suffix
		rc, err := iv.reserve(ctx, saleID, buyer, "invoke-pay-"+suffix, shift)
		if err != nil {
			return err
		}
		body.EventID += "-" + suffix
		body.OrderID, body.AmountCents, body.Currency = rc.OrderID, rc.AmountCents, rc.Currency
		b, _ := json.Marshal(body)
		req.Body = string(b)
		iv.prepped = append(iv.prepped, fmt.Sprintf("reserved %s for a new buyer %s with reserve.json, for the webhook to pay (event %s)", rc.OrderID, buyer, body.EventID))
	}
	setHeader(req, webhook.Header, webhook.Sign(iv.secret, iv.now, []byte(req.Body)))
	iv.prepped = append(iv.prepped, "signed it with the stack's webhook secret")
	return nil
}

// settledOnce settles a sale that never was, so its report exists.
func (iv *invoker) settledOnce(ctx context.Context, saleID string) error {
	_, err := iv.app.Service.LatestReport(ctx, saleID)
	if !errors.Is(err, flashsale.ErrNotSettled) {
		return nil // there is a report, or the handler answers the error
	}
	if _, err := iv.app.Service.Settle(ctx, saleID); err != nil {
		return fmt.Errorf("settle %s before reading its report: %w", saleID, err)
	}
	iv.prepped = append(iv.prepped, "settled "+saleID+", which never was, so it has a report")
	return nil
}

// orderWriter replays an SQS batch with its times moved to now.
func (iv *invoker) orderWriter(ctx context.Context, ev events.SQSEvent) (invokeResult, error) {
	for i := range ev.Records {
		r := &ev.Records[i]
		sent, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64)
		if err != nil {
			return invokeResult{}, fmt.Errorf("record %d: SentTimestamp %q: %w", i, r.Attributes["SentTimestamp"], err)
		}
		shift := iv.now.Sub(time.UnixMilli(sent))
		for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
			if ms, err := strconv.ParseInt(r.Attributes[k], 10, 64); err == nil {
				r.Attributes[k] = strconv.FormatInt(time.UnixMilli(ms).Add(shift).UnixMilli(), 10)
			}
		}
		r.Body = shiftText(r.Body, shift)
		var m flashsale.OrderMessage
		if json.Unmarshal([]byte(r.Body), &m) == nil && m.SaleID != "" {
			if err := iv.ensureSale(ctx, m.SaleID, shift); err != nil {
				return invokeResult{}, err
			}
		}
	}
	resp, err := iv.app.OrderWriter(ctx, ev)
	if err != nil {
		return invokeResult{}, err
	}
	return invokeResult{Answer: resp, OK: len(resp.BatchItemFailures) == 0,
		Summary: fmt.Sprintf("order-writer took %d message(s) and reported %d for retry (an order already written or never reserved needs no write, and is acknowledged)",
			len(ev.Records), len(resp.BatchItemFailures))}, nil
}

// schedule runs the warm-up or notifier with a schedule's input inside the
// running stack, through its control port: the provisioned concurrency
// recorder and the outbox live there.
func (iv *invoker) schedule(ctx context.Context, function string, sc flashsale.Schedule) (invokeResult, error) {
	target := map[flashsale.Job]string{
		flashsale.JobWarmUp: apispec.FunctionWarmUp, flashsale.JobCoolDown: apispec.FunctionWarmUp, flashsale.JobRemind: apispec.FunctionNotifier,
	}[sc.Job]
	if target != function {
		return invokeResult{}, fmt.Errorf("job %q is not the %s function's (warm-up and cool-down go to warm-up, remind to notifier)", sc.Job, function)
	}
	if iv.info.ControlURL == "" {
		return invokeResult{}, errors.New("the running stack has no control port; restart `make dev`")
	}
	shift := iv.now.Sub(sc.At)
	sc.At = iv.now.Truncate(time.Second)
	if err := iv.ensureSale(ctx, sc.SaleID, shift); err != nil {
		return invokeResult{}, err
	}
	out, err := (&prepare.Client{URL: iv.info.ControlURL}).Invoke(ctx, sc)
	if err != nil {
		return invokeResult{}, err
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return invokeResult{}, err
	}
	summary := fmt.Sprintf("the stack ran %s's %s job through its control port", sc.SaleID, sc.Job)
	var warm struct{ Total *int }
	var remind flashsale.RemindStats
	switch {
	case function == apispec.FunctionWarmUp && json.Unmarshal(out, &warm) == nil && warm.Total != nil:
		summary += fmt.Sprintf(": the reserve function's provisioned concurrency would be %d for the sales running now", *warm.Total)
	case function == apispec.FunctionNotifier && json.Unmarshal(out, &remind) == nil:
		summary += fmt.Sprintf(": %d reminder(s) sent to the outbox, %d subscriber(s), %d already notified, %d failed",
			remind.Sent, remind.Subscribers, remind.Before, remind.Failed)
	}
	return invokeResult{Answer: v, OK: true, Summary: summary}, nil
}

// strictJSON decodes a payload, refusing fields the event type lacks, so a
// payload for another function is caught instead of arriving half empty.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// The IP sets the in-memory WAF holds for ip-ban-sync.
var (
	memIPv4 = wafsync.IPSet{Name: "local-bans-v4", ID: "local-v4", Scope: waftypes.ScopeRegional}
	memIPv6 = wafsync.IPSet{Name: "local-bans-v6", ID: "local-v6", Scope: waftypes.ScopeRegional}
)

// memWAF stands in for the WAF IP sets locally: the local gateway reads the
// bans from the store, so nothing reads these; invoke prints them.
type memWAF struct {
	sets map[string][]string
	lock int
}

func newMemWAF() *memWAF { return &memWAF{sets: map[string][]string{}} }

func (w *memWAF) GetIPSet(_ context.Context, in *wafv2.GetIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error) {
	token := strconv.Itoa(w.lock)
	version := waftypes.IPAddressVersionIpv4
	if *in.Id == memIPv6.ID {
		version = waftypes.IPAddressVersionIpv6
	}
	return &wafv2.GetIPSetOutput{IPSet: &waftypes.IPSet{Name: in.Name, Id: in.Id, IPAddressVersion: version,
		Addresses: slices.Clone(w.sets[*in.Id])}, LockToken: &token}, nil
}

func (w *memWAF) UpdateIPSet(_ context.Context, in *wafv2.UpdateIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error) {
	if in.LockToken == nil || *in.LockToken != strconv.Itoa(w.lock) {
		return nil, &waftypes.WAFOptimisticLockException{}
	}
	w.lock++
	w.sets[*in.Id] = slices.Clone(in.Addresses)
	next := strconv.Itoa(w.lock)
	return &wafv2.UpdateIPSetOutput{NextLockToken: &next}, nil
}

func (w *memWAF) addresses(id string) []string {
	if a := w.sets[id]; a != nil {
		return a
	}
	return []string{}
}

// memCognito stands in for the user pool: it records the attribute the
// post-confirmation trigger would write.
type memCognito struct{ written string }

func (c *memCognito) AdminUpdateUserAttributes(_ context.Context, in *cognitoidentityprovider.AdminUpdateUserAttributesInput,
	_ ...func(*cognitoidentityprovider.Options)) (*cognitoidentityprovider.AdminUpdateUserAttributesOutput, error) {
	var attrs []string
	for _, a := range in.UserAttributes {
		attrs = append(attrs, *a.Name+"="+*a.Value)
	}
	c.written = strings.Join(attrs, ",") + " for user " + *in.Username
	return &cognitoidentityprovider.AdminUpdateUserAttributesOutput{}, nil
}
