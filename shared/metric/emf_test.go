package metric_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"flashsale/shared/flashsale"
	"flashsale/shared/metric"
)

// TestEMF_SettledReportsRemainingStock: a settlement line carries the
// run's counts by Service and the sale's remaining stock by SaleId, each
// under a directive whose dimensions are fields of the line.
func TestEMF_SettledReportsRemainingStock(t *testing.T) {
	var out bytes.Buffer
	metric.NewEMF(&out, slog.Default()).Settled(context.Background(),
		flashsale.SettleStats{SaleID: "s1", UnitsSold: 3, Remaining: 42})
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, out.String())
	}
	if line[metric.RemainingStock] != 42.0 || line[metric.DimensionSaleID] != "s1" || line[metric.UnitsSold] != 3.0 {
		t.Errorf("line = %v, want RemainingStock 42 by SaleId s1 and UnitsSold 3", line)
	}
	directives := line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)
	found := false
	for _, d := range directives {
		d := d.(map[string]any)
		for _, dims := range d["Dimensions"].([]any) {
			for _, dim := range dims.([]any) {
				if _, ok := line[dim.(string)]; !ok {
					t.Errorf("dimension %v is not a field of the line", dim)
				}
			}
		}
		for _, m := range d["Metrics"].([]any) {
			if m.(map[string]any)["Name"] == metric.RemainingStock && d["Dimensions"].([]any)[0].([]any)[0] == metric.DimensionSaleID {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no RemainingStock metric by SaleId in %v", directives)
	}
}
