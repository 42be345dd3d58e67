// Package soak plays a long stretch of mixed traffic on a running flashsale
// API (buyers, replays, payments, cancels, order look-ups and settlement
// runs) while it samples the serving process's memory and goroutines, and
// tells whether either keeps growing. A leak that a minute-long test cannot
// see, such as a cache without a bound or a goroutine per request that never
// ends, shows up here as a slope.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"flashsale/shared/client"
	"flashsale/shared/webhook"
)

// Sample is one reading of the serving process.
type Sample struct {
	At         time.Duration `json:"at"`
	RSSBytes   int64         `json:"rssBytes"`
	Goroutines int           `json:"goroutines"`
}

// Config describes one soak run.
type Config struct {
	// Target is the API's base URL; SaleID an open sale with room for the
	// whole run (a high per-user limit and plenty of stock), SoldOutSaleID
	// one that is sold out (its purchases are the flood).
	Target        string
	SaleID        string
	SoldOutSaleID string
	// Buyers are buyer JWTs, one per user; APIKey is the usage-plan key.
	Buyers []string
	APIKey string
	// Admin is a JWT of group admin, for the settlement runs.
	Admin string
	// WebhookSecret signs the payments.
	WebhookSecret []byte

	// Duration is how long traffic runs; Every how often Sample is called
	// and every third sample asks for a settlement run.
	Duration time.Duration
	Every    time.Duration
	// Rate is the requests per second over all kinds; Workers bounds the
	// requests in flight.
	Rate    float64
	Workers int
	// Sample reads the serving process.
	Sample func() (Sample, error)
	// OnSample, when set, sees each sample as it is taken (for progress).
	OnSample func(Sample, Counts)
}

// Counts are the requests sent so far, by kind and by answer.
type Counts struct {
	ByKind   map[string]int64 `json:"byKind"`
	ByStatus map[int]int64    `json:"byStatus"`
	Failed   int64            `json:"failed"` // no answer at all
}

// Result is a whole run.
type Result struct {
	Samples []Sample `json:"samples"`
	Counts  Counts   `json:"counts"`
	// RSS and Goroutines judge the two series.
	RSS        Verdict `json:"rss"`
	Goroutines Verdict `json:"goroutines"`
}

// Verdict says whether a series kept growing, and why.
type Verdict struct {
	Growing bool   `json:"growing"`
	Reason  string `json:"reason"`
}

// Growing judges a series of samples taken at a steady load. The first
// quarter is warm-up (caches and pools fill) and is left out. The rest is
// cut in two halves: the series grows when the second half's median exceeds
// the first half's by more than relTol (a share) plus absTol. Medians make
// a level series with noise and GC swings pass, and a steady leak fail.
func Growing(xs []float64, relTol, absTol float64) Verdict {
	if len(xs) < 8 {
		return Verdict{Reason: fmt.Sprintf("only %d samples: too few to judge", len(xs))}
	}
	steady := xs[len(xs)/4:]
	half := len(steady) / 2
	first, second := median(steady[:half]), median(steady[half:])
	limit := first*(1+relTol) + absTol
	if second > limit {
		return Verdict{Growing: true, Reason: fmt.Sprintf("median rose from %.1f to %.1f, over the %.1f allowed", first, second, limit)}
	}
	return Verdict{Reason: fmt.Sprintf("median %.1f then %.1f, within %.1f", first, second, limit)}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Tolerances for Run's verdicts: RSS (in MiB) may drift 25% plus 16 MiB
// (the Go heap breathes with GC cycles), goroutines 20% plus 20
// (connections come and go).
const (
	rssRelTol, rssAbsTol = 0.25, 16
	grRelTol, grAbsTol   = 0.20, 20
)

// Run plays the traffic for cfg.Duration and samples every cfg.Every. It
// stops by itself; ctx stops it early.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Target == "" || cfg.SaleID == "" || cfg.SoldOutSaleID == "" || len(cfg.Buyers) == 0 || cfg.Sample == nil || cfg.Duration <= 0 || cfg.Every <= 0 || cfg.Rate <= 0 {
		return Result{}, errors.New("soak: need a target, an open and a sold-out sale, buyers, a sampler, a duration, an interval and a rate")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	// Longer than API Gateway's 29 s, so a slow answer (an on-demand
	// settlement waiting for the schedule's lease) is heard, not cut.
	p := &player{cfg: cfg, http: &http.Client{Timeout: 35 * time.Second}, crowd: &client.Crowd{Timeout: 35 * time.Second},
		counts: newCounter()}
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()

	var wg sync.WaitGroup
	limiter := rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Workers)
	for w := range cfg.Workers {
		rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		wg.Go(func() {
			for limiter.Wait(runCtx) == nil {
				p.step(runCtx, rng)
			}
		})
	}

	var res Result
	start := time.Now()
	take := func() error {
		s, err := cfg.Sample()
		if err != nil {
			return fmt.Errorf("sample the serving process: %w", err)
		}
		s.At = time.Since(start).Round(time.Second)
		res.Samples = append(res.Samples, s)
		if cfg.OnSample != nil {
			cfg.OnSample(s, p.counts.snapshot())
		}
		return nil
	}
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	var sampleErr error
	if sampleErr = take(); sampleErr == nil {
	loop:
		for {
			select {
			case <-runCtx.Done():
				break loop
			case <-tick.C:
				if sampleErr = take(); sampleErr != nil {
					break loop
				}
				// Every third sample, an on-demand settlement beside the
				// stack's own schedule; on its own goroutine, so a run
				// that waits for the schedule's lease delays no sample.
				if len(res.Samples)%3 == 0 {
					wg.Go(func() { p.settle(runCtx) })
				}
			}
		}
	}
	stop()
	wg.Wait()
	if sampleErr != nil {
		return res, sampleErr
	}
	res.Counts = p.counts.snapshot()
	rss, gr := make([]float64, len(res.Samples)), make([]float64, len(res.Samples))
	for i, s := range res.Samples {
		rss[i], gr[i] = float64(s.RSSBytes)/(1<<20), float64(s.Goroutines) // RSS in MiB, as the verdict says it
	}
	res.RSS = Growing(rss, rssRelTol, rssAbsTol)
	res.Goroutines = Growing(gr, grRelTol, grAbsTol)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// player sends the traffic and remembers what it can act on next.
