package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"pgregory.net/rapid"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

func orderRequest(tb testing.TB, method, orderID, user string) events.APIGatewayProxyRequest {
	tb.Helper()
	name := "order-get.json"
	if method == http.MethodDelete {
		name = "order-cancel.json"
	}
	req := loadEvent(tb, name)
	req.PathParameters = map[string]string{"orderId": orderID}
	req.Path = "/orders/" + orderID
	setUser(&req, user)
	return req
}

func receiptOf(tb testing.TB, r events.APIGatewayProxyResponse) flashsale.Receipt {
	tb.Helper()
	var rc flashsale.Receipt
	if err := json.Unmarshal([]byte(r.Body), &rc); err != nil {
		tb.Fatalf("receipt %q: %v", r.Body, err)
	}
	return rc
}

func TestOrders_OwnerReadsAndCancels(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "own", 5, 2, 2)
	r := h.buy(t, "own", "alice", "a1", 2)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("buy: got %d %s", r.StatusCode, r.Body)
	}
	id := receiptOf(t, r).OrderID

	got := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodGet, id, "alice"))
	var o struct {
		OrderID, Status string
		Quantity        int64
		AmountCents     int64
		PaidAt          *string
	}
	if err := json.Unmarshal([]byte(got.Body), &o); err != nil || got.StatusCode != 200 {
		t.Fatalf("owner GET: got %d %s", got.StatusCode, got.Body)
	}
	if o.OrderID != id || o.Status != "reserved" || o.Quantity != 2 || o.AmountCents != 3998 || o.PaidAt != nil {
		t.Errorf("got %+v, want reserved order %s of 2 units for 3998 cents, no paidAt", o, id)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if r := h.call(t, apispec.FunctionOrders, orderRequest(t, method, id, "mallory")); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s by someone else: got %d, want 404", method, r.StatusCode)
		}
	}
	if r := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodGet, "own.doesnotexist", "alice")); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown order: got %d, want 404", r.StatusCode)
	}
	if r := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodGet, "bad id!", "alice")); r.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed id: got %d, want 400", r.StatusCode)
	}

	stockBefore := h.stock(t, "own")
	c := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodDelete, id, "alice"))
	if c.StatusCode != http.StatusOK || !json.Valid([]byte(c.Body)) {
		t.Fatalf("cancel: got %d %s, want 200", c.StatusCode, c.Body)
	}
	if err := json.Unmarshal([]byte(c.Body), &o); err != nil || o.Status != "cancelled" {
		t.Errorf("cancel answered %s, want status cancelled", c.Body)
	}
	if got := h.stock(t, "own"); got != stockBefore+2 {
		t.Errorf("stock after cancel %d, want %d", got, stockBefore+2)
	}
	if r := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodDelete, id, "alice")); r.StatusCode != http.StatusConflict {
		t.Errorf("second cancel: got %d, want 409", r.StatusCode)
	}
	if got := h.stock(t, "own"); got != stockBefore+2 {
		t.Errorf("stock after second cancel %d, want %d: restocked twice", got, stockBefore+2)
	}
	// The allowance came back with the units.
	if r := h.buy(t, "own", "alice", "a2", 2); r.StatusCode != http.StatusAccepted {
		t.Errorf("buy after cancel: got %d %s, want 202", r.StatusCode, r.Body)
	}
}

// TestReserveCancel_PropertyInvariants drives random batches of concurrent
// purchases, replays and cancels and checks invariants 1 and 2 after each.
func TestReserveCancel_PropertyInvariants(t *testing.T) {
	h := newHarness(t)
	var run int
	rapid.Check(t, func(rt *rapid.T) {
		run++
		sale := fmt.Sprintf("prop-%d", run)
		stock := rapid.Int64Range(1, 12).Draw(rt, "stock")
		shards := rapid.IntRange(1, 4).Draw(rt, "shards")
		limit := rapid.Int64Range(1, 3).Draw(rt, "limit")
		h.createSale(t, sale, stock, shards, limit)
		users := []string{"u1", "u2", "u3", "u4"}
		var mu sync.Mutex
		var orders []struct{ id, user string }
		steps := rapid.IntRange(1, 8).Draw(rt, "steps")
		for step := range steps {
			batch := rapid.IntRange(1, 5).Draw(rt, "batch")
			var wg sync.WaitGroup
			for op := range batch {
				user := rapid.SampledFrom(users).Draw(rt, "user")
				cancel := rapid.Bool().Draw(rt, "cancel")
				key := fmt.Sprintf("%s-k%d", sale, rapid.IntRange(0, 3).Draw(rt, "key"))
				qty := int(rapid.Int64Range(1, limit).Draw(rt, "qty"))
				var target struct{ id, user string }
				mu.Lock()
				if cancel && len(orders) > 0 {
					target = orders[rapid.IntRange(0, len(orders)-1).Draw(rt, "which")]
				}
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if target.id != "" {
						h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodDelete, target.id, target.user))
						return
					}
					r := h.buy(t, sale, user, key, qty)
					switch r.StatusCode {
					case http.StatusAccepted:
						mu.Lock()
						orders = append(orders, struct{ id, user string }{receiptOf(t, r).OrderID, user})
						mu.Unlock()
					case http.StatusGone, http.StatusConflict, http.StatusUnprocessableEntity:
					default:
						rt.Errorf("step %d op %d: unexpected %d %s", step, op, r.StatusCode, r.Body)
					}
				}()
			}
			wg.Wait()
			held := h.checkInvariants(t, sale)
			// At rest, nothing is lost either: every unit is on sale or held.
			if avail := h.stock(t, sale); avail+held != stock {
				rt.Fatalf("step %d: available %d + held %d != loaded %d", step, avail, held, stock)
			}
			for _, u := range users {
				claim, err := h.store.Claim(context.Background(), sale, u)
				if err != nil {
					rt.Fatal(err)
				}
				if claim > limit || claim < 0 {
					rt.Fatalf("step %d: %s claims %d units, limit %d", step, u, claim, limit)
				}
			}
		}
	})
}
