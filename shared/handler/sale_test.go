package handler_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func TestSaleInfo(t *testing.T) {
	tests := []struct {
		name          string
		at            time.Time
		soldOut       bool
		wantStatus    string
		wantRemaining float64
	}{
		{"before start", saleStart.Add(-time.Minute), false, "scheduled", 10},
		{"at start", saleStart, false, "open", 10},
		{"sold out", saleStart.Add(time.Minute), true, "sold_out", 0},
		{"at end", saleEnd, false, "closed", 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.clock.Set(tc.at.Add(-2 * time.Second)) // past the service's 1 s cache at tc.at
			f.createSale(t, "spring-1", 10, 2, 3)
			if tc.soldOut {
				for _, k := range []int{0, 1} {
					if err := f.mem.TakeStock(context.Background(), "spring-1", k, 5); err != nil {
						t.Fatal(err)
					}
				}
			}
			f.clock.Set(tc.at)
			resp := call(t, f.sale, loadEvent(t, "sale-info.json"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
			}
			got := decodeBody(t, resp)
			want := map[string]any{
				"saleId": "spring-1", "name": "Test spring-1", "priceCents": 1999.0, "currency": "USD",
				"startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z",
				"status": tc.wantStatus, "remaining": tc.wantRemaining, "perUserLimit": 3.0,
				"admission": map[string]any{"purchaseToken": true, "challenge": true},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %v, want exactly %v", got, want)
			}
		})
	}
}

func TestSaleInfo_NotFound(t *testing.T) {
	f := newFixture(t)
	resp := call(t, f.sale, withSale(loadEvent(t, "sale-info.json"), "no-such-sale"))
	wantError(t, resp, http.StatusNotFound, "sale_not_found")
}

// failingSale fails every read of a sale, as a throttled or unreachable
// table would.
type failingSale struct{ flashsale.Store }

func (failingSale) Sale(context.Context, string) (flashsale.SaleState, error) {
	return flashsale.SaleState{}, errors.New("dial tcp 10.0.0.1:443: connection reset by secret-host")
}

func TestSaleInfo_StoreDown(t *testing.T) {
	f := newFixture(t, withStore(func(s flashsale.Store) flashsale.Store { return failingSale{s} }))
	resp := call(t, f.sale, loadEvent(t, "sale-info.json"))
	e := wantError(t, resp, http.StatusServiceUnavailable, "unavailable")
	if want := flashsale.ErrUnavailable.Error(); e.Message != want {
		t.Errorf("message = %q, want %q (no internals)", e.Message, want)
	}
}
