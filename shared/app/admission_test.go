package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// The admission flow on DynamoDB Local and the local SQS: what issue 11's
// "Done when" lists, through the functions' own handlers.

// createGatedSale makes an open sale with the given admission (nil: the
// default, tokens and the 50,000 challenge).
func (h *harness) createGatedSale(tb testing.TB, id string, stock int64, shards int, a *flashsale.Admission) {
	tb.Helper()
	now := h.clock.Now()
	_, err := h.app.Service.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: "Gated " + id, PriceCents: 1999, Currency: "USD",
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		Stock: stock, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: shards, Admission: a,
	})
	if err != nil {
		tb.Fatalf("create sale %s: %v", id, err)
	}
}

// admissionRequest is a request to the admission function as API Gateway
// passes it: suffix is "challenge" or "purchase-tokens".
func admissionRequest(saleID, suffix, user, body string, claims map[string]string) events.APIGatewayProxyRequest {
	method := "POST"
	if suffix == "challenge" {
		method = "GET"
	}
	req := events.APIGatewayProxyRequest{
		HTTPMethod: method, Resource: "/sales/{saleId}/" + suffix, Path: "/sales/" + saleID + "/" + suffix,
		PathParameters: map[string]string{"saleId": saleID},
		Headers:        map[string]string{"Content-Type": "application/json"}, Body: body,
	}
	setUser(&req, user)
	for k, v := range claims {
		req.RequestContext.Authorizer["claims"].(map[string]any)[k] = v
	}
	return req
}

// admit runs the flow's first half for user: challenge (when the sale has
// one), solve, token. It answers the token, or the failing response.
func (h *harness) admit(tb testing.TB, saleID, user string, solve bool, claims map[string]string) (string, events.APIGatewayProxyResponse) {
	tb.Helper()
	body := `{}`
	if solve {
		resp := h.call(tb, apispec.FunctionAdmission, admissionRequest(saleID, "challenge", user, "", claims))
		if resp.StatusCode != http.StatusOK {
			return "", resp
		}
		var c admission.Challenge
		if err := json.Unmarshal([]byte(resp.Body), &c); err != nil {
			tb.Fatal(err)
		}
		n, err := admission.Solve(context.Background(), c)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"challenge": c, "number": n})
		body = string(b)
	}
	resp := h.call(tb, apispec.FunctionAdmission, admissionRequest(saleID, "purchase-tokens", user, body, claims))
	if resp.StatusCode != http.StatusCreated {
		return "", resp
	}
	var tok struct{ PurchaseToken string }
	if err := json.Unmarshal([]byte(resp.Body), &tok); err != nil {
		tb.Fatal(err)
	}
	return tok.PurchaseToken, resp
}

// orderWith posts a purchase with the given purchase token ("" for none).
func (h *harness) orderWith(tb testing.TB, saleID, user, key, token string) events.APIGatewayProxyResponse {
	tb.Helper()
	req := buyRequest(tb, saleID, user, key, `{"quantity":1}`)
	if token == "" {
		delete(req.Headers, "Purchase-Token")
	} else {
		req.Headers["Purchase-Token"] = token
	}
	return h.call(tb, apispec.FunctionReserve, req)
}

// TestAdmission_RaceFullFlowSellsExactlyTheStock: 1,000 buyers each run
// challenge, solve, token and order for 137 units.
func TestAdmission_RaceFullFlowSellsExactlyTheStock(t *testing.T) {
	h := newHarness(t)
	const units, buyers = 137, 1000
	h.createGatedSale(t, "gated-race", units, 8, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 1000})

	statuses := make([]int, buyers)
	runConcurrently(buyers, 64, func(i int) {
		user := fmt.Sprintf("buyer-%d", i)
		token, resp := h.admit(t, "gated-race", user, true, nil)
		if token == "" {
			statuses[i] = resp.StatusCode
			return
		}
		statuses[i] = h.orderWith(t, "gated-race", user, "k1", token).StatusCode
	})
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	// A buyer who reaches the challenge after the sell-out is turned away
	// there (410) rather than at the order: either way a 410.
	if count[http.StatusAccepted] != units || count[http.StatusGone] != buyers-units {
		t.Errorf("answers %v, want %d accepted and %d sold out", count, units, buyers-units)
	}
	if got := h.stock(t, "gated-race"); got != 0 {
		t.Errorf("shards sum to %d, want 0", got)
	}
	if held := h.checkInvariants(t, "gated-race"); held != units {
		t.Errorf("orders hold %d units, want %d", held, units)
	}
	if msgs := h.drainQueue(t); len(msgs) != units {
		t.Errorf("queue held %d messages, want %d", len(msgs), units)
	}
}

