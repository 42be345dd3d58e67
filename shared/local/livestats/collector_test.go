package livestats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const reserve = "POST /sales/{saleId}/orders"

// clock is a settable test clock.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
func observeN(c *Collector, n int, route, sale string, status int, lat time.Duration) {
	for range n {
		c.Observe(route, sale, status, lat)
	}
}

func saleOf(tb testing.TB, st Stats, id string) Sale {
	tb.Helper()
	for _, s := range st.Sales {
		if s.SaleID == id {
			return s
		}
	}
	tb.Fatalf("stats have no sale %q: %+v", id, st.Sales)
	return Sale{}
}

// TestStats_WindowIsTheLastSecond: answers before the baseline snapshot
// count in the totals but not in the rates, and the rates divide by the
// window's real length.
func TestStats_WindowIsTheLastSecond(t *testing.T) {
	clk := newClock()
	c := New(clk.now, Gauges{})
	observeN(c, 7, reserve, "s1", 202, time.Millisecond) // before the window
	c.Tick(t.Context())
	clk.add(TickEvery)
	observeN(c, 4, reserve, "s1", 202, time.Millisecond) // before the window too
	c.Tick(t.Context())
	for range 4 {
		clk.add(TickEvery)
		c.Tick(t.Context())
	}
	// The newest snapshot a second old is the second one: the window is
	// from there to now, 1 s, and holds what comes next.
	observeN(c, 5, reserve, "s1", 202, time.Millisecond)
	observeN(c, 3, reserve, "s1", 410, time.Millisecond)
	observeN(c, 2, reserve, "s1", 429, time.Millisecond)
	observeN(c, 1, "GET /sales/{saleId}", "s1", 500, time.Millisecond)
	observeN(c, 1, "GET /sales/{saleId}", "s1", 200, time.Millisecond)
	st := c.Stats(t.Context())
	if st.WindowSeconds != 1 {
		t.Fatalf("window = %v s, want 1", st.WindowSeconds)
	}
	s := saleOf(t, st, "s1")
	if want := (Rates{Accepted: 5, Gone: 3, Throttled: 2, Server: 1, OK: 1}); s.PerSecond != want {
		t.Errorf("per second = %+v, want %+v", s.PerSecond, want)
	}
	if want := (Counts{Accepted: 16, Gone: 3, Throttled: 2, Server: 1, OK: 1}); s.Total != want {
		t.Errorf("total = %+v, want %+v", s.Total, want)
	}

	// Between ticks the window reaches back to the same snapshot, so it is
	// longer than a second, and the rates say so.
	clk.add(TickEvery / 2)
	st = c.Stats(t.Context())
	if s := saleOf(t, st, "s1"); st.WindowSeconds != 1.125 || !near(s.PerSecond.Accepted, 5/1.125) {
		t.Errorf("window %v s, accepted/s %v; want 1.125 s and 5/1.125", st.WindowSeconds, s.PerSecond.Accepted)
	}
	// Two seconds of ticks with no traffic: the rates fall to 0, the
	// totals stay.
	for range 8 {
		clk.add(TickEvery)
		c.Tick(t.Context())
	}
	s = saleOf(t, c.Stats(t.Context()), "s1")
	if s.PerSecond != (Rates{}) || s.Total.Accepted != 16 {
		t.Errorf("after a quiet second: per second %+v, total accepted %d; want zeros and 16", s.PerSecond, s.Total.Accepted)
	}
	if s.LatencyMs != (Latency{}) {
		t.Errorf("latency of an empty window = %+v, want 0", s.LatencyMs)
	}
}

// TestStats_NoSnapshotYet: right after the start there is no window, so
// no rates, but the totals already count.
func TestStats_NoSnapshotYet(t *testing.T) {
	c := New(newClock().now, Gauges{})
	c.Observe(reserve, "s1", 202, time.Millisecond)
	st := c.Stats(t.Context())
	s := saleOf(t, st, "s1")
	if st.WindowSeconds != 0 || s.PerSecond != (Rates{}) || s.Total.Accepted != 1 {
		t.Errorf("window %v, per second %+v, total %+v; want 0, zeros, 1 accepted", st.WindowSeconds, s.PerSecond, s.Total)
	}
}

func TestStats_ErrorsByRoute(t *testing.T) {
	clk := newClock()
	c := New(clk.now, Gauges{})
	c.Tick(t.Context())
	clk.add(Window)
	observeN(c, 10, reserve, "s1", 202, time.Millisecond)
	observeN(c, 4, reserve, "s1", 410, time.Millisecond)
	observeN(c, 2, reserve, "s1", 409, time.Millisecond)
	observeN(c, 3, "POST /admin/sales/{saleId}/restock", "s1", 400, time.Millisecond)
	observeN(c, 6, "", "", 429, time.Millisecond)                        // the per-IP rule, before routing
	observeN(c, 5, "GET /sales/{saleId}", "nope", 404, time.Millisecond) // an unknown sale
	st := c.Stats(t.Context())
	s := saleOf(t, st, "s1")
	want := []Route{
		{Route: "POST /admin/sales/{saleId}/restock", PerSecond: Rates{Client: 3}, Total: Counts{Client: 3}},
		{Route: reserve, PerSecond: Rates{Gone: 4, Client: 2}, Total: Counts{Gone: 4, Client: 2}},
	}
	if fmt.Sprint(s.Routes) != fmt.Sprint(want) {
		t.Errorf("routes = %+v, want %+v (accepted answers are not errors)", s.Routes, want)
	}
	if len(st.Sales) != 1 {
		t.Errorf("sales = %+v, want only s1: a 404's sale ID gets no row", st.Sales)
	}
	o := st.Other
	if o.Total.Throttled != 6 || o.Total.Client != 5 || len(o.Routes) != 2 || o.Routes[0].Route != NoRoute {
		t.Errorf("other = %+v, want 6 throttled before routing and 5 not found", o)
	}
}

