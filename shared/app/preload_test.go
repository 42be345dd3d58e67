package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/flashsale"
)

// TestPreload_WarmedContainerMakesNoSaleRead is the data warm-up on DynamoDB
// Local: a container that starts at the warm-up (T − 10 min) and preloads
// makes no GetItem on its first purchase at T; a container that did not
// preload reads the sale item there.
func TestPreload_WarmedContainerMakesNoSaleRead(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	opens := h.clock.Now().Add(10 * time.Minute).Truncate(time.Second)
	if _, err := h.app.Service.CreateSale(ctx, flashsale.NewSale{
		ID: "warm-" + flashsale.NewUniqueID()[16:], Name: "Warm", PriceCents: 1999, Currency: "USD",
		StartsAt: opens, EndsAt: opens.Add(time.Hour), Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 2,
	}); err != nil {
		t.Fatal(err)
	}
	sales, err := h.store.ListSales(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var saleID string
	for _, s := range sales {
		if s.StartsAt.Equal(opens) {
			saleID = s.ID
		}
	}
	container := func() *app.App { // another Lambda container on the same tables and clock
		return app.Build(h.store, h.queue, app.Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdmissionKeys: testKeys,
			Service: []flashsale.Option{flashsale.WithClock(h.clock.Now)},
		})
	}
	warmed, cold := container(), container()
	if n, err := warmed.Preload(ctx); err != nil || n < 1 {
		t.Fatalf("Preload = %d, %v; want at least the sale opening in 10 min", n, err)
	}

	h.clock.Set(opens.Add(200 * time.Millisecond)) // the burst's first request
	for _, tc := range []struct {
		name      string
		container *app.App
		reads     int64
	}{{"warmed", warmed, 0}, {"cold", cold, 1}} {
		before := h.ddbCalls.Operation("GetItem")
		req := buyRequest(t, saleID, "buyer-"+tc.name, "k1", `{"quantity":1}`)
		resp, err := tc.container.Handlers[apispec.FunctionReserve](ctx, req)
		checkEvent(t, req, resp)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s container's purchase = %d %s, %v; want 202", tc.name, resp.StatusCode, resp.Body, err)
		}
		if got := h.ddbCalls.Operation("GetItem") - before; got != tc.reads {
			t.Errorf("%s container's first purchase made %d GetItem (sale reads); want %d", tc.name, got, tc.reads)
		}
	}
}
