package loadtest

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Class groups answers the way a flash sale cares about them.
type Class string

const (
	// Accepted is a 202: a unit was reserved.
	Accepted Class = "accepted"
	// SoldOut is a 410 (sold_out, or sale_closed once the sale has ended).
	SoldOut Class = "soldOut"
	// Throttled is a 429 from the gateway's stage, method or usage-plan limits.
	Throttled Class = "throttled"
	// Other is every other status, and requests that got no answer at all
	// (connection error or timeout, recorded as status 0).
	Other Class = "other"
)

// Classes lists the classes in report order.
var Classes = []Class{Accepted, SoldOut, Throttled, Other}

// ClassOf classifies an HTTP status; 0 means no answer.
func ClassOf(status int) Class {
	switch status {
	case http.StatusAccepted:
		return Accepted
	case http.StatusGone:
		return SoldOut
	case http.StatusTooManyRequests:
		return Throttled
	default:
		return Other
	}
}

// Counts are requests per class.
type Counts struct {
	Accepted  int64 `json:"accepted"`
	SoldOut   int64 `json:"soldOut"`
	Throttled int64 `json:"throttled"`
	Other     int64 `json:"other"`
}

// Total is the number of requests counted.
func (c Counts) Total() int64 { return c.Accepted + c.SoldOut + c.Throttled + c.Other }

func (c *Counts) add(class Class, n int64) {
	switch class {
	case Accepted:
		c.Accepted += n
	case SoldOut:
		c.SoldOut += n
	case Throttled:
		c.Throttled += n
	default:
		c.Other += n
	}
}

// Latency summarises response times in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50Ms float64 `json:"p50Ms"`
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

// Bucket is one second of the run, by request start time, for the chart.
type Bucket struct {
	// Second counts from the start of the run: bucket 0 holds requests
	// started in [0 s, 1 s).
	Second   int   `json:"second"`
	Requests int64 `json:"requests"`
	Accepted int64 `json:"accepted"`
	// Rejected got an answer other than 202. The rest got no answer at
	// all: Timeouts ran out of the client's per-request timeout, Errors
	// failed otherwise (connection refused or reset, admission step failed).
	Rejected int64   `json:"rejected"`
	Timeouts int64   `json:"timeouts"`
	Errors   int64   `json:"errors"`
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
}

// NoAnswer counts the requests that got no HTTP answer (status 0 in Codes).
type NoAnswer struct {
	// Timeouts gave up after the client's per-request timeout.
	Timeouts int64 `json:"timeouts"`
	// Errors failed without an answer otherwise: connection refused or
	// reset, or an admission step that failed that way.
	Errors int64 `json:"errors"`
}

// ErrorCount is one distinct transport error and how often it happened.
type ErrorCount struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

