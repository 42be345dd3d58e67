package flashsale_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func TestReserve_Checks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "open", 10, 2, 2)
	e.createSale(t, "other", 10, 1, 2)
	e.createSale(t, "gone", 1, 1, 1)
	for _, n := range []flashsale.NewSale{
		{ID: "later", StartsAt: testEnd, EndsAt: testEnd.Add(time.Hour)},
		{ID: "ended", StartsAt: testStart.Add(-2 * time.Hour), EndsAt: testStart},
	} {
		n.Name, n.PriceCents, n.Currency, n.Stock, n.PerUserLimit, n.PaymentWindowSeconds = "x", 100, "USD", 10, 2, 600
		if _, err := e.svc.CreateSale(ctx, n); err != nil {
			t.Fatalf("create %s: %v", n.ID, err)
		}
	}
	e.buy(t, "gone", "first", "k", 1) // sells "gone" out
	if _, err := e.svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "gone", UserID: "second", Key: "k", Quantity: 1}); !errors.Is(err, flashsale.ErrSoldOut) {
		t.Fatalf("second buyer of a 1-unit sale: got %v, want ErrSoldOut", err)
	}
	e.buy(t, "open", "holder", "k1", 2)   // at the limit
	e.buy(t, "open", "reuser", "same", 1) // a key to reuse

	tests := []struct {
		name     string
		req      flashsale.ReserveRequest
		wantErr  error
		wantCode string // for an *InputError
	}{
		{"unknown sale", flashsale.ReserveRequest{SaleID: "nope", UserID: "u1", Key: "k", Quantity: 1}, flashsale.ErrSaleNotFound, ""},
		// The key's format is checked by the handler, before the body
		// (handler's TestReserve_CheckOrder), so no case here has a bad key.
		{"unknown sale beats a bad quantity", flashsale.ReserveRequest{SaleID: "nope", UserID: "u1", Key: "k", Quantity: 0}, flashsale.ErrSaleNotFound, ""},
		{"zero quantity", flashsale.ReserveRequest{SaleID: "open", UserID: "u1", Key: "k", Quantity: 0}, nil, "invalid_quantity"},
		{"quantity above the limit", flashsale.ReserveRequest{SaleID: "open", UserID: "u1", Key: "k", Quantity: 3}, nil, "invalid_quantity"},
		{"bad quantity beats sold out", flashsale.ReserveRequest{SaleID: "gone", UserID: "u1", Key: "k", Quantity: 2}, nil, "invalid_quantity"},
		{"bad quantity beats not open", flashsale.ReserveRequest{SaleID: "later", UserID: "u1", Key: "k", Quantity: 0}, nil, "invalid_quantity"},
		{"not open yet", flashsale.ReserveRequest{SaleID: "later", UserID: "u1", Key: "k", Quantity: 1}, flashsale.ErrSaleNotOpen, ""},
		{"ended", flashsale.ReserveRequest{SaleID: "ended", UserID: "u1", Key: "k", Quantity: 1}, flashsale.ErrSaleClosed, ""},
		{"sold out", flashsale.ReserveRequest{SaleID: "gone", UserID: "u1", Key: "k", Quantity: 1}, flashsale.ErrSoldOut, ""},
		{"limit reached", flashsale.ReserveRequest{SaleID: "open", UserID: "holder", Key: "k2", Quantity: 1}, flashsale.ErrLimitReached, ""},
		{"key reused with another quantity", flashsale.ReserveRequest{SaleID: "open", UserID: "reuser", Key: "same", Quantity: 2}, flashsale.ErrKeyReused, ""},
		{"key reused on another sale", flashsale.ReserveRequest{SaleID: "other", UserID: "reuser", Key: "same", Quantity: 1}, flashsale.ErrKeyReused, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Reserve(ctx, tc.req)
			if tc.wantCode != "" {
				var in *flashsale.InputError
				if !errors.As(err, &in) || in.Code != tc.wantCode {
					t.Fatalf("Reserve(%+v) error = %v, want *InputError %s", tc.req, err, tc.wantCode)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Reserve(%+v) error = %v, want %v", tc.req, err, tc.wantErr)
			}
		})
	}
}