type player struct {
	cfg  Config
	http *http.Client // the payment provider's and the operators' calls
	// crowd sends each buyer from its own loopback address, so the
	// gateway's per-IP rule sees a crowd, as it would deployed.
	crowd  *client.Crowd
	counts *counter

	mu       sync.Mutex
	reserved []purchase // orders that may be paid or cancelled
	recent   []purchase // purchases whose keys may be replayed
}

type purchase struct {
	buyer   int
	key     string
	orderID string
	amount  int64
	curr    string
}

// Mix is the share of each kind of request, in percent. Half is the flood
// a flash sale mostly is: purchases on a sold-out sale, answered from
// memory. About an eighth are real purchases, so the sale's order count,
// which every settlement pass reads, grows by some ten thousand in ten
// minutes: the soak looks for leaks in the serving process, not for the
// cost of an ever bigger sale. Some orders are paid, a few cancelled, and
// the rest expire and come back on sale through settlement.
var Mix = []struct {
	Kind   string
	Weight int
}{
	{"sold-out", 50}, {"buy", 12}, {"replay", 10}, {"pay", 5}, {"cancel", 3}, {"my-orders", 10}, {"sale-info", 10},
}

func (p *player) step(ctx context.Context, rng *rand.Rand) {
	n := rng.IntN(100)
	kind := Mix[0].Kind
	for _, m := range Mix {
		if n < m.Weight {
			kind = m.Kind
			break
		}
		n -= m.Weight
	}
	switch kind {
	case "sold-out":
		p.call(ctx, kind, http.MethodPost, "/sales/"+p.cfg.SoldOutSaleID+"/orders", p.cfg.Buyers[rng.IntN(len(p.cfg.Buyers))],
			map[string]string{"Idempotency-Key": client.NewKey(), "Content-Type": "application/json"}, []byte(`{"quantity":1}`))
	case "buy":
		p.buy(ctx, kind, rng.IntN(len(p.cfg.Buyers)), client.NewKey())
	case "replay":
		if pu, ok := p.pick(&p.recent, rng, false); ok {
			p.buy(ctx, kind, pu.buyer, pu.key)
			return
		}
		p.buy(ctx, "buy", rng.IntN(len(p.cfg.Buyers)), client.NewKey())
	case "pay":
		if pu, ok := p.pick(&p.reserved, rng, true); ok {
			p.pay(ctx, pu)
		}
	case "cancel":
		if pu, ok := p.pick(&p.reserved, rng, true); ok {
			p.call(ctx, "cancel", http.MethodDelete, "/orders/"+pu.orderID, p.cfg.Buyers[pu.buyer], nil, nil)
		}
	case "my-orders":
		p.call(ctx, kind, http.MethodGet, "/sales/"+p.cfg.SaleID+"/my-orders", p.cfg.Buyers[rng.IntN(len(p.cfg.Buyers))], nil, nil)
	case "sale-info":
		p.call(ctx, kind, http.MethodGet, "/sales/"+p.cfg.SaleID, "", nil, nil)
	}
}

