package s3reports_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

// bigReport is a settled sale of n orders, every one paid, with a refund
// for one in ten.
func bigReport(n int) flashsale.Report {
	r := flashsale.Report{SaleID: "big-1", GeneratedAt: "2026-12-01T12:00:00Z", Balanced: true, Currency: "USD",
		Units: flashsale.ReportUnits{Loaded: int64(n), Paid: int64(n)}, RevenueCents: int64(n) * 1999,
		Adjustments: []flashsale.Adjustment{}, Refunds: []flashsale.Refund{}}
	for i := range n {
		id := fmt.Sprintf("big-1.06h2mfxecn9tda76cbm%011d", i)
		r.Orders = append(r.Orders, flashsale.ReportOrder{OrderID: id, UserID: fmt.Sprintf("user-%08d", i), Quantity: 1,
			AmountCents: 1999, Status: "paid", CreatedAt: "2026-12-01T10:00:01Z", PaidAt: "2026-12-01T10:01:00Z"})
		if i%10 == 0 {
			r.Refunds = append(r.Refunds, flashsale.Refund{EventID: "evt-" + id, OrderID: id, AmountCents: 1999, Reason: flashsale.ReasonExpired})
		}
	}
	return r
}

// peakHeap samples the live heap every millisecond while f runs and
// returns the highest value above the heap before f.
func peakHeap(f func()) (peak uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var max atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > max.Load() {
				max.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	if max.Load() < base {
		return 0
	}
	return max.Load() - base
}

// BenchmarkPublish_100kOrders measures what a settlement of 100,000 orders
// costs the function that publishes it: the time and the peak heap above
// the report itself of rendering every format (Render) and of a whole
// Publish to a local S3 server (Publish; the server holds the objects in
// this process too, so its peak includes them). Run it with
//
//	go test -run '^$' -bench Publish_100k -benchtime 3x ./shared/s3reports
//
// and size the settlement and admin functions' memory from peak-MB
// (shared/apispec.Functions; docs/deploy.md, "Reports bucket").
func BenchmarkPublish_100kOrders(b *testing.B) {
	r := bigReport(100_000)
	b.Run("Render", func(b *testing.B) {
		var peak uint64
		sizes := map[string]int{}
		for b.Loop() {
			peak = max(peak, peakHeap(func() {
				var buf bytes.Buffer
				for _, format := range flashsale.ReportFormats {
					buf.Reset()
					if err := reportfmt.Write(&buf, format, r); err != nil {
						b.Fatal(err)
					}
					sizes[format] = buf.Len()
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
		for f, n := range sizes {
			b.ReportMetric(float64(n)/(1<<20), f+"-MB")
		}
	})
	b.Run("Publish", func(b *testing.B) {
		a, _, _ := archive(b)
		var peak uint64
		for b.Loop() {
			peak = max(peak, peakHeap(func() {
				if err := a.Publish(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	})
}
