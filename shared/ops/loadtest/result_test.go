package loadtest

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"
)

// durations returns 1..n milliseconds, shuffled when shuffle is set.
func durations(tb testing.TB, n int, shuffle bool) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	if shuffle {
		rand.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

func TestPercentile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{"1..100 p50", durations(t, 100, false), 50, 50 * ms},
		{"1..100 p95", durations(t, 100, false), 95, 95 * ms},
		{"1..100 p99", durations(t, 100, false), 99, 99 * ms},
		{"1..100 p100", durations(t, 100, false), 100, 100 * ms},
		{"1..100 p0 is the minimum", durations(t, 100, false), 0, 1 * ms},
		{"1..100 p99.5 rounds the rank up", durations(t, 100, false), 99.5, 100 * ms},
		{"1..10 p50", durations(t, 10, false), 50, 5 * ms},
		{"1..10 p99 is the maximum", durations(t, 10, false), 99, 10 * ms},
		{"1..1000 p99", durations(t, 1000, false), 99, 990 * ms},
		{"empty", nil, 50, 0},
		{"single value p50", []time.Duration{7 * ms}, 50, 7 * ms},
		{"single value p99", []time.Duration{7 * ms}, 99, 7 * ms},
		{"single value p0", []time.Duration{7 * ms}, 0, 7 * ms},
		{"two values p50 is the lower", []time.Duration{1 * ms, 9 * ms}, 50, 1 * ms},
		{"two values p51 is the upper", []time.Duration{1 * ms, 9 * ms}, 51, 9 * ms},
		{"p over 100 clamps", durations(t, 5, false), 150, 5 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.values, tc.p); got != tc.want {
				t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tc.values), tc.p, got, tc.want)
			}
		})
	}
}

func TestLatencyOf_SortsShuffledInput(t *testing.T) {
	got := latencyOf(durations(t, 100, true))
	want := Latency{Count: 100, P50Ms: 50, P95Ms: 95, P99Ms: 99, MaxMs: 100}
	if got != want {
		t.Errorf("latencyOf(shuffled 1..100 ms) = %+v, want %+v", got, want)
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Errorf("latencyOf(nil) = %+v, want zero", got)
	}
}

func TestClassOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   Class
	}{
		{"202 accepted", http.StatusAccepted, Accepted},
		{"410 sold out", http.StatusGone, SoldOut},
		{"429 throttled", http.StatusTooManyRequests, Throttled},
		{"200 is not an accepted purchase", http.StatusOK, Other},
		{"409 limit reached", http.StatusConflict, Other},
		{"401 unauthorized", http.StatusUnauthorized, Other},
		{"503 unavailable", http.StatusServiceUnavailable, Other},
		{"0 no answer", 0, Other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassOf(tc.status); got != tc.want {
				t.Errorf("ClassOf(%d) = %q, want %q", tc.status, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	at := func(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }
	samples := []sample{
		{start: at(0.1), latency: 10 * ms, status: 202},
		{start: at(0.2), latency: 20 * ms, status: 202},
		{start: at(0.9), latency: 30 * ms, status: 410},
		{start: at(1.0), latency: 40 * ms, status: 429},
		{start: at(1.5), latency: 50 * ms, status: 0},
		{start: at(1.6), latency: 55 * ms, status: 0, timeout: true},
		// Second 2 is empty; second 3 must still be its own bucket.
		{start: at(3.2), latency: 60 * ms, status: 500},
	}
	var r Result
	summarize(&r, samples, 4*time.Second, map[string]int64{"dial tcp: refused": 1})

	if r.Requests != 7 {
		t.Errorf("requests = %d, want 7", r.Requests)
	}
	if want := (Counts{Accepted: 2, SoldOut: 1, Throttled: 1, Other: 3}); r.Status != want {
		t.Errorf("status = %+v, want %+v", r.Status, want)
	}
	for code, want := range map[int]int64{202: 2, 410: 1, 429: 1, 0: 2, 500: 1} {
		if got := r.Codes[code]; got != want {
			t.Errorf("codes[%d] = %d, want %d", code, got, want)
		}
	}
	if want := (NoAnswer{Timeouts: 1, Errors: 1}); r.NoAnswer != want {
		t.Errorf("no answer = %+v, want %+v", r.NoAnswer, want)
	}
	if r.ThroughputPerSecond != 1.75 || r.AcceptedPerSecond != 0.5 {
		t.Errorf("throughput = %v/s, accepted %v/s; want 1.75 and 0.5", r.ThroughputPerSecond, r.AcceptedPerSecond)
	}
	if want := (Latency{Count: 7, P50Ms: 40, P95Ms: 60, P99Ms: 60, MaxMs: 60}); r.Latency != want {
		t.Errorf("latency = %+v, want %+v", r.Latency, want)
	}
	if got, want := r.LatencyByClass[Accepted], (Latency{Count: 2, P50Ms: 10, P95Ms: 20, P99Ms: 20, MaxMs: 20}); got != want {
		t.Errorf("accepted latency = %+v, want %+v", got, want)
	}
	if got, want := r.LatencyByClass[Other], (Latency{Count: 3, P50Ms: 55, P95Ms: 60, P99Ms: 60, MaxMs: 60}); got != want {
		t.Errorf("other latency = %+v, want %+v", got, want)
	}
	wantSeries := []Bucket{
		{Second: 0, Requests: 3, Accepted: 2, Rejected: 1, P50Ms: 20, P99Ms: 30},
		{Second: 1, Requests: 3, Rejected: 1, Timeouts: 1, Errors: 1, P50Ms: 50, P99Ms: 55},
		{Second: 2},
		{Second: 3, Requests: 1, Rejected: 1, P50Ms: 60, P99Ms: 60},
	}
	if !slices.Equal(r.Series, wantSeries) {
		t.Errorf("series =\n%+v\nwant\n%+v", r.Series, wantSeries)
	}
	if len(r.Errors) != 1 || r.Errors[0] != (ErrorCount{"dial tcp: refused", 1}) {
		t.Errorf("errors = %+v, want one dial error", r.Errors)
	}
}

func TestSummarize_Empty(t *testing.T) {
	var r Result
	summarize(&r, nil, 0, nil)
	if r.Requests != 0 || len(r.Series) != 0 || r.ThroughputPerSecond != 0 || r.Latency != (Latency{}) {
		t.Errorf("empty run = %+v, want zero measurements", r)
	}
}

func TestFormatCodes(t *testing.T) {
	tests := []struct {
		name  string
		codes map[int]int64
		want  string
	}{
		{"sorted, no answer last", map[int]int64{0: 490, 410: 3, 202: 10}, "202: 10, 410: 3, no answer: 490"},
		{"answers only", map[int]int64{403: 12}, "403: 12"},
		{"no answers only", map[int]int64{0: 5}, "no answer: 5"},
		{"empty", nil, "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatCodes(tc.codes); got != tc.want {
				t.Errorf("FormatCodes(%v) = %q, want %q", tc.codes, got, tc.want)
			}
		})
	}
}
