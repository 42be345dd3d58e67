package soak_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/gateway"
	"flashsale/shared/local/testenv"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
	"flashsale/shared/ops/soak"
)

func TestGrowing(t *testing.T) {
	series := func(n int, f func(i int) float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = f(i)
		}
		return xs
	}
	tests := []struct {
		name   string
		xs     []float64
		rel    float64
		abs    float64
		growth bool
	}{
		{"level RSS with GC swings", series(60, func(i int) float64 { return 80 + 12*math.Sin(float64(i)) }), 0.25, 16, false},
		{"warm-up then level", series(60, func(i int) float64 { return 40 + 40*math.Min(1, float64(i)/10) }), 0.25, 16, false},
		{"RSS leaking 2 MiB a sample", series(60, func(i int) float64 { return 60 + 2*float64(i) }), 0.25, 16, true},
		{"level goroutines", series(60, func(i int) float64 { return 40 + float64(i%7) }), 0.2, 20, false},
		{"a goroutine per request never ending", series(60, func(i int) float64 { return 40 + 5*float64(i) }), 0.2, 20, true},
		{"too few samples", []float64{1, 2, 3}, 0.2, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := soak.Growing(tc.xs, tc.rel, tc.abs)
			if v.Growing != tc.growth || v.Reason == "" {
				t.Errorf("Growing = %+v, want growing=%v with a reason", v, tc.growth)
			}
		})
	}
}

// TestRun_PlaysEveryKindAndStopsByItself runs a short soak on the local
// gateway over the in-memory adapters.
func TestRun_PlaysEveryKindAndStopsByItself(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	secret := "whsec"
	a := app.Build(memstore.New(), memqueue.New(), app.Options{Logger: log, WebhookSecret: secret})
	now := time.Now().UTC()
	for _, sale := range []flashsale.NewSale{{ID: "soak", Stock: 1_000_000}, {ID: "gone", Stock: 1}} {
		sale.Name, sale.PriceCents, sale.Currency, sale.PerUserLimit, sale.PaymentWindowSeconds = sale.ID, 100, "USD", 1000, 600
		sale.StartsAt, sale.EndsAt = now.Add(-time.Minute), now.Add(time.Hour)
		sale.Admission = &flashsale.Admission{PurchaseToken: false} // as flashsale soak creates them
		if _, err := a.Service.CreateSale(context.Background(), sale); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Service.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: "gone", UserID: "first", Key: "k", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	issuer, err := devauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Routes: apispec.Routes, Handlers: a.Handlers, Verifier: issuer.Verifier(),
		APIKeys: []string{issuer.APIKey()}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	testenv.CheckOpenAPI(t, gw)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	var buyers []string
	for i := range 20 {
		tok, err := issuer.Token(devauth.TokenRequest{UserID: fmt.Sprintf("soaker-%d", i), TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		buyers = append(buyers, tok)
	}
	admin, err := issuer.Token(devauth.TokenRequest{UserID: "ops", Groups: []string{"admin"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	samples := 0
	start := time.Now()
	res, err := soak.Run(context.Background(), soak.Config{
		Target: srv.URL, SaleID: "soak", SoldOutSaleID: "gone", Buyers: buyers, APIKey: issuer.APIKey(), Admin: admin, WebhookSecret: []byte(secret),
		Duration: 2 * time.Second, Every: 100 * time.Millisecond, Rate: 300, Workers: 8,
		Sample: func() (soak.Sample, error) {
			samples++
			return soak.Sample{RSSBytes: 1, Goroutines: 1}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a 2 s soak took %s: it did not stop by itself", took)
	}
	for _, kind := range []string{"sold-out", "buy", "replay", "pay", "cancel", "my-orders", "sale-info", "settle"} {
		if res.Counts.ByKind[kind] == 0 {
			t.Errorf("no %s request in %+v", kind, res.Counts)
		}
	}
	if res.Counts.ByStatus[202] == 0 || res.Counts.ByStatus[200] == 0 || res.Counts.ByStatus[410] == 0 || res.Counts.ByStatus[500] != 0 {
		t.Errorf("answers %v, want 202s, 200s and 410s, and no 500", res.Counts.ByStatus)
	}
	if samples < 5 || len(res.Samples) != samples || res.RSS.Growing || res.Goroutines.Growing {
		t.Errorf("%d samples kept of %d taken, verdicts %+v %+v; want them all and level", len(res.Samples), samples, res.RSS, res.Goroutines)
	}
}