func TestObserve_BoundsTheSales(t *testing.T) {
	c := New(nil, Gauges{})
	for i := range MaxSales + 50 {
		c.Observe(reserve, fmt.Sprint("s", i), 202, time.Millisecond)
	}
	st := c.Stats(t.Context())
	if len(st.Sales) != MaxSales || st.Other.Total.Accepted != 50 {
		t.Errorf("%d sales and %d accepted elsewhere, want %d and 50", len(st.Sales), st.Other.Total.Accepted, MaxSales)
	}
}

func TestStats_Percentiles(t *testing.T) {
	clk := newClock()
	c := New(clk.now, Gauges{})
	c.Tick(t.Context())
	clk.add(Window)
	observeN(c, 98, reserve, "s1", 410, 2*time.Millisecond)
	observeN(c, 2, reserve, "s1", 202, 80*time.Millisecond)
	l := saleOf(t, c.Stats(t.Context()), "s1").LatencyMs
	if !near(l.P50, 2) || !near(l.P99, 80) {
		t.Errorf("p50 %v ms, p99 %v ms; want about 2 and 80", l.P50, l.P99)
	}
}

// near is within the histogram's resolution (12.5%).
func near(got, want float64) bool { return math.Abs(got-want) <= want/8 }

func TestHistogram_BucketsAreContiguousAndClose(t *testing.T) {
	prev := 0
	for us := int64(0); us < 1<<26; us += 1 + us/64 {
		b := bucketOf(time.Duration(us) * time.Microsecond)
		if b != prev && b != prev+1 {
			t.Fatalf("%d µs is in bucket %d after %d: buckets must be contiguous", us, b, prev)
		}
		prev = b
		if mid := bucketMid(b); us >= 4 && !near(mid, float64(us)) {
			t.Fatalf("%d µs is in bucket %d, whose middle %v is more than 12.5%% off", us, b, mid)
		}
	}
	if b := bucketOf(time.Hour); b != nBuckets-1 {
		t.Errorf("an hour is in bucket %d, want the last (%d)", b, nBuckets-1)
	}
	if b := bucketOf(-time.Second); b != 0 {
		t.Errorf("a negative latency (a clock step) is in bucket %d, want 0", b)
	}
}

// TestObserve_NoAllocation: once a sale and a route are known, counting
// an answer allocates nothing (it runs on every request).
func TestObserve_NoAllocation(t *testing.T) {
	c := New(nil, Gauges{})
	c.Observe(reserve, "s1", 410, time.Millisecond)
	c.Observe(reserve, "s1", 202, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		c.Observe(reserve, "s1", 410, time.Millisecond)
		c.Observe(reserve, "s1", 202, time.Millisecond)
	}); n != 0 {
		t.Errorf("Observe allocates %v times, want 0", n)
	}
}

func TestStats_Gauges(t *testing.T) {
	clk := newClock()
	var saleReads, queueReads atomic.Int64
	c := New(clk.now, Gauges{
		Sales: func(context.Context) ([]string, error) { return []string{"listed"}, nil },
		Sale: func(_ context.Context, id string) (SaleGauge, error) {
			saleReads.Add(1)
			if id == "gone" {
				return SaleGauge{}, errors.New("sale_not_found")
			}
			return SaleGauge{Name: "N " + id, Status: "open", Remaining: 42}, nil
		},
		Queue: func(context.Context) (Queue, error) { queueReads.Add(1); return Queue{Visible: 3, NotVisible: 2}, nil },
	})
	c.Observe(reserve, "traffic", 202, time.Millisecond)
	st := c.Stats(t.Context(), "asked", "gone")
	if len(st.Sales) != 4 {
		t.Fatalf("sales = %+v, want asked, gone, listed and traffic", st.Sales)
	}
	for _, id := range []string{"asked", "listed", "traffic"} {
		if s := saleOf(t, st, id); s.Remaining == nil || *s.Remaining != 42 || s.Status != "open" || s.Name != "N "+id {
			t.Errorf("sale %s = %+v, want the gauge's 42 remaining", id, s)
		}
	}
	if s := saleOf(t, st, "gone"); s.Remaining != nil || s.Error != "sale_not_found" {
		t.Errorf("unknown sale = %+v, want no remaining and the error", s)
	}
	if st.Queue == nil || *st.Queue != (Queue{3, 2}) {
		t.Errorf("queue = %v, want 3 visible, 2 in flight", st.Queue)
	}
	// Within GaugeEvery the readings are reused; after it, read again.
	reads := saleReads.Load()
	c.Stats(t.Context(), "asked")
	if saleReads.Load() != reads || queueReads.Load() != 1 {
		t.Errorf("a second read within %v read the gauges again", GaugeEvery)
	}
	clk.add(GaugeEvery)
	c.Stats(t.Context())
	if saleReads.Load() == reads || queueReads.Load() != 2 {
		t.Errorf("a read after %v reused stale gauges", GaugeEvery)
	}
}

// BenchmarkObserve is the cost the live view adds to each request, from
// as many goroutines as there are CPUs (the sold-out flood).
func BenchmarkObserve(b *testing.B) {
	c := New(nil, Gauges{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Observe(reserve, "s1", 410, time.Millisecond)
		}
	})
}

// TestStats_NoSalesIsAnEmptyList: the page iterates "sales", so a stack
// with no traffic and no sale must send [] rather than null.
func TestStats_NoSalesIsAnEmptyList(t *testing.T) {
	b, err := json.Marshal(New(nil, Gauges{}).Stats(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sales":[]`) {
		t.Errorf("stats = %s, want \"sales\":[]", b)
	}
}
