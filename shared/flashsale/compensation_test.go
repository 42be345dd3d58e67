package flashsale_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/memstore"
)

// ctxStore refuses the compensating writes when their context is done, as a
// real client would.
type ctxStore struct{ flashsale.Store }

func (s ctxStore) Abort(ctx context.Context, ref flashsale.OrderRef, userID, key string, qty int64, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.Abort(ctx, ref, userID, key, qty, now)
}

func (s ctxStore) ReturnStock(ctx context.Context, saleID string, shard int, qty int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.ReturnStock(ctx, saleID, shard, qty)
}

// hangUpQueue is a queue whose send fails because the client hung up: the
// request's context is cancelled while it runs.
type hangUpQueue struct{ cancel context.CancelFunc }

func (q hangUpQueue) Enqueue(ctx context.Context, orderID, userID string, body []byte) error {
	q.cancel()
	return errors.New("send: " + context.Canceled.Error())
}

// TestReserve_CompensationOutlivesTheRequest: when the client goes away
// mid-purchase, the undo still runs: the hold is aborted and the units go
// back at once, not two minutes later through settlement.
func TestReserve_CompensationOutlivesTheRequest(t *testing.T) {
	mem := memstore.New()
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	svc := flashsale.NewService(ctxStore{mem}, hangUpQueue{cancel}, flashsale.WithClock(func() time.Time { return now }))
	if _, err := svc.CreateSale(context.Background(), flashsale.NewSale{ID: "gone", Name: "Gone", PriceCents: 100, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: 3, PerUserLimit: 1, PaymentWindowSeconds: 60, Shards: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Reserve(ctx, flashsale.ReserveRequest{SaleID: "gone", UserID: "u", Key: "k", Quantity: 1})
	if !errors.Is(err, flashsale.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	st, _ := mem.Sale(context.Background(), "gone")
	shards, _ := mem.Available(context.Background(), st.Sale)
	if shards[0] != 3 {
		t.Errorf("stock %d after the client hung up, want 3: the unit should be back", shards[0])
	}
	if held, _ := mem.Claim(context.Background(), "gone", "u"); held != 0 {
		t.Errorf("claim %d after the client hung up, want 0", held)
	}
	if _, err := mem.IdempotencyRecord(context.Background(), "u", "k"); !errors.Is(err, flashsale.ErrOrderNotFound) {
		t.Errorf("the key is still taken (%v); a 5xx must leave it free", err)
	}
}
