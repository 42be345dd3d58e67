package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// runConcurrently calls f(i) for i in [0,n) with at most inFlight at once.
func runConcurrently(n, inFlight int, f func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, inFlight)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

func TestReserve_RaceSellsExactlyTheStock(t *testing.T) {
	h := newHarness(t)
	const units, buyers = 137, 1000
	h.createSale(t, "race", units, 8, 1)

	statuses := make([]int, buyers)
	runConcurrently(buyers, 64, func(i int) {
		statuses[i] = h.buy(t, "race", fmt.Sprintf("buyer-%d", i), "k1", 1).StatusCode
	})
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusAccepted] != units {
		t.Errorf("got %d accepted, want %d (all answers: %v)", count[http.StatusAccepted], units, count)
	}
	if count[http.StatusGone] != buyers-units {
		t.Errorf("got %d sold_out, want %d (all answers: %v)", count[http.StatusGone], buyers-units, count)
	}
	if got := h.stock(t, "race"); got != 0 {
		t.Errorf("shards sum to %d, want 0", got)
	}
	if held := h.checkInvariants(t, "race"); held != units {
		t.Errorf("orders hold %d units, want %d", held, units)
	}
	msgs := h.drainQueue(t)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.OrderID] = true
	}
	if len(msgs) != units || len(ids) != units {
		t.Errorf("queue held %d messages with %d distinct order ids, want %d of each", len(msgs), len(ids), units)
	}
}

func TestReserve_GreedyUserStopsAtLimit(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "greedy", 100, 4, 2)

	statuses := make([]int, 50)
	runConcurrently(50, 50, func(i int) {
		statuses[i] = h.buy(t, "greedy", "greedy-user", fmt.Sprintf("key-%d", i), 1).StatusCode
	})
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusAccepted] != 2 || count[http.StatusConflict] != 48 {
		t.Errorf("got answers %v, want 2 accepted and 48 limit_reached", count)
	}
	h.checkInvariants(t, "greedy")
	if got := h.stock(t, "greedy"); got != 98 {
		t.Errorf("stock %d, want 98: a rejected request took or kept units", got)
	}
}

func TestReserve_ConcurrentReplayYieldsOneOrder(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "replay", 10, 2, 1)

	resps := make([]events.APIGatewayProxyResponse, 20)
	runConcurrently(20, 20, func(i int) { resps[i] = h.buy(t, "replay", "u1", "same-key", 1) })
	replayed := 0
	for i, r := range resps {
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d: got %d %s, want 202", i, r.StatusCode, r.Body)
		}
		if r.Body != resps[0].Body {
			t.Errorf("request %d: body %s differs from %s", i, r.Body, resps[0].Body)
		}
		if r.Headers["Idempotent-Replayed"] == "true" {
			replayed++
		}
	}
	if replayed != 19 {
		t.Errorf("got %d replays, want 19", replayed)
	}
	if got := h.stock(t, "replay"); got != 9 {
		t.Errorf("stock %d, want 9: one order", got)
	}
	if msgs := h.drainQueue(t); len(msgs) != 1 {
		t.Errorf("queue holds %d messages, want 1", len(msgs))
	}
	// The key with another quantity is a different request.
	if r := h.buy(t, "replay", "u1", "same-key", 2); r.StatusCode != http.StatusBadRequest {
		// quantity 2 is over the limit of 1: a 400 comes before the replay check
		t.Errorf("got %d, want 400 for a quantity over the limit", r.StatusCode)
	}
	h.createSale(t, "replay-2", 10, 1, 1)
	if r := h.buy(t, "replay-2", "u1", "same-key", 1); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("same key on another sale: got %d %s, want 422", r.StatusCode, r.Body)
	}
}

func TestReserve_RejectionsAfterSellOutAreFree(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "free", 5, 2, 1)
	for i := range 6 {
		h.buy(t, "free", fmt.Sprintf("early-%d", i), "k", 1)
	}
	// The clock stands still, so the sold-out view is never stale: every
	// rejection must come from memory. Half the flood carries a purchase
	// token (410 sold_out) and half none (403 purchase_token_required):
	// neither may cost a call.
	ddb, sq := h.ddbCalls.Calls(), h.sqsCalls.Calls()
	var wrong sync.Map
	runConcurrently(5000, 128, func(i int) {
		req, want := buyRequest(t, "free", fmt.Sprintf("late-%d", i), "k", `{"quantity":1}`), http.StatusGone
		if i%2 == 1 {
			delete(req.Headers, "Purchase-Token")
			want = http.StatusForbidden
		}
		if r := h.call(t, apispec.FunctionReserve, req); r.StatusCode != want {
			wrong.Store(i, fmt.Sprintf("%d, want %d", r.StatusCode, want))
		}
	})
	wrong.Range(func(k, v any) bool { t.Errorf("request %v: got %v", k, v); return false })
	if got := h.ddbCalls.Calls() - ddb; got != 0 {
		t.Errorf("5,000 rejections made %d DynamoDB calls, want 0", got)
	}
	if got := h.sqsCalls.Calls() - sq; got != 0 {
		t.Errorf("5,000 rejections made %d SQS calls, want 0", got)
	}
	// About a second later the flag is rechecked, once.
	h.clock.Advance(1100 * time.Millisecond)
	before := h.ddbCalls.Calls()
	h.buy(t, "free", "later", "k", 1)
	h.buy(t, "free", "later-2", "k", 1)
	if got := h.ddbCalls.Calls() - before; got != 1 {
		t.Errorf("after the TTL, two rejections made %d DynamoDB calls, want 1 (one recheck)", got)
	}
}

