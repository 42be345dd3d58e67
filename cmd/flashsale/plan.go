package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/ops/capacity"
)

func init() { rootCmd.AddCommand(newPlanCmd()) }

// planOptions are the flags of `flashsale plan`.
type planOptions struct {
	peakRPS   int64
	stock     int64
	p99       time.Duration
	drain     time.Duration
	wafLimit  int
	asJSON    bool
	priceDate bool
}

func newPlanCmd() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Derive shards, throttles, concurrency, FIFO groups and cost for a target peak",
		Long: `plan works out, from the AWS limits in the design brief, what a sale with a
given peak purchase rate and stock needs: the stock shard count, API Gateway
throttles, the reserve function's reserved and provisioned concurrency, FIFO
message groups, the order writer's concurrency and the cost per million
purchase attempts, each with its formula, and which hard limits bind.
docs/capacity.md works one through.

  flashsale plan --peak-rps 20000 --stock 50000
  flashsale plan --price-date        # only the list prices and their date`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.peakRPS, "peak-rps", 0, "purchase attempts per second at peak, on one SKU")
	f.Int64Var(&o.stock, "stock", 0, "units on sale")
	f.DurationVar(&o.p99, "p99", capacity.DefaultReserveP99, "p99 duration of the reserve function")
	f.DurationVar(&o.drain, "drain", capacity.DefaultDrainTime, "how soon the order writer should have written every order")
	f.IntVar(&o.wafLimit, "waf-rate-limit", 0, "the WebACL's per-IP limit, requests per address in 5 minutes, as deployed with -c wafRateLimit (default: prod's)")
	f.BoolVar(&o.asJSON, "json", false, "print the plan as JSON")
	f.BoolVar(&o.priceDate, "price-date", false, "print the list prices the cost uses and the date they are stated as of, then exit")
	return cmd
}

func runPlan(o planOptions, out io.Writer) error {
	if o.priceDate {
		return capacity.WritePrices(out, capacity.DefaultPrices)
	}
	if o.peakRPS == 0 || o.stock == 0 {
		return errors.New("give --peak-rps R and --stock S")
	}
	p, err := capacity.New(capacity.Input{PeakRPS: o.peakRPS, Stock: o.stock, ReserveP99: o.p99, DrainTime: o.drain, WAFRateLimit: o.wafLimit})
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return fmt.Errorf("encode plan: %w", err)
		}
		return nil
	}
	return p.WriteText(out)
}
