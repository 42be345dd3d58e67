package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"flashsale/shared/awsclient"
	"flashsale/shared/ops/redrive"
)

func init() { rootCmd.AddCommand(newDLQCmd()) }

// dlqOptions are the flags of `flashsale dlq list|redrive`.
type dlqOptions struct {
	state    string
	queueURL string
	dlqURL   string
	max      int
}

func newDLQCmd() *cobra.Command {
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect the orders dead-letter queue and move its messages back",
		Long: `Orders the writer failed on too often land in the orders DLQ (FIFO).
list shows them without removing them; redrive sends them back to the orders
queue (same message group, a fresh deduplication id) and deletes each from the
DLQ once it is sent. The order writer is idempotent by order id, so a redrive
never duplicates an order.

The queues default to the running local stack's; --queue-url and --dlq-url
point at others (in AWS, with your usual AWS credentials and region).`,
	}
	pf := cmd.PersistentFlags()
	stateFlag(pf.StringVar, &o.state)
	pf.StringVar(&o.dlqURL, "dlq-url", "", "dead-letter queue URL (default: the local stack's)")
	pf.IntVar(&o.max, "max", 100, "at most this many messages")

	list := &cobra.Command{
		Use:   "list",
		Short: "Show the messages in the orders DLQ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := o.resolve(cmd.Context(), false)
			if err != nil {
				return err
			}
			msgs, err := redrive.List(cmd.Context(), client, o.dlqURL, o.max)
			if err != nil {
				return err
			}
			if err := writeDLQTable(cmd.OutOrStdout(), msgs); err != nil {
				return err
			}
			if len(msgs) == o.max {
				fmt.Fprintf(cmd.OutOrStdout(), "stopped at --max %d; there may be more\n", o.max)
			}
			return nil
		},
	}
	redrive := &cobra.Command{
		Use:   "redrive",
		Short: "Move the orders DLQ's messages back to the orders queue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := o.resolve(cmd.Context(), true)
			if err != nil {
				return err
			}
			moved, err := redrive.Redrive(cmd.Context(), client, o.dlqURL, o.queueURL, o.max)
			for _, m := range moved {
				fmt.Fprintf(cmd.OutOrStdout(), "moved %s (order %s, group %s)\n", m.MessageID, m.Order.OrderID, m.GroupID)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d message(s) moved from %s to %s\n", len(moved), o.dlqURL, o.queueURL)
			if err != nil {
				return fmt.Errorf("redrive stopped after %d message(s): %w", len(moved), err)
			}
			return nil
		},
	}
	redrive.Flags().StringVar(&o.queueURL, "queue-url", "", "orders queue URL to move messages to (default: the local stack's)")
	cmd.AddCommand(list, redrive)
	return cmd
}

// resolve fills in the queue URLs from the local stack when not given and
// builds the SQS client: for the stack's emulator, for a loopback URL given
// by flag, or for AWS with the default config.
func (o *dlqOptions) resolve(ctx context.Context, needQueue bool) (*sqs.Client, error) {
	if o.max < 1 {
		return nil, fmt.Errorf("--max %d: want at least 1", o.max)
	}
	var s awsclient.Settings
	if o.dlqURL == "" || (needQueue && o.queueURL == "") {
		info, err := readStack(o.state)
		if err != nil {
			return nil, fmt.Errorf("%w; or give --dlq-url (and --queue-url for redrive)", err)
		}
		s = info.Settings
		if o.dlqURL == "" {
			o.dlqURL = info.DLQURL
		}
		if o.queueURL == "" {
			o.queueURL = info.Settings.OrdersQueueURL
		}
	} else if endpoint := loopbackOrigin(o.dlqURL); endpoint != "" {
		// A queue on this machine is an emulator: talk to it, never to AWS.
		s.SQSEndpoint = endpoint
	}
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	return awsclient.SQS(cfg, s), nil
}

// loopbackOrigin returns "http://host:port" of a queue URL on 127.0.0.1 or
// localhost, or "" for any other URL.
func loopbackOrigin(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func writeDLQTable(w io.Writer, msgs []redrive.Message) error {
	if len(msgs) == 0 {
		_, err := fmt.Fprintln(w, "the DLQ is empty")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE ID\tGROUP\tRECEIVES\tSENT\tORDER\tSALE\tUSER")
	for _, m := range msgs {
		sent := ""
		if !m.SentAt.IsZero() {
			sent = m.SentAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.MessageID, m.GroupID, m.ReceiveCount, sent,
			orDash(m.Order.OrderID), orDash(m.Order.SaleID), orDash(m.Order.UserID))
	}
	fmt.Fprintf(tw, "%d message(s)\n", len(msgs))
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
