package metric

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"flashsale/shared/flashsale"
)

// EMF writes settlement stats as CloudWatch embedded metric format: one JSON
// log line that CloudWatch Logs turns into metrics, with no PutMetricData
// call and no extra IAM. Hand-written because the format is one small,
// documented JSON object and no EMF library is among the served modules.
type EMF struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger
}

var _ flashsale.Metrics = (*EMF)(nil)

// NewEMF writes to w (stdout in Lambda, where CloudWatch Logs reads it) and
// logs its own failures to log.
func NewEMF(w io.Writer, log *slog.Logger) *EMF { return &EMF{w: w, log: log} }

// Settled writes one EMF line for a settlement run: the run's counts by
// Service, and the sale's remaining stock by SaleId (the dashboard's
// remaining-stock widget, which reserve feeds during the burst).
func (m *EMF) Settled(ctx context.Context, st flashsale.SettleStats) {
	unbalanced := 0
	if st.Unbalanced {
		unbalanced = 1
	}
	count := func(name string) map[string]string { return map[string]string{"Name": name, "Unit": "Count"} }
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{DimensionService}},
				"Metrics": []map[string]string{count(UnitsSold), count(UnitsExpired),
					count(LeaksRepaired), count(Unbalanced)},
			}, {
				"Namespace":  Namespace,
				"Dimensions": [][]string{{DimensionSaleID}},
				"Metrics":    []map[string]string{count(RemainingStock)},
			}},
		},
		DimensionService: ServiceSettlement,
		DimensionSaleID:  st.SaleID,
		RemainingStock:   st.Remaining,
		"saleId":         st.SaleID,
		UnitsSold:        st.UnitsSold,
		UnitsExpired:     st.UnitsExpired,
		LeaksRepaired:    st.LeaksRepaired,
		Unbalanced:       unbalanced,
	}
	b, err := json.Marshal(line)
	if err != nil {
		m.log.ErrorContext(ctx, "encode metrics", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(append(b, '\n')); err != nil {
		m.log.ErrorContext(ctx, "write metrics", "err", err)
	}
}
