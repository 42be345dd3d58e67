package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// buyOne buys one unit and returns its receipt.
func (h *harness) buyOne(tb testing.TB, saleID, user string) flashsale.Receipt {
	tb.Helper()
	r := h.buy(tb, saleID, user, "k-"+saleID, 1)
	if r.StatusCode != http.StatusAccepted {
		tb.Fatalf("buy as %s: got %d %s", user, r.StatusCode, r.Body)
	}
	return receiptOf(tb, r)
}

func (h *harness) order(tb testing.TB, rc flashsale.Receipt) flashsale.Order {
	tb.Helper()
	st, err := h.store.Sale(context.Background(), rc.SaleID)
	if err != nil {
		tb.Fatal(err)
	}
	o, err := h.store.Order(context.Background(), flashsale.RefOf(st.Sale, rc.OrderID))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestSettlement_CrashInExpiryRestocksOnce(t *testing.T) {
	plan := &faults{}
	h := newHarness(t, withFaults(
		func(s flashsale.Store) flashsale.Store { return faultyStore{s, plan} },
		func(q flashsale.OrderQueue) flashsale.OrderQueue { return q },
	))
	tests := []struct {
		name     string
		crashAt  string
		wantLeak int64 // units the second run returns as a leak repair
	}{
		{"between transition and restock mark", "Release", 0},
		{"between restock mark and stock return", "MarkRestocked", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sale := "exp-" + tc.crashAt
			h.createSale(t, sale, 3, 1, 1)
			rc := h.buyOne(t, sale, "late-payer-"+sale)
			h.clock.Advance(11 * time.Minute)

			plan.mu.Lock()
			plan.at = map[string]fault{tc.crashAt: crash}
			plan.mu.Unlock()
			if _, err := h.app.Service.Settle(context.Background(), sale); err == nil {
				t.Fatal("settlement with a crash: got no error")
			}
			plan.heal()
			if o := h.order(t, rc); o.Status != flashsale.OrderExpired {
				t.Fatalf("after the crash the order is %s, want expired (the transition landed)", o.Status)
			}
			if got := h.stock(t, sale); got != 2 {
				t.Errorf("stock after the crash %d, want 2 (not yet restocked)", got)
			}

			// The next runs finish the job, past the lease and the grace period.
			h.clock.Advance(6 * time.Minute)
			h.settle(t, sale)
			h.clock.Advance(3 * time.Minute)
			h.settle(t, sale)
			rep := h.settle(t, sale) // a third run changes nothing
			if got := h.stock(t, sale); got != 3 {
				t.Errorf("stock after recovery %d, want 3: restocked exactly once", got)
			}
			if !rep.Balanced || rep.Units.Expired != 1 || rep.Units.Restocked != 1 || rep.Units.Available != 3 {
				t.Errorf("report %+v balanced=%v, want 1 expired and restocked, 3 available", rep.Units, rep.Balanced)
			}
			var leak int64
			for _, a := range rep.Adjustments {
				if a.Kind == flashsale.AdjustmentLeakRepaired {
					leak += a.Units
				}
			}
			if leak != tc.wantLeak {
				t.Errorf("leak repairs %d units, want %d (adjustments %+v)", leak, tc.wantLeak, rep.Adjustments)
			}
		})
	}
}

func TestSettlement_RepairsAnInjectedLeak(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "leaky", 10, 2, 1)
	h.buyOne(t, "leaky", "honest")
	// The leak: units gone from a shard with no claim and no order.
	if err := h.store.TakeStock(context.Background(), "leaky", 1, 2); err != nil {
		t.Fatal(err)
	}
	rep := h.settle(t, "leaky")
	if got := h.stock(t, "leaky"); got != 9 {
		t.Errorf("stock after repair %d, want 9 (10 - 1 reserved)", got)
	}
	if len(rep.Adjustments) != 1 || rep.Adjustments[0].Kind != flashsale.AdjustmentLeakRepaired || rep.Adjustments[0].Units != 2 {
		t.Errorf("adjustments %+v, want one leak_repaired of 2 units", rep.Adjustments)
	}
	if !rep.Balanced {
		t.Errorf("report not balanced after repair: %+v", rep.Units)
	}
	// Exactly those units: a second run repairs nothing more.
	if rep2 := h.settle(t, "leaky"); len(rep2.Adjustments) != 1 || h.stock(t, "leaky") != 9 {
		t.Errorf("second run: adjustments %+v stock %d, want unchanged", rep2.Adjustments, h.stock(t, "leaky"))
	}
}

