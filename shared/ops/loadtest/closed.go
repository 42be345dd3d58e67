package loadtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	flashclient "flashsale/shared/client"
)

// runClosed runs cfg.Users users, each sending a request, waiting for its
// answer and sending the next, until the duration or the request count is
// used up. Request n carries token n mod len(Tokens), as in the open model,
// so the crowd is as large as the token list, not the concurrency.
//
// It is written by hand rather than with vegeta's unpaced attack (rate 0 with
// a worker cap), which would also bound concurrency: vegeta hands every
// request to a worker over a channel from its pacer goroutine and every
// result back over another, and on this 2-core machine the load generator
// competes with the server for CPU. A plain loop per user keeps the
// generator's cost per request to the HTTP call itself.
func runClosed(ctx context.Context, cfg Config, rec *recorder) error {
	reqs := newRequests(cfg)
	client := newClient(cfg.Timeout, cfg.Users)
	defer client.CloseIdleConnections()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = rec.began.Add(cfg.Duration)
	}
	var issued atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Users {
		wg.Go(func() {
			for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				n := issued.Add(1)
				if cfg.Requests > 0 && n > cfg.Requests {
					return
				}
				hit(ctx, client, reqs, uint64(n-1), rec)
			}
		})
	}
	wg.Wait()
	return nil
}

// hit sends one request and records it. A request in flight when the duration
// runs out is waited for, as in the open model; one cut short by cancelling
// ctx is not recorded: that was the run ending, not the server failing.
func hit(ctx context.Context, client *http.Client, reqs *requests, seq uint64, rec *recorder) {
	start := time.Now()
	t := reqs.target(seq)
	if reqs.purchaseToken != nil {
		tok, err := reqs.purchaseToken(ctx, reqs.buyer(seq))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if e, ok := errors.AsType[*flashclient.APIError](err); ok {
				rec.add(start, time.Since(start), e.Status)
				if reqs.onAnswer != nil {
					reqs.onAnswer(e.Status, nil)
				}
				return
			}
			rec.fail(start, time.Since(start), "admission: ", err)
			return
		}
		if tok != "" {
			t.Header.Set(flashclient.PurchaseTokenHeader, tok)
		}
	}
	req, err := t.Request()
	if err != nil {
		rec.fail(start, 0, "build request: ", err)
		return
	}
	if reqs.httpFor != nil {
		client = reqs.httpFor(reqs.buyer(seq))
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		rec.fail(start, time.Since(start), "", err)
		return
	}
	var body []byte
	if reqs.onAnswer != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drain so the connection is reused
	resp.Body.Close()
	rec.add(start, time.Since(start), resp.StatusCode)
	if reqs.onAnswer != nil {
		reqs.onAnswer(resp.StatusCode, body)
	}
}
