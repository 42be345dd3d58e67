package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/webhook"
)

func init() { rootCmd.AddCommand(newPayCmd()) }

// payOptions are the flags of `flashsale pay`.
type payOptions struct {
	state, target string
	order         string
	amount        int64
	currency      string
	status        string
	event         string
	// amountSet tells --amount 0 from no --amount.
	amountSet bool
}

func newPayCmd() *cobra.Command {
	var o payOptions
	cmd := &cobra.Command{
		Use:   "pay",
		Short: "Send a signed payment webhook for an order to the local gateway",
		Long: `Plays the payment provider: sends POST /payments/webhook for an order, signed
with the local stack's webhook secret, and prints the answer.

The amount and currency are read from the local stack's store unless
--amount and --currency are both given (e.g. to pay an unknown order, or to
provoke a payment_mismatch). The event id is new each run unless --event
repeats one (the webhook is idempotent by event id).

  flashsale pay --order demo.01J...
  flashsale pay --order demo.01J... --status failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.amountSet = cmd.Flags().Changed("amount")
			return runPay(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.order, "order", "", "order id")
	f.Int64Var(&o.amount, "amount", 0, "amount in cents (default: the order's)")
	f.StringVar(&o.currency, "currency", "", "ISO 4217 currency (default: the order's)")
	f.StringVar(&o.status, "status", flashsale.PaymentSucceeded, "provider status; only succeeded pays the order")
	f.StringVar(&o.event, "event", "", "event id (default: a new evt_<unique>)")
	targetFlag(f.StringVar, &o.target)
	_ = cmd.MarkFlagRequired("order")
	return cmd
}

func runPay(ctx context.Context, o payOptions, stdout io.Writer) error {
	p := flashsale.Payment{EventID: o.event, OrderID: o.order, AmountCents: o.amount, Currency: o.currency, Status: o.status}
	if p.EventID == "" {
		p.EventID = "evt_" + flashsale.NewUniqueID()
	}
	if !o.amountSet || p.Currency == "" {
		order, err := localOrder(ctx, o.state, o.order)
		if err != nil {
			return err
		}
		if !o.amountSet {
			p.AmountCents = order.AmountCents
		}
		if p.Currency == "" {
			p.Currency = order.Currency
		}
	}
	gw, err := openAPI(o.state, o.target)
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode payment: %w", err)
	}
	sig := webhook.Sign([]byte(gw.issuer.WebhookSecret()), time.Now(), body)
	status, answer, err := gw.call(ctx, http.MethodPost, "/payments/webhook", "", map[string]string{webhook.Header: sig}, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %s\n%s\n", status, http.StatusText(status), answer)
	if status != http.StatusOK {
		_, msg := apiError(answer)
		return fmt.Errorf("payment %s for order %s: the gateway answered %d %s", p.EventID, p.OrderID, status, msg)
	}
	return nil
}

// localOrder reads an order from the running local stack's DynamoDB.
func localOrder(ctx context.Context, state, orderID string) (flashsale.Order, error) {
	saleID, err := flashsale.ParseOrderID(orderID)
	if err != nil {
		return flashsale.Order{}, fmt.Errorf("--order %q is not an order id (<saleId>.<unique>); give --amount and --currency to pay it anyway", orderID)
	}
	info, err := readStack(state)
	if err != nil {
		return flashsale.Order{}, err
	}
	cfg, err := awsclient.LoadConfig(ctx, info.Settings)
	if err != nil {
		return flashsale.Order{}, err
	}
	store := dynamostore.New(awsclient.DynamoDB(cfg, info.Settings), info.Settings.SalesTable, info.Settings.OrdersTable)
	sale, err := store.Sale(ctx, saleID)
	if errors.Is(err, flashsale.ErrSaleNotFound) {
		return flashsale.Order{}, fmt.Errorf("order %s: no sale %s in the local store; give --amount and --currency to pay it anyway", orderID, saleID)
	}
	if err != nil {
		return flashsale.Order{}, fmt.Errorf("read order %s: %w", orderID, err)
	}
	order, err := store.Order(ctx, flashsale.RefOf(sale.Sale, orderID))
	if errors.Is(err, flashsale.ErrOrderNotFound) {
		return flashsale.Order{}, fmt.Errorf("no order %s in the local store; give --amount and --currency to pay it anyway", orderID)
	}
	if err != nil {
		return flashsale.Order{}, fmt.Errorf("read order %s: %w", orderID, err)
	}
	return order, nil
}
