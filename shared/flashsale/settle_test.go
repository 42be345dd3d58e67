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

// crashAfterTake leaves what a request killed after taking its stock
// leaves: a pending hold (key, claim, hold) and qty units gone from shard 0.
func crashAfterTake(tb testing.TB, e *env, saleID, user string, qty int64) {
	tb.Helper()
	ctx := context.Background()
	st, err := e.mem.Sale(ctx, saleID)
	if err != nil {
		tb.Fatal(err)
	}
	now := e.clock.Now()
	id := flashsale.NewOrderID(saleID, "crashed-"+user)
	err = e.mem.Reserve(ctx, flashsale.Reservation{
		Order: flashsale.Order{ID: id, SaleID: saleID, UserID: user, Quantity: qty, AmountCents: 1999 * qty,
			Currency: "USD", Status: flashsale.OrderPending, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
			IdempotencyKey: "k-" + user},
		Bucket: flashsale.RefOf(st.Sale, id).Bucket, Key: "k-" + user, Receipt: []byte("{}"), Limit: st.PerUserLimit,
		KeyExpiresAt: now.Add(flashsale.IdempotencyTTL),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.mem.TakeStock(ctx, saleID, 0, qty); err != nil {
		tb.Fatal(err)
	}
}

// TestSettle_UnitsInLimbo: within the grace period, units taken by a
// request that died are explained (inLimbo, with an adjustment line saying
// so) and the books balance; past the grace, one pass returns them.
func TestSettle_UnitsInLimbo(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "limbo", 10, 2, 2)
	e.buy(t, "limbo", "alice", "k", 1)
	crashAfterTake(t, e, "limbo", "ghost1", 2)
	crashAfterTake(t, e, "limbo", "ghost2", 1)

	rep, err := e.svc.Settle(ctx, "limbo")
	if err != nil {
		t.Fatal(err)
	}
	u := rep.Units
	if u.InLimbo != 3 || u.Reserved != 1 || u.Available != 6 || !rep.Balanced {
		t.Fatalf("within the grace: units %+v balanced=%v, want 3 in limbo, 1 reserved, 6 available, balanced", u, rep.Balanced)
	}
	if n := countAdjustments(rep, flashsale.AdjustmentInLimbo); n != 1 {
		t.Errorf("%d in_limbo adjustment lines, want 1: %+v", n, rep.Adjustments)
	}

	e.clock.Advance(2*time.Minute + time.Second)
	rep, err = e.svc.Settle(ctx, "limbo")
	if err != nil {
		t.Fatal(err)
	}
	u = rep.Units
	if u.InLimbo != 0 || u.Available != 9 || u.Reserved != 1 || !rep.Balanced {
		t.Errorf("one pass after the grace: units %+v balanced=%v, want nothing in limbo, 9 available, balanced", u, rep.Balanced)
	}
	if countAdjustments(rep, flashsale.AdjustmentClaimReleased) != 2 || countAdjustments(rep, flashsale.AdjustmentLeakRepaired) != 1 {
		t.Errorf("adjustments %+v, want 2 claims released and 1 leak repaired", rep.Adjustments)
	}
	if countAdjustments(rep, flashsale.AdjustmentInLimbo) != 0 {
		t.Errorf("adjustments %+v, want no in_limbo line once nothing is in limbo", rep.Adjustments)
	}
}

// TestSettle_UnexplainedUnitsDoNotBalance: units that nothing can explain
// (here, one more on a shard than was ever loaded) make the books
// unbalanced; limbo never hides them.
func TestSettle_UnexplainedUnitsDoNotBalance(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "extra", 10, 2, 2)
	crashAfterTake(t, e, "extra", "ghost", 1)
	if err := e.mem.ReturnStock(ctx, "extra", 1, 2); err != nil { // 2 units from nowhere
		t.Fatal(err)
	}
	rep, err := e.svc.Settle(ctx, "extra")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Balanced || rep.Units.InLimbo != 0 {
		t.Errorf("units %+v balanced=%v, want unbalanced with nothing in limbo", rep.Units, rep.Balanced)
	}
}

func countAdjustments(r flashsale.Report, kind string) int {
	n := 0
	for _, a := range r.Adjustments {
		if a.Kind == kind {
			n++
		}
	}
	return n
}
