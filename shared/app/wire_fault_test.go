package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/faultproxy"
)

// These tests break the wire between the handlers and the emulators with a
// real fault proxy (Toxiproxy, see shared/local/faultproxy) and drive
// purchases through the local gateway. Each asserts, whatever the fault:
// answers are 202, 503 with Retry-After, or the sale's normal 409/410; no
// 202 lacks a durable order; nothing is oversold and nobody exceeds the
// limit; the same process serves again once the fault ends; and one
// settlement pass balances the books. Durations come from the SDK settings
// (awsclient.DefaultAttemptTimeout) and the contract, not from this
// machine's speed: waits are on events, except the outage window itself.

// TestWire_LatencySpikes slows every answer from DynamoDB and SQS: first
// below the per-attempt timeout (purchases are slower but all succeed),
// then beyond it on DynamoDB (every purchase ends 503 within the reserve
// function's timeout); then the spike ends and new buyers get 202s.
func TestWire_LatencySpikes(t *testing.T) {
	w := newWire(t)
	const sale = "wire-latency"
	w.createSale(t, sale, 200, 4, 1)
	ctx := context.Background()
	buyers := func(prefix string, n int) []answer {
		out := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = w.buy(ctx, t, sale, fmt.Sprintf("%s-%d", prefix, i), 1, 1) })
		}
		wg.Wait()
		return out
	}

	for _, a := range buyers("warm", 4) { // connections open, the sale cached
		if a.status != http.StatusAccepted {
			t.Fatalf("%s: before the fault got %d %s, want 202", a.user, a.status, a.body)
		}
	}

	// A spike of a fifth of the attempt timeout: slower, never failed.
	spike := awsclient.DefaultAttemptTimeout / 5
	for _, p := range []*faultproxy.Proxy{w.ddb, w.sqs} {
		if err := p.Latency(faultproxy.Downstream, spike, spike/4); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range buyers("slow", 8) {
		if a.status != http.StatusAccepted {
			t.Errorf("%s: latency %v (below the %v attempt timeout): got %d %s, want 202",
				a.user, spike, awsclient.DefaultAttemptTimeout, a.status, a.body)
		} else if a.took() < spike {
			t.Errorf("%s: answered in %v, faster than the injected %v: is the proxy in the path?", a.user, a.took(), spike)
		}
	}
	w.ddb.Heal()
	w.sqs.Heal()

	// A spike past the attempt timeout on the store: every call times out.
	if err := w.ddb.Latency(faultproxy.Downstream, 3*awsclient.DefaultAttemptTimeout/2, 0); err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for _, a := range buyers("stuck", 8) {
		slowest = max(slowest, a.took())
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("%s: every store call times out, got %d %s, want 503", a.user, a.status, a.body)
		}
		if a.took() > reserveTimeout {
			t.Errorf("%s: answered after %v, past the reserve function's %v", a.user, a.took(), reserveTimeout)
		}
	}
	t.Logf("store answers slower than the attempt timeout: slowest purchase answered in %v", slowest)
	w.ddb.Heal()

	// Over: the same process, the same clients, serve again.
	for _, a := range buyers("after", 8) {
		if a.status != http.StatusAccepted {
			t.Errorf("%s: after the spike got %d %s, want 202", a.user, a.status, a.body)
		}
	}
	accepted := checkAnswers(t, w.allAnswers())
	ids := w.checkAccepted(t, sale, accepted)
	w.checkInvariants(t, sale)
	w.settleAndCheck(t, sale, ids)
}

// TestWire_ConnectionResets resets a share of the connections to DynamoDB
// (both before the request arrives and after it was applied, the ambiguous
// case) and to SQS, while more buyers than units race for the stock with
// client retries, and some try to exceed the per-user limit with a second
// key.
func TestWire_ConnectionResets(t *testing.T) {
	w := newWire(t)
	const sale, stock, limit = "wire-resets", 40, 2
	w.createSale(t, sale, stock, 4, limit)
	ctx := context.Background()
	for _, f := range []func() error{
		func() error { return w.ddb.Reset(faultproxy.Downstream, 0.2) },
		func() error { return w.ddb.Reset(faultproxy.Upstream, 0.1) },
		func() error { return w.sqs.Reset(faultproxy.Downstream, 0.3) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			user := fmt.Sprintf("buyer-%d", i)
			qty := 1 + i%2
			if a := w.buy(ctx, t, sale, user, qty, 4); a.status == http.StatusAccepted {
				// Greedy buyers try for more with a fresh key.
				w.post(t, sale, user, user+"-more", 1)
			}
		})
	}
	wg.Wait()
	w.ddb.Heal()
	w.sqs.Heal()

	answers := w.allAnswers()
	var resets int
	for _, a := range answers {
		if a.status == http.StatusServiceUnavailable {
			resets++
		}
	}
	// The SDK's retries may absorb every reset (on a loaded machine fewer
	// new connections meet the proxy's dice), so the check that the faults
	// reached the wire counts attempts that died, not 503s.
	if died := w.attempts.failures(); died == 0 && resets == 0 {
		t.Error("no DynamoDB attempt met a reset and no purchase answered 503: the faults did not reach the wire")
	} else {
		t.Logf("%d DynamoDB attempts died on the wire; %d purchases answered 503", died, resets)
	}
	accepted := checkAnswers(t, answers)
	ids := w.checkAccepted(t, sale, accepted)
	w.checkInvariants(t, sale)

	// Over: a new buyer is served (or told the sale is sold out).
	if a := w.buy(ctx, t, sale, "late", 1, 1); a.status != http.StatusAccepted && a.code != "sold_out" {
		t.Errorf("after the resets: got %d %s, want 202 or 410 sold_out", a.status, a.body)
	}
	w.settleAndCheck(t, sale, ids)
}

