package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/local/prepare"
)

func init() { rootCmd.AddCommand(newScheduleCmd()) }

// scheduleOptions are the flags of `flashsale schedule list`.
type scheduleOptions struct {
	state  string
	asJSON bool
}

func newScheduleCmd() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Show the sales' preparation schedules on the local stack",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List every preparation schedule: its sale, what it does, when, and whether it fired",
		Long: `Creating a sale schedules its preparation: at startsAt - lead (default 10m)
the warm-up raises the reserve function's provisioned concurrency and the
remind job notifies the subscribers; a minute before the opening a last call
reminds the late ones; at endsAt the cool-down lowers provisioned concurrency.
Deployed, these are EventBridge Scheduler one-time schedules. The local stack
runs them on its own clock; this lists them, by time, from its control port.

A failed schedule is retried on the next tick (every second), as EventBridge
Scheduler retries its targets, which are idempotent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScheduleList(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	stateFlag(list.Flags().StringVar, &o.state)
	list.Flags().BoolVar(&o.asJSON, "json", false, "print the control port's JSON: the stack's clock and every schedule")
	cmd.AddCommand(list)
	return cmd
}

func runScheduleList(ctx context.Context, o scheduleOptions, stdout io.Writer) error {
	info, err := readStack(o.state)
	if err != nil {
		return err
	}
	if info.ControlURL == "" {
		return errors.New("the running local stack has no control port: restart `make dev` with this version of flashsale")
	}
	got, err := (&prepare.Client{URL: info.ControlURL}).Schedules(ctx)
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	// The contract says by time; the control port sorts too, but the
	// order is ours to keep.
	slices.SortStableFunc(got.Schedules, func(a, b prepare.Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(got)
	}
	return writeSchedules(stdout, got)
}

// writeSchedules prints one line per schedule and nothing else (the
// contract's format, which scripts read): when, its sale, what it does, its
// name, where it stands ("fired at …") and what it did.
func writeSchedules(w io.Writer, s prepare.Schedules) error {
	if len(s.Schedules) == 0 {
		_, err := fmt.Fprintln(w, "no schedules yet: creating a sale schedules its warm-up, reminders and cool-down")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range s.Schedules {
		status := string(e.Status)
		if e.FiredAt != nil {
			status += " at " + e.FiredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.SaleID, e.Job, e.Name,
			status, orDash(e.Outcome()))
	}
	return tw.Flush()
}
