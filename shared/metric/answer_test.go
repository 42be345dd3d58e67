package metric

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAnswers_OneLineASecond: answers are counted in memory and written as
// one EMF line when the last is a second old; stock is due once a second
// per sale.
func TestAnswers_OneLineASecond(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := NewAnswers(&out, func() time.Time { return now })
	a.Answered(410) // the first writes at once
	for _, s := range []int{410, 410, 409, 503, 202, 200} {
		a.Answered(s)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("%d lines within a second, want 1:\n%s", n, out.String())
	}
	now = now.Add(FlushEvery)
	a.Answered(202)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines after a second, want 2", len(lines))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil {
		t.Fatal(err)
	}
	if got[Gone] != 2.0 || got[ClientErrors] != 1.0 || got[ServerErrors] != 1.0 || got[DimensionService] != ServiceAPI {
		t.Errorf("second line = %v, want 2 × 410, 1 other 4xx, 1 5xx for service api", got)
	}
	aws, _ := got["_aws"].(map[string]any)
	if cwm, _ := aws["CloudWatchMetrics"].([]any); len(cwm) != 1 {
		t.Errorf("line has no EMF directive: %v", got)
	}

	out.Reset()
	if !a.StockDue("s1") || a.StockDue("s1") {
		t.Error("StockDue: want true once, then false within the second")
	}
	a.Stock("s1", 7)
	if !strings.Contains(out.String(), `"SaleId":"s1"`) || !strings.Contains(out.String(), `"RemainingStock":7`) ||
		!strings.Contains(out.String(), `"Dimensions":[["SaleId"]]`) {
		t.Errorf("stock line = %s, want RemainingStock 7 by SaleId", out.String())
	}
	now = now.Add(FlushEvery)
	if !a.StockDue("s1") {
		t.Error("StockDue a second later = false, want true")
	}
}
