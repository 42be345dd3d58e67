package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/local/livestats"
)

func init() { rootCmd.AddCommand(newWatchCmd()) }

// watchOptions are the flags of `flashsale watch`.
type watchOptions struct {
	state string
	sales []string
	count int
	every time.Duration
}

func newWatchCmd() *cobra.Command {
	var o watchOptions
	var once bool
	cmd := &cobra.Command{
		Use:   "watch [--sale S]...",
		Short: "Live figures of the local stack's sales in the terminal, refreshed every second",
		Long: `Shows what the local stack's live view (the control port's /_dashboard) shows:
per sale, the remaining stock (as GET /sales/{id} reports it), accepted
purchases (202), 410s and 429s a second, the other 4xx and the 5xx, p50 and
p99 latency at the gateway, the errors by route, and the orders queue's depth
(visible + in flight). Rates are over the last second. Ctrl-C stops it;
--once or --count N print that many frames and exit, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if once {
				o.count = 1
			}
			if o.count < 0 || o.every <= 0 {
				return errors.New("--count must be ≥ 0 and --every > 0")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runWatch(ctx, o, cmd.OutOrStdout())
		},
	}
	stateFlag(cmd.Flags().StringVar, &o.state)
	cmd.Flags().StringArrayVar(&o.sales, "sale", nil, "show only this sale (repeatable; default every sale the stack shows)")
	cmd.Flags().BoolVar(&once, "once", false, "print one frame and exit")
	cmd.Flags().IntVar(&o.count, "count", 0, "print N frames, one per --every, and exit (0: until Ctrl-C)")
	cmd.Flags().DurationVar(&o.every, "every", time.Second, "time between frames")
	return cmd
}

func runWatch(ctx context.Context, o watchOptions, out io.Writer) error {
	info, err := readStack(o.state)
	if err != nil {
		return err
	}
	if info.ControlURL == "" {
		return errors.New("the running local stack has no control port: restart `make dev` with this version of flashsale")
	}
	client := &livestats.Client{URL: info.ControlURL}
	// On a terminal each frame replaces the last; into a pipe or file the
	// frames follow each other, a blank line apart.
	f, isFile := out.(*os.File)
	clear := isFile && isTerminal(f)
	t := time.NewTicker(o.every)
	defer t.Stop()
	for n := 1; ; n++ {
		st, err := client.Stats(ctx, o.sales...)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			if _, ok := errors.AsType[*net.OpError](err); ok {
				return fmt.Errorf("the local stack's control port %s does not answer (has `make dev` stopped?): %w", info.ControlURL, err)
			}
			return err
		}
		if clear {
			io.WriteString(out, "\x1b[H\x1b[2J") // home, clear screen
		} else if n > 1 {
			io.WriteString(out, "\n")
		}
		if err := writeWatch(out, st, o.sales); err != nil {
			return err
		}
		if n == 1 {
			// A typo in --sale should not watch nothing for ever, or pass
			// a script's --once.
			if missing := unknownSales(st, o.sales); len(missing) > 0 && len(missing) == len(o.sales) {
				return fmt.Errorf("no sale %s on this stack", strings.Join(missing, ", "))
			}
		}
		if o.count > 0 && n >= o.count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// unknownSales lists the sales asked for that the stack does not know.
func unknownSales(st livestats.Stats, asked []string) []string {
	var out []string
	for _, s := range st.Sales {
		if slices.Contains(asked, s.SaleID) && strings.Contains(s.Error, "not found") {
			out = append(out, s.SaleID)
		}
	}
	return out
}

// writeWatch prints one frame: a line of totals, then per sale its
// figures and its errors by route.
func writeWatch(w io.Writer, st livestats.Stats, only []string) error {
	queue := "unknown"
	if st.Queue != nil {
		queue = fmt.Sprintf("%d visible + %d in flight", st.Queue.Visible, st.Queue.NotVisible)
	} else if st.QueueError != "" {
		queue = "unknown (" + st.QueueError + ")"
	}
	fmt.Fprintf(w, "%s  window %.2f s  orders queue %s\n", st.At.UTC().Format(time.RFC3339), st.WindowSeconds, queue)
	sales := st.Sales
	if len(only) > 0 {
		sales = slices.DeleteFunc(slices.Clone(sales), func(s livestats.Sale) bool { return !slices.Contains(only, s.SaleID) })
	}
	if len(sales) == 0 {
		fmt.Fprintln(w, "no sales yet: create one, or buy from the demo sale")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range sales {
		remaining := "?"
		if s.Remaining != nil {
			remaining = fmt.Sprint(*s.Remaining)
		}
		state := s.Status
		if s.Error != "" {
			state = s.Error
		}
		fmt.Fprintf(tw, "\nsale %s\t%s\tremaining %s\n", s.SaleID, state, remaining)
		p, t := s.PerSecond, s.Total
		fmt.Fprintf(tw, "  per second\taccepted %s\t410 %s\t429 %s\tother 4xx %s\t5xx %s\tp50 %.1f ms\tp99 %.1f ms\n",
			rate(p.Accepted), rate(p.Gone), rate(p.Throttled), rate(p.Client), rate(p.Server), s.LatencyMs.P50, s.LatencyMs.P99)
		fmt.Fprintf(tw, "  total\taccepted %d\t410 %d\t429 %d\tother 4xx %d\t5xx %d\t\t\n", t.Accepted, t.Gone, t.Throttled, t.Client, t.Server)
		for _, r := range s.Routes {
			fmt.Fprintf(tw, "  %s\t410 %s/s (%d)\t429 %s/s (%d)\tother 4xx %s/s (%d)\t5xx %s/s (%d)\t\t\n", r.Route,
				rate(r.PerSecond.Gone), r.Total.Gone, rate(r.PerSecond.Throttled), r.Total.Throttled,
				rate(r.PerSecond.Client), r.Total.Client, rate(r.PerSecond.Server), r.Total.Server)
		}
	}
	return tw.Flush()
}

// rate prints answers a second: whole numbers as such, else one decimal.
func rate(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}
