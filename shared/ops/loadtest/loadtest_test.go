package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/client"
)

// server is a purchase endpoint that counts what arrives: requests, the
// largest number in flight at once, and the requests themselves.
type server struct {
	*httptest.Server
	arrivals atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, body string
	header             http.Header
}

// newServer starts a server answering request n (0-based, in arrival order)
// with status(n) after delay(n).
func newServer(tb testing.TB, status func(n int64) int, delay func(n int64) time.Duration) *server {
	tb.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.arrivals.Add(1) - 1
		cur := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxIn.Load()
			if cur <= m || s.maxIn.CompareAndSwap(m, cur) {
				break
			}
		}
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{r.Method, r.URL.Path, string(b), r.Header.Clone()})
		s.mu.Unlock()
		if delay != nil {
			time.Sleep(delay(n))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status(n))
		io.WriteString(w, `{}`)
	}))
	tb.Cleanup(s.Close)
	return s
}

func always(code int) func(int64) int { return func(int64) int { return code } }

func sleep(d time.Duration) func(int64) time.Duration { return func(int64) time.Duration { return d } }

// run runs cfg against the server with the sale and target filled in.
func run(tb testing.TB, s *server, cfg Config) Result {
	tb.Helper()
	cfg.Target = s.URL
	if cfg.SaleID == "" {
		cfg.SaleID = "s1"
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return res
}

func TestRun_OpenRateAccuracy(t *testing.T) {
	s := newServer(t, always(http.StatusAccepted), sleep(2*time.Millisecond))
	const rate, dur = 200, 2 * time.Second
	start := time.Now()
	res := run(t, s, Config{Mode: Open, Rate: rate, Duration: dur})
	took := time.Since(start)

	want := float64(rate) * dur.Seconds()
	got := float64(s.arrivals.Load())
	if got < 0.9*want || got > 1.1*want {
		t.Errorf("server saw %v requests in %v at %d/s, want %v ±10%%", got, dur, rate, want)
	}
	if res.Requests != s.arrivals.Load() {
		t.Errorf("result counts %d requests, server saw %d", res.Requests, s.arrivals.Load())
	}
	if res.ThroughputPerSecond < 0.9*rate || res.ThroughputPerSecond > 1.1*rate {
		t.Errorf("throughput = %.1f/s, want %d ±10%%", res.ThroughputPerSecond, rate)
	}
	// Arrivals are spread over the run, not bunched: each full second is near the rate.
	for _, b := range res.Series[:2] {
		if b.Requests < 0.85*rate || b.Requests > 1.15*rate {
			t.Errorf("second %d had %d requests, want %d ±15%%", b.Second, b.Requests, rate)
		}
	}
	if took > dur+time.Second {
		t.Errorf("run took %v, want it to stop by itself shortly after %v", took, dur)
	}
}

func TestRun_OpenStopsAtRequestCount(t *testing.T) {
	s := newServer(t, always(http.StatusAccepted), nil)
	start := time.Now()
	res := run(t, s, Config{Mode: Open, Rate: 500, Requests: 50, Duration: 30 * time.Second})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run took %v, want it to stop after 50 requests (~0.1 s)", took)
	}
	if got := s.arrivals.Load(); got != 50 {
		t.Errorf("server saw %d requests, want 50", got)
	}
	if res.Requests != 50 || res.Status.Accepted != 50 {
		t.Errorf("result: %d requests, %d accepted; want 50 and 50", res.Requests, res.Status.Accepted)
	}
}

