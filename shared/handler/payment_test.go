package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/webhook"
)

// webhookRequest is the sample webhook with body, signed at signedAt with key.
func webhookRequest(tb testing.TB, body string, key []byte, signedAt time.Time) events.APIGatewayProxyRequest {
	tb.Helper()
	req := loadEvent(tb, "webhook.json")
	req.Body = body
	return withHeader(req, webhook.Header, webhook.Sign(key, signedAt, []byte(body)))
}

func paymentBody(tb testing.TB, eventID, orderID string, amount int64, currency string) string {
	tb.Helper()
	b, err := json.Marshal(flashsale.Payment{EventID: eventID, OrderID: orderID, AmountCents: amount, Currency: currency, Status: "succeeded"})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestWebhook_Signature(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	o := f.order(t, "spring-1", "u1", "k")
	body := paymentBody(t, "evt_1", o.OrderID, o.AmountCents, o.Currency)
	now := f.clock.Now()
	tests := []struct {
		name       string
		header     string
		wantStatus int
		wantCode   string
	}{
		{"missing", "", http.StatusBadRequest, "invalid_signature"},
		{"malformed", "sha256=abc", http.StatusBadRequest, "invalid_signature"},
		{"not hex", "t=1764583260,v1=zz", http.StatusBadRequest, "invalid_signature"},
		{"wrong secret", webhook.Sign([]byte("other"), now, []byte(body)), http.StatusUnauthorized, "invalid_signature"},
		{"other body", webhook.Sign(secret, now, []byte(body+" ")), http.StatusUnauthorized, "invalid_signature"},
		{"stale", webhook.Sign(secret, now.Add(-301*time.Second), []byte(body)), http.StatusUnauthorized, "invalid_signature"},
		{"from the future", webhook.Sign(secret, now.Add(301*time.Second), []byte(body)), http.StatusUnauthorized, "invalid_signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := loadEvent(t, "webhook.json")
			req.Body = body
			req = withHeader(req, webhook.Header, tc.header)
			wantError(t, call(t, f.orders.Serve, req), tc.wantStatus, tc.wantCode)
		})
	}
	// None of them changed anything.
	got, err := f.svc.GetOrder(context.Background(), "u1", o.OrderID)
	if err != nil || got.Status != flashsale.OrderReserved {
		t.Errorf("order after refused webhooks = %s, %v; want reserved", got.Status, err)
	}
}

func TestWebhook_Outcomes(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	paid := f.order(t, "spring-1", "u1", "k")
	mismatched := f.order(t, "spring-1", "u2", "k")
	now := f.clock.Now()
	steps := []struct {
		name       string
		body       string
		wantStatus int
		wantResult string // for a 200; "" to leave it unchecked
		wantDup    bool
		wantCode   string // for an error
	}{
		{"pays a reserved order", paymentBody(t, "evt_1", paid.OrderID, 1999, "USD"), http.StatusOK, flashsale.LedgerPaid, false, ""},
		// The replay's "result" is not asserted: it reads refund_due today
		// (the order is paid by then), though nothing is recorded; see report.
		{"same event again changes nothing", paymentBody(t, "evt_1", paid.OrderID, 1999, "USD"), http.StatusOK, "", true, ""},
		{"second payment of a paid order", paymentBody(t, "evt_2", paid.OrderID, 1999, "USD"), http.StatusOK, flashsale.LedgerRefundDue, false, ""},
		{"wrong amount", paymentBody(t, "evt_3", mismatched.OrderID, 1000, "USD"), http.StatusBadRequest, "", false, "payment_mismatch"},
		{"wrong currency", paymentBody(t, "evt_4", mismatched.OrderID, 1999, "EUR"), http.StatusBadRequest, "", false, "payment_mismatch"},
		{"unknown order", paymentBody(t, "evt_5", "spring-1.doesnotexist", 1999, "USD"), http.StatusOK, flashsale.LedgerRefundDue, false, ""},
		{"unknown sale", paymentBody(t, "evt_6", "autumn-9.x", 1999, "USD"), http.StatusOK, flashsale.LedgerRefundDue, false, ""},
		{"other status is recorded", `{"eventId":"evt_7","orderId":"` + mismatched.OrderID + `","amountCents":1999,"currency":"USD","status":"failed"}`,
			http.StatusOK, flashsale.LedgerIgnored, false, ""},
		{"bad event id", paymentBody(t, "evt 8", mismatched.OrderID, 1999, "USD"), http.StatusBadRequest, "", false, "invalid_eventId"},
		{"unknown field", `{"eventId":"evt_9","orderId":"x.y","amountCents":1,"currency":"USD","status":"succeeded","tip":1}`,
			http.StatusBadRequest, "", false, "unknown_field"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp := call(t, f.orders.Serve, webhookRequest(t, st.body, secret, now))
			if st.wantCode != "" {
				wantError(t, resp, st.wantStatus, st.wantCode)
				return
			}
			if resp.StatusCode != st.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, st.wantStatus, resp.Body)
			}
			var p flashsale.Payment
			_ = json.Unmarshal([]byte(st.body), &p)
			// A first delivery says what it did; a duplicate only that it
			// was one (what it did then is in the ledger).
			want := map[string]any{"eventId": p.EventID, "result": st.wantResult}
			if st.wantDup {
				want = map[string]any{"eventId": p.EventID, "duplicate": true}
			}
			got := decodeBody(t, resp)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %v, want %v", got, want)
			}
		})
	}

	ctx := context.Background()
	if o, _ := f.svc.GetOrder(ctx, "u1", paid.OrderID); o.Status != flashsale.OrderPaid || o.PaidAt.IsZero() {
		t.Errorf("paid order = %s (paidAt %v), want paid with paidAt", o.Status, o.PaidAt)
	}
	if o, _ := f.svc.GetOrder(ctx, "u2", mismatched.OrderID); o.Status != flashsale.OrderReserved {
		t.Errorf("mismatched order = %s, want still reserved", o.Status)
	}
	ledger, err := f.mem.Ledger(ctx, "spring-1")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range ledger {
		kinds[e.Kind]++
	}
	// evt_6's sale is unknown, so its refund is kept outside spring-1's ledger.
	wantKinds := map[string]int{flashsale.LedgerPaid: 1, flashsale.LedgerRefundDue: 2, flashsale.LedgerMismatch: 2, flashsale.LedgerIgnored: 1}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("ledger kinds = %v, want %v", kinds, wantKinds)
	}
}

