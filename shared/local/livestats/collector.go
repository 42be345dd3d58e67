// Package livestats is the local stack's live view of a sale: the gateway
// tells a Collector of every answer (Observe), and the dev stack's control
// port serves what it counted, a second at a time, as a page (/_dashboard),
// JSON (/_dashboard/stats) and server-sent events (/_dashboard/events) that
// `flashsale watch` and the page read. Per sale it shows accepted, sold-out
// and throttled answers a second, 4xx and 5xx by route, p50 and p99
// latency, and, read only while someone looks, the remaining stock and the
// orders queue's depth.
package livestats

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Class is what an answer counts as. The classes are disjoint, so the
// sum of all of them is every answer.
type Class int

const (
	ClassAccepted  Class = iota // 202: a purchase accepted
	ClassOK                     // any other 1xx, 2xx or 3xx
	ClassGone                   // 410: sold out or closed
	ClassThrottled              // 429: a throttle, the usage plan or the WAF rule
	ClassClient                 // any other 4xx
	ClassServer                 // 5xx
	nClasses
)

// ClassOf classifies an HTTP status.
func ClassOf(status int) Class {
	switch {
	case status == 202:
		return ClassAccepted
	case status == 410:
		return ClassGone
	case status == 429:
		return ClassThrottled
	case status >= 500:
		return ClassServer
	case status >= 400:
		return ClassClient
	default:
		return ClassOK
	}
}

// NoSale is the series of answers that name no sale (orders, webhook,
// admin routes, unknown routes) or a sale that does not exist.
const NoSale = ""

// NoRoute is the route of an answer given before routing: the WAF rule,
// a ban, or a path or method no route serves.
const NoRoute = "(no route)"

// MaxSales bounds the sales counted apart; answers for more go to NoSale.
// Only answers other than 404 create a sale's series, so made-up sale IDs
// cannot fill the table, but a bound keeps memory flat whatever comes.
const MaxSales = 256

// counts are cumulative answers by class.
type counts [nClasses]atomic.Int64

// series is everything counted for one sale.
type series struct {
	counts  counts
	latency histogram
	// routes counts the error answers (410, 429, other 4xx, 5xx) by route.
	// Copy-on-write: a route is added once, then read without a lock.
	routes atomic.Pointer[map[string]*counts]
	mu     sync.Mutex // serialises adding routes
}

// Collector counts answers with atomic counters (Observe, on the request
// path), keeps snapshots of them a quarter second apart (Tick), and turns
// the difference between now and about a second ago into rates and
// percentiles (Stats). It is safe for concurrent use.
type Collector struct {
	now    func() time.Time
	gauges Gauges

	// sales is copy-on-write: Observe reads it without a lock, and a new
	// sale (rare) copies it under mu.
	sales atomic.Pointer[map[string]*series]
	mu    sync.Mutex

	snapMu sync.Mutex
	snaps  []snapshot // oldest first, at most keepSnapshots old

	gaugeMu sync.Mutex
	gauge   gaugeCache
}

// TickEvery is how often the stack should call Tick: a second's window
// then spans 1 to 1.25 s.
const TickEvery = 250 * time.Millisecond

// Window is the span the rates and percentiles are computed over (at least).
const Window = time.Second

// keepSnapshots is how much history Tick keeps: enough for one window
// even if a tick runs late.
const keepSnapshots = 3 * time.Second

// New returns a Collector; now is its clock (nil: time.Now). gauges read the
// remaining stock and the queue's depth; any of them may be nil.
func New(now func() time.Time, gauges Gauges) *Collector {
	if now == nil {
		now = time.Now
	}
	c := &Collector{now: now, gauges: gauges}
	m := map[string]*series{NoSale: {}}
	c.sales.Store(&m)
	return c
}

// Observe counts one answer: route is the route's key ("POST
// /sales/{saleId}/orders") or "" before routing, saleID its {saleId} or "".
// It takes no lock and allocates nothing once the sale and route are known:
// it runs on every request, the sold-out flood's included.
func (c *Collector) Observe(route, saleID string, status int, latency time.Duration) {
	if status == 404 {
		saleID = NoSale
	}
	s := c.series(saleID)
	cl := ClassOf(status)
	s.counts[cl].Add(1)
	s.latency.add(latency)
	if cl >= ClassGone {
		s.route(route)[cl].Add(1)
	}
}

