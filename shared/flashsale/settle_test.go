package flashsale_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// TestSettle_WaitsForTheRunHoldingTheLease: an on-demand settlement that
// meets a run in progress (the schedule's) waits for it to release the
// lease, then runs its own pass and answers its report.
func TestSettle_WaitsForTheRunHoldingTheLease(t *testing.T) {
	e := newEnv(t)
	e.createSale(t, "busy", 10, 2, 1)
	e.buy(t, "busy", "u1", "k1", 1)
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.mem.AcquireLease(ctx, "busy", "schedule", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var rep flashsale.Report
	go func() {
		var err error
		rep, err = e.svc.Settle(ctx, "busy")
		done <- err
	}()
	// Settle must still be waiting while the lease is held. Waiting on the
	// store's own call count, not a sleep: two lease attempts prove it polled.
	for e.store.count0("AcquireLease") < 2 {
		select {
		case err := <-done:
			t.Fatalf("Settle returned %v while the lease was held; want it to wait", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := e.mem.ReleaseLease(ctx, "busy", "schedule"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Settle after the holder finished: %v", err)
		}
	case <-time.After(flashsale.DefaultSettleWait):
		t.Fatal("Settle did not finish after the lease was released")
	}
	if rep.SaleID != "busy" || rep.Units.Reserved != 1 || !rep.Balanced {
		t.Errorf("report %+v balanced=%v, want busy with 1 reserved and balanced", rep.Units, rep.Balanced)
	}
}

// TestSettle_GivesUpWithRetryAfter: a lease still held after the wait is a
// LeaseHeldError carrying when to retry; nothing is settled.
func TestSettle_GivesUpWithRetryAfter(t *testing.T) {
	e := newEnv(t, flashsale.WithSettleWait(200*time.Millisecond))
	e.createSale(t, "stuck", 10, 2, 1)
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.mem.AcquireLease(ctx, "stuck", "schedule", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Settle(ctx, "stuck")
	held, ok := errors.AsType[*flashsale.LeaseHeldError](err)
	if !ok || !errors.Is(err, flashsale.ErrLeaseHeld) || held.RetryAfter <= 0 {
		t.Fatalf("Settle with the lease held: got %v, want a LeaseHeldError with a RetryAfter", err)
	}
	if _, err := e.svc.LatestReport(ctx, "stuck"); !errors.Is(err, flashsale.ErrNotSettled) {
		t.Errorf("LatestReport: got %v, want ErrNotSettled (nothing ran)", err)
	}
}

// TestSettleAll_SkipsASaleWhoseLeaseIsHeld: the schedule does not wait; the
// run holding the lease is doing the work.
func TestSettleAll_SkipsASaleWhoseLeaseIsHeld(t *testing.T) {
	e := newEnv(t)
	e.createSale(t, "held", 10, 2, 1)
	e.createSale(t, "free", 10, 2, 1)
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.mem.AcquireLease(ctx, "held", "other", now, now.Add(flashsale.LeaseTTL)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatalf("SettleAll: %v", err)
	}
	if took := time.Since(start); took > flashsale.DefaultSettleWait/2 {
		t.Errorf("SettleAll took %s: it waited for the held lease", took)
	}
	if _, err := e.svc.LatestReport(ctx, "held"); !errors.Is(err, flashsale.ErrNotSettled) {
		t.Errorf("held sale: got %v, want ErrNotSettled (skipped)", err)
	}
	if _, err := e.svc.LatestReport(ctx, "free"); err != nil {
		t.Errorf("free sale: got %v, want a stored report", err)
	}
}