// TestAdmission_ScriptedClientWithoutATokenTakesNothing: a bot that posts
// orders from the first moment, without the flow, gets 403s and no unit;
// one that skips the challenge gets no token.
func TestAdmission_ScriptedClientWithoutATokenTakesNothing(t *testing.T) {
	h := newHarness(t)
	h.createGatedSale(t, "bots", 10, 2, nil)
	for i := range 200 {
		resp := h.orderWith(t, "bots", fmt.Sprintf("bot-%d", i%20), fmt.Sprintf("k%d", i), "")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Body, `"purchase_token_required"`) {
			t.Fatalf("order without a token: %d %s, want 403 purchase_token_required", resp.StatusCode, resp.Body)
		}
	}
	forged := "v1.test." + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ".bots.Ym90LTE.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if resp := h.orderWith(t, "bots", "bot-1", "kf", forged); !strings.Contains(resp.Body, `"purchase_token_invalid"`) {
		t.Fatalf("order with a forged token: %d %s, want 403 purchase_token_invalid", resp.StatusCode, resp.Body)
	}
	if token, resp := h.admit(t, "bots", "bot-1", false, nil); token != "" || resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(resp.Body, `"invalid_solution"`) {
		t.Fatalf("token without solving: %d %s, want 400 invalid_solution and no token", resp.StatusCode, resp.Body)
	}
	if got := h.stock(t, "bots"); got != 10 {
		t.Errorf("stock %d after the bots, want all 10", got)
	}
	if held := h.checkInvariants(t, "bots"); held != 0 {
		t.Errorf("bots hold %d units, want 0", held)
	}
	if msgs := h.drainQueue(t); len(msgs) != 0 {
		t.Errorf("queue holds %d messages, want none", len(msgs))
	}
}

// TestAdmission_Eligibility: non-members, too-new accounts and users off the
// allowlist get 403 not_eligible with the reason; the allowlist is imported
// through the admin route onto DynamoDB (several BatchWriteItem calls).
func TestAdmission_Eligibility(t *testing.T) {
	h := newHarness(t)
	h.createGatedSale(t, "members", 10, 1, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 100,
		Groups: []string{"member"}, MinAccountAgeDays: 30, Allowlist: true})
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = fmt.Sprintf("invited-%d", i)
	}
	body, _ := json.Marshal(map[string]any{"userIds": ids})
	req := events.APIGatewayProxyRequest{
		HTTPMethod: "POST", Resource: "/admin/sales/{saleId}/allowlist", Path: "/admin/sales/members/allowlist",
		PathParameters: map[string]string{"saleId": "members"},
		Headers:        map[string]string{"Content-Type": "application/json"}, Body: string(body),
	}
	setUser(&req, "root", apispec.GroupAdmin)
	for _, want := range []string{`{"added":60,"total":60}`, `{"added":0,"total":60}`} {
		if resp := h.call(t, apispec.FunctionAdmin, req); resp.StatusCode != http.StatusOK || resp.Body != want {
			t.Fatalf("import: %d %s, want 200 %s", resp.StatusCode, resp.Body, want)
		}
	}
	now := h.clock.Now()
	old := strconv.FormatInt(now.Add(-60*24*time.Hour).Unix(), 10)
	young := strconv.FormatInt(now.Add(-2*24*time.Hour).Unix(), 10)
	for _, tc := range []struct {
		name, user, groups, created, reason string
	}{
		{"non-member", "invited-1", "[buyer]", old, "group"},
		{"too new", "invited-2", "[member]", young, "account_age"},
		{"off the allowlist", "stranger", "[member]", old, "allowlist"},
		{"eligible", "invited-3", "[member]", old, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]string{"cognito:groups": tc.groups, "custom:created_at": tc.created}
			token, resp := h.admit(t, "members", tc.user, true, claims)
			if tc.reason == "" {
				if token == "" {
					t.Fatalf("eligible buyer: %d %s, want a token", resp.StatusCode, resp.Body)
				}
				if o := h.orderWith(t, "members", tc.user, "k", token); o.StatusCode != http.StatusAccepted {
					t.Fatalf("eligible buyer's order: %d %s", o.StatusCode, o.Body)
				}
				return
			}
			var e struct{ Error struct{ Code, Reason string } }
			_ = json.Unmarshal([]byte(resp.Body), &e)
			if resp.StatusCode != http.StatusForbidden || e.Error.Code != "not_eligible" || e.Error.Reason != tc.reason {
				t.Fatalf("%d %s, want 403 not_eligible reason %s", resp.StatusCode, resp.Body, tc.reason)
			}
		})
	}
}

// TestAdmission_ExpiredTokenMidRetryGetsTheOrderBack: the 202 was lost, the
// token expired before the resend; a fresh token and the same
// Idempotency-Key replay the original order.
func TestAdmission_ExpiredTokenMidRetryGetsTheOrderBack(t *testing.T) {
	h := newHarness(t)
	h.createGatedSale(t, "retry", 10, 1, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 100})
	token, resp := h.admit(t, "retry", "alice", true, nil)
	if token == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, resp.Body)
	}
	first := h.orderWith(t, "retry", "alice", "lost-answer", token)
	if first.StatusCode != http.StatusAccepted {
		t.Fatalf("first try: %d %s", first.StatusCode, first.Body)
	}
	h.clock.Advance(flashsale.AdmissionTTL + time.Second)
	if r := h.orderWith(t, "retry", "alice", "lost-answer", token); r.StatusCode != http.StatusForbidden ||
		!strings.Contains(r.Body, `"purchase_token_expired"`) {
		t.Fatalf("resend with the old token: %d %s, want 403 purchase_token_expired", r.StatusCode, r.Body)
	}
	fresh, resp := h.admit(t, "retry", "alice", true, nil)
	if fresh == "" {
		t.Fatalf("fresh token: %d %s", resp.StatusCode, resp.Body)
	}
	again := h.orderWith(t, "retry", "alice", "lost-answer", fresh)
	if again.StatusCode != http.StatusAccepted || again.Body != first.Body || again.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("resend with a fresh token: %d %s %v, want the original 202 replayed", again.StatusCode, again.Body, again.Headers)
	}
	if got := h.stock(t, "retry"); got != 9 {
		t.Errorf("stock %d, want 9: one order", got)
	}
}
