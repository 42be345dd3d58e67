package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
	"flashsale/shared/metric"
)

// lockedBuffer is a bytes.Buffer safe for the handlers' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRemainingStock_FromSaleInfoWithNoReadOfItsOwn: GET /sales/{id}
// writes the figure it answered as RemainingStock (the deployed
// dashboard's), at most once a second per sale.
func TestRemainingStock_FromSaleInfoWithNoReadOfItsOwn(t *testing.T) {
	var out lockedBuffer
	answers = metric.NewAnswers(&out, nil)
	t.Cleanup(func() { answers = nil })

	mem := memstore.New()
	now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	svc := flashsale.NewService(mem, memqueue.New(), flashsale.WithClock(func() time.Time { return now }))
	if _, err := svc.CreateSale(context.Background(), flashsale.NewSale{ID: "s1", Name: "S", PriceCents: 100, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: 7, PerUserLimit: 1, PaymentWindowSeconds: 60, Shards: 1}); err != nil {
		t.Fatal(err)
	}
	h := NewSaleInfo(svc, nil)
	req := events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/sales/{saleId}", PathParameters: map[string]string{"saleId": "s1"}}
	for range 3 { // within one second: one line
		if resp, err := h(context.Background(), req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /sales/s1 = %v %v", resp.StatusCode, err)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not an EMF line: %q", l)
		}
		if _, ok := m[metric.RemainingStock]; ok {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 || lines[0][metric.RemainingStock] != 7.0 || lines[0][metric.DimensionSaleID] != "s1" {
		t.Errorf("RemainingStock lines = %v, want one with 7 for s1", lines)
	}
	reportStock("s2", 0)
	if !strings.Contains(out.String(), `"SaleId":"s2"`) {
		t.Errorf("reportStock(s2, 0) wrote nothing: %s", out.String())
	}
}
