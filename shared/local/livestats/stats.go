package livestats

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Gauges read what the counters cannot know: the sales and their remaining
// stock, and the orders queue's depth. Stats calls them at most once per
// GaugeEvery, only while someone reads, so an idle stack makes no extra
// store or queue call. Any of them may be nil.
type Gauges struct {
	// Sales lists the sales worth showing without traffic, e.g. those
	// running or about to.
	Sales func(context.Context) ([]string, error)
	// Sale reads one sale as GET /sales/{id} shows it.
	Sale func(context.Context, string) (SaleGauge, error)
	// Queue reads the orders queue's depth.
	Queue func(context.Context) (Queue, error)
}

// SaleGauge is one sale's state as GET /sales/{id} shows it.
type SaleGauge struct {
	Name      string
	Status    string
	Remaining int64
}

// Queue is a queue's depth: SQS's ApproximateNumberOfMessages and
// ApproximateNumberOfMessagesNotVisible (received, not yet deleted).
type Queue struct {
	Visible    int64 `json:"visible"`
	NotVisible int64 `json:"notVisible"`
}

// GaugeEvery is how long a gauge reading is reused: GET /sales/{id} caches
// its remaining stock about as long.
const GaugeEvery = time.Second

// gaugeTimeout bounds one round of gauge reads.
const gaugeTimeout = 3 * time.Second

// Stats is what /_dashboard/stats answers.
type Stats struct {
	// At is when the counters were read; WindowSeconds how far back the
	// rates and percentiles reach (0 right after the start).
	At            time.Time `json:"at"`
	WindowSeconds float64   `json:"windowSeconds"`
	// Queue is the orders queue; QueueError says why it is missing.
	Queue      *Queue `json:"queue,omitempty"`
	QueueError string `json:"queueError,omitempty"`
	// Sales are the sales with traffic, those Gauges.Sales lists and those
	// asked for, by ID.
	Sales []Sale `json:"sales"`
	// Other counts the answers that name no sale, or an unknown one.
	Other Sale `json:"other"`
}

// Sale is one sale's figures.
type Sale struct {
	SaleID string `json:"saleId"`
	Name   string `json:"name,omitempty"`
	Status string `json:"status,omitempty"`
	// Remaining is the stock GET /sales/{id} reports; nil if unknown,
	// and then Error says why.
	Remaining *int64 `json:"remaining,omitempty"`
	Error     string `json:"error,omitempty"`
	// PerSecond is over the window; Total since the stack started.
	PerSecond Rates  `json:"perSecond"`
	Total     Counts `json:"total"`
	// LatencyMs is the gateway's time to answer over the window.
	LatencyMs Latency `json:"latencyMs"`
	// Routes are the error answers (410, 429, other 4xx, 5xx) by route.
	Routes []Route `json:"routes,omitempty"`
}

// Rates are answers a second, by class.
type Rates struct {
	Accepted  float64 `json:"accepted"`
	OK        float64 `json:"ok"`
	Gone      float64 `json:"gone"`
	Throttled float64 `json:"throttled"`
	Client    float64 `json:"other4xx"`
	Server    float64 `json:"5xx"`
}

// Counts are answers by class.
type Counts struct {
	Accepted  int64 `json:"accepted"`
	OK        int64 `json:"ok"`
	Gone      int64 `json:"gone"`
	Throttled int64 `json:"throttled"`
	Client    int64 `json:"other4xx"`
	Server    int64 `json:"5xx"`
}

// Latency percentiles in milliseconds; 0 with no answers in the window.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Route is one route's error answers.
type Route struct {
	Route     string `json:"route"`
	PerSecond Rates  `json:"perSecond"`
	Total     Counts `json:"total"`
}

func ratesOf(d [nClasses]int64, secs float64) Rates {
	if secs <= 0 {
		return Rates{}
	}
	return Rates{Accepted: float64(d[ClassAccepted]) / secs, OK: float64(d[ClassOK]) / secs,
		Gone: float64(d[ClassGone]) / secs, Throttled: float64(d[ClassThrottled]) / secs,
		Client: float64(d[ClassClient]) / secs, Server: float64(d[ClassServer]) / secs}
}

func countsOf(c [nClasses]int64) Counts {
	return Counts{Accepted: c[ClassAccepted], OK: c[ClassOK], Gone: c[ClassGone], Throttled: c[ClassThrottled],
		Client: c[ClassClient], Server: c[ClassServer]}
}

