package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"flashsale/shared/client"
)

// crowdOf is a crowd of buyers (one JWT each) as the tools play it: each
// buyer sends from its own loopback address (client.Crowd), so the
// gateway's per-IP rule sees a crowd of phones rather than one IP.
type crowdOf struct {
	users []string // the JWTs' subjects, by buyer index
	http  *client.Crowd
}

// newCrowdOf reads each JWT's subject: it does not verify the tokens (the
// API does), it only needs to tell buyers apart. A token it cannot read
// stands for its buyer itself.
func newCrowdOf(jwts []string, timeout time.Duration) *crowdOf {
	c := &crowdOf{users: make([]string, len(jwts)), http: &client.Crowd{Timeout: timeout}}
	var p jwt.Parser
	for i, tok := range jwts {
		c.users[i] = tok
		claims := jwt.MapClaims{}
		if _, _, err := p.ParseUnverified(tok, claims); err == nil {
			if sub, _ := claims["sub"].(string); sub != "" {
				c.users[i] = sub
			}
		}
	}
	return c
}

// httpFor is loadtest.Config.HTTPFor: buyer i's client.
func (c *crowdOf) httpFor(i int) *http.Client { return c.http.HTTP(c.users[i]) }

// admission returns the admission step of the crowd for
// loadtest.Config.PurchaseToken: a reference client per buyer, made on the
// buyer's first attempt, that reads the sale's admission once for the
// whole crowd, runs challenge, solve and token, and caches the token. It
// reads the sale first, so an unknown sale fails before the run.
func (c *crowdOf) admission(ctx context.Context, target, apiKey, saleID string, jwts []string, timeout time.Duration) (func(context.Context, int) (string, error), error) {
	base := &client.Client{BaseURL: target, APIKey: apiKey, HTTP: client.NewSourceHTTP("crowd-setup")}
	base.HTTP.Timeout = timeout
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
			b.HTTP = c.httpFor(i)
			buyers[i] = b
		}
		mu.Unlock()
		return b.PurchaseToken(ctx, saleID)
	}, nil
}
