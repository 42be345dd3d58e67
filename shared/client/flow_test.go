package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/admission"
	"flashsale/shared/client"
)

// fakeAPI plays the admission contract (DESIGN.md, "Admission (v2)") with
// the real admission keys, so a client that edits the challenge or its salt
// fails verification as it would against the server.
type fakeAPI struct {
	t    testing.TB
	keys *admission.Keys
	srv  *httptest.Server
	now  func() time.Time

	mu sync.Mutex
	// admission is what GET /sales/{id} shows; nil leaves it out (v1).
	admission *client.Admission
	// orderAnswers, when not empty, scripts the next order answers: a
	// status and a body; after them orders are accepted.
	orderAnswers []answer
	// tokenTTL is the life of issued purchase tokens.
	tokenTTL time.Duration
	// counts of requests by route, and what the orders carried.
	hits        map[string]int
	issued      []string
	orderKeys   []string
	orderTokens []string
	tokenBodies []string
	notEligible string // a reason: token issue answers 403 not_eligible
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func newFakeAPI(tb testing.TB, adm *client.Admission) *fakeAPI {
	tb.Helper()
	keys, err := admission.NewKeys(admission.NewKeySet("t1"))
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeAPI{t: tb, keys: keys, admission: adm, tokenTTL: 5 * time.Minute, hits: map[string]int{}, now: time.Now}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) buyer(user string) *client.Client {
	return &client.Client{BaseURL: f.srv.URL, Token: user, APIKey: "key", Now: func() time.Time { return f.clock() }}
}

func (f *fakeAPI) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now()
}

