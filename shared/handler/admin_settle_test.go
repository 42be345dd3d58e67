package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

// slowRelease makes each expiry take delay, as a throttled table would.
type slowRelease struct {
	flashsale.Store
	delay time.Duration
}

func (s *slowRelease) Release(ctx context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	select {
	case <-ctx.Done():
		return flashsale.Order{}, ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Store.Release(ctx, ref, userID, to, now)
}

func TestSettleBudget_InsideTheAPILimit(t *testing.T) {
	if handler.SettleBudget != apispec.IntegrationTimeout-handler.SettleMargin || handler.SettleMargin < 3*time.Second {
		t.Errorf("SettleBudget = %v (margin %v), want the integration's %v less a margin of at least 3 s",
			handler.SettleBudget, handler.SettleMargin, apispec.IntegrationTimeout)
	}
}

// TestAdminSettle_DeadlineAnswers503AndFreesTheLease: a settlement still
// running at its deadline stops at a safe point and answers 503
// settlement_incomplete with Retry-After, not a 504; its lease is free at
// once, and the next call finishes the work and answers the report.
func TestAdminSettle_DeadlineAnswers503AndFreesTheLease(t *testing.T) {
	slow := &slowRelease{}
	f := newFixture(t, withStore(func(s flashsale.Store) flashsale.Store { slow.Store = s; return slow }))
	const n = 20
	f.createSale(t, "spring-1", n, 2, 1)
	for i := range n {
		f.order(t, "spring-1", fmt.Sprintf("u%d", i), "k")
	}
	f.clock.Advance(601 * time.Second)  // every order expires unpaid
	slow.delay = 100 * time.Millisecond // 20 expiries take 2 s

	// The Lambda context's deadline stands in for the route's own
	// (SettleBudget): whichever is sooner bounds the pass.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	resp, err := f.admin.Serve(ctx, loadEvent(t, "admin-settle.json"))
	if err != nil {
		t.Fatalf("settle: handler returned error %v, want a response", err)
	}
	wantError(t, resp, http.StatusServiceUnavailable, "settlement_incomplete")
	if got := resp.Headers["Retry-After"]; got != "5" {
		t.Errorf("Retry-After = %q, want 5", got)
	}

	now := f.clock.Now()
	if err := f.mem.AcquireLease(context.Background(), "spring-1", "schedule", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Fatalf("the scheduled run's lease after the cut: %v, want it free at once", err)
	}
	if err := f.mem.ReleaseLease(context.Background(), "spring-1", "schedule"); err != nil {
		t.Fatal(err)
	}

	slow.delay = 0
	resp = call(t, f.admin.Serve, loadEvent(t, "admin-settle.json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("settle again: status %d, want 200 with the report (%s)", resp.StatusCode, resp.Body)
	}
	r, err := f.svc.LatestReport(context.Background(), "spring-1")
	if err != nil {
		t.Fatal(err)
	}
	want := flashsale.ReportUnits{Loaded: n, Restocked: n, Available: n, Expired: n}
	if r.Units != want || !r.Balanced {
		t.Errorf("units = %+v (balanced %v), want %+v", r.Units, r.Balanced, want)
	}
}