func TestReserve_Replay(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "s", 10, 2, 1)
	req := flashsale.ReserveRequest{SaleID: "s", UserID: "u1", Key: "key-1", Quantity: 1}
	first, err := e.svc.Reserve(ctx, req)
	if err != nil || first.Replayed {
		t.Fatalf("first Reserve = replayed %v, %v; want a fresh order", first.Replayed, err)
	}
	e.clock.Advance(time.Minute) // a replay later must not change the body
	again, err := e.svc.Reserve(ctx, req)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if !again.Replayed || !bytes.Equal(again.Receipt, first.Receipt) {
		t.Errorf("replay = %s (replayed %v), want %s (replayed true)", again.Receipt, again.Replayed, first.Receipt)
	}
	st, _ := e.mem.Sale(ctx, "s")
	orders, _ := e.mem.SaleOrders(ctx, st.Sale)
	if len(orders) != 1 {
		t.Errorf("orders after a replay = %d, want 1", len(orders))
	}
}

// TestReserve_SoldOutFastPath proves the flood after a sell-out costs no
// store or queue call, and that a process rechecks the mark about once per
// cache TTL.
func TestReserve_SoldOutFastPath(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "s", 2, 2, 1)
	e.buy(t, "s", "a", "k", 1)
	e.buy(t, "s", "b", "k", 1)
	if _, err := e.svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "s", UserID: "c", Key: "k", Quantity: 1}); !errors.Is(err, flashsale.ErrSoldOut) {
		t.Fatalf("third buyer: got %v, want ErrSoldOut", err)
	}
	e.store.Calls()
	e.queue.Calls()

	other := e.newService() // another container, which learns from the store's mark
	tests := []struct {
		name      string
		svc       *flashsale.Service
		advance   time.Duration
		wantStore map[string]int
	}{
		{"process that saw the sell-out", e.svc, 0, map[string]int{}},
		{"fresh process reads the sale once", other, 0, map[string]int{"Sale": 1}},
		{"fresh process, cached", other, 0, map[string]int{}},
		{"after the cache TTL, one recheck", other, time.Second, map[string]int{"Sale": 1}},
		{"recheck is cached again", other, 0, map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(tc.advance)
			for i := range 100 {
				_, err := tc.svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "s", UserID: "late", Key: "k" + string(rune('a'+i%26)), Quantity: 1})
				if !errors.Is(err, flashsale.ErrSoldOut) {
					t.Fatalf("request %d: got %v, want ErrSoldOut", i, err)
				}
			}
			got := e.store.Calls()
			if len(got) != len(tc.wantStore) {
				t.Errorf("store calls for 100 sold-out requests = %v, want %v", got, tc.wantStore)
			}
			for m, n := range tc.wantStore {
				if got[m] != n {
					t.Errorf("store calls for 100 sold-out requests = %v, want %v", got, tc.wantStore)
				}
			}
			if n := e.queue.Calls(); n != 0 {
				t.Errorf("queue calls = %d, want 0", n)
			}
		})
	}
}

func TestRestock_ClearsSoldOut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "s", 1, 1, 1)
	e.buy(t, "s", "a", "k", 1)
	if _, err := e.svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "s", UserID: "b", Key: "k", Quantity: 1}); !errors.Is(err, flashsale.ErrSoldOut) {
		t.Fatalf("second buyer: got %v, want ErrSoldOut", err)
	}
	e.clock.Advance(time.Second) // remaining is cached for a TTL
	v, err := e.svc.GetSale(ctx, "s")
	if err != nil || v.Status != flashsale.StatusSoldOut || v.Remaining != 0 {
		t.Fatalf("GetSale = %s, remaining %d, %v; want sold_out, 0", v.Status, v.Remaining, err)
	}

	v, err = e.svc.Restock(ctx, "s", 5)
	if err != nil {
		t.Fatalf("Restock: %v", err)
	}
	if v.Status != flashsale.StatusOpen || v.Remaining != 5 || v.Loaded != 6 {
		t.Errorf("after restock: status %s, remaining %d, loaded %d; want open, 5, 6", v.Status, v.Remaining, v.Loaded)
	}
	st, err := e.mem.Sale(ctx, "s")
	if err != nil || st.SoldOut {
		t.Errorf("stored sold-out mark = %v (%v), want false", st.SoldOut, err)
	}
	e.buy(t, "s", "b", "k", 1) // the same process sells again at once

	// Another process that cached the sold-out mark sells again after one TTL.
	other := e.newService()
	e.clock.Advance(time.Second)
	if _, err := other.Reserve(ctx, flashsale.ReserveRequest{SaleID: "s", UserID: "c", Key: "k", Quantity: 1}); err != nil {
		t.Errorf("another process after restock: got %v, want an order", err)
	}
}

