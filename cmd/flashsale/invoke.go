package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/spf13/cobra"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/prepare"
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
batch for order-writer, a scheduled event for settlement. It runs against the
tables and queue of the running local stack (make dev) and prints the answer.
There is no gateway in between: the payload's requestContext, claims
included, reaches the handler as written.`,
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
	payload, err := os.ReadFile(o.event)
	if err != nil {
		return err
	}
	info, err := readStack(o.state)
	if err != nil {
		return err
	}
	if o.function == apispec.FunctionWarmUp || o.function == apispec.FunctionNotifier {
		return invokeScheduleTarget(ctx, o, info, payload, stdout)
	}
	issuer, err := openIssuer(o.state)
	if err != nil {
		return err
	}
	keys, err := admission.ParseKeys(issuer.AdmissionKeys())
	if err != nil {
		return err
	}
	a, err := app.New(ctx, info.Settings, app.Options{
		WebhookSecret: issuer.WebhookSecret(),
		AdmissionKeys: keys,
		Logger:        slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	var answer any
	switch o.function {
	case apispec.FunctionOrderWriter:
		var ev events.SQSEvent
		if err := strictJSON(payload, &ev); err != nil {
			return fmt.Errorf("%s: not an SQS event: %w", o.event, err)
		}
		answer, err = a.OrderWriter(ctx, ev)
	case apispec.FunctionSettlement:
		var ev events.EventBridgeEvent
		if err := strictJSON(payload, &ev); err != nil {
			return fmt.Errorf("%s: not a scheduled event: %w", o.event, err)
		}
		err = a.Settlement(ctx, ev)
		answer = map[string]string{"result": "settled every recent sale"}
	case apispec.FunctionAccountCreated:
		// It writes to a Cognito user pool, which the local stack has not:
		// run against the stand-in, it would call AWS.
		return fmt.Errorf("%s calls Cognito, which the local stack does not run; its handler is tested in shared/app (TestAccountCreated_RecordsTheSignUpOnce)", o.function)
	case apispec.FunctionIPBanSync:
		// Locally there is no WAF: the run says so (the gateway reads the
		// bans itself). Deployed, this is the scheduled pass.
		var ev events.EventBridgeEvent
		if err := strictJSON(payload, &ev); err != nil {
			return fmt.Errorf("%s: not a scheduled event: %w", o.event, err)
		}
		err = a.BanSync(ctx, ev)
		answer = map[string]string{"result": "IP sets in line with the bans"}
	default:
		h, ok := a.Handlers[o.function]
		if !ok {
			return fmt.Errorf("--function %q: want one of %v", o.function, apispec.FunctionNames())
		}
		var req events.APIGatewayProxyRequest
		if err := strictJSON(payload, &req); err != nil {
			return fmt.Errorf("%s: not an API Gateway proxy request: %w", o.event, err)
		}
		answer, err = h(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("%s returned an error: %w", o.function, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(answer)
}

// strictJSON decodes a payload, refusing fields the event type lacks, so a
// payload for another function is caught instead of arriving half empty.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// invokeScheduleTarget runs the warm-up or notifier with a schedule's input
// inside the running stack, through its control port: the provisioned
// concurrency recorder and the outbox live there.
func invokeScheduleTarget(ctx context.Context, o invokeOptions, info devstack.StackInfo, payload []byte, stdout io.Writer) error {
	var sc flashsale.Schedule
	if err := strictJSON(payload, &sc); err != nil {
		return fmt.Errorf("%s: not a schedule's input: %w", o.event, err)
	}
	target := map[flashsale.Job]string{
		flashsale.JobWarmUp: apispec.FunctionWarmUp, flashsale.JobCoolDown: apispec.FunctionWarmUp, flashsale.JobRemind: apispec.FunctionNotifier,
	}[sc.Job]
	if target != o.function {
		return fmt.Errorf("%s: job %q is not the %s function's (warm-up and cool-down go to warm-up, remind to notifier)", o.event, sc.Job, o.function)
	}
	if info.ControlURL == "" {
		return errors.New("the running stack has no control port; restart `make dev`")
	}
	out, err := (&prepare.Client{URL: info.ControlURL}).Invoke(ctx, sc)
	if err != nil {
		return fmt.Errorf("%s returned an error: %w", o.function, err)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