func (c *Collector) series(saleID string) *series {
	if s, ok := (*c.sales.Load())[saleID]; ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.sales.Load()
	if s, ok := old[saleID]; ok {
		return s
	}
	if len(old) > MaxSales {
		return old[NoSale]
	}
	m := make(map[string]*series, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	s := &series{}
	m[saleID] = s
	c.sales.Store(&m)
	return s
}

func (s *series) route(route string) *counts {
	if route == "" {
		route = NoRoute
	}
	if p := s.routes.Load(); p != nil {
		if r, ok := (*p)[route]; ok {
			return r
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old map[string]*counts
	if p := s.routes.Load(); p != nil {
		old = *p
	}
	if r, ok := old[route]; ok {
		return r
	}
	m := make(map[string]*counts, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	r := &counts{}
	m[route] = r
	s.routes.Store(&m)
	return r
}

// snapshot is a copy of every counter at one time.
type snapshot struct {
	at    time.Time
	sales map[string]seriesSnap
}

type seriesSnap struct {
	counts  [nClasses]int64
	latency [nBuckets]int64
	routes  map[string][nClasses]int64
}

func (c *Collector) snapshot() snapshot {
	sn := snapshot{at: c.now(), sales: map[string]seriesSnap{}}
	for id, s := range *c.sales.Load() {
		var ss seriesSnap
		for i := range ss.counts {
			ss.counts[i] = s.counts[i].Load()
		}
		for i := range ss.latency {
			ss.latency[i] = s.latency[i].Load()
		}
		if p := s.routes.Load(); p != nil {
			ss.routes = make(map[string][nClasses]int64, len(*p))
			for r, rc := range *p {
				var v [nClasses]int64
				for i := range v {
					v[i] = rc[i].Load()
				}
				ss.routes[r] = v
			}
		}
		sn.sales[id] = ss
	}
	return sn
}

// Tick records a snapshot of the counters, the baseline of a later window,
// and forgets those older than a window needs. The stack calls it every
// TickEvery; a test calls it after moving its clock.
func (c *Collector) Tick(context.Context) {
	sn := c.snapshot()
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	c.snaps = append(c.snaps, sn)
	keep := 0
	for keep < len(c.snaps)-1 && sn.at.Sub(c.snaps[keep+1].at) >= keepSnapshots {
		keep++
	}
	c.snaps = slices.Delete(c.snaps, 0, keep)
}

// baseline is the newest snapshot at least a Window before at, else the
// oldest one (a shorter window, right after the start), else none.
func (c *Collector) baseline(at time.Time) (snapshot, bool) {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	for i := len(c.snaps) - 1; i >= 0; i-- {
		if at.Sub(c.snaps[i].at) >= Window {
			return c.snaps[i], true
		}
	}
	if len(c.snaps) > 0 && c.snaps[0].at.Before(at) {
		return c.snaps[0], true
	}
	return snapshot{}, false
}

// histogram counts latencies in microseconds in log-linear buckets: four
// per power of two, so a percentile is within 12.5% of the true value
// (hand-written: a fixed array of atomics is all the hot path can afford,
// and it subtracts cleanly between snapshots).
type histogram [nBuckets]atomic.Int64

// nBuckets covers up to 2^26 µs (67 s), beyond any function's timeout.
const nBuckets = 104

func (h *histogram) add(d time.Duration) { h[bucketOf(d)].Add(1) }

func bucketOf(d time.Duration) int {
	us := d.Microseconds()
	if us < 4 {
		return max(int(us), 0)
	}
	shift := bits.Len64(uint64(us)) - 3 // the top three bits: 1 and a 2-bit sub-bucket
	i := (shift+1)*4 + int(uint64(us)>>shift) - 4
	return min(i, nBuckets-1)
}

// bucketMid is the middle of bucket i, in microseconds.
func bucketMid(i int) float64 {
	if i < 4 {
		return float64(i) + 0.5
	}
	shift := i/4 - 1
	lo := float64(int64(i%4+4) << shift)
	return lo + float64(int64(1)<<shift)/2
}

// percentile is the q-quantile (0..1) of the counts in h, in
// milliseconds; 0 when h is empty.
func percentile(h *[nBuckets]int64, q float64) float64 {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1 // the rank-th smallest, 1-based
	var seen int64
	for i, n := range h {
		if seen += n; seen >= rank {
			return bucketMid(i) / 1000
		}
	}
	return bucketMid(nBuckets-1) / 1000
}
