package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/local/prepare"
)

func init() { rootCmd.AddCommand(newOutboxCmd()) }

// outboxOptions are the flags of `flashsale outbox`.
type outboxOptions struct {
	state string
	sale  string
}

func newOutboxCmd() *cobra.Command {
	var o outboxOptions
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Show the reminders the local stack sent",
		Long: `Deployed, a sale's remind schedule notifies its subscribers through SNS.
The local stack appends one JSON line per reminder to outbox.jsonl in its
state folder instead; this prints them as a table: when each went, for which
sale, to which user. The file outlives the stack, so no stack needs to run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOutbox(o, cmd.OutOrStdout())
		},
	}
	stateFlag(cmd.Flags().StringVar, &o.state)
	cmd.Flags().StringVar(&o.sale, "sale", "", "only this sale's reminders")
	return cmd
}

func runOutbox(o outboxOptions, stdout io.Writer) error {
	dir, err := stateDir(o.state)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, prepare.OutboxFile)
	sent, err := prepare.ReadOutbox(path)
	if errors.Is(err, prepare.ErrNoOutbox) {
		return fmt.Errorf("%w: reminders land in %s when a sale's remind schedule fires (subscribe with POST /sales/{saleId}/reminders on `make dev`)",
			prepare.ErrNoOutbox, path)
	}
	if err != nil {
		return err
	}
	var rows []prepare.Sent
	for _, s := range sent {
		if o.sale == "" || s.SaleID == o.sale {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(stdout, "no reminder sent for sale %s yet (%d for other sales)\n", o.sale, len(sent))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SENT AT\tSALE\tUSER")
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.SentAt.UTC().Format(time.RFC3339), s.SaleID, s.UserID)
	}
	fmt.Fprintf(tw, "%d reminder(s)\n", len(rows))
	return tw.Flush()
}
