package handler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

func TestFail(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantCode    string
		wantMessage string
		retryAfter  string
	}{
		{"unknown error is a generic 500", errors.New("pq: password=hunter2 host=db.internal"), http.StatusInternalServerError, "internal_error", "internal error", ""},
		{"wrapped unknown error", fmt.Errorf("reserve spring-1: %w", errors.New("secret detail")), http.StatusInternalServerError, "internal_error", "internal error", ""},
		{"unavailable shows only its own message", fmt.Errorf("%w (read sale x: dial db.internal)", flashsale.ErrUnavailable), http.StatusServiceUnavailable, "unavailable", flashsale.ErrUnavailable.Error(), "1"},
		{"in progress", flashsale.ErrInProgress, http.StatusServiceUnavailable, "request_in_progress", flashsale.ErrInProgress.Error(), "1"},
		{"wrapped domain error", fmt.Errorf("reserve spring-1 for u1: %w", flashsale.ErrSoldOut), http.StatusGone, "sold_out", flashsale.ErrSoldOut.Error(), ""},
		{"sale closed", flashsale.ErrSaleClosed, http.StatusGone, "sale_closed", flashsale.ErrSaleClosed.Error(), ""},
		{"not open", flashsale.ErrSaleNotOpen, http.StatusForbidden, "sale_not_open", flashsale.ErrSaleNotOpen.Error(), ""},
		{"limit", flashsale.ErrLimitReached, http.StatusConflict, "limit_reached", flashsale.ErrLimitReached.Error(), ""},
		{"key reused", flashsale.ErrKeyReused, http.StatusUnprocessableEntity, "idempotency_key_reused", flashsale.ErrKeyReused.Error(), ""},
		{"settlement running", &flashsale.LeaseHeldError{RetryAfter: 5 * time.Second}, http.StatusConflict, "settlement_in_progress", flashsale.ErrLeaseHeld.Error(), "5"},
		{"input error", &flashsale.InputError{Code: "invalid_stock", Field: "stock", Message: "stock must be between 1 and 10000000"},
			http.StatusBadRequest, "invalid_stock", "stock must be between 1 and 10000000", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			req := loadEvent(t, "reserve.json")
			resp := handler.Fail(context.Background(), log, req, tc.err)
			e := wantError(t, resp, tc.wantStatus, tc.wantCode)
			if e.Message != tc.wantMessage {
				t.Errorf("message = %q, want %q", e.Message, tc.wantMessage)
			}
			if got := resp.Headers["Retry-After"]; got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			for _, secret := range []string{"hunter2", "db.internal", "secret detail", "spring-1 for u1"} {
				if strings.Contains(resp.Body, secret) {
					t.Errorf("body %s leaks %q", resp.Body, secret)
				}
			}
			// The cause goes to the log, with the request ID, instead.
			if !strings.Contains(logs.String(), tc.err.Error()) || !strings.Contains(logs.String(), req.RequestContext.RequestID) {
				t.Errorf("log = %q, want the cause and request ID", logs.String())
			}
		})
	}
}

func TestFail_ClientErrorsLogQuietly(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil)) // info and up
	handler.Fail(context.Background(), log, loadEvent(t, "reserve.json"), flashsale.ErrSoldOut)
	if logs.Len() != 0 {
		t.Errorf("a 410 logged %q at info, want nothing (sell-outs answer thousands a second)", logs.String())
	}
	handler.Fail(context.Background(), log, loadEvent(t, "reserve.json"), errors.New("boom"))
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a 500 logged %q, want an ERROR line", logs.String())
	}
}

func TestOrders_UnknownRoute(t *testing.T) {
	f := newFixture(t)
	req := loadEvent(t, "order-get.json")
	req.HTTPMethod = "PUT"
	wantError(t, call(t, f.orders.Serve, req), http.StatusNotFound, "not_found")
}

func TestOrders_MalformedID(t *testing.T) {
	f := newFixture(t)
	req := loadEvent(t, "order-get.json")
	req.PathParameters["orderId"] = "no-dot"
	e := wantError(t, call(t, f.orders.Serve, req), http.StatusBadRequest, "invalid_orderId")
	if e.Field != "orderId" {
		t.Errorf("field = %q, want orderId", e.Field)
	}
}

func TestBase64Body(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	req := loadEvent(t, "reserve.json")
	req.Body, req.IsBase64Encoded = "eyJxdWFudGl0eSI6MX0=", true // {"quantity":1}
	if resp := call(t, f.buy, req); resp.StatusCode != http.StatusAccepted {
		t.Errorf("base64 body: status = %d, want 202 (%s)", resp.StatusCode, resp.Body)
	}
	req.Body = "!!not base64"
	req = withHeader(req, "Idempotency-Key", "other")
	wantError(t, call(t, f.buy, req), http.StatusBadRequest, "invalid_body")
}