// TestWire_StoreDownMidBurst takes DynamoDB off the wire for 10 s in the
// middle of a burst: open connections are closed and new ones refused.
// Purchases during the outage end in 503 with Retry-After, each after a
// bounded number of SDK attempts; when the store is back the same process
// serves 202s again without a restart.
func TestWire_StoreDownMidBurst(t *testing.T) {
	w := newWire(t)
	const sale, outage = "wire-outage", 10 * time.Second
	w.createSale(t, sale, 1000, 4, 1)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var accepted atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			for ctx.Err() == nil {
				user := fmt.Sprintf("burst-%d", next.Add(1))
				if a := w.buy(ctx, t, sale, user, 1, 3); a.status == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		})
	}
	waitFor(t, 30*time.Second, "20 purchases before the outage", func() bool { return accepted.Load() >= 20 })

	w.ddb.Down()
	down := time.Now()
	time.Sleep(outage) // the outage itself: the one deliberate wait
	if err := w.ddb.Up(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	before := accepted.Load()
	waitFor(t, 30*time.Second, "20 purchases after the store came back", func() bool { return accepted.Load() >= before+20 })
	stop()
	wg.Wait()

	answers := w.allAnswers()
	var during, afterOK int
	firstOK := time.Duration(-1)
	worst, histogram := 0, map[int]int{}            // DynamoDB attempts per purchase → purchases
	maxAttempts := 3 * awsclient.DefaultMaxAttempts // two sale reads (refreshes of the cache) and the reservation
	for _, a := range answers {
		switch {
		case !a.start.Before(down) && a.end.Before(up):
			during++
			if a.status != http.StatusServiceUnavailable {
				t.Errorf("%s: during the outage got %d %s, want 503", a.user, a.status, a.body)
			}
			n := w.attempts.forRequest(a.requestID)
			worst = max(worst, n)
			histogram[n]++
			if n > maxAttempts {
				t.Errorf("%s: %d DynamoDB attempts for one purchase during the outage, want at most %d", a.user, n, maxAttempts)
			}
		case a.start.After(up) && a.status == http.StatusAccepted:
			afterOK++
			if since := a.end.Sub(up); firstOK < 0 || since < firstOK {
				firstOK = since
			}
		}
	}
	t.Logf("outage %v: %d purchases answered during it, DynamoDB attempts per purchase → purchases %v (at most %d); first 202 %v after the store came back; %d 202s after",
		outage, during, histogram, worst, firstOK, afterOK)
	if during == 0 {
		t.Error("no purchase was answered during the outage")
	}
	accepted2 := checkAnswers(t, answers)
	ids := w.checkAccepted(t, sale, accepted2)
	w.checkInvariants(t, sale)
	w.settleAndCheck(t, sale, ids)
}

// TestWire_StoreHangs makes DynamoDB apply requests and never answer (the
// answers are dropped, connections kept open). Only the SDK's per-attempt
// timeout ends the calls: every purchase must still be answered 503 with
// Retry-After within the reserve function's timeout, and be served again
// when the store answers.
func TestWire_StoreHangs(t *testing.T) {
	w := newWire(t)
	const sale = "wire-hang"
	w.createSale(t, sale, 100, 2, 1)
	ctx := context.Background()
	for i := range 4 { // warm: connections open, the sale cached
		if a := w.buy(ctx, t, sale, fmt.Sprintf("warm-%d", i), 1, 1); a.status != http.StatusAccepted {
			t.Fatalf("before the fault: got %d %s, want 202", a.status, a.body)
		}
	}
	// Let the cached sale go stale, so the purchases must also read the sale
	// from the hung store: the longest path to an answer.
	w.clock.Advance(2 * time.Second) // the sale cache's TTL is 1 s
	if err := w.ddb.Blackhole(faultproxy.Downstream); err != nil {
		t.Fatal(err)
	}
	hung := make([]answer, 8)
	var wg sync.WaitGroup
	for i := range hung {
		wg.Go(func() { hung[i] = w.buy(ctx, t, sale, fmt.Sprintf("hung-%d", i), 1, 1) })
	}
	wg.Wait()
	w.ddb.Heal()

	var slowest time.Duration
	for _, a := range hung {
		slowest = max(slowest, a.took())
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("%s: store hung, got %d %s, want 503", a.user, a.status, a.body)
		}
		if a.took() > reserveTimeout {
			t.Errorf("%s: answered after %v, past the reserve function's %v", a.user, a.took(), reserveTimeout)
		}
	}
	t.Logf("store hung: slowest purchase answered in %v (attempt timeout %v, %d attempts per call)",
		slowest, awsclient.DefaultAttemptTimeout, awsclient.DefaultMaxAttempts)

	for i := range 4 {
		if a := w.buy(ctx, t, sale, fmt.Sprintf("after-%d", i), 1, 1); a.status != http.StatusAccepted {
			t.Errorf("after the hang: got %d %s, want 202", a.status, a.body)
		}
	}
	accepted := checkAnswers(t, w.allAnswers())
	ids := w.checkAccepted(t, sale, accepted)
	w.checkInvariants(t, sale)
	w.settleAndCheck(t, sale, ids)
}