func TestSettlement_DuplicatesChangeNothing(t *testing.T) {
	h := newHarness(t, withSecret(testSecret))
	h.createSale(t, "dups", 5, 1, 1)
	rc := h.buyOne(t, "dups", "dup-user")

	// The same SQS message delivered twice.
	msgs := h.drainQueue(t)
	if len(msgs) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(msgs))
	}
	body, _ := json.Marshal(msgs[0])
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body)}, {MessageId: "m2", Body: string(body)}}}
	for i := range 2 {
		resp, err := h.app.OrderWriter(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("delivery %d: got failures %v err %v, want none", i, resp.BatchItemFailures, err)
		}
	}
	o := h.order(t, rc)
	if !o.Persisted || o.Status != flashsale.OrderReserved {
		t.Errorf("order after duplicate deliveries: %+v, want persisted and reserved", o)
	}

	// The same webhook twice.
	for i := range 2 {
		if r := h.pay(t, "evt-dup", rc.OrderID, rc.AmountCents, rc.Currency, h.clock.Now()); r.StatusCode != http.StatusOK {
			t.Fatalf("webhook %d: got %d %s", i, r.StatusCode, r.Body)
		}
	}
	rep := h.settle(t, "dups")
	if rep.Units.Paid != 1 || rep.RevenueCents != rc.AmountCents || len(rep.Refunds) != 0 {
		t.Errorf("after a replayed webhook: paid %d revenue %d refunds %v, want 1, %d, none",
			rep.Units.Paid, rep.RevenueCents, rep.Refunds, rc.AmountCents)
	}
	ledger, err := h.store.Ledger(context.Background(), "dups")
	if err != nil || len(ledger) != 1 {
		t.Errorf("ledger has %d entries (%v), want 1", len(ledger), err)
	}

	// A poison message fails, and so does every later one in its batch.
	poison := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "ok", Body: string(body)}, {MessageId: "bad", Body: "{not json"}, {MessageId: "after", Body: string(body)},
	}}
	resp, _ := h.app.OrderWriter(context.Background(), poison)
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "bad" || resp.BatchItemFailures[1].ItemIdentifier != "after" {
		t.Errorf("batch failures %+v, want [bad after]", resp.BatchItemFailures)
	}
}

func TestPayments_LateAndForgedAndMismatched(t *testing.T) {
	h := newHarness(t, withSecret(testSecret))
	h.createSale(t, "pays", 1, 1, 1)
	late := h.buyOne(t, "pays", "slow-payer")

	// Forgeries change nothing.
	body, _ := json.Marshal(flashsale.Payment{EventID: "evt-forged", OrderID: late.OrderID, AmountCents: late.AmountCents, Currency: "USD", Status: "succeeded"})
	forged := []struct {
		name string
		sig  string
		want int
	}{
		{"other secret", webhookSign("not-the-secret", h.clock.Now(), body), http.StatusUnauthorized},
		{"stale", webhookSign(testSecret, h.clock.Now().Add(-6*time.Minute), body), http.StatusUnauthorized},
		{"malformed", "v1=abc", http.StatusBadRequest},
		{"missing", "", http.StatusBadRequest},
	}
	for _, tc := range forged {
		if r := h.call(t, apispec.FunctionOrders, webhookRequest(t, body, tc.sig)); r.StatusCode != tc.want {
			t.Errorf("%s signature: got %d %s, want %d", tc.name, r.StatusCode, r.Body, tc.want)
		}
	}
	if o := h.order(t, late); o.Status != flashsale.OrderReserved {
		t.Errorf("after forgeries the order is %s, want reserved", o.Status)
	}
	if ledger, _ := h.store.Ledger(context.Background(), "pays"); len(ledger) != 0 {
		t.Errorf("forgeries left %d ledger entries, want 0", len(ledger))
	}

	// A wrong amount is a 400 recorded for review, and pays nothing.
	if r := h.pay(t, "evt-short", late.OrderID, late.AmountCents-1, "USD", h.clock.Now()); r.StatusCode != http.StatusBadRequest || errorCode(t, r) != "payment_mismatch" {
		t.Errorf("short payment: got %d %s, want 400 payment_mismatch", r.StatusCode, r.Body)
	}

	// The order expires, its unit is resold, then the payment arrives.
	h.clock.Advance(11 * time.Minute)
	h.settle(t, "pays")
	h.clock.Advance(2 * time.Second)
	h.buyOne(t, "pays", "second-chance")
	if r := h.pay(t, "evt-late", late.OrderID, late.AmountCents, "USD", h.clock.Now()); r.StatusCode != http.StatusOK {
		t.Fatalf("late payment: got %d %s, want 200", r.StatusCode, r.Body)
	}
	if o := h.order(t, late); o.Status != flashsale.OrderExpired {
		t.Errorf("after a late payment the order is %s, want expired", o.Status)
	}
	rep := h.settle(t, "pays")
	if len(rep.Refunds) != 1 || rep.Refunds[0].EventID != "evt-late" || rep.Refunds[0].Reason != flashsale.ReasonExpired ||
		rep.RefundsDueCents != late.AmountCents || rep.RevenueCents != 0 {
		t.Errorf("refunds %+v due %d revenue %d, want one refund_due of %d for evt-late and no revenue",
			rep.Refunds, rep.RefundsDueCents, rep.RevenueCents, late.AmountCents)
	}
	if !rep.Balanced || rep.Units.Reserved != 1 || rep.Units.Expired != 1 {
		t.Errorf("units %+v balanced=%v, want the resold unit reserved and the late order expired", rep.Units, rep.Balanced)
	}
	// A payment for an order that never existed is a refund too.
	if r := h.pay(t, "evt-ghost", "pays.nosuchorder", 100, "USD", h.clock.Now()); r.StatusCode != http.StatusOK {
		t.Errorf("payment for an unknown order: got %d, want 200", r.StatusCode)
	}
}

