package handler_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

// buyRequest is the sample purchase by user on sale with key and body.
func buyRequest(tb testing.TB, saleID, user, key, body string) events.APIGatewayProxyRequest {
	tb.Helper()
	req := withSale(loadEvent(tb, "reserve.json"), saleID)
	req.Body = body
	return asUser(withHeader(req, "Idempotency-Key", key), user)
}

func TestReserve_Accepted(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 2)
	resp := call(t, f.buy, loadEvent(t, "reserve.json"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202 (%s)", resp.StatusCode, resp.Body)
	}
	got := decodeBody(t, resp)
	id, _ := got["orderId"].(string)
	if sale, err := flashsale.ParseOrderID(id); err != nil || sale != "spring-1" {
		t.Errorf("orderId = %q, want an order ID of spring-1", id)
	}
	want := map[string]any{"orderId": id, "saleId": "spring-1", "status": "reserved", "quantity": 1.0,
		"amountCents": 1999.0, "currency": "USD", "expiresAt": flashsale.FormatTime(f.clock.Now().Add(600 * time.Second))}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want exactly %v", got, want)
	}
	if h := resp.Headers["Idempotent-Replayed"]; h != "" {
		t.Errorf("Idempotent-Replayed = %q on a first request, want none", h)
	}
	if n := f.queue.Len(); n != 1 {
		t.Errorf("queued messages = %d, want 1", n)
	}

	// The same key and body later: the same bytes, flagged as a replay.
	f.clock.Advance(time.Minute)
	again := call(t, f.buy, loadEvent(t, "reserve.json"))
	if again.StatusCode != http.StatusAccepted || again.Body != resp.Body {
		t.Errorf("replay = %d %s, want 202 %s", again.StatusCode, again.Body, resp.Body)
	}
	if h := again.Headers["Idempotent-Replayed"]; h != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", h)
	}
	// Header names are case-insensitive.
	req := loadEvent(t, "reserve.json")
	req = withHeader(withHeader(req, "Idempotency-Key", ""), "idempotency-key", "3f1c2a9e-buy-1")
	if lower := call(t, f.buy, req); lower.Body != resp.Body {
		t.Errorf("replay with a lower-case header = %s, want %s", lower.Body, resp.Body)
	}
	if n := f.queue.Len(); n != 1 {
		t.Errorf("queued messages after replays = %d, want 1", n)
	}
}

// TestReserve_CheckOrder follows the contract's order of checks: each case
// is also wrong in every way checked later, so only the first check may
// answer.
func TestReserve_CheckOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 2)
	f.createSale(t, "tiny", 1, 1, 1)
	for _, n := range []flashsale.NewSale{
		{ID: "later", StartsAt: saleEnd, EndsAt: saleEnd.Add(time.Hour)},
		{ID: "ended", StartsAt: saleStart.Add(-time.Hour), EndsAt: saleStart},
	} {
		n.Name, n.PriceCents, n.Currency, n.Stock, n.PerUserLimit, n.PaymentWindowSeconds = "x", 100, "USD", 10, 2, 600
		if _, err := f.svc.CreateSale(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	f.order(t, "tiny", "first", "k")
	if _, err := f.svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "tiny", UserID: "second", Key: "k", Quantity: 1}); err == nil {
		t.Fatal("a second unit of a 1-unit sale was sold")
	}
	f.order(t, "spring-1", "holder", "k1")
	f.order(t, "spring-1", "holder", "k2")
	replayed := f.order(t, "spring-1", "replayer", "k")

	tests := []struct {
		name       string
		req        events.APIGatewayProxyRequest
		wantStatus int
		wantCode   string
	}{
		{"no claims", buyRequest(t, "nope", "", "bad key", `{"quantity":0}`), http.StatusUnauthorized, "unauthorized"},
		{"unknown sale", buyRequest(t, "nope", "u1", "bad key", `{"quantity":0}`), http.StatusNotFound, "sale_not_found"},
		{"bad key", buyRequest(t, "tiny", "u1", "bad key", `{"quantity":0}`), http.StatusBadRequest, "invalid_idempotency_key"},
		{"missing key", buyRequest(t, "tiny", "u1", "", `{"quantity":1}`), http.StatusBadRequest, "invalid_idempotency_key"},
		{"key of 65 chars", buyRequest(t, "tiny", "u1", strings.Repeat("k", 65), `{"quantity":1}`), http.StatusBadRequest, "invalid_idempotency_key"},
		{"quantity zero", buyRequest(t, "tiny", "u1", "k", `{"quantity":0}`), http.StatusBadRequest, "invalid_quantity"},
		{"quantity as a string", buyRequest(t, "spring-1", "u1", "k", `{"quantity":"1"}`), http.StatusBadRequest, "invalid_quantity"},
		{"quantity 1.0", buyRequest(t, "spring-1", "u1", "k", `{"quantity":1.0}`), http.StatusBadRequest, "invalid_quantity"},
		{"quantity beyond int64", buyRequest(t, "spring-1", "u1", "k", `{"quantity":9223372036854775808}`), http.StatusBadRequest, "invalid_quantity"},
		{"quantity missing", buyRequest(t, "spring-1", "u1", "k", `{}`), http.StatusBadRequest, "invalid_quantity"},
		{"quantity above the limit", buyRequest(t, "tiny", "u1", "k", `{"quantity":2}`), http.StatusBadRequest, "invalid_quantity"},
		{"not JSON", buyRequest(t, "spring-1", "u1", "k", `quantity=1`), http.StatusBadRequest, "invalid_json"},
		{"key reused with another quantity", buyRequest(t, "spring-1", "replayer", "k", `{"quantity":2}`), http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{"key reused on another sale", buyRequest(t, "later", "replayer", "k", `{"quantity":1}`), http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{"not open yet", buyRequest(t, "later", "u1", "k", `{"quantity":1}`), http.StatusForbidden, "sale_not_open"},
		{"ended", buyRequest(t, "ended", "u1", "k", `{"quantity":1}`), http.StatusGone, "sale_closed"},
		{"sold out", buyRequest(t, "tiny", "u1", "k", `{"quantity":1}`), http.StatusGone, "sold_out"},
		{"limit reached", buyRequest(t, "spring-1", "holder", "k3", `{"quantity":1}`), http.StatusConflict, "limit_reached"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, call(t, f.buy, tc.req), tc.wantStatus, tc.wantCode)
		})
	}

	// A 400 stores nothing: the key still works afterwards.
	resp := call(t, f.buy, buyRequest(t, "spring-1", "u1", "k", `{"quantity":1}`))
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("key after 400s: status = %d, want 202 (%s)", resp.StatusCode, resp.Body)
	}
	// The replayed order is the original one.
	resp = call(t, f.buy, buyRequest(t, "spring-1", "replayer", "k", `{"quantity":1}`))
	if got := decodeBody(t, resp)["orderId"]; got != replayed.OrderID {
		t.Errorf("replay orderId = %v, want %s", got, replayed.OrderID)
	}
}