// Result is what a run measured. It is the JSON the CLI writes with --out.
type Result struct {
	Mode   Mode   `json:"mode"`
	Target string `json:"target"`
	SaleID string `json:"saleId"`
	// Rate is the open model's requested arrival rate per second.
	Rate float64 `json:"rate,omitempty"`
	// Users is the closed model's number of concurrent users.
	Users     int       `json:"users,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// ElapsedSeconds runs from the start of the run to the last answer.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Requests       int64   `json:"requests"`
	Status         Counts  `json:"status"`
	// Codes counts every HTTP status seen; "0" means no answer, which
	// NoAnswer splits into timeouts and other errors.
	Codes    map[int]int64 `json:"codes"`
	NoAnswer NoAnswer      `json:"noAnswer"`
	// TimeoutSeconds is the client's per-request timeout, after which a
	// request counts in NoAnswer.Timeouts.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// ThroughputPerSecond is Requests / ElapsedSeconds.
	ThroughputPerSecond float64 `json:"throughputPerSecond"`
	// AcceptedPerSecond is Status.Accepted / ElapsedSeconds.
	AcceptedPerSecond float64           `json:"acceptedPerSecond"`
	Latency           Latency           `json:"latency"`
	LatencyByClass    map[Class]Latency `json:"latencyByClass"`
	Series            []Bucket          `json:"series"`
	// Errors are the most frequent transport errors (at most 10).
	Errors []ErrorCount `json:"errors,omitempty"`
}

// sample is one finished request.
type sample struct {
	start   time.Duration // since the run began
	latency time.Duration
	status  int  // 0: no answer
	timeout bool // no answer because the client's timeout ran out
}

// Percentile returns the p-th percentile (0-100) of sorted, which must be in
// ascending order, by the nearest-rank definition: the smallest value such
// that at least p% of the values are less than or equal to it, i.e.
// sorted[ceil(p/100·n)-1]. For 1..100 that gives p50 = 50 and p99 = 99. An
// empty input gives 0; p ≤ 0 gives the minimum and p ≥ 100 the maximum.
//
// It is written here rather than taken from vegeta, whose Metrics estimate
// quantiles with a t-digest: we need exact values per outcome class and per
// one-second bucket, which vegeta does not split out.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ms converts a duration to fractional milliseconds for JSON and charts.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyOf summarises lats, sorting it in place.
func latencyOf(lats []time.Duration) Latency {
	slices.Sort(lats)
	l := Latency{Count: int64(len(lats))}
	if len(lats) == 0 {
		return l
	}
	l.P50Ms = ms(Percentile(lats, 50))
	l.P95Ms = ms(Percentile(lats, 95))
	l.P99Ms = ms(Percentile(lats, 99))
	l.MaxMs = ms(lats[len(lats)-1])
	return l
}

// summarize turns samples into a Result's measurements. elapsed is the run's
// wall time; errs counts distinct transport errors.
func summarize(r *Result, samples []sample, elapsed time.Duration, errs map[string]int64) {
	r.ElapsedSeconds = elapsed.Seconds()
	r.Requests = int64(len(samples))
	r.Codes = map[int]int64{}
	r.LatencyByClass = map[Class]Latency{}
	r.Series = nil
	r.Status = Counts{}
	r.NoAnswer = NoAnswer{}

	all := make([]time.Duration, 0, len(samples))
	byClass := map[Class][]time.Duration{}
	var buckets [][]time.Duration
	var series []Bucket
	for _, s := range samples {
		class := ClassOf(s.status)
		r.Status.add(class, 1)
		r.Codes[s.status]++
		all = append(all, s.latency)
		byClass[class] = append(byClass[class], s.latency)

		sec := max(int(s.start/time.Second), 0)
		for len(series) <= sec {
			series = append(series, Bucket{Second: len(series)})
			buckets = append(buckets, nil)
		}
		b := &series[sec]
		b.Requests++
		switch {
		case s.status == 0 && s.timeout:
			b.Timeouts++
			r.NoAnswer.Timeouts++
		case s.status == 0:
			b.Errors++
			r.NoAnswer.Errors++
		case class == Accepted:
			b.Accepted++
		default:
			b.Rejected++
		}
		buckets[sec] = append(buckets[sec], s.latency)
	}
	for i, lats := range buckets {
		l := latencyOf(lats)
		series[i].P50Ms, series[i].P99Ms = l.P50Ms, l.P99Ms
	}
	r.Series = series
	r.Latency = latencyOf(all)
	for _, c := range Classes {
		if lats := byClass[c]; len(lats) > 0 {
			r.LatencyByClass[c] = latencyOf(lats)
		}
	}
	if secs := elapsed.Seconds(); secs > 0 {
		r.ThroughputPerSecond = float64(r.Requests) / secs
		r.AcceptedPerSecond = float64(r.Status.Accepted) / secs
	}
	r.Errors = topErrors(errs, 10)
}

// topErrors returns the n most frequent errors, most frequent first.
func topErrors(errs map[string]int64, n int) []ErrorCount {
	var out []ErrorCount
	for e, c := range errs {
		out = append(out, ErrorCount{Error: e, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Error < out[j].Error
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// FormatCodes lists status counts as "202: 10, 403: 12", by status, with
// the requests that got no answer (status 0) last as "no answer: 490", so no
// reader has to know that 0 means a timeout or a connection error.
func FormatCodes(codes map[int]int64) string {
	if len(codes) == 0 {
		return "none"
	}
	statuses := make([]int, 0, len(codes))
	for s := range codes {
		if s != 0 {
			statuses = append(statuses, s)
		}
	}
	slices.Sort(statuses)
	parts := make([]string, 0, len(codes))
	for _, s := range statuses {
		parts = append(parts, fmt.Sprintf("%d: %d", s, codes[s]))
	}
	if n := codes[0]; n > 0 {
		parts = append(parts, fmt.Sprintf("no answer: %d", n))
	}
	return strings.Join(parts, ", ")
}
