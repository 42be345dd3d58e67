package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// A fault makes one step of the purchase path misbehave.
type fault int

const (
	// failBefore fails the call without doing it.
	failBefore fault = iota + 1
	// failAfter does the call, then reports an error: the ambiguous failure.
	failAfter
	// crash does the call, then the process "dies": this and every later
	// store or queue call fails, so no compensation runs.
	crash
)

var errInjected = errors.New("injected fault")

// faults is a plan shared by a faulty store and queue.
type faults struct {
	mu      sync.Mutex
	at      map[string]fault
	crashed bool
}

func (f *faults) run(step string, call func() error) error {
	f.mu.Lock()
	mode, crashed := f.at[step], f.crashed
	f.mu.Unlock()
	if crashed {
		return errInjected
	}
	switch mode {
	case failBefore:
		return errInjected
	case failAfter:
		_ = call()
		return errInjected
	case crash:
		_ = call()
		f.mu.Lock()
		f.crashed = true
		f.mu.Unlock()
		return errInjected
	}
	return call()
}

// heal ends the faults: the next process starts clean.
func (f *faults) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at, f.crashed = nil, false
}

type faultyStore struct {
	flashsale.Store
	f *faults
}

func (s faultyStore) Reserve(ctx context.Context, r flashsale.Reservation) error {
	return s.f.run("Reserve", func() error { return s.Store.Reserve(ctx, r) })
}

func (s faultyStore) TakeStock(ctx context.Context, saleID string, shard int, qty int64) error {
	return s.f.run("TakeStock", func() error { return s.Store.TakeStock(ctx, saleID, shard, qty) })
}

func (s faultyStore) Accept(ctx context.Context, ref flashsale.OrderRef) error {
	return s.f.run("Accept", func() error { return s.Store.Accept(ctx, ref) })
}

func (s faultyStore) Abort(ctx context.Context, ref flashsale.OrderRef, userID, key string, qty int64, now time.Time) error {
	return s.f.run("Abort", func() error { return s.Store.Abort(ctx, ref, userID, key, qty, now) })
}

func (s faultyStore) ReturnStock(ctx context.Context, saleID string, shard int, qty int64) error {
	return s.f.run("ReturnStock", func() error { return s.Store.ReturnStock(ctx, saleID, shard, qty) })
}

func (s faultyStore) Order(ctx context.Context, ref flashsale.OrderRef) (flashsale.Order, error) {
	var o flashsale.Order
	err := s.f.run("Order", func() (err error) { o, err = s.Store.Order(ctx, ref); return err })
	return o, err
}

type faultyQueue struct {
	flashsale.OrderQueue
	f *faults
}

func (q faultyQueue) Enqueue(ctx context.Context, orderID, userID string, body []byte) error {
	return q.f.run("Enqueue", func() error { return q.OrderQueue.Enqueue(ctx, orderID, userID, body) })
}