func TestRestock_Invalid(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "s", 1, 1, 1)
	tests := []struct {
		name     string
		saleID   string
		qty      int64
		wantErr  error
		wantCode string
	}{
		{"zero", "s", 0, nil, "invalid_quantity"},
		{"negative", "s", -1, nil, "invalid_quantity"},
		{"above max stock", "s", flashsale.MaxStock + 1, nil, "invalid_quantity"},
		{"unknown sale", "nope", 1, flashsale.ErrSaleNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Restock(ctx, tc.saleID, tc.qty)
			if tc.wantCode != "" {
				var in *flashsale.InputError
				if !errors.As(err, &in) || in.Code != tc.wantCode || in.Field != "quantity" {
					t.Fatalf("Restock(%s, %d) = %v, want *InputError %s on quantity", tc.saleID, tc.qty, err, tc.wantCode)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Restock(%s, %d) = %v, want %v", tc.saleID, tc.qty, err, tc.wantErr)
			}
		})
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	// pendingHold writes a hold the way the reserve path's first write does
	// and takes its unit, as if the request died right after.
	pendingHold := func(tb testing.TB, e *env, st flashsale.SaleState) {
		tb.Helper()
		now := e.clock.Now()
		id := flashsale.NewOrderID(st.ID, "dead1")
		err := e.mem.Reserve(ctx, flashsale.Reservation{
			Order: flashsale.Order{ID: id, SaleID: st.ID, UserID: "ghost", Quantity: 1, AmountCents: 1999,
				Currency: "USD", Status: flashsale.OrderPending, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
				IdempotencyKey: "gk"},
			Bucket: flashsale.RefOf(st.Sale, id).Bucket, Key: "gk", Receipt: []byte("{}"), Limit: st.PerUserLimit,
			KeyExpiresAt: now.Add(flashsale.IdempotencyTTL),
		})
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.mem.TakeStock(ctx, st.ID, 0, 1); err != nil {
			tb.Fatal(err)
		}
	}
	abortHold := func(tb testing.TB, e *env, st flashsale.SaleState) {
		tb.Helper()
		id := flashsale.NewOrderID(st.ID, "dead1")
		if err := e.mem.Abort(ctx, flashsale.RefOf(st.Sale, id), "ghost", "gk", 1, e.clock.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(tb testing.TB, e *env, st flashsale.SaleState)
		want  flashsale.Audit // Orders is not compared; StaleHolds by length
	}{
		{"fresh sale", func(testing.TB, *env, flashsale.SaleState) {},
			flashsale.Audit{Loaded: 10, Available: 10}},
		{"reserved orders are held", func(tb testing.TB, e *env, _ flashsale.SaleState) {
			e.buy(tb, "s", "a", "k", 2)
			e.buy(tb, "s", "b", "k", 1)
		}, flashsale.Audit{Loaded: 10, Available: 7, Held: 3}},
		{"paid orders are held", func(tb testing.TB, e *env, _ flashsale.SaleState) {
			r := e.buy(tb, "s", "a", "k", 1)
			if _, err := e.svc.Pay(ctx, flashsale.Payment{EventID: "evt_1", OrderID: r.OrderID, AmountCents: r.AmountCents,
				Currency: r.Currency, Status: flashsale.PaymentSucceeded}); err != nil {
				tb.Fatal(err)
			}
		}, flashsale.Audit{Loaded: 10, Available: 9, Held: 1}},
		{"stock taken with no order leaks", func(tb testing.TB, e *env, _ flashsale.SaleState) {
			if err := e.mem.TakeStock(ctx, "s", 1, 2); err != nil {
				tb.Fatal(err)
			}
		}, flashsale.Audit{Loaded: 10, Available: 8, Leaked: 2}},
		{"fresh pending hold is held", pendingHold,
			flashsale.Audit{Loaded: 10, Available: 9, Held: 1}},
		{"stale pending hold is a leak", func(tb testing.TB, e *env, st flashsale.SaleState) {
			pendingHold(tb, e, st)
			e.clock.Advance(2*time.Minute + time.Second)
		}, flashsale.Audit{Loaded: 10, Available: 9, Leaked: 1, StaleHolds: make([]flashsale.Order, 1)}},
		{"aborted hold within the grace is held", func(tb testing.TB, e *env, st flashsale.SaleState) {
			pendingHold(tb, e, st)
			abortHold(tb, e, st) // its compensation has not returned the unit yet
		}, flashsale.Audit{Loaded: 10, Available: 9, Held: 1}},
		{"aborted hold after the grace is a leak", func(tb testing.TB, e *env, st flashsale.SaleState) {
			pendingHold(tb, e, st)
			abortHold(tb, e, st)
			e.clock.Advance(2*time.Minute + time.Second)
		}, flashsale.Audit{Loaded: 10, Available: 9, Leaked: 1}},
		{"admin restock is loaded", func(tb testing.TB, e *env, _ flashsale.SaleState) {
			if _, err := e.svc.Restock(ctx, "s", 5); err != nil {
				tb.Fatal(err)
			}
		}, flashsale.Audit{Loaded: 15, Available: 15}},
		{"cancelled order returned, after the grace", func(tb testing.TB, e *env, _ flashsale.SaleState) {
			r := e.buy(tb, "s", "a", "k", 2)
			if _, err := e.svc.CancelOrder(ctx, "a", r.OrderID); err != nil {
				tb.Fatal(err)
			}
			e.clock.Advance(2*time.Minute + time.Second)
		}, flashsale.Audit{Loaded: 10, Available: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.createSale(t, "s", 10, 2, 2)
			st, err := e.mem.Sale(ctx, "s")
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(t, e, st)
			got, err := e.svc.Audit(ctx, "s")
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			if got.Loaded != tc.want.Loaded || got.Available != tc.want.Available || got.Held != tc.want.Held ||
				got.Leaked != tc.want.Leaked || len(got.StaleHolds) != len(tc.want.StaleHolds) {
				t.Errorf("Audit = loaded %d, available %d, held %d, leaked %d, stale %d; want %d, %d, %d, %d, %d",
					got.Loaded, got.Available, got.Held, got.Leaked, len(got.StaleHolds),
					tc.want.Loaded, tc.want.Available, tc.want.Held, tc.want.Leaked, len(tc.want.StaleHolds))
			}
		})
	}
}

// TestAudit_JustReturnedNeverOverstatesLeak checks the conservative side: an
// order whose units just came back still counts as held during the grace,
// so Leaked may read low but never high.
func TestAudit_JustReturnedNeverOverstatesLeak(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createSale(t, "s", 10, 2, 2)
	r := e.buy(t, "s", "a", "k", 2)
	if _, err := e.svc.CancelOrder(ctx, "a", r.OrderID); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Audit(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got.Available != 10 || got.Leaked > 0 {
		t.Errorf("Audit right after a cancel = available %d, leaked %d; want 10 and <= 0", got.Available, got.Leaked)
	}
}

func TestAudit_UnknownSale(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Audit(context.Background(), "nope"); !errors.Is(err, flashsale.ErrSaleNotFound) {
		t.Errorf("Audit(unknown) = %v, want ErrSaleNotFound", err)
	}
}
