package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"flashsale/shared/app"
	"flashsale/shared/flashsale"
)

// onEveryTick calls f every period until ctx ends, as an EventBridge
// schedule does; the first call is one period in.
func onEveryTick(ctx context.Context, every time.Duration, f func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// settleEvery runs settlement on every tick, as the deployed schedule does;
// failures are logged and the next tick retries.
func settleEvery(ctx context.Context, every time.Duration, settle func(context.Context) error, log *slog.Logger) {
	onEveryTick(ctx, every, func(ctx context.Context) {
		start := time.Now()
		if err := settle(ctx); err != nil && ctx.Err() == nil {
			log.Error("scheduled settlement failed", "err", err)
			return
		}
		log.Debug("scheduled settlement done", "took", since(start))
	})
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// DemoSaleID is the sale SeedDemo creates.
const DemoSaleID = "demo"

// DemoSale is an open sale: started a minute before now, ends a day after.
// Its admission is spelt out, though it is the default, because the
// quickstart walks through it: purchase tokens and the challenge at 50,000.
func DemoSale(now time.Time) flashsale.NewSale {
	return flashsale.NewSale{
		ID: DemoSaleID, Name: "Demo drop", PriceCents: 1999, Currency: "USD",
		StartsAt: now.Add(-time.Minute).UTC().Truncate(time.Second), EndsAt: now.Add(24 * time.Hour).UTC().Truncate(time.Second),
		Stock: 1000, PerUserLimit: 2, PaymentWindowSeconds: 600, Shards: 4,
		Admission: &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: flashsale.DefaultChallengeMaxNumber},
	}
}

// SeedDemo creates the demo sale through the app's service, before the
// gateway opens (so the first 200 already shows it). A sale that exists
// already survives from a persisted --data folder, which is fine.
func SeedDemo(ctx context.Context, a *app.App) error {
	_, err := a.Service.CreateSale(ctx, DemoSale(time.Now()))
	if err != nil && !errors.Is(err, flashsale.ErrSaleExists) {
		return fmt.Errorf("seed demo sale: %w", err)
	}
	return nil
}