func TestReserve_ClockDecidesOpenAndClosed(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	_, err := h.app.Service.CreateSale(context.Background(), flashsale.NewSale{
		ID: "timed", Name: "Timed", PriceCents: 500, Currency: "EUR",
		StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour),
		Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 60, Shards: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		advance  time.Duration
		want     int
		wantCode string
		stock    int64
	}{
		{"before start", 0, http.StatusForbidden, "sale_not_open", 10},
		{"open", time.Hour + time.Second, http.StatusAccepted, "", 9},
		{"at end", time.Hour, http.StatusGone, "sale_closed", 9},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Advance(tc.advance + 2*time.Second) // past the cache TTL
			r := h.buy(t, "timed", "u-clock", fmt.Sprintf("k%d", i), 1)
			if r.StatusCode != tc.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.Body, tc.want)
			}
			if tc.wantCode != "" && errorCode(t, r) != tc.wantCode {
				t.Errorf("got code %s, want %s", errorCode(t, r), tc.wantCode)
			}
			if got := h.stock(t, "timed"); got != tc.stock {
				t.Errorf("stock %d, want %d", got, tc.stock)
			}
		})
	}
	// A replay after the close still returns the original 202.
	if r := h.buy(t, "timed", "u-clock", "k1", 1); r.StatusCode != http.StatusAccepted || r.Headers["Idempotent-Replayed"] != "true" {
		t.Errorf("replay after close: got %d replayed=%q, want 202 replayed", r.StatusCode, r.Headers["Idempotent-Replayed"])
	}
}

func errorCode(tb testing.TB, r events.APIGatewayProxyResponse) string {
	tb.Helper()
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &b); err != nil {
		tb.Fatalf("error body %q: %v", r.Body, err)
	}
	return b.Error.Code
}

func TestReserve_BadInputWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.createSale(t, "strict", 10, 2, 3)
	long := make([]byte, 1024)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name    string
		sale    string
		key     string
		body    string
		ctype   string
		want    int
		wantErr string
	}{
		{"malformed json", "strict", "k", `{"quantity":`, "application/json", 400, "invalid_json"},
		{"unknown field", "strict", "k", `{"quantity":1,"price":0}`, "application/json", 400, "unknown_field"},
		{"wrong content type", "strict", "k", `{"quantity":1}`, "text/plain", 400, "invalid_content_type"},
		{"zero", "strict", "k", `{"quantity":0}`, "application/json", 400, "invalid_quantity"},
		{"negative", "strict", "k", `{"quantity":-1}`, "application/json", 400, "invalid_quantity"},
		{"fraction", "strict", "k", `{"quantity":1.5}`, "application/json", 400, "invalid_quantity"},
		{"string", "strict", "k", `{"quantity":"1"}`, "application/json", 400, "invalid_quantity"},
		{"huge", "strict", "k", `{"quantity":99999999999999999999999}`, "application/json", 400, "invalid_quantity"},
		{"over the limit", "strict", "k", `{"quantity":4}`, "application/json", 400, "invalid_quantity"},
		{"missing key", "strict", "", `{"quantity":1}`, "application/json", 400, "invalid_idempotency_key"},
		{"malformed key", "strict", "no spaces!", `{"quantity":1}`, "application/json", 400, "invalid_idempotency_key"},
		{"odd sale id", "str%20ict", "k", `{"quantity":1}`, "application/json", 400, "invalid_saleId"},
		{"1 KB sale id", string(long), "k", `{"quantity":1}`, "application/json", 400, "invalid_saleId"},
		{"unknown sale before bad body", "nope", "k", `{`, "application/json", 404, "sale_not_found"},
		{"body over 10 KB", "strict", "k", `{"quantity":1,"pad":"` + string(make([]byte, apispec.MaxBodyBytes)) + `"}`, "application/json", 413, "body_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := buyRequest(t, tc.sale, "u-bad", tc.key, tc.body)
			req.Headers["Content-Type"] = tc.ctype
			r := h.call(t, apispec.FunctionReserve, req)
			if r.StatusCode != tc.want || errorCode(t, r) != tc.wantErr {
				t.Errorf("got %d %s, want %d %s", r.StatusCode, r.Body, tc.want, tc.wantErr)
			}
		})
	}
	if got := h.stock(t, "strict"); got != 10 {
		t.Errorf("stock %d after bad requests, want 10", got)
	}
	if n, _ := h.store.Claim(context.Background(), "strict", "u-bad"); n != 0 {
		t.Errorf("claim %d after bad requests, want 0", n)
	}
	// The key is still free: a 400 stored nothing.
	if r := h.buy(t, "strict", "u-bad", "k", 1); r.StatusCode != http.StatusAccepted {
		t.Errorf("good request after bad ones: got %d %s, want 202", r.StatusCode, r.Body)
	}
}
