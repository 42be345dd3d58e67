package loadtest

import (
	"context"
	"sync"
	"time"
)

// runOpen starts a request every 1/Rate seconds on a fixed schedule,
// whatever the answers, each on a goroutine of its own, with at most
// cfg.MaxInFlight in flight. When the cap is reached the next arrival waits
// for a free slot and the schedule restarts from then, so the achieved rate
// falls below Rate rather than bursting to catch up.
//
// It used to be vegeta's attacker, whose targeter must hand over a ready
// HTTP request; a buyer's first request now starts with the admission step
// (challenge, solve, token), which is not a request vegeta can send.
func runOpen(ctx context.Context, cfg Config, rec *recorder) error {
	reqs := newRequests(cfg)
	client := newClient(cfg.Timeout, cfg.MaxInFlight)
	defer client.CloseIdleConnections()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	slots := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	next := rec.began
	for seq := uint64(0); cfg.Requests == 0 || seq < uint64(cfg.Requests); seq++ {
		if cfg.Duration > 0 && next.Sub(rec.began) >= cfg.Duration {
			break
		}
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			select { // at the cap: wait, then pace from now
			case slots <- struct{}{}:
				next = time.Now()
			case <-ctx.Done():
				return nil
			}
		}
		wg.Go(func() {
			defer func() { <-slots }()
			hit(ctx, client, reqs, seq, rec)
		})
		next = next.Add(interval)
	}
	return nil
}
