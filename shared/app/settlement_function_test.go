package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

// TestSettlementFunction_ExpiresAbortsAndRepairs runs the scheduled
// settlement function's handler (not admin's route) over a sale with an
// expired order, a hold a dead request left and a leaked unit: it expires
// the order, aborts the hold, repairs the leak and stores a balanced
// report. It is also what the IAM parity test sees the settlement role
// use: the handler tags its calls with the function (app.Build).
func TestSettlementFunction_ExpiresAbortsAndRepairs(t *testing.T) {
	plan := &faults{}
	h := newHarness(t, withFaults(
		func(s flashsale.Store) flashsale.Store { return faultyStore{s, plan} },
		func(q flashsale.OrderQueue) flashsale.OrderQueue { return faultyQueue{q, plan} },
	))
	ctx := context.Background()
	const sale = "scheduled-settle"
	h.createSale(t, sale, 10, 1, 1)
	lapsed := h.buyOne(t, sale, "lapser")
	// A request that dies right after its reserve leaves a pending hold.
	plan.mu.Lock()
	plan.at = map[string]fault{"Reserve": crash}
	plan.mu.Unlock()
	if r := h.buy(t, sale, "dead", "k", 1); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("buy with a crash after reserve: got %d %s, want 503", r.StatusCode, r.Body)
	}
	plan.heal()
	// A leak: units gone from the shard with no claim and no order.
	if err := h.store.TakeStock(ctx, sale, 0, 2); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(11 * time.Minute) // past the payment window and the grace

	if err := h.app.Settlement(ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatalf("settlement: %v", err)
	}
	// The whole report, lines included, is the archive's file.
	f, err := h.app.Service.ReportFile(ctx, sale, flashsale.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Body.Close()
	var rep flashsale.Report
	if err := json.NewDecoder(f.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Balanced || rep.Units.Expired != 1 || rep.Units.Reserved != 0 {
		t.Errorf("report %+v balanced=%v, want balanced, 1 expired, none reserved", rep.Units, rep.Balanced)
	}
	var kinds []string
	for _, a := range rep.Adjustments {
		kinds = append(kinds, a.Kind)
	}
	for _, want := range []string{flashsale.AdjustmentClaimReleased, flashsale.AdjustmentLeakRepaired} {
		if !slices.Contains(kinds, want) {
			t.Errorf("adjustments %v, want one %s", kinds, want)
		}
	}
	if o := h.order(t, lapsed); o.Status != flashsale.OrderExpired {
		t.Errorf("lapsed order %s, want expired", o.Status)
	}
	h.drainQueue(t)
}