func TestSettlement_OverlappingRunsAreSafe(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "overlap", 20, 4, 1)
	for i := range 10 {
		h.buyOne(t, "overlap", "ov-"+strconv.Itoa(i))
	}
	h.clock.Advance(11 * time.Minute)
	var held, ok atomic.Int64
	runConcurrently(6, 6, func(int) {
		_, err := h.app.Service.Settle(context.Background(), "overlap")
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, flashsale.ErrLeaseHeld):
			held.Add(1)
		default:
			t.Errorf("settle: %v", err)
		}
	})
	// On-demand runs wait for the one holding the lease, so all finish.
	if ok.Load() != 6 {
		t.Errorf("%d runs finished and %d found the lease held, want all 6 to wait their turn and finish", ok.Load(), held.Load())
	}
	if got := h.stock(t, "overlap"); got != 20 {
		t.Errorf("stock %d after overlapping runs, want 20: every expired unit back exactly once", got)
	}
	if rep := h.settle(t, "overlap"); !rep.Balanced || rep.Units.Expired != 10 || rep.Units.Restocked != 10 {
		t.Errorf("report %+v balanced=%v, want 10 expired and restocked", rep.Units, rep.Balanced)
	}
}

// TestReserve_ExpiredOrderGivesTheAllowanceBack: once an order is past its
// expiry it reads as expired everywhere, so its buyer may buy again at once,
// before any settlement run.
func TestReserve_ExpiredOrderGivesTheAllowanceBack(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "lapsed", 5, 1, 1)
	first := h.buyOne(t, "lapsed", "lapser")
	if r := h.buy(t, "lapsed", "lapser", "again-1", 1); r.StatusCode != http.StatusConflict {
		t.Fatalf("second purchase within the window: got %d, want 409", r.StatusCode)
	}
	h.clock.Advance(11 * time.Minute)
	if r := h.buy(t, "lapsed", "lapser", "again-2", 1); r.StatusCode != http.StatusAccepted {
		t.Fatalf("purchase after the first order expired: got %d %s, want 202", r.StatusCode, r.Body)
	}
	if o := h.order(t, first); o.Status != flashsale.OrderExpired || o.RestockedAt.IsZero() {
		t.Errorf("first order %+v, want expired and restocked", o)
	}
	if got := h.stock(t, "lapsed"); got != 4 {
		t.Errorf("stock %d, want 4 (the lapsed unit back, the new one taken)", got)
	}
	if rep := h.settle(t, "lapsed"); !rep.Balanced || rep.Units.Expired != 1 || rep.Units.Reserved != 1 {
		t.Errorf("report %+v balanced=%v, want 1 expired, 1 reserved", rep.Units, rep.Balanced)
	}
}

// TestSettlement_ClearsAStuckSoldOutMark: a return whose second write (the
// clearing of the sold-out mark) never happened leaves units on a shard that
// every container hides; settlement clears the mark.
func TestSettlement_ClearsAStuckSoldOutMark(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "stuck", 1, 1, 1)
	won := h.buyOne(t, "stuck", "winner")
	if r := h.buy(t, "stuck", "loser", "k", 1); r.StatusCode != http.StatusGone {
		t.Fatalf("after the sell-out: got %d, want 410", r.StatusCode)
	}
	if st, _ := h.store.Sale(context.Background(), "stuck"); !st.SoldOut {
		t.Fatal("the sale is not marked sold out")
	}
	// The winner cancels, and the return gets half done: the unit lands on
	// the shard, then the process dies before clearing the mark. (The last
	// write goes straight to the table, as ReturnStock's first half.)
	ctx := context.Background()
	st, _ := h.store.Sale(ctx, "stuck")
	ref := flashsale.RefOf(st.Sale, won.OrderID)
	if _, err := h.store.Release(ctx, ref, "winner", flashsale.OrderCancelled, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkRestocked(ctx, ref, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := h.env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.env.Settings.SalesTable),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("SHARD#stuck#%d", st.ShardOf(ref))}},
		UpdateExpression:          aws.String("ADD available :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := h.settle(t, "stuck")
	if !rep.Balanced || rep.Units.Available != 1 || rep.Units.Cancelled != 1 {
		t.Errorf("report %+v balanced=%v, want the cancelled unit available", rep.Units, rep.Balanced)
	}
	h.clock.Advance(2 * time.Second) // past the containers' cache
	if r := h.buy(t, "stuck", "second-chance", "k", 1); r.StatusCode != http.StatusAccepted {
		t.Errorf("after settlement: got %d %s, want 202 for the unit that was hidden", r.StatusCode, r.Body)
	}
}