func TestRun_ClosedConcurrencyNeverExceedsUsers(t *testing.T) {
	const users = 8
	s := newServer(t, always(http.StatusGone), sleep(10*time.Millisecond))
	res := run(t, s, Config{Mode: Closed, Users: users, Duration: time.Second})
	if got := s.maxIn.Load(); got > users {
		t.Errorf("server saw %d requests in flight at once, want at most %d", got, users)
	}
	// With a 10 ms answer all users overlap; fewer would mean they do not run concurrently.
	if got := s.maxIn.Load(); got < users {
		t.Errorf("server saw at most %d in flight, want all %d users at once", got, users)
	}
	// Each user loops: ~100 requests each in 1 s at 10 ms apiece.
	if res.Requests < users*30 {
		t.Errorf("requests = %d, want users looping (≥ %d)", res.Requests, users*30)
	}
	if res.Status.SoldOut != res.Requests {
		t.Errorf("sold out = %d of %d, want all", res.Status.SoldOut, res.Requests)
	}
}

func TestRun_ClosedStopsAtRequestCount(t *testing.T) {
	s := newServer(t, always(http.StatusAccepted), nil)
	res := run(t, s, Config{Mode: Closed, Users: 4, Requests: 37})
	if got := s.arrivals.Load(); got != 37 {
		t.Errorf("server saw %d requests, want 37", got)
	}
	if res.Requests != 37 {
		t.Errorf("result counts %d requests, want 37", res.Requests)
	}
}

func TestRun_ClosedStopsAtDuration(t *testing.T) {
	s := newServer(t, always(http.StatusAccepted), sleep(5*time.Millisecond))
	start := time.Now()
	res := run(t, s, Config{Mode: Closed, Users: 4, Duration: 500 * time.Millisecond})
	took := time.Since(start)
	if took < 500*time.Millisecond || took > time.Second {
		t.Errorf("run took %v, want 500 ms plus the last answers", took)
	}
	if res.ElapsedSeconds < 0.5 || res.ElapsedSeconds > 1 {
		t.Errorf("elapsed = %.3f s, want 0.5–1", res.ElapsedSeconds)
	}
	if res.Requests != s.arrivals.Load() {
		t.Errorf("result counts %d requests, server saw %d", res.Requests, s.arrivals.Load())
	}
}

func TestRun_ClassifiesAnswers(t *testing.T) {
	codes := []int{202, 410, 429, 409, 503}
	status := func(n int64) int { return codes[n%int64(len(codes))] }
	// Accepted answers are slow, so per-class latency must tell them apart.
	delay := func(n int64) time.Duration {
		if status(n) == 202 {
			return 20 * time.Millisecond
		}
		return 0
	}
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			s := newServer(t, status, delay)
			// One user (or a slow rate) keeps arrival order equal to request order.
			res := run(t, s, Config{Mode: mode, Users: 1, Rate: 200, Requests: 50})
			if want := (Counts{Accepted: 10, SoldOut: 10, Throttled: 10, Other: 20}); res.Status != want {
				t.Errorf("status = %+v, want %+v", res.Status, want)
			}
			for _, c := range codes {
				if got := res.Codes[c]; got != 10 {
					t.Errorf("codes[%d] = %d, want 10", c, got)
				}
			}
			if got := res.LatencyByClass[Accepted].P50Ms; got < 20 {
				t.Errorf("accepted p50 = %.1f ms, want ≥ 20 (the server's delay)", got)
			}
			if got := res.LatencyByClass[SoldOut].P50Ms; got >= 20 {
				t.Errorf("sold-out p50 = %.1f ms, want < 20 (answered at once)", got)
			}
			if got := res.LatencyByClass[Other].Count; got != 20 {
				t.Errorf("other latency count = %d, want 20", got)
			}
		})
	}
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func TestRun_SendsPurchaseRequests(t *testing.T) {
	tokens := []string{"tok-a", "tok-b", "tok-c"}
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			s := newServer(t, always(http.StatusAccepted), nil)
			// One closed-model user still rotates through every token: the
			// crowd is the token list, not the concurrency.
			run(t, s, Config{Mode: mode, Rate: 500, Users: 1, Requests: 30, SaleID: "spring-1",
				Tokens: tokens, APIKey: "key-123"})
			keys := map[string]bool{}
			byToken := map[string]int{}
			for _, r := range s.seen {
				if r.method != http.MethodPost || r.path != "/sales/spring-1/orders" {
					t.Errorf("request %s %s, want POST /sales/spring-1/orders", r.method, r.path)
				}
				if r.body != `{"quantity":1}` {
					t.Errorf("body %q, want {\"quantity\":1}", r.body)
				}
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q, want application/json", got)
				}
				if got := r.header.Get("x-api-key"); got != "key-123" {
					t.Errorf("x-api-key %q, want key-123", got)
				}
				k := r.header.Get("Idempotency-Key")
				if !keyPattern.MatchString(k) {
					t.Errorf("Idempotency-Key %q does not match %s", k, keyPattern)
				}
				if keys[k] {
					t.Errorf("Idempotency-Key %q sent twice, want a fresh key per request", k)
				}
				keys[k] = true
				byToken[r.header.Get("Authorization")]++
			}
			if len(s.seen) != 30 {
				t.Fatalf("server saw %d requests, want 30", len(s.seen))
			}
			for _, tok := range tokens {
				if got := byToken["Bearer "+tok]; got != 10 {
					t.Errorf("token %s sent %d times, want 10 (round robin); counts: %v", tok, got, byToken)
				}
			}
			if len(byToken) != len(tokens) {
				t.Errorf("Authorization values %v, want only the %d tokens", byToken, len(tokens))
			}
		})
	}
}