func TestWebhook_ExpiredOrderIsRefundDue(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	o := f.order(t, "spring-1", "u1", "k")
	f.clock.Advance(601 * time.Second) // past the 600 s payment window
	resp := call(t, f.orders.Serve, webhookRequest(t, paymentBody(t, "evt_1", o.OrderID, 1999, "USD"), secret, f.clock.Now()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
	}
	if got := decodeBody(t, resp)["result"]; got != flashsale.LedgerRefundDue {
		t.Errorf("result = %v, want %s", got, flashsale.LedgerRefundDue)
	}
}

func TestOrders(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	o := f.order(t, "spring-1", "user-123", "k")
	get := func(user, id string) events.APIGatewayProxyResponse {
		req := asUser(loadEvent(t, "order-get.json"), user)
		req.PathParameters = map[string]string{"orderId": id}
		return call(t, f.orders.Serve, req)
	}
	cancel := func(user, id string) events.APIGatewayProxyResponse {
		req := asUser(loadEvent(t, "order-cancel.json"), user)
		req.PathParameters = map[string]string{"orderId": id}
		return call(t, f.orders.Serve, req)
	}

	resp := get("user-123", o.OrderID)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET own order: status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
	}
	want := map[string]any{"orderId": o.OrderID, "saleId": "spring-1", "status": "reserved", "quantity": 1.0,
		"amountCents": 1999.0, "currency": "USD", "expiresAt": o.ExpiresAt}
	if got := decodeBody(t, resp); !reflect.DeepEqual(got, want) {
		t.Errorf("GET own order = %v, want exactly %v (no paidAt)", got, want)
	}
	wantError(t, get("someone-else", o.OrderID), http.StatusNotFound, "order_not_found")
	wantError(t, get("user-123", "spring-1.nope"), http.StatusNotFound, "order_not_found")
	wantError(t, get("", o.OrderID), http.StatusUnauthorized, "unauthorized")
	wantError(t, cancel("someone-else", o.OrderID), http.StatusNotFound, "order_not_found")

	resp = cancel("user-123", o.OrderID)
	if resp.StatusCode != http.StatusOK || decodeBody(t, resp)["status"] != "cancelled" {
		t.Fatalf("DELETE own order = %d %s, want 200 cancelled", resp.StatusCode, resp.Body)
	}
	wantError(t, cancel("user-123", o.OrderID), http.StatusConflict, "order_not_reserved")
	avail, err := f.mem.Available(context.Background(), flashsale.Sale{ID: "spring-1", Shards: 1})
	if err != nil || avail[0] != 10 {
		t.Errorf("stock after cancel = %v, %v; want [10]", avail, err)
	}
}

// TestWebhook_NoSecretFailsClosed: a deployment that forgot the secret must
// not accept payments signed with the empty one.
func TestWebhook_NoSecretFailsClosed(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "nosecret", 5, 1, 1)
	rc := f.order(t, "nosecret", "buyer", "k1")
	open := handler.NewWebhook(f.svc, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	body := paymentBody(t, "evt-empty", rc.OrderID, rc.AmountCents, rc.Currency)
	resp := call(t, open, webhookRequest(t, body, nil, f.clock.Now()))
	wantError(t, resp, http.StatusUnauthorized, "invalid_signature")
	if o, err := f.svc.GetOrder(context.Background(), "buyer", rc.OrderID); err != nil || o.Status != flashsale.OrderReserved {
		t.Errorf("order after the refused webhook: %+v %v, want still reserved", o, err)
	}
}
