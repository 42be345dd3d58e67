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
	"sync"
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

// TargetAt is the provisioned concurrency wanted at now for these sales,
// when schedule fired (the zero Schedule for a run no schedule caused).
// The fired sale's own window is not recomputed: its warm-up always counts
// it until it ends, its cool-down never does. A schedule fires to the
// second while sale times may hold milliseconds, and the lead may have
// changed since the sale was created; neither must make a warm-up forget
// its own sale.
func TargetAt(sales []flashsale.SaleState, now time.Time, c Config, fired flashsale.Schedule) Target {
	lead := c.Lead
	if lead <= 0 {
		lead = flashsale.DefaultLead
	}
	t := Target{Total: c.Baseline, Sales: []SaleTarget{}}
	for _, s := range sales {
		running := !now.Before(s.StartsAt.Add(-lead)) && now.Before(s.EndsAt)
		if s.ID == fired.SaleID {
			switch fired.Job {
			case flashsale.JobWarmUp:
				running = now.Before(s.EndsAt)
			case flashsale.JobCoolDown:
				running = false
			}
		}
		if !running {
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

// Warmer runs the reconciliation for a fired schedule, one run at a time
// per process; deployed, the warm-up function's reserved concurrency of 1
// makes it one at a time in all. Two runs at once could read the sales in
// one order and write in the other, leaving an older total in place.
type Warmer struct {
	mu sync.Mutex

	// ListSales reads every sale (flashsale.Store.ListSales).
	ListSales func(context.Context) ([]flashsale.SaleState, error)
	Provisioner
	Config
	Now func() time.Time
	Log *slog.Logger
}

// Run sets the provisioned concurrency the sales running now want, after
// schedule fired.
func (w *Warmer) Run(ctx context.Context, fired flashsale.Schedule) (Target, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	why := fired.Name
	sales, err := w.ListSales(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("warm-up: list sales: %w", err)
	}
	t := TargetAt(sales, w.Now(), w.Config, fired)
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