// Stats reads the counters now against the newest snapshot a Window old,
// and the gauges (cached GaugeEvery). want names sales to show even with no
// traffic and not listed by Gauges.Sales.
func (c *Collector) Stats(ctx context.Context, want ...string) Stats {
	now := c.snapshot()
	base, ok := c.baseline(now.at)
	st := Stats{At: now.at.UTC()}
	if ok {
		st.WindowSeconds = now.at.Sub(base.at).Seconds()
	}
	g := c.readGauges(ctx, want)
	st.Queue, st.QueueError = g.queue, g.queueErr

	ids := map[string]bool{}
	for id := range now.sales {
		ids[id] = true
	}
	for _, id := range g.listed {
		ids[id] = true
	}
	for _, id := range want {
		ids[id] = true
	}
	delete(ids, NoSale)
	st.Sales = []Sale{} // "sales":[] rather than null, for the page
	for id := range ids {
		s := figures(id, now.sales[id], base.sales[id], st.WindowSeconds)
		if sg, ok := g.sales[id]; ok {
			s.Name, s.Status = sg.gauge.Name, sg.gauge.Status
			if sg.err == "" {
				s.Remaining = &sg.gauge.Remaining
			}
			s.Error = sg.err
		}
		st.Sales = append(st.Sales, s)
	}
	slices.SortFunc(st.Sales, func(a, b Sale) int { return cmp.Compare(a.SaleID, b.SaleID) })
	st.Other = figures(NoSale, now.sales[NoSale], base.sales[NoSale], st.WindowSeconds)
	return st
}

// figures are one series' rates and percentiles between base and now.
func figures(id string, now, base seriesSnap, secs float64) Sale {
	s := Sale{SaleID: id, Total: countsOf(now.counts)}
	var d [nClasses]int64
	for i := range d {
		d[i] = now.counts[i] - base.counts[i]
	}
	s.PerSecond = ratesOf(d, secs)
	var h [nBuckets]int64
	for i := range h {
		h[i] = now.latency[i] - base.latency[i]
	}
	s.LatencyMs = Latency{P50: percentile(&h, 0.50), P99: percentile(&h, 0.99)}
	for r, c := range now.routes {
		b := base.routes[r]
		for i := range d {
			d[i] = c[i] - b[i]
		}
		s.Routes = append(s.Routes, Route{Route: r, PerSecond: ratesOf(d, secs), Total: countsOf(c)})
	}
	slices.SortFunc(s.Routes, func(a, b Route) int { return cmp.Compare(a.Route, b.Route) })
	return s
}

// gaugeCache is the last round of gauge reads.
type gaugeCache struct {
	at       time.Time
	listed   []string
	sales    map[string]saleReading
	queue    *Queue
	queueErr string
}

type saleReading struct {
	gauge SaleGauge
	err   string
}

// readGauges returns the gauges, read again if the last round is older
// than GaugeEvery or misses a sale in want. One reader reads at a time, so
// a page and a terminal watching together cost one round a second.
func (c *Collector) readGauges(ctx context.Context, want []string) gaugeCache {
	c.gaugeMu.Lock()
	defer c.gaugeMu.Unlock()
	now := c.now()
	fresh := !c.gauge.at.IsZero() && now.Sub(c.gauge.at) < GaugeEvery
	for _, id := range want {
		if _, ok := c.gauge.sales[id]; !ok {
			fresh = false
		}
	}
	if fresh {
		return c.gauge
	}
	ctx, cancel := context.WithTimeout(ctx, gaugeTimeout)
	defer cancel()
	g := gaugeCache{at: now, sales: map[string]saleReading{}}
	if c.gauges.Sales != nil {
		g.listed, _ = c.gauges.Sales(ctx) // a failed list still shows the sales with traffic
	}
	ids := slices.Concat(g.listed, want)
	for id := range *c.sales.Load() {
		ids = append(ids, id)
	}
	if c.gauges.Sale != nil {
		ids = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(ids))), func(id string) bool { return id == NoSale })
		readings := make([]saleReading, len(ids))
		sem := make(chan struct{}, 8) // a few reads at a time, not one per sale at once
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				sg, err := c.gauges.Sale(ctx, id)
				readings[i].gauge = sg
				if err != nil {
					readings[i].err = err.Error()
				}
			})
		}
		wg.Wait()
		for i, id := range ids {
			g.sales[id] = readings[i]
		}
	}
	if c.gauges.Queue != nil {
		if q, err := c.gauges.Queue(ctx); err != nil {
			g.queueErr = err.Error()
		} else {
			g.queue = &q
		}
	}
	c.gauge = g
	return g
}
