package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"flashsale/infra/metricspec"
	"flashsale/shared/flashsale"
)

// emf writes settlement stats as CloudWatch embedded metric format: one JSON
// log line that CloudWatch Logs turns into metrics, with no PutMetricData
// call and no extra IAM. Hand-written because the format is one small,
// documented JSON object and no EMF library is among the served modules.
type emf struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger
}

func (m *emf) Settled(ctx context.Context, st flashsale.SettleStats) {
	unbalanced := 0
	if st.Unbalanced {
		unbalanced = 1
	}
	metric := func(name string) map[string]string { return map[string]string{"Name": name, "Unit": "Count"} }
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  metricspec.Namespace,
				"Dimensions": [][]string{{metricspec.DimensionService}},
				"Metrics": []map[string]string{metric(metricspec.UnitsSold), metric(metricspec.UnitsExpired),
					metric(metricspec.LeaksRepaired), metric(metricspec.Unbalanced)},
			}},
		},
		metricspec.DimensionService: metricspec.ServiceSettlement,
		"saleId":                    st.SaleID,
		metricspec.UnitsSold:        st.UnitsSold,
		metricspec.UnitsExpired:     st.UnitsExpired,
		metricspec.LeaksRepaired:    st.LeaksRepaired,
		metricspec.Unbalanced:       unbalanced,
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
