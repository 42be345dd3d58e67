// Package client is the reference buyer client: the flow a mobile team
// follows against the API contract, in plain net/http so it reads as a
// recipe.
//
// A purchase, step by step (Buy does all of it):
//
//  1. GET /sales/{id}: the sale, and its "admission":{"purchaseToken","challenge"}.
//  2. If purchaseToken is on: GET /sales/{id}/challenge (when challenge is
//     on), solve it with admission.Solve, and POST /sales/{id}/purchase-tokens
//     with {"challenge":{…exactly as received…},"number":n}, or {} when the
//     challenge is off. The answer {"purchaseToken","expiresAt"} is good for
//     every purchase in that sale until expiresAt, so it is cached.
//  3. POST /sales/{id}/orders with an Idempotency-Key, and the header
//     Purchase-Token when the sale asks for one.
//
// It never retries on its own except where the contract asks a client to:
// after a 429 or 503 it waits out Retry-After; when it never saw an answer
// it resends once with the same Idempotency-Key (a replay, so nothing is
// bought twice); and when reserve says the purchase token expired (or that
// one is required) it gets a fresh token and resends once with the same key.
// Every other answer goes straight back to the caller, because automatic
// retries multiply a flash sale's peak.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"flashsale/shared/admission"
	"flashsale/shared/flashsale"
)

// PurchaseTokenHeader carries the purchase token on POST /sales/{id}/orders.
const PurchaseTokenHeader = "Purchase-Token"

// TokenMargin is how long before its expiresAt a cached purchase token is
// replaced: a token that expires while its request travels would cost the
// buyer a 403 and a second round trip.
const TokenMargin = 15 * time.Second

// Client calls the API as one signed-in buyer. It is safe for concurrent
// use; set its fields before the first call.
type Client struct {
	// BaseURL is the API's root, e.g. http://127.0.0.1:3000.
	BaseURL string
	// Token is the buyer's Cognito JWT; APIKey the app's usage-plan key.
	Token  string
	APIKey string
	// HTTP sends the requests; nil means a client with a 10 s timeout.
	HTTP *http.Client
	// MaxWaits bounds how many Retry-After waits one call sits through;
	// 0 means 3.
	MaxWaits int
	// Now is the clock that decides when a cached token is stale; nil
	// means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// admitting is held while a token is fetched, so concurrent purchases
	// of one buyer wait for one admission instead of solving twice.
	admitting sync.Mutex
	// sales caches each sale's admission; ForBuyer shares it, since
	// GET /sales/{id} is the same for every buyer.
	sales  *saleCache
	tokens map[string]PurchaseToken // by sale
}

// Admission is what GET /sales/{id} says of the sale's admission step.
type Admission struct {
	// PurchaseToken: every purchase must carry a purchase token.
	PurchaseToken bool `json:"purchaseToken"`
	// Challenge: a token costs a solved proof-of-work challenge.
	Challenge bool `json:"challenge"`
}

// Sale is a sale as GET /sales/{id} shows it.
type Sale struct {
	SaleID       string `json:"saleId"`
	Name         string `json:"name"`
	PriceCents   int64  `json:"priceCents"`
	Currency     string `json:"currency"`
	StartsAt     string `json:"startsAt"`
	EndsAt       string `json:"endsAt"`
	Status       string `json:"status"`
	Remaining    int64  `json:"remaining"`
	PerUserLimit int64  `json:"perUserLimit"`
	// Admission is absent from a sale created before admission existed
	// (an API of v1): then no token is needed.
	Admission *Admission `json:"admission,omitempty"`
}

// NeedsToken says whether purchases in the sale carry a purchase token.
func (s Sale) NeedsToken() bool { return s.Admission != nil && s.Admission.PurchaseToken }