// TestReserve_FaultsNeverOversellAndLeaksAreFound fails each write of the
// purchase path in turn (and the compensations), then checks that nothing
// was oversold and that every unit that did not come back is found by
// Audit, the query settlement repairs from.
func TestReserve_FaultsNeverOversellAndLeaksAreFound(t *testing.T) {
	plan := &faults{}
	h := newHarness(t, withFaults(
		func(s flashsale.Store) flashsale.Store { return faultyStore{s, plan} },
		func(q flashsale.OrderQueue) flashsale.OrderQueue { return faultyQueue{q, plan} },
	))
	tests := []struct {
		name      string
		at        map[string]fault
		want      int   // the buyer's answer
		wantLeak  int64 // units neither in a shard nor held, found by Audit
		wantStale int   // holds left pending by a dead request
	}{
		{"crash after reserve", map[string]fault{"Reserve": crash}, 503, 0, 1},
		{"reserve fails after writing", map[string]fault{"Reserve": failAfter}, 503, 0, 1},
		{"reserve fails", map[string]fault{"Reserve": failBefore}, 503, 0, 0},
		{"crash after taking stock", map[string]fault{"TakeStock": crash}, 503, 1, 1},
		{"take fails after taking", map[string]fault{"TakeStock": failAfter}, 503, 1, 0},
		{"take fails", map[string]fault{"TakeStock": failBefore}, 503, 0, 0},
		{"take fails after taking, abort fails", map[string]fault{"TakeStock": failAfter, "Abort": failBefore}, 503, 1, 1},
		{"crash after enqueue", map[string]fault{"Enqueue": crash}, 503, 1, 1},
		{"enqueue fails after sending", map[string]fault{"Enqueue": failAfter}, 503, 0, 0},
		{"enqueue fails", map[string]fault{"Enqueue": failBefore}, 503, 0, 0},
		{"enqueue fails, stock return fails", map[string]fault{"Enqueue": failBefore, "ReturnStock": failBefore}, 503, 1, 0},
		{"crash after accept", map[string]fault{"Accept": crash}, 503, 0, 0},
		{"accept fails after accepting", map[string]fault{"Accept": failAfter}, 202, 0, 0},
		{"accept fails", map[string]fault{"Accept": failBefore}, 503, 1, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sale := fmt.Sprintf("fault-%d", i)
			h.createSale(t, sale, 3, 1, 1)
			plan.mu.Lock()
			plan.at = tc.at
			plan.mu.Unlock()
			victim := "victim-" + sale
			r := h.buy(t, sale, victim, "k", 1)
			plan.heal()
			if r.StatusCode != tc.want {
				t.Errorf("got %d %s, want %d", r.StatusCode, r.Body, tc.want)
			}
			h.checkInvariants(t, sale)

			// The store never oversells while the mess is fresh: two more
			// buyers can take at most what is left.
			for j := range 3 {
				h.buy(t, sale, fmt.Sprintf("next-%d-%s", j, sale), "k", 1)
			}
			h.checkInvariants(t, sale)

			// Past the grace period, the audit accounts for every unit.
			h.clock.Advance(3 * time.Minute)
			a, err := h.app.Service.Audit(context.Background(), sale)
			if err != nil {
				t.Fatal(err)
			}
			if a.Leaked != tc.wantLeak {
				t.Errorf("audit found %d leaked units, want %d (audit %+v)", a.Leaked, tc.wantLeak, a)
			}
			if len(a.StaleHolds) != tc.wantStale {
				t.Errorf("audit found %d stale holds, want %d", len(a.StaleHolds), tc.wantStale)
			}
			if a.Available+a.Held+a.Leaked != a.Loaded {
				t.Errorf("available %d + held %d + leaked %d != loaded %d", a.Available, a.Held, a.Leaked, a.Loaded)
			}
			if r.StatusCode == http.StatusAccepted {
				var live int
				for _, o := range a.Orders {
					if o.UserID == victim && o.Status == flashsale.OrderReserved {
						live++
					}
				}
				if live != 1 {
					t.Errorf("a 202 was answered but %d live orders exist for the buyer, want 1", live)
				}
			}
			// One settlement pass returns everything in limbo: the stock is
			// whole again and the books balance, with no second pass.
			rep := h.settle(t, sale)
			u := rep.Units
			if !rep.Balanced || u.Available+u.Reserved+u.Paid != u.Loaded || u.InLimbo != 0 {
				t.Errorf("after one pass: %+v balanced=%v, want available+reserved+paid == loaded, nothing in limbo", u, rep.Balanced)
			}
			h.drainQueue(t)
		})
	}
}

func (s faultyStore) Release(ctx context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	var o flashsale.Order
	err := s.f.run("Release", func() (err error) { o, err = s.Store.Release(ctx, ref, userID, to, now); return err })
	return o, err
}

func (s faultyStore) MarkRestocked(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	return s.f.run("MarkRestocked", func() error { return s.Store.MarkRestocked(ctx, ref, now) })
}
