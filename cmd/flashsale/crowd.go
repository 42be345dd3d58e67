package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"flashsale/shared/client"
)

// crowdAdmission returns the admission step of a crowd of buyers (one JWT
// each) for loadtest.Config.PurchaseToken: a reference client per buyer,
// made on the buyer's first attempt, that reads the sale's admission once
// for the whole crowd, runs challenge, solve and token, and caches the
// token. It reads the sale first, so an unknown sale fails before the run.
func crowdAdmission(ctx context.Context, target, apiKey, saleID string, jwts []string, timeout time.Duration) (func(context.Context, int) (string, error), error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256 // the admission steps of many buyers run at once
	base := &client.Client{BaseURL: target, APIKey: apiKey, HTTP: &http.Client{Timeout: timeout, Transport: tr}}
	if _, err := base.Sale(ctx, saleID); err != nil {
		return nil, explain("read sale "+saleID, err)
	}
	var mu sync.Mutex
	buyers := make([]*client.Client, len(jwts))
	return func(ctx context.Context, i int) (string, error) {
		mu.Lock()
		b := buyers[i]
		if b == nil {
			b = base.ForBuyer(jwts[i])
			buyers[i] = b
		}
		mu.Unlock()
		return b.PurchaseToken(ctx, saleID)
	}, nil
}
