package loadtest

import (
	"context"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// runOpen sends cfg.Rate requests per second with vegeta's attacker, which
// paces arrivals on a schedule and adds workers when answers are slow, up to
// cfg.MaxInFlight.
func runOpen(ctx context.Context, cfg Config, rec *recorder) error {
	reqs := newRequests(cfg)
	var seq atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		n := seq.Add(1) - 1
		*t = reqs.target(n)
		return nil
	}
	atk := vegeta.NewAttacker(
		vegeta.Client(newClient(cfg.Timeout, cfg.MaxInFlight)),
		vegeta.Workers(uint64(min(cfg.MaxInFlight, 64))),
		vegeta.MaxWorkers(uint64(cfg.MaxInFlight)),
		vegeta.MaxBody(1024), // answers are small JSON; only OnAnswer sees them
	)
	pacer := countPacer{ConstantPacer: rateOf(cfg.Rate), max: cfg.Requests}

	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for r := range atk.Attack(vegeta.Targeter(targeter), pacer, cfg.Duration, "") {
		status := int(r.Code)
		errText := ""
		if status == 0 {
			errText = r.Error
		}
		rec.add(r.Timestamp, r.Latency, status, errText)
		if cfg.OnAnswer != nil && status != 0 {
			cfg.OnAnswer(status, r.Body)
		}
	}
	return nil
}

// rateOf turns requests per second into vegeta's rate; a fractional rate
// (2.5/s) becomes one request every 1/rate seconds.
func rateOf(perSecond float64) vegeta.Rate {
	if n := int(perSecond); float64(n) == perSecond {
		return vegeta.Rate{Freq: n, Per: time.Second}
	}
	return vegeta.Rate{Freq: 1, Per: time.Duration(float64(time.Second) / perSecond)}
}

// countPacer is a constant pacer that also stops after max hits (0: never),
// so an open-model run can be bounded by a request count.
type countPacer struct {
	vegeta.ConstantPacer
	max int64
}

// Pace implements vegeta.Pacer.
func (p countPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= uint64(p.max) {
		return 0, true
	}
	return p.ConstantPacer.Pace(elapsed, hits)
}