// PurchaseToken is the answer of POST /sales/{id}/purchase-tokens.
type PurchaseToken struct {
	Token     string    `json:"purchaseToken"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type saleCache struct {
	mu    sync.Mutex
	sales map[string]Sale
}

// ForBuyer returns a client for another buyer (token is their JWT) with the
// same API, key and HTTP client, sharing what c learnt of each sale's
// admission; a load generator makes one per buyer.
func (c *Client) ForBuyer(token string) *Client {
	return &Client{BaseURL: c.BaseURL, Token: token, APIKey: c.APIKey, HTTP: c.HTTP, MaxWaits: c.MaxWaits, Now: c.Now,
		sales: c.cache()}
}

func (c *Client) cache() *saleCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sales == nil {
		c.sales = &saleCache{sales: map[string]Sale{}}
	}
	return c.sales
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Order is an order as the API shows it: the 202 receipt, GET /orders/{id}
// and each line of GET /sales/{id}/my-orders.
type Order = flashsale.Receipt

// Purchase is the outcome of Buy.
type Purchase struct {
	Order Order
	// Replayed is true when the API answered a resend with the original 202.
	Replayed bool
	// Recovered is true when the 202 was lost and the order was found
	// afterwards through my-orders.
	Recovered bool
}

// APIError is an answer other than success: the status and the contract's
// error code ("sold_out", "limit_reached", …; for the gateway's own answers,
// which carry only a message, the code is empty).
type APIError struct {
	Status  int
	Code    string
	Message string
	// Reason says which eligibility rule refused a not_eligible buyer:
	// "group", "account_age" or "allowlist".
	Reason string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Message)
	}
	if e.Reason != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Sale reads GET /sales/{id} (no sign-in needed) and remembers its
// admission for later purchases.
// Errors: *APIError (404 sale_not_found, …), or the transport's error.
func (c *Client) Sale(ctx context.Context, saleID string) (Sale, error) {
	var s Sale
	if _, _, err := c.do(ctx, http.MethodGet, "/sales/"+url.PathEscape(saleID), nil, nil, &s); err != nil {
		return Sale{}, err
	}
	sc := c.cache()
	sc.mu.Lock()
	sc.sales[saleID] = s
	sc.mu.Unlock()
	return s, nil
}

// knownSale returns the sale as last read, reading it if never read.
func (c *Client) knownSale(ctx context.Context, saleID string) (Sale, error) {
	sc := c.cache()
	sc.mu.Lock()
	s, ok := sc.sales[saleID]
	sc.mu.Unlock()
	if ok {
		return s, nil
	}
	return c.Sale(ctx, saleID)
}

// Challenge fetches a proof-of-work challenge for the sale. Keep it exactly
// as received: the salt is opaque and goes back verbatim.
// Errors: *APIError (403 sale_not_open, 404 challenge_disabled, 410
// sold_out, …), or the transport's error.
func (c *Client) Challenge(ctx context.Context, saleID string) (admission.Challenge, error) {
	var ch admission.Challenge
	_, _, err := c.do(ctx, http.MethodGet, "/sales/"+url.PathEscape(saleID)+"/challenge", nil, nil, &ch)
	return ch, err
}

// NewPurchaseToken runs the admission step once, whatever is cached:
// the challenge and its solution when the sale has one, then the token.
// The token is cached for PurchaseToken and Buy.
// Errors: *APIError (400 invalid_solution, 403 not_eligible with Reason,
// 403 user_banned, 410 sold_out, …), the solver's, or the transport's.
func (c *Client) NewPurchaseToken(ctx context.Context, saleID string) (PurchaseToken, error) {
	sale, err := c.knownSale(ctx, saleID)
	if err != nil {
		return PurchaseToken{}, err
	}
	body := []byte(`{}`)
	if sale.Admission == nil || sale.Admission.Challenge {
		ch, err := c.Challenge(ctx, saleID)
		if err != nil {
			return PurchaseToken{}, err
		}
		n, err := admission.Solve(ctx, ch)
		if err != nil {
			return PurchaseToken{}, err
		}
		// The challenge goes back as received; only the number is ours.
		if body, err = json.Marshal(struct {
			Challenge admission.Challenge `json:"challenge"`
			Number    int64               `json:"number"`
		}{ch, n}); err != nil {
			return PurchaseToken{}, err
		}
	}
	var tok PurchaseToken
	h := map[string]string{"Content-Type": "application/json"}
	if _, _, err := c.do(ctx, http.MethodPost, "/sales/"+url.PathEscape(saleID)+"/purchase-tokens", h, body, &tok); err != nil {
		return PurchaseToken{}, err
	}
	if tok.Token == "" {
		return PurchaseToken{}, fmt.Errorf("purchase token for %s: the answer holds no purchaseToken", saleID)
	}
	c.mu.Lock()
	if c.tokens == nil {
		c.tokens = map[string]PurchaseToken{}
	}
	c.tokens[saleID] = tok
	c.mu.Unlock()
	return tok, nil
}

// PurchaseToken returns the sale's purchase token: the cached one while it
// has more than TokenMargin left, else a new one. It returns "" when the
// sale asks for no token.
// Errors: as NewPurchaseToken.
func (c *Client) PurchaseToken(ctx context.Context, saleID string) (string, error) {
	sale, err := c.knownSale(ctx, saleID)
	if err != nil {
		return "", err
	}
	if !sale.NeedsToken() {
		return "", nil
	}
	c.admitting.Lock()
	defer c.admitting.Unlock()
	c.mu.Lock()
	tok, ok := c.tokens[saleID]
	c.mu.Unlock()
	if ok && c.now().Add(TokenMargin).Before(tok.ExpiresAt) {
		return tok.Token, nil
	}
	tok, err = c.NewPurchaseToken(ctx, saleID)
	return tok.Token, err
}

// Buy orders quantity units of a sale, through the sale's admission step
// when it has one (see the package doc). When the first answer never
// arrives (a timeout or a broken connection), it resends once with the same
// Idempotency-Key. If that resend meets the sell-out (410, answered from the
// API's memory, which cannot tell a replay from a new request), the order
// may still exist: Buy then looks for it in GET /sales/{id}/my-orders.
// Errors: *APIError for any answer but 202, the solver's error, or the
// transport's error.
func (c *Client) Buy(ctx context.Context, saleID string, quantity int64) (Purchase, error) {
	token, err := c.PurchaseToken(ctx, saleID)
	if err != nil {
		return Purchase{}, err
	}
	key := NewKey()
	body := fmt.Sprintf(`{"quantity":%d}`, quantity)
	sentAt := time.Now()
	order, replayed, err := c.send(ctx, saleID, key, body, &token)
	if err == nil {
		return Purchase{Order: order, Replayed: replayed}, nil
	}
	if _, answered := errors.AsType[*APIError](err); answered || ctx.Err() != nil {
		return Purchase{}, err
	}
	// No answer: the purchase may or may not have happened. The same key
	// makes the resend safe.
	order, replayed, err = c.send(ctx, saleID, key, body, &token)
	if err == nil {
		return Purchase{Order: order, Replayed: replayed}, nil
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.Status == http.StatusGone {
		if found, ok := c.findLost(ctx, saleID, quantity, sentAt); ok {
			return Purchase{Order: found, Recovered: true}, nil
		}
	}
	return Purchase{}, err
}

// send sends the order with *token. When reserve refuses the token as
// expired, or asks for one the sale did not show it needed, it gets a fresh
// token into *token and resends once with the same Idempotency-Key: if the
// first request had gone through, that is a replay. A 403 stores nothing,
// so the resend cannot buy twice.
func (c *Client) send(ctx context.Context, saleID, key, body string, token *string) (Order, bool, error) {
	order, replayed, err := c.order(ctx, saleID, key, body, *token)
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.Status != http.StatusForbidden {
		return order, replayed, err
	}
	switch apiErr.Code {
	case "purchase_token_expired":
	case "purchase_token_required":
		// The sale changed since we read it: read it again.
		if _, err := c.Sale(ctx, saleID); err != nil {
			return Order{}, false, err
		}
	default:
		return order, replayed, err
	}
	fresh, err := c.NewPurchaseToken(ctx, saleID)
	if err != nil {
		return Order{}, false, err
	}
	*token = fresh.Token
	return c.order(ctx, saleID, key, body, *token)
}

// findLost looks for the order a lost answer may have created: the newest
// reserved or paid order of this quantity whose payment window had not
// closed when the first request went out. With a per-user limit of one, the
// usual flash sale, no other order can match.
func (c *Client) findLost(ctx context.Context, saleID string, quantity int64, sentAt time.Time) (Order, bool) {
	orders, err := c.MyOrders(ctx, saleID)
	if err != nil {
		return Order{}, false
	}
	for i := len(orders) - 1; i >= 0; i-- { // newest first
		o := orders[i]
		exp, err := time.Parse(time.RFC3339, o.ExpiresAt)
		if o.Quantity == quantity && (o.Status == "reserved" || o.Status == "paid") && err == nil &&
			!exp.Before(sentAt.Truncate(time.Second)) {
			return o, true
		}
	}
	return Order{}, false
}

// MyOrders lists the buyer's orders in a sale, oldest first.
func (c *Client) MyOrders(ctx context.Context, saleID string) ([]Order, error) {
	var out struct {
		Orders []Order `json:"orders"`
	}
	status, _, err := c.do(ctx, http.MethodGet, "/sales/"+url.PathEscape(saleID)+"/my-orders", nil, nil, &out)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("my-orders: unexpected %d", status)
	}
	return out.Orders, nil
}

// order sends one POST /sales/{id}/orders, with the purchase token when
// there is one, waiting out Retry-After on 429 and 503.
func (c *Client) order(ctx context.Context, saleID, key, body, token string) (Order, bool, error) {
	var o Order
	h := map[string]string{"Idempotency-Key": key, "Content-Type": "application/json"}
	if token != "" {
		h[PurchaseTokenHeader] = token
	}
	status, header, err := c.do(ctx, http.MethodPost, "/sales/"+url.PathEscape(saleID)+"/orders", h, []byte(body), &o)
	if err != nil {
		return Order{}, false, err
	}
	if status != http.StatusAccepted {
		return Order{}, false, fmt.Errorf("order: unexpected %d", status)
	}
	return o, header.Get("Idempotent-Replayed") == "true", nil
}

// do sends one request and decodes a 2xx body into out. Any other answer
// is an *APIError, after waiting out Retry-After (at most MaxWaits times)
// on a 429 or 503.
func (c *Client) do(ctx context.Context, method, path string, header map[string]string, body []byte, out any) (int, http.Header, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	maxWaits := c.MaxWaits
	if maxWaits == 0 {
		maxWaits = 3
	}
	for waits := 0; ; waits++ {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if c.APIKey != "" {
			req.Header.Set("x-api-key", c.APIKey)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
		}
		if resp.StatusCode/100 == 2 {
			if out != nil {
				if err := json.Unmarshal(raw, out); err != nil {
					return 0, nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
				}
			}
			return resp.StatusCode, resp.Header, nil
		}
		apiErr := DecodeError(resp.StatusCode, raw)
		wait, ok := retryAfter(resp)
		if !ok || waits >= maxWaits {
			return 0, nil, apiErr
		}
		select {
		case <-ctx.Done():
			return 0, nil, apiErr
		case <-time.After(wait):
		}
	}
}

// retryAfter reads Retry-After (delay-seconds) on a 429 or 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// DecodeError reads either error shape of the contract: a handler's
// {"error":{"code","message"}} or the gateway's own {"message"} (no code).
// A body in neither shape comes back as the message, cut short.
func DecodeError(status int, raw []byte) *APIError {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Reason  string `json:"reason"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil {
		if e.Error.Code != "" {
			return &APIError{Status: status, Code: e.Error.Code, Message: e.Error.Message, Reason: e.Error.Reason}
		}
		if e.Message != "" {
			return &APIError{Status: status, Message: e.Message}
		}
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &APIError{Status: status, Message: msg}
}

// NewKey returns a fresh Idempotency-Key: 32 hex characters.
func NewKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