func writeError(w http.ResponseWriter, status int, code, extra string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"m"%s}}`, code, extra)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	route := r.Method + " " + strings.Replace(r.URL.Path, "/sales/s1", "/sales/{id}", 1)
	f.hits[route]++
	user := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	sub := admission.Subject{UserID: user, SaleID: "s1"}
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	switch route {
	case "GET /sales/{id}":
		sale := map[string]any{"saleId": "s1", "name": "S", "status": "open", "remaining": 5}
		if f.admission != nil {
			sale["admission"] = f.admission
		}
		_ = json.NewEncoder(w).Encode(sale)
	case "GET /sales/{id}/challenge":
		ch, err := f.keys.NewChallenge(sub, 1000, f.now().Add(5*time.Minute))
		if err != nil {
			f.t.Error(err)
		}
		_ = json.NewEncoder(w).Encode(ch)
	case "POST /sales/{id}/purchase-tokens":
		f.tokenBodies = append(f.tokenBodies, body.String())
		if f.notEligible != "" {
			writeError(w, http.StatusForbidden, "not_eligible", `,"reason":"`+f.notEligible+`"`)
			return
		}
		if f.admission.Challenge {
			var sol struct {
				Challenge admission.Challenge `json:"challenge"`
				Number    int64               `json:"number"`
			}
			dec := json.NewDecoder(&body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sol); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_json", "")
				return
			}
			if err := f.keys.Verify(sol.Challenge, sol.Number, sub, f.now()); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_solution", "")
				return
			}
		} else if body.String() != "{}" {
			writeError(w, http.StatusBadRequest, "invalid_json", "")
			return
		}
		exp := f.now().Add(f.tokenTTL)
		tok := f.keys.NewToken(sub, exp)
		f.issued = append(f.issued, tok)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"purchaseToken":%q,"expiresAt":%q}`, tok, exp.UTC().Format(time.RFC3339))
	case "POST /sales/{id}/orders":
		key, tok := r.Header.Get("Idempotency-Key"), r.Header.Get(client.PurchaseTokenHeader)
		f.orderKeys = append(f.orderKeys, key)
		f.orderTokens = append(f.orderTokens, tok)
		if len(f.orderAnswers) > 0 {
			a := f.orderAnswers[0]
			f.orderAnswers = f.orderAnswers[1:]
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(a.status)
			_, _ = w.Write([]byte(a.body))
			return
		}
		if f.admission != nil && f.admission.PurchaseToken {
			if err := f.keys.VerifyToken(tok, sub, f.now()); err != nil {
				writeError(w, http.StatusForbidden, "purchase_token_invalid", "")
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"orderId":"s1.%s","saleId":"s1","status":"reserved","quantity":1,"amountCents":500,"currency":"USD","expiresAt":"2030-01-01T00:00:00Z"}`, key)
	default:
		writeError(w, http.StatusForbidden, "no_route", "")
	}
}

func (f *fakeAPI) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[route]
}

func TestBuy_FullFlowWithChallenge(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: true})
	p, err := api.buyer("alice").Buy(context.Background(), "s1", 1)
	if err != nil {
		t.Fatalf("Buy: %v", err)
	}
	if p.Order.Status != "reserved" || p.Replayed || p.Recovered {
		t.Errorf("Buy = %+v, want a fresh reserved order", p)
	}
	for _, route := range []string{"GET /sales/{id}", "GET /sales/{id}/challenge", "POST /sales/{id}/purchase-tokens", "POST /sales/{id}/orders"} {
		if n := api.count(route); n != 1 {
			t.Errorf("%s: %d requests, want 1", route, n)
		}
	}
	if len(api.issued) != 1 || api.orderTokens[0] != api.issued[0] {
		t.Errorf("order carried Purchase-Token %q, want the issued %q", api.orderTokens, api.issued)
	}
}

func TestBuy_ChallengeOffSendsAnEmptyBody(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: false})
	if _, err := api.buyer("bob").Buy(context.Background(), "s1", 1); err != nil {
		t.Fatalf("Buy: %v", err)
	}
	if n := api.count("GET /sales/{id}/challenge"); n != 0 {
		t.Errorf("%d challenge requests, want 0 with the challenge off", n)
	}
	if len(api.tokenBodies) != 1 || api.tokenBodies[0] != "{}" {
		t.Errorf("token request bodies %q, want [{}]", api.tokenBodies)
	}
}

func TestBuy_NoAdmissionNoToken(t *testing.T) {
	for _, adm := range []*client.Admission{nil, {PurchaseToken: false}} {
		api := newFakeAPI(t, adm)
		if _, err := api.buyer("carol").Buy(context.Background(), "s1", 1); err != nil {
			t.Fatalf("admission %+v: Buy: %v", adm, err)
		}
		if n := api.count("POST /sales/{id}/purchase-tokens"); n != 0 || api.orderTokens[0] != "" {
			t.Errorf("admission %+v: %d token requests, order token %q; want none", adm, n, api.orderTokens[0])
		}
	}
}

// TestBuy_ExpiredTokenResendsWithTheSameKey: reserve says the token expired;
// the client gets a fresh one and resends with the same Idempotency-Key,
// which the API treats as a replay if the first had gone through.
func TestBuy_ExpiredTokenResendsWithTheSameKey(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: true})
	api.orderAnswers = []answer{{status: http.StatusForbidden, body: `{"error":{"code":"purchase_token_expired","message":"expired"}}`}}
	// Tokens are deterministic per second; a ticking clock tells them apart.
	tick := time.Now()
	api.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	p, err := api.buyer("dave").Buy(context.Background(), "s1", 1)
	if err != nil {
		t.Fatalf("Buy: %v", err)
	}
	if len(api.orderKeys) != 2 || api.orderKeys[0] != api.orderKeys[1] {
		t.Fatalf("order keys %q, want two requests with the same key", api.orderKeys)
	}
	if len(api.issued) != 2 || api.orderTokens[1] != api.issued[1] || api.orderTokens[0] == api.orderTokens[1] {
		t.Errorf("tokens issued %d, orders carried %q; want the resend to carry the second, fresh token", len(api.issued), api.orderTokens)
	}
	if p.Order.OrderID != "s1."+api.orderKeys[0] {
		t.Errorf("order %s, want the one of key %s", p.Order.OrderID, api.orderKeys[0])
	}
}

// TestBuy_ExpiredTwiceIsAnError: one fresh token per purchase, no loop.
func TestBuy_ExpiredTwiceIsAnError(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: false})
	expired := answer{status: http.StatusForbidden, body: `{"error":{"code":"purchase_token_expired","message":"expired"}}`}
	api.orderAnswers = []answer{expired, expired, expired}
	_, err := api.buyer("erin").Buy(context.Background(), "s1", 1)
	if e, ok := errors.AsType[*client.APIError](err); !ok || e.Code != "purchase_token_expired" {
		t.Errorf("Buy: got %v, want 403 purchase_token_expired", err)
	}
	if n := api.count("POST /sales/{id}/orders"); n != 2 {
		t.Errorf("%d order requests, want 2", n)
	}
}

// TestPurchaseToken_CachedUntilShortlyBeforeExpiry: one token serves every
// purchase in the sale while it has more than TokenMargin left.
func TestPurchaseToken_CachedUntilShortlyBeforeExpiry(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: true})
	now := time.Now().Truncate(time.Second)
	api.now = func() time.Time { return now }
	c := api.buyer("frank")
	ctx := context.Background()
	first, err := c.PurchaseToken(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	advance := func(d time.Duration) { api.mu.Lock(); now = now.Add(d); api.mu.Unlock() }
	advance(5*time.Minute - client.TokenMargin - time.Second)
	if again, err := c.PurchaseToken(ctx, "s1"); err != nil || again != first {
		t.Errorf("with %v left: got a new token (%v), want the cached one", client.TokenMargin+time.Second, err)
	}
	advance(2 * time.Second)
	again, err := c.PurchaseToken(ctx, "s1")
	if err != nil || again == first {
		t.Errorf("with less than %v left: got the cached token (%v), want a fresh one", client.TokenMargin, err)
	}
	if n := api.count("POST /sales/{id}/purchase-tokens"); n != 2 {
		t.Errorf("%d tokens issued, want 2", n)
	}
	if n := api.count("GET /sales/{id}"); n != 1 {
		t.Errorf("%d sale reads, want 1: the admission is cached too", n)
	}
}

func TestForBuyer_SharesTheSaleNotTheToken(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: false})
	base := &client.Client{BaseURL: api.srv.URL, APIKey: "key"}
	for _, u := range []string{"u1", "u2", "u3"} {
		if _, err := base.ForBuyer(u).Buy(context.Background(), "s1", 1); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if n := api.count("GET /sales/{id}"); n != 1 {
		t.Errorf("%d sale reads for 3 buyers, want 1", n)
	}
	if n := api.count("POST /sales/{id}/purchase-tokens"); n != 3 {
		t.Errorf("%d tokens for 3 buyers, want 3: a token is the buyer's own", n)
	}
}

func TestPurchaseToken_NotEligibleCarriesTheReason(t *testing.T) {
	api := newFakeAPI(t, &client.Admission{PurchaseToken: true, Challenge: true})
	api.notEligible = "account_age"
	_, err := api.buyer("gina").Buy(context.Background(), "s1", 1)
	e, ok := errors.AsType[*client.APIError](err)
	if !ok || e.Status != http.StatusForbidden || e.Code != "not_eligible" || e.Reason != "account_age" {
		t.Fatalf("Buy: got %#v, want 403 not_eligible with reason account_age", err)
	}
	if !strings.Contains(e.Error(), "account_age") {
		t.Errorf("error text %q does not name the reason", e.Error())
	}
	if n := api.count("POST /sales/{id}/orders"); n != 0 {
		t.Errorf("%d orders sent after a refused token, want 0", n)
	}
}

// TestBuy_RetryAfterOnlyOn429And503: the client waits out Retry-After on a
// 429 or a 503 and sends again; any other answer, Retry-After or not, comes
// straight back after one request.
func TestBuy_RetryAfterOnlyOn429And503(t *testing.T) {
	tests := []struct {
		status    int
		header    map[string]string
		wantSends int
	}{
		{http.StatusTooManyRequests, map[string]string{"Retry-After": "0"}, 2},
		{http.StatusServiceUnavailable, map[string]string{"Retry-After": "0"}, 2},
		{http.StatusTooManyRequests, nil, 1}, // no Retry-After: no wait, no resend
		{http.StatusBadRequest, map[string]string{"Retry-After": "0"}, 1},
		{http.StatusConflict, map[string]string{"Retry-After": "0"}, 1},
		{http.StatusGone, map[string]string{"Retry-After": "0"}, 1},
		{http.StatusInternalServerError, map[string]string{"Retry-After": "0"}, 1},
		{http.StatusBadGateway, map[string]string{"Retry-After": "0"}, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status, tc.header), func(t *testing.T) {
			api := newFakeAPI(t, nil)
			api.orderAnswers = []answer{{status: tc.status, header: tc.header, body: `{"message":"x"}`}}
			_, err := api.buyer("hal").Buy(context.Background(), "s1", 1)
			if n := api.count("POST /sales/{id}/orders"); n != tc.wantSends {
				t.Errorf("%d requests, want %d", n, tc.wantSends)
			}
			if tc.wantSends == 2 && err != nil {
				t.Errorf("Buy after the wait: %v, want the 202", err)
			}
			if tc.wantSends == 1 && err == nil {
				t.Errorf("Buy: nil error, want the %d", tc.status)
			}
		})
	}
}

func TestBuy_RetryAfterIsWaited(t *testing.T) {
	api := newFakeAPI(t, nil)
	api.orderAnswers = []answer{{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "1"}, body: `{"message":"Too Many Requests"}`}}
	start := time.Now()
	if _, err := api.buyer("ivy").Buy(context.Background(), "s1", 1); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("resent after %v, want at least the 1 s of Retry-After", took)
	}
}