func TestRun_NoAnswerIsOther(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	target := dead.URL
	dead.Close() // nothing listens there now
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			res, err := Run(context.Background(), Config{Target: target, SaleID: "s1", Mode: mode,
				Rate: 100, Users: 2, Requests: 5, Timeout: time.Second})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Requests != 5 || res.Status.Other != 5 || res.Codes[0] != 5 {
				t.Errorf("requests %d, other %d, codes[0] %d; want 5, 5, 5", res.Requests, res.Status.Other, res.Codes[0])
			}
			if len(res.Errors) == 0 || res.Errors[0].Count == 0 {
				t.Errorf("errors = %+v, want the connection error counted", res.Errors)
			}
			if e := res.Series[0].Errors; e != 5 {
				t.Errorf("series[0].errors = %d, want 5", e)
			}
			if want := (NoAnswer{Errors: 5}); res.NoAnswer != want {
				t.Errorf("no answer = %+v, want %+v (refused, not timed out)", res.NoAnswer, want)
			}
		})
	}
}

// TestRun_TimeoutsAreNamed: requests the server never answers count as
// client timeouts, apart from connection errors, in the totals and the series.
func TestRun_TimeoutsAreNamed(t *testing.T) {
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			release := make(chan struct{})
			hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select { // hold the answer until the client gives up
				case <-r.Context().Done():
				case <-release:
				}
			}))
			defer hang.Close()
			defer close(release)
			res, err := Run(context.Background(), Config{Target: hang.URL, SaleID: "s1", Mode: mode,
				Rate: 100, Users: 3, Requests: 3, Timeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := (NoAnswer{Timeouts: 3}); res.NoAnswer != want {
				t.Errorf("no answer = %+v, want %+v; errors %+v", res.NoAnswer, want, res.Errors)
			}
			if res.Codes[0] != 3 || res.TimeoutSeconds != 0.05 {
				t.Errorf("codes[0] = %d, timeout %v s; want 3 and 0.05", res.Codes[0], res.TimeoutSeconds)
			}
			var timeouts int64
			for _, b := range res.Series {
				timeouts += b.Timeouts
				if b.Errors != 0 {
					t.Errorf("second %d: %d errors, want 0 (they were timeouts)", b.Second, b.Errors)
				}
			}
			if timeouts != 3 {
				t.Errorf("timeouts in the series = %d, want 3", timeouts)
			}
		})
	}
}

