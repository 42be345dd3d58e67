package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
)

func myOrdersRequest(tb testing.TB, saleID, user string) events.APIGatewayProxyRequest {
	tb.Helper()
	req := loadEvent(tb, "my-orders.json")
	req.PathParameters = map[string]string{"saleId": saleID}
	req.Path = "/sales/" + saleID + "/my-orders"
	setUser(&req, user)
	return req
}

type myOrder struct {
	OrderID, SaleID, Status string
	Quantity, AmountCents   int64
	ExpiresAt               string
}

func (h *harness) myOrders(tb testing.TB, saleID, user string) []myOrder {
	tb.Helper()
	r := h.call(tb, apispec.FunctionOrders, myOrdersRequest(tb, saleID, user))
	if r.StatusCode != http.StatusOK {
		tb.Fatalf("GET /sales/%s/my-orders as %s: got %d %s, want 200", saleID, user, r.StatusCode, r.Body)
	}
	var body struct{ Orders []myOrder }
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Orders == nil {
		tb.Fatalf("my-orders body %s: want {\"orders\":[…]} (err %v)", r.Body, err)
	}
	return body.Orders
}

// TestMyOrders_FindsTheOrderOfALostAnswer: a buyer whose 202 was lost and
// whose retry came back 410 (answered from memory after the sell-out) finds
// the order through my-orders, exactly as GET /orders/{id} shows it; other
// buyers' orders never show, and past its expiry an order reads expired.
func TestMyOrders_FindsTheOrderOfALostAnswer(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "lost", 2, 1, 1)
	if got := h.myOrders(t, "lost", "alice"); len(got) != 0 {
		t.Errorf("before buying: %+v, want no orders", got)
	}
	lost := h.buy(t, "lost", "alice", "a1", 1) // the app never sees this answer
	if lost.StatusCode != http.StatusAccepted {
		t.Fatalf("buy: got %d %s", lost.StatusCode, lost.Body)
	}
	h.buy(t, "lost", "bob", "b1", 1)
	if r := h.buy(t, "lost", "carol", "c1", 1); r.StatusCode != http.StatusGone {
		t.Fatalf("third buyer on 2 units: got %d, want 410", r.StatusCode)
	}
	if r := h.buy(t, "lost", "alice", "a1", 1); r.StatusCode != http.StatusGone {
		t.Fatalf("alice's retry after the sell-out: got %d, want 410 (answered from memory)", r.StatusCode)
	}

	got := h.myOrders(t, "lost", "alice")
	rc := receiptOf(t, lost)
	if len(got) != 1 || got[0].OrderID != rc.OrderID || got[0].Status != "reserved" || got[0].Quantity != 1 ||
		got[0].AmountCents != rc.AmountCents || got[0].ExpiresAt != rc.ExpiresAt || got[0].SaleID != "lost" {
		t.Fatalf("alice's orders %+v, want exactly her reserved order %s", got, rc.OrderID)
	}
	single := h.call(t, apispec.FunctionOrders, orderRequest(t, http.MethodGet, rc.OrderID, "alice"))
	var one myOrder
	if err := json.Unmarshal([]byte(single.Body), &one); err != nil || one != got[0] {
		t.Errorf("my-orders line %+v differs from GET /orders/{id} %s", got[0], single.Body)
	}
	if others := h.myOrders(t, "lost", "carol"); len(others) != 0 {
		t.Errorf("carol (no order) sees %+v, want none", others)
	}

	h.clock.Advance(11 * time.Minute)
	if got := h.myOrders(t, "lost", "alice"); len(got) != 1 || got[0].Status != "expired" {
		t.Errorf("after the payment window: %+v, want her order, expired", got)
	}
	if r := h.call(t, apispec.FunctionOrders, myOrdersRequest(t, "nosuchsale", "alice")); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown sale: got %d, want 404", r.StatusCode)
	}
}