// pick returns a random element of list, removing it when take is set.
func (p *player) pick(list *[]purchase, rng *rand.Rand, take bool) (purchase, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(*list) == 0 {
		return purchase{}, false
	}
	i := rng.IntN(len(*list))
	pu := (*list)[i]
	if take {
		(*list)[i] = (*list)[len(*list)-1]
		*list = (*list)[:len(*list)-1]
	}
	return pu, true
}

// keep bounds the lists, so the player's own memory stays level.
const keep = 2000

func (p *player) buy(ctx context.Context, kind string, buyer int, key string) {
	var rc struct {
		OrderID     string `json:"orderId"`
		AmountCents int64  `json:"amountCents"`
		Currency    string `json:"currency"`
	}
	status, replayed := p.call(ctx, kind, http.MethodPost, "/sales/"+p.cfg.SaleID+"/orders", p.cfg.Buyers[buyer],
		map[string]string{"Idempotency-Key": key, "Content-Type": "application/json"}, []byte(`{"quantity":1}`), &rc)
	if status != http.StatusAccepted || replayed {
		return
	}
	pu := purchase{buyer: buyer, key: key, orderID: rc.OrderID, amount: rc.AmountCents, curr: rc.Currency}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reserved) < keep {
		p.reserved = append(p.reserved, pu)
	}
	if len(p.recent) >= keep {
		p.recent = p.recent[keep/2:]
	}
	p.recent = append(p.recent, pu)
}

func (p *player) pay(ctx context.Context, pu purchase) {
	body, _ := json.Marshal(map[string]any{"eventId": "evt_" + client.NewKey(), "orderId": pu.orderID,
		"amountCents": pu.amount, "currency": pu.curr, "status": "succeeded"})
	p.call(ctx, "pay", http.MethodPost, "/payments/webhook", "",
		map[string]string{webhook.Header: webhook.Sign(p.cfg.WebhookSecret, time.Now(), body), "Content-Type": "application/json"}, body)
}

// settle asks for one settlement run, as an operator would.
func (p *player) settle(ctx context.Context) {
	p.call(ctx, "settle", http.MethodPost, "/admin/sales/"+p.cfg.SaleID+"/settle", p.cfg.Admin, nil, nil)
}

// call sends one request and counts it; it decodes a 2xx body into the
// optional out and reports whether the answer was a replay.
func (p *player) call(ctx context.Context, kind, method, path, token string, header map[string]string, body []byte, out ...any) (int, bool) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(p.cfg.Target, "/")+path, bytes.NewReader(body))
	if err != nil {
		p.counts.add(kind, 0)
		return 0, false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("x-api-key", p.cfg.APIKey)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := p.http
	if token != "" {
		hc = p.crowd.HTTP(token) // the buyer's JWT names the buyer
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			p.counts.add(kind, 0)
		}
		return 0, false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p.counts.add(kind, resp.StatusCode)
	if resp.StatusCode/100 == 2 && len(out) > 0 {
		_ = json.Unmarshal(raw, out[0]) // a body we cannot read is only not acted on
	}
	return resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true"
}

type counter struct {
	mu       sync.Mutex
	byKind   map[string]int64
	byStatus map[int]int64
	failed   atomic.Int64
}

func newCounter() *counter { return &counter{byKind: map[string]int64{}, byStatus: map[int]int64{}} }

func (c *counter) add(kind string, status int) {
	if status == 0 {
		c.failed.Add(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKind[kind]++
	if status != 0 {
		c.byStatus[status]++
	}
}

func (c *counter) snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Counts{ByKind: map[string]int64{}, ByStatus: map[int]int64{}, Failed: c.failed.Load()}
	for k, v := range c.byKind {
		out.ByKind[k] = v
	}
	for k, v := range c.byStatus {
		out.ByStatus[k] = v
	}
	return out
}
