package flashsale_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// slowStore makes each expiry (Release) take delay, or hang until its
// context ends when hang is set, as a throttled or stuck table would.
type slowStore struct {
	flashsale.Store
	delay time.Duration
	hang  bool
}

func (s *slowStore) Release(ctx context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	wait := s.delay
	if s.hang {
		wait = time.Hour
	}
	select {
	case <-ctx.Done():
		return flashsale.Order{}, ctx.Err()
	case <-time.After(wait):
	}
	return s.Store.Release(ctx, ref, userID, to, now)
}

// deadlineEnv is a sale of n units, each reserved by its own buyer and then
// left unpaid past its expiry, on a store whose expiries are slow.
func deadlineEnv(t *testing.T, n int) (*env, *slowStore, *flashsale.Service) {
	t.Helper()
	e := newEnv(t)
	e.createSale(t, "big", int64(n), 2, 1)
	for i := range n {
		e.buy(t, "big", fmt.Sprintf("u%d", i), "k", 1)
	}
	e.clock.Advance(601 * time.Second)
	slow := &slowStore{Store: e.store}
	return e, slow, flashsale.NewService(slow, e.queue, flashsale.WithClock(e.clock.Now))
}

// TestSettle_DeadlineStopsAtASafePointAndReleasesTheLease: a pass whose
// caller's deadline comes stops between orders, answers
// ErrSettlementIncomplete, and releases the lease, so the next run takes it
// at once; what it did stays done, and the next pass finishes exactly once.
func TestSettle_DeadlineStopsAtASafePointAndReleasesTheLease(t *testing.T) {
	const n = 20
	e, slow, svc := deadlineEnv(t, n)
	slow.delay = 100 * time.Millisecond // 20 expiries take 2 s

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := svc.Settle(ctx, "big")
	if !errors.Is(err, flashsale.ErrSettlementIncomplete) {
		t.Fatalf("Settle past its deadline: got %v, want ErrSettlementIncomplete", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Settle took %v, want it to stop before its 1.5 s deadline", took)
	}
	bg := context.Background()
	now := e.clock.Now()
	if err := e.mem.AcquireLease(bg, "big", "next", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Fatalf("the next run's lease: %v, want it free at once", err)
	}
	if err := e.mem.ReleaseLease(bg, "big", "next"); err != nil {
		t.Fatal(err)
	}
	st, _ := e.mem.Sale(bg, "big")
	orders, _ := e.mem.SaleOrders(bg, st.Sale)
	var expired int
	for _, o := range orders {
		if o.Status == flashsale.OrderExpired {
			expired++
			if o.RestockDue {
				t.Errorf("order %s expired without its restock: the pass stopped inside an order", o.ID)
			}
		}
	}
	if expired == 0 || expired == n {
		t.Errorf("%d of %d orders expired by the cut pass, want some but not all", expired, n)
	}
	if _, err := e.svc.LatestReport(bg, "big"); !errors.Is(err, flashsale.ErrNotSettled) {
		t.Errorf("LatestReport after the cut: %v, want ErrNotSettled (no report published)", err)
	}

	slow.delay = 0
	r, err := svc.Settle(bg, "big")
	if err != nil {
		t.Fatalf("the next pass: %v", err)
	}
	want := flashsale.ReportUnits{Loaded: n, Restocked: n, Available: n, Expired: n}
	if r.Units != want || !r.Balanced {
		t.Errorf("units after the next pass = %+v (balanced %v), want %+v: each unit back exactly once", r.Units, r.Balanced, want)
	}
}

// TestSettle_DeadlineCutsAHungCall: a store call that hangs past the
// deadline is cut by it; that too is ErrSettlementIncomplete, and the
// lease is released on a context of its own.
func TestSettle_DeadlineCutsAHungCall(t *testing.T) {
	e, slow, svc := deadlineEnv(t, 3)
	slow.hang = true
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	_, err := svc.Settle(ctx, "big")
	if !errors.Is(err, flashsale.ErrSettlementIncomplete) {
		t.Fatalf("Settle with a hung call: got %v, want ErrSettlementIncomplete", err)
	}
	now := e.clock.Now()
	if err := e.mem.AcquireLease(context.Background(), "big", "next", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Errorf("the next run's lease: %v, want it free at once", err)
	}
}
