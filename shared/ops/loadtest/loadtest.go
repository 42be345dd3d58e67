// Package loadtest storms the purchase route of a flashsale API (the local
// gateway or a deployed one) and measures what comes back: counts per outcome,
// throughput, latency percentiles and a per-second time series for a chart.
//
// Two load models are offered. The open model sends
// requests at a constant arrival rate whatever the answers, as a crowd of
// independent phones does. The closed model runs N users that each send their
// next request only when the last one is answered, which measures what the
// server sustains at a fixed concurrency. Every run is bounded by a duration,
// a request count or both, and stops by itself.
package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Mode is a load model.
type Mode string

const (
	// Open sends requests at a constant rate, whether or not earlier ones
	// have been answered.
	Open Mode = "open"
	// Closed runs a fixed number of users, each looping request → answer.
	Closed Mode = "closed"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxInFlight = 1000
)

// body is the purchase every request makes.
var body = []byte(`{"quantity":1}`)

// Config describes one run.
type Config struct {
	// Target is the API's base URL, e.g. http://127.0.0.1:3000 or
	// https://abc123.execute-api.us-east-1.amazonaws.com/prod.
	Target string
	// SaleID is the sale to buy from: requests go to
	// POST {Target}/sales/{SaleID}/orders.
	SaleID string
	// Tokens are buyer JWTs; request i carries Tokens[i mod n], so the
	// crowd of buyers is as large as the list. With none, no Authorization
	// header is sent.
	Tokens []string
	// APIKey is sent as x-api-key when set.
	APIKey string

	Mode Mode
	// Rate is the open model's arrivals per second.
	Rate float64
	// Users is the closed model's concurrency.
	Users int
	// Duration stops new requests after this long; Requests stops them after
	// this many. At least one must be set; the run ends at whichever comes
	// first, once the requests in flight are answered.
	Duration time.Duration
	Requests int64

	// Timeout bounds each request (DefaultTimeout if zero).
	Timeout time.Duration
	// MaxInFlight caps the open model's concurrent requests, and so its
	// connections (DefaultMaxInFlight if zero). When the cap is reached the
	// achieved rate falls below Rate, which the result shows.
	MaxInFlight int
	// Progress, if set, is called about once a second, and once at the end,
	// from a goroutine of its own.
	Progress func(Progress)
	// OnAnswer, if set, sees every answer's status and body (its first
	// 1 KB), from many goroutines at once: e.g. to collect the 202 receipts.
	// An attempt refused at the admission step comes with a nil body.
	OnAnswer func(status int, body []byte)
	// PurchaseToken, if set, is called before every purchase for the
	// buyer it is made as (the index of its JWT in Tokens) and returns the
	// Purchase-Token to send ("" for none): e.g. a client.Client per buyer,
	// which runs challenge, solve and token the first time and caches the
	// token. If it fails, the attempt ends there and is recorded with the
	// status of its *client.APIError (410 once the sale sold out, 429, …),
	// or as no answer. An attempt's latency includes this step.
	PurchaseToken func(ctx context.Context, buyer int) (string, error)
	// HTTPFor, if set, is the HTTP client buyer's purchases go through (the
	// index of its JWT in Tokens): e.g. a client.Crowd's, so each buyer
	// comes from its own loopback address and the gateway's per-IP rule
	// sees a crowd, not one IP. Nil sends everything through one client.
	HTTPFor func(buyer int) *http.Client
}

// Progress is a live view of a run.
type Progress struct {
	Elapsed time.Duration
	Counts
	// NoAnswer is how many of Counts.Other got no HTTP answer at all
	// (timeouts and connection errors).
	NoAnswer int64
}

func (c *Config) validate() error {
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("target %q: want an http(s) URL", c.Target)
	}
	if c.SaleID == "" {
		return errors.New("no sale ID")
	}
	switch c.Mode {
	case Open:
		if c.Rate <= 0 {
			return fmt.Errorf("open model: rate %v: want > 0", c.Rate)
		}
	case Closed:
		if c.Users <= 0 {
			return fmt.Errorf("closed model: users %d: want > 0", c.Users)
		}
	default:
		return fmt.Errorf("mode %q: want %q or %q", c.Mode, Open, Closed)
	}
	if c.Duration < 0 || c.Requests < 0 {
		return errors.New("duration and requests must not be negative")
	}
	if c.Duration == 0 && c.Requests == 0 {
		return errors.New("give a duration, a request count or both, so the run ends")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return nil
}