func TestRun_StopsWhenCancelled(t *testing.T) {
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			s := newServer(t, always(http.StatusAccepted), sleep(time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := Run(ctx, Config{Target: s.URL, SaleID: "s1", Mode: mode, Rate: 100, Users: 2, Duration: time.Minute})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("run took %v after cancelling at 300 ms", took)
			}
			if res.Requests == 0 {
				t.Error("cancelled run reported no requests, want the partial result")
			}
		})
	}
}

func TestRun_Progress(t *testing.T) {
	s := newServer(t, always(http.StatusAccepted), nil)
	var mu sync.Mutex
	var got []Progress
	run(t, s, Config{Mode: Open, Rate: 100, Duration: 1500 * time.Millisecond, Progress: func(p Progress) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}})
	mu.Lock()
	defer mu.Unlock()
	// One tick at 1 s and the final call.
	if len(got) != 2 {
		t.Fatalf("progress called %d times, want 2", len(got))
	}
	if last := got[len(got)-1]; last.Total() != s.arrivals.Load() {
		t.Errorf("final progress counts %d, server saw %d", last.Total(), s.arrivals.Load())
	}
}

func TestRun_RejectsUnboundedOrInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no bound", Config{Target: "http://127.0.0.1:1", SaleID: "s", Mode: Closed, Users: 1}},
		{"bad target", Config{Target: "127.0.0.1:1", SaleID: "s", Mode: Closed, Users: 1, Requests: 1}},
		{"no sale", Config{Target: "http://127.0.0.1:1", Mode: Closed, Users: 1, Requests: 1}},
		{"open without rate", Config{Target: "http://127.0.0.1:1", SaleID: "s", Mode: Open, Requests: 1}},
		{"closed without users", Config{Target: "http://127.0.0.1:1", SaleID: "s", Mode: Closed, Requests: 1}},
		{"unknown mode", Config{Target: "http://127.0.0.1:1", SaleID: "s", Mode: "burst", Requests: 1}},
		{"negative duration", Config{Target: "http://127.0.0.1:1", SaleID: "s", Mode: Closed, Users: 1, Duration: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); err == nil {
				t.Errorf("Run(%+v) = nil error, want a config error", tc.cfg)
			}
		})
	}
}

// TestRun_PurchaseTokenPerBuyer: every purchase carries its own buyer's
// Purchase-Token, and an attempt refused at the admission step is recorded
// with that answer's status and sends no order.
func TestRun_PurchaseTokenPerBuyer(t *testing.T) {
	for _, mode := range []Mode{Open, Closed} {
		t.Run(string(mode), func(t *testing.T) {
			s := newServer(t, always(http.StatusAccepted), nil)
			var calls atomic.Int64
			res := run(t, s, Config{Mode: mode, Rate: 500, Users: 2, Requests: 30, Tokens: []string{"a", "b", "c"},
				PurchaseToken: func(_ context.Context, buyer int) (string, error) {
					calls.Add(1)
					if buyer == 2 { // buyer c is refused: the sale sold out before its challenge
						return "", &client.APIError{Status: http.StatusGone, Code: "sold_out"}
					}
					return fmt.Sprintf("pt-%d", buyer), nil
				}})
			if calls.Load() != 30 {
				t.Errorf("PurchaseToken called %d times, want 30 (once per attempt)", calls.Load())
			}
			if res.Requests != 30 || res.Status.Accepted != 20 || res.Status.SoldOut != 10 {
				t.Errorf("result: %d requests, %d accepted, %d sold out; want 30, 20, 10", res.Requests, res.Status.Accepted, res.Status.SoldOut)
			}
			if len(s.seen) != 20 {
				t.Errorf("server saw %d orders, want 20: buyer c never gets to order", len(s.seen))
			}
			for _, r := range s.seen {
				want := map[string]string{"Bearer a": "pt-0", "Bearer b": "pt-1"}[r.header.Get("Authorization")]
				if got := r.header.Get("Purchase-Token"); got != want {
					t.Errorf("%s sent Purchase-Token %q, want %q", r.header.Get("Authorization"), got, want)
				}
			}
		})
	}
}
