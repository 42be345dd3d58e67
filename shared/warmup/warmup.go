// Package warmup sizes the reserve function's provisioned concurrency for
// the sales about to run. The warm-up and cool-down schedules of every sale
// (flashsale.SchedulesFor) run the same reconciliation: the target is the
// stack's baseline plus, for each sale inside its window [startsAt − lead,
// endsAt), what the capacity plan gives for its expected peak. Overlapping
// sales therefore add up, and a cool-down leaves the sales still running
// warm: no schedule ever overwrites another's contribution.
package warmup

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/ops/capacity"
)

// Provisioner sets the reserve function's provisioned concurrency: deployed,
// PutProvisionedConcurrencyConfig on its alias; locally, a recorder the dev
// stack's control port shows.
type Provisioner interface {
	SetProvisioned(ctx context.Context, n int, why string) error
}

// Config bounds the target.
type Config struct {
	// Lead is how long before a sale opens it counts; 0 means
	// flashsale.DefaultLead.
	Lead time.Duration
	// Baseline is the provisioned concurrency outside any sale (the stack's
	// provisionedConcurrency context value).
	Baseline int
	// Ceiling caps the target: the reserve function's reserved
	// concurrency, which provisioned concurrency may not exceed. 0: no cap.
	Ceiling int
}

// SaleTarget is one sale's share of the target.
type SaleTarget struct {
	SaleID      string `json:"saleId"`
	Concurrency int    `json:"concurrency"`
}

// Target is the provisioned concurrency wanted at one instant.
type Target struct {
	Total int          `json:"total"`
	Sales []SaleTarget `json:"sales"`
	// Capped is true when the sales asked for more than the ceiling.
	Capped bool `json:"capped"`
}

// ForSale is what the capacity plan (`flashsale plan`, docs/capacity.md)
// gives a sale's expected peak: its shards at flashsale.PerShardPurchaseRPS
// each, since a sale's shards were sized from that peak (or chosen for it).
// One formula for the plan and the warm-up, which is why a runtime package
// imports the operator tool's arithmetic.
func ForSale(s flashsale.Sale) int {
	p, err := capacity.New(capacity.Input{PeakRPS: int64(max(s.Shards, 1)) * flashsale.PerShardPurchaseRPS, Stock: max(s.Stock, 1)})
	if err != nil {
		return 0 // unreachable: both inputs are at least 1
	}
	return p.Concurrency.Provisioned
}

// TargetAt is the provisioned concurrency wanted at now for these sales.
func TargetAt(sales []flashsale.SaleState, now time.Time, c Config) Target {
	lead := c.Lead
	if lead <= 0 {
		lead = flashsale.DefaultLead
	}
	t := Target{Total: c.Baseline, Sales: []SaleTarget{}}
	for _, s := range sales {
		if now.Before(s.StartsAt.Add(-lead)) || !now.Before(s.EndsAt) {
			continue
		}
		n := ForSale(s.Sale)
		t.Sales = append(t.Sales, SaleTarget{SaleID: s.ID, Concurrency: n})
		t.Total += n
	}
	slices.SortFunc(t.Sales, func(a, b SaleTarget) int { return strings.Compare(a.SaleID, b.SaleID) })
	if c.Ceiling > 0 && t.Total > c.Ceiling {
		t.Total, t.Capped = c.Ceiling, true
	}
	return t
}

// Warmer runs the reconciliation for a fired schedule.
type Warmer struct {
	// ListSales reads every sale (flashsale.Store.ListSales).
	ListSales func(context.Context) ([]flashsale.SaleState, error)
	Provisioner
	Config
	Now func() time.Time
	Log *slog.Logger
}

// Run sets the provisioned concurrency the sales running at now want. why
// says which schedule fired, for the record.
func (w *Warmer) Run(ctx context.Context, why string) (Target, error) {
	sales, err := w.ListSales(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("warm-up: list sales: %w", err)
	}
	t := TargetAt(sales, w.Now(), w.Config)
	if t.Capped {
		w.Log.WarnContext(ctx, "sales want more provisioned concurrency than the reserve function's reserved concurrency; capped",
			"ceiling", w.Ceiling, "sales", t.Sales)
	}
	if err := w.SetProvisioned(ctx, t.Total, why); err != nil {
		return t, fmt.Errorf("warm-up: set provisioned concurrency to %d: %w", t.Total, err)
	}
	w.Log.InfoContext(ctx, "provisioned concurrency set", "total", t.Total, "sales", t.Sales, "why", why)
	return t, nil
}
