// Package client is the reference buyer client: the flow a mobile team
// follows against the API contract, in plain net/http so it reads as a
// recipe. It never retries on its own except where the contract asks a
// client to: after a 429 or 503 it waits out Retry-After, and when it never
// saw an answer it resends once with the same Idempotency-Key (a replay, so
// nothing is bought twice). Every other answer goes straight back to the
// caller, because automatic retries multiply a flash sale's peak.
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
	"time"

	"flashsale/shared/flashsale"
)

// Client calls the API as one signed-in buyer.
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
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Buy orders quantity units of a sale. When the first answer never arrives
// (a timeout or a broken connection), it resends once with the same
// Idempotency-Key. If that resend meets the sell-out (410, answered from the
// API's memory, which cannot tell a replay from a new request), the order
// may still exist: Buy then looks for it in GET /sales/{id}/my-orders.
// Errors: *APIError for any answer but 202, or the transport's error.
func (c *Client) Buy(ctx context.Context, saleID string, quantity int64) (Purchase, error) {
	key := NewKey()
	body := fmt.Sprintf(`{"quantity":%d}`, quantity)
	sentAt := time.Now()
	order, replayed, err := c.order(ctx, saleID, key, body)
	if err == nil {
		return Purchase{Order: order, Replayed: replayed}, nil
	}
	if _, answered := errors.AsType[*APIError](err); answered || ctx.Err() != nil {
		return Purchase{}, err
	}
	// No answer: the purchase may or may not have happened. The same key
	// makes the resend safe.
	order, replayed, err = c.order(ctx, saleID, key, body)
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

// order sends one POST /sales/{id}/orders, waiting out Retry-After on 429
// and 503.
func (c *Client) order(ctx context.Context, saleID, key, body string) (Order, bool, error) {
	var o Order
	h := map[string]string{"Idempotency-Key": key, "Content-Type": "application/json"}
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
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("x-api-key", c.APIKey)
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
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil {
		if e.Error.Code != "" {
			return &APIError{Status: status, Code: e.Error.Code, Message: e.Error.Message}
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