// Run drives load as cfg says and returns what it measured. Cancelling ctx
// stops the run early; the result then covers the requests made so far and
// the error is ctx's.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, fmt.Errorf("load test: %w", err)
	}
	rec := newRecorder()
	stopProgress := rec.report(cfg.Progress)
	res := Result{Mode: cfg.Mode, Target: cfg.Target, SaleID: cfg.SaleID, StartedAt: rec.began.UTC(),
		TimeoutSeconds: cfg.Timeout.Seconds()}
	var err error
	switch cfg.Mode {
	case Open:
		res.Rate = cfg.Rate
		err = runOpen(ctx, cfg, rec)
	case Closed:
		res.Users = cfg.Users
		err = runClosed(ctx, cfg, rec)
	}
	stopProgress()
	samples, errs, elapsed := rec.done()
	summarize(&res, samples, elapsed, errs)
	if err == nil {
		err = ctx.Err()
	}
	return res, err
}

// requests builds the purchase requests of one run.
type requests struct {
	url    string
	tokens []string
	apiKey string
	// run prefixes every Idempotency-Key, so keys are fresh across runs too.
	run string
	// onAnswer, purchaseToken and httpFor are Config's OnAnswer,
	// PurchaseToken and HTTPFor.
	onAnswer      func(status int, body []byte)
	purchaseToken func(ctx context.Context, buyer int) (string, error)
	httpFor       func(buyer int) *http.Client
}

func newRequests(cfg Config) *requests {
	return &requests{
		url:           strings.TrimRight(cfg.Target, "/") + "/sales/" + url.PathEscape(cfg.SaleID) + "/orders",
		tokens:        cfg.Tokens,
		apiKey:        cfg.APIKey,
		run:           rand.Text()[:12],
		onAnswer:      cfg.OnAnswer,
		purchaseToken: cfg.PurchaseToken,
		httpFor:       cfg.HTTPFor,
	}
}

// buyer is the index of request seq's JWT in the token list.
func (r *requests) buyer(seq uint64) int {
	if len(r.tokens) == 0 {
		return 0
	}
	return int(seq % uint64(len(r.tokens)))
}

// target is request seq; its key is "lt-<run>-<seq>", which fits the API's
// 1–64 characters of [A-Za-z0-9_-].
func (r *requests) target(seq uint64) vegeta.Target {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Idempotency-Key", "lt-"+r.run+"-"+strconv.FormatUint(seq, 10))
	if len(r.tokens) > 0 {
		h.Set("Authorization", "Bearer "+r.tokens[r.buyer(seq)])
	}
	if r.apiKey != "" {
		h.Set("x-api-key", r.apiKey)
	}
	return vegeta.Target{Method: http.MethodPost, URL: r.url, Body: body, Header: h}
}

// newClient returns the HTTP client both models use: keep-alive connections,
// up to maxConns of them, each request bounded by timeout.
func newClient(timeout time.Duration, maxConns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	tr.MaxConnsPerHost = maxConns
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		// A redirect is an answer to report, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// recorder collects finished requests from many goroutines.
type recorder struct {
	began    time.Time
	mu       sync.Mutex
	samples  []sample
	errs     map[string]int64
	last     time.Duration   // end of the latest answer, since began
	counts   [4]atomic.Int64 // by index in Classes, for progress
	noAnswer atomic.Int64    // for progress
}

func newRecorder() *recorder {
	return &recorder{began: time.Now(), errs: map[string]int64{}}
}

// add records a request that started at start, took latency and was
// answered with status.
func (r *recorder) add(start time.Time, latency time.Duration, status int) {
	r.record(sample{start: start.Sub(r.began), latency: latency, status: status}, "")
}

// fail records a request that got no answer because of err; prefix says
// at which step (e.g. "admission: "). It counts as a timeout when err is
// one, e.g. the HTTP client's per-request timeout.
func (r *recorder) fail(start time.Time, latency time.Duration, prefix string, err error) {
	r.noAnswer.Add(1)
	r.record(sample{start: start.Sub(r.began), latency: latency, timeout: isTimeout(err)}, prefix+err.Error())
}

func (r *recorder) record(s sample, errText string) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	if s.status == 0 && errText != "" {
		r.errs[errText]++
	}
	r.last = max(r.last, s.start+s.latency)
	r.mu.Unlock()
	r.counts[classIndex(ClassOf(s.status))].Add(1)
}

// isTimeout tells a request that ran out of time from one that failed
// otherwise; net/http reports its Client.Timeout as a net.Error.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func classIndex(c Class) int {
	for i, k := range Classes {
		if k == c {
			return i
		}
	}
	return len(Classes) - 1
}

func (r *recorder) snapshot() Progress {
	p := Progress{Elapsed: time.Since(r.began), NoAnswer: r.noAnswer.Load()}
	for i, c := range Classes {
		p.add(c, r.counts[i].Load())
	}
	return p
}

// report calls progress every second until the returned stop is called,
// which also makes a final call.
func (r *recorder) report(progress func(Progress)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				progress(r.snapshot())
			case <-quit:
				progress(r.snapshot())
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// done returns the samples, the error counts and the run's wall time.
func (r *recorder) done() ([]sample, map[string]int64, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.samples, r.errs, r.last
}
