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
	"flashsale/shared/reportfmt"
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
		order, found, err := localOrder(ctx, o.state, o.order)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no order %s in the local store; give --amount and --currency to pay it anyway", o.order)
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
	lookup := func() (flashsale.Order, bool, error) { return localOrder(ctx, o.state, o.order) }
	if why := explainPayment(answer, p, lookup, time.Now()); why != "" {
		fmt.Fprintln(stdout, why)
	}
	return nil
}

// refundReasons say, per ledger reason, why a payment became a refund due.
var refundReasons = map[string]string{
	flashsale.ReasonAlreadyPaid:  "the order was already paid by an earlier payment, so this second charge",
	flashsale.ReasonExpired:      "the order's reservation expired before the payment came, so the charge",
	flashsale.ReasonCancelled:    "the order was cancelled, so the charge",
	flashsale.ReasonUnknownOrder: "there is no such order, so the charge",
}

// explainPayment says in words what the webhook's answer means, since the
// answer ({"result":"refund_due"}) names the outcome but not its cause. The
// webhook does not send the ledger's reason, so for a refund due the cause
// is read from the order as the store holds it now (lookup); when the store
// cannot be read, the message lists the possible causes. It returns "" for
// an answer it does not know.
func explainPayment(answer []byte, p flashsale.Payment, lookup func() (flashsale.Order, bool, error), now time.Time) string {
	var a struct {
		Result    string `json:"result"`
		Duplicate bool   `json:"duplicate"`
	}
	if json.Unmarshal(answer, &a) != nil {
		return ""
	}
	charge := reportfmt.Money(p.AmountCents, p.Currency)
	switch {
	case a.Duplicate:
		return fmt.Sprintf("duplicate: event %s was recorded before; nothing changed (the ledger keeps what it did then)", p.EventID)
	case a.Result == flashsale.LedgerPaid:
		return fmt.Sprintf("paid: order %s is paid (%s)", p.OrderID, charge)
	case a.Result == flashsale.LedgerIgnored:
		return fmt.Sprintf("ignored: provider status %q does not pay an order; the event is recorded and nothing changed", p.Status)
	case a.Result != flashsale.LedgerRefundDue:
		return ""
	}
	reason, ok := refundReason(lookup, now)
	if !ok {
		return fmt.Sprintf("refund due: order %s could not be paid (it is unknown, expired, cancelled or already paid; the local store could not tell which), so the charge of %s must be refunded to the buyer; the sale's report lists it under refunds", p.OrderID, charge)
	}
	return fmt.Sprintf("refund due (%s): %s of %s must be refunded to the buyer; the sale's report lists it under refunds", reason, refundReasons[reason], charge)
}

// refundReason finds the ledger reason of a refund due from the order's
// state, as the webhook decided it; ok is false when the store cannot tell.
func refundReason(lookup func() (flashsale.Order, bool, error), now time.Time) (reason string, ok bool) {
	order, found, err := lookup()
	switch {
	case err != nil:
		return "", false
	case !found || order.Status == flashsale.OrderAborted:
		return flashsale.ReasonUnknownOrder, true
	}
	switch order.StatusAt(now) {
	case flashsale.OrderPaid:
		return flashsale.ReasonAlreadyPaid, true
	case flashsale.OrderExpired:
		return flashsale.ReasonExpired, true
	case flashsale.OrderCancelled:
		return flashsale.ReasonCancelled, true
	}
	return "", false // still reserved: it changed since, or the webhook saw another store
}

// localOrder reads an order from the running local stack's DynamoDB; found
// is false when the store has no such sale or order.
func localOrder(ctx context.Context, state, orderID string) (order flashsale.Order, found bool, err error) {
	saleID, err := flashsale.ParseOrderID(orderID)
	if err != nil {
		return flashsale.Order{}, false, fmt.Errorf("--order %q is not an order id (<saleId>.<unique>); give --amount and --currency to pay it anyway", orderID)
	}
	info, err := readStack(state)
	if err != nil {
		return flashsale.Order{}, false, err
	}
	cfg, err := awsclient.LoadConfig(ctx, info.Settings)
	if err != nil {
		return flashsale.Order{}, false, err
	}
	store := dynamostore.New(awsclient.DynamoDB(cfg, info.Settings), info.Settings.SalesTable, info.Settings.OrdersTable)
	sale, err := store.Sale(ctx, saleID)
	if errors.Is(err, flashsale.ErrSaleNotFound) {
		return flashsale.Order{}, false, nil
	}
	if err != nil {
		return flashsale.Order{}, false, fmt.Errorf("read order %s: %w", orderID, err)
	}
	order, err = store.Order(ctx, flashsale.RefOf(sale.Sale, orderID))
	if errors.Is(err, flashsale.ErrOrderNotFound) {
		return flashsale.Order{}, false, nil
	}
	if err != nil {
		return flashsale.Order{}, false, fmt.Errorf("read order %s: %w", orderID, err)
	}
	return order, true, nil
}
