package handler_test

import (
	"context"
	"encoding/json"
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

// buyerRequest is a request on a buyer route under /sales/{saleId}/.
func buyerRequest(method, saleID, suffix, user, body string) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{
		HTTPMethod: method, Resource: "/sales/{saleId}/" + suffix, Path: "/sales/" + saleID + "/" + suffix,
		PathParameters: map[string]string{"saleId": saleID},
		Headers:        map[string]string{"Content-Type": "application/json"},
		Body:           body,
	}
	return asUser(req, user)
}

// withCreatedAt sets the custom:created_at claim of a request's user.
func withCreatedAt(req events.APIGatewayProxyRequest, t time.Time) events.APIGatewayProxyRequest {
	claims := req.RequestContext.Authorizer["claims"].(map[string]any)
	claims["custom:created_at"] = strconv.FormatInt(t.Unix(), 10)
	return req
}

func (f *fixture) challenge(tb testing.TB, saleID, user string) (admission.Challenge, events.APIGatewayProxyResponse) {
	tb.Helper()
	resp := call(tb, f.admission.Serve, buyerRequest("GET", saleID, "challenge", user, ""))
	var c admission.Challenge
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(resp.Body), &c); err != nil {
			tb.Fatal(err)
		}
	}
	return c, resp
}

// solveBody solves c and returns the purchase-token body that carries it.
func solveBody(tb testing.TB, c admission.Challenge) string {
	tb.Helper()
	n, err := admission.Solve(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	return tokenBody(tb, c, n)
}

func tokenBody(tb testing.TB, c admission.Challenge, n int64) string {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"challenge": c, "number": n})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func (f *fixture) purchaseToken(tb testing.TB, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	tb.Helper()
	return call(tb, f.admission.Serve, req)
}

// createGatedSale makes an open sale with the given admission.
func (f *fixture) createGatedSale(tb testing.TB, id string, stock int64, a *flashsale.Admission) {
	tb.Helper()
	_, err := f.svc.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: "Gated " + id, PriceCents: 1999, Currency: "USD", StartsAt: saleStart, EndsAt: saleEnd,
		Stock: stock, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 1, Admission: a,
	})
	if err != nil {
		tb.Fatalf("create sale %s: %v", id, err)
	}
}

// TestAdmission_FullFlow is the reference flow: challenge, solve, token,
// order with the token.
func TestAdmission_FullFlow(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 5, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 2000})
	c, resp := f.challenge(t, "gated", "alice")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("challenge: status %d (%s)", resp.StatusCode, resp.Body)
	}
	var shape map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &shape)
	if len(shape) != 5 || c.Algorithm != "SHA-256" || c.MaxNumber != 2000 || c.Salt == "" {
		t.Fatalf("challenge body %s is not ALTCHA v1's {algorithm,challenge,salt,maxNumber,signature}", resp.Body)
	}
	resp = f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", solveBody(t, c)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("purchase token: status %d (%s)", resp.StatusCode, resp.Body)
	}
	var tok struct{ PurchaseToken, ExpiresAt string }
	if err := json.Unmarshal([]byte(resp.Body), &tok); err != nil || tok.PurchaseToken == "" {
		t.Fatalf("token body %s: %v", resp.Body, err)
	}
	if want := flashsale.FormatTime(f.clock.Now().Truncate(time.Second).Add(5 * time.Minute)); tok.ExpiresAt != want {
		t.Errorf("expiresAt = %s, want %s (5 minutes)", tok.ExpiresAt, want)
	}
	order := withHeader(asUser(withSale(loadEvent(t, "reserve.json"), "gated"), "alice"), "Purchase-Token", tok.PurchaseToken)
	if resp := call(t, f.reserve, order); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("order with the token: status %d (%s)", resp.StatusCode, resp.Body)
	}
}

// TestReserve_PurchaseTokenChecks covers every bad token: each is a 403
// with its code, answered before the key and body, and writes nothing.
func TestReserve_PurchaseTokenChecks(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 5, nil) // the default: tokens on
	f.createGatedSale(t, "other", 5, nil)
	now := f.clock.Now()
	good := f.keys.NewToken(admission.Subject{UserID: "alice", SaleID: "gated"}, now.Add(time.Minute))
	foreignKeys, _ := admission.NewKeys(admission.NewKeySet("test"))
	unknownKid, _ := admission.NewKeys(admission.NewKeySet("k9"))
	tests := []struct {
		name, token, code string
	}{
		{"missing", "", "purchase_token_required"},
		{"tampered", good[:len(good)-3] + "AAA", "purchase_token_invalid"},
		{"garbage", "hello", "purchase_token_invalid"},
		{"expired", f.keys.NewToken(admission.Subject{UserID: "alice", SaleID: "gated"}, now.Add(-time.Second)), "purchase_token_expired"},
		{"another user's", f.keys.NewToken(admission.Subject{UserID: "bob", SaleID: "gated"}, now.Add(time.Minute)), "purchase_token_invalid"},
		{"another sale's", f.keys.NewToken(admission.Subject{UserID: "alice", SaleID: "other"}, now.Add(time.Minute)), "purchase_token_invalid"},
		{"another server's key", foreignKeys.NewToken(admission.Subject{UserID: "alice", SaleID: "gated"}, now.Add(time.Minute)), "purchase_token_invalid"},
		{"unknown key id", unknownKid.NewToken(admission.Subject{UserID: "alice", SaleID: "gated"}, now.Add(time.Minute)), "purchase_token_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A bad key and body too: the token is checked first.
			req := withHeader(withHeader(asUser(withSale(loadEvent(t, "reserve.json"), "gated"), "alice"),
				"Idempotency-Key", "bad key!"), "Purchase-Token", tc.token)
			req.Body = `{"quantity":"x"}`
			wantError(t, call(t, f.reserve, req), http.StatusForbidden, tc.code)
			wantNothingTaken(t, f, "gated", 5)
		})
	}
	t.Run("unknown sale is still 404 first", func(t *testing.T) {
		req := asUser(withSale(loadEvent(t, "reserve.json"), "nosuch"), "alice")
		wantError(t, call(t, f.reserve, req), http.StatusNotFound, "sale_not_found")
	})
	t.Run("a sale without tokens needs none", func(t *testing.T) {
		f.createGatedSale(t, "open", 5, &flashsale.Admission{PurchaseToken: false})
		req := withHeader(asUser(withSale(loadEvent(t, "reserve.json"), "open"), "alice"), "Purchase-Token", "")
		if resp := call(t, f.reserve, req); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d (%s), want 202", resp.StatusCode, resp.Body)
		}
	})
}

// wantNothingTaken checks a sale still has all its stock and no order.
func wantNothingTaken(tb testing.TB, f *fixture, saleID string, stock int64) {
	tb.Helper()
	st, err := f.mem.Sale(context.Background(), saleID)
	if err != nil {
		tb.Fatal(err)
	}
	avail, _ := f.mem.Available(context.Background(), st.Sale)
	orders, _ := f.mem.SaleOrders(context.Background(), st.Sale)
	if avail[0] != stock || len(orders) != 0 {
		tb.Errorf("sale %s: %d units left and %d orders, want %d and none", saleID, avail[0], len(orders), stock)
	}
}

// TestPurchaseToken_BadSolutions: every malformed or wrong solution is a
// 400 invalid_solution and issues nothing.
func TestPurchaseToken_BadSolutions(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 5, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 500})
	f.createGatedSale(t, "other", 5, &flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 500})
	c, _ := f.challenge(t, "gated", "alice")
	n, err := admission.Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	bobs, _ := f.challenge(t, "gated", "bob")
	otherSale, _ := f.challenge(t, "other", "alice")
	forged := c
	forged.Signature = strings.Repeat("0", 64)
	tests := []struct {
		name, body string
		advance    time.Duration
	}{
		{"empty body", `{}`, 0},
		{"no number", `{"challenge":` + mustJSON(t, c) + `}`, 0},
		{"challenge not an object", `{"challenge":"abc","number":1}`, 0},
		{"wrong number", tokenBody(t, c, n+1), 0},
		{"wrong signature", tokenBody(t, forged, n), 0},
		{"expired challenge", tokenBody(t, c, n), 5 * time.Minute},
		{"solution of another user", solveBody(t, bobs), 0},
		{"solution for another sale", solveBody(t, otherSale), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Advance(tc.advance)
			defer f.clock.Advance(-tc.advance)
			resp := f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", tc.body))
			wantError(t, resp, http.StatusBadRequest, "invalid_solution")
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		resp := f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", `{"challenge":{},"number":1,"x":1}`))
		wantError(t, resp, http.StatusBadRequest, "unknown_field")
	})
	t.Run("the right solution still works", func(t *testing.T) {
		resp := f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", tokenBody(t, c, n)))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d (%s)", resp.StatusCode, resp.Body)
		}
	})
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestAdmission_SaleStates: no challenge or token before the sale opens,
// after it closes or sells out; 404 for an unknown sale and for a sale
// without a challenge; 401 without a user.
func TestAdmission_SaleStates(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 1, nil)
	f.createGatedSale(t, "nochallenge", 1, &flashsale.Admission{PurchaseToken: true})
	for _, tc := range []struct {
		name   string
		at     time.Time
		sale   string
		user   string
		status int
		code   string
	}{
		{"before the start", saleStart.Add(-time.Second), "gated", "alice", http.StatusForbidden, "sale_not_open"},
		{"at the end", saleEnd, "gated", "alice", http.StatusGone, "sale_closed"},
		{"unknown sale", saleStart, "nosuch", "alice", http.StatusNotFound, "sale_not_found"},
		{"no challenge", saleStart, "nochallenge", "alice", http.StatusNotFound, "challenge_disabled"},
		{"no user", saleStart, "gated", "", http.StatusUnauthorized, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Set(tc.at)
			_, resp := f.challenge(t, tc.sale, tc.user)
			wantError(t, resp, tc.status, tc.code)
			if tc.code == "challenge_disabled" {
				return // a token without a challenge is the point of that sale
			}
			resp = f.purchaseToken(t, buyerRequest("POST", tc.sale, "purchase-tokens", tc.user, `{}`))
			wantError(t, resp, tc.status, tc.code)
		})
	}
	t.Run("a bad body is judged after the sale's checks", func(t *testing.T) {
		f.clock.Set(saleStart.Add(-time.Second))
		for _, body := range []string{`not json`, `{"challenge":{},"number":1.5}`, `{"x":1}`} {
			resp := f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", body))
			wantError(t, resp, http.StatusForbidden, "sale_not_open")
		}
		f.clock.Set(saleStart)
		resp := f.purchaseToken(t, buyerRequest("POST", "nochallenge", "purchase-tokens", "alice", `not json`))
		wantError(t, resp, http.StatusBadRequest, "invalid_json")
	})
	t.Run("without a challenge the body is {}", func(t *testing.T) {
		f.clock.Set(saleStart)
		resp := f.purchaseToken(t, buyerRequest("POST", "nochallenge", "purchase-tokens", "alice", `{}`))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d (%s), want 201", resp.StatusCode, resp.Body)
		}
	})
	t.Run("sold out", func(t *testing.T) {
		f.clock.Set(saleStart)
		f.order(t, "gated", "bob", "k1")
		f.order(t, "nochallenge", "bob", "k3")
		// The second buyer finds the shard empty; the container now knows.
		if _, err := f.svc.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: "gated", UserID: "carol", Key: "k2", Quantity: 1}); err == nil {
			t.Fatal("a second unit was sold")
		}
		_, resp := f.challenge(t, "gated", "alice")
		wantError(t, resp, http.StatusGone, "sold_out")
		resp = f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", `{}`))
		wantError(t, resp, http.StatusGone, "sold_out")
	})
}

// TestPurchaseToken_Eligibility checks group, account age and allowlist,
// in that order, each a 403 not_eligible with its reason.
func TestPurchaseToken_Eligibility(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "members", 5, &flashsale.Admission{PurchaseToken: true,
		Groups: []string{"member"}, MinAccountAgeDays: 30, Allowlist: true})
	if _, err := f.svc.AddToAllowlist(context.Background(), "members", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	old, young := now.Add(-31*24*time.Hour), now.Add(-29*24*time.Hour)
	req := func(user string, created time.Time, groups ...string) events.APIGatewayProxyRequest {
		r := buyerRequest("POST", "members", "purchase-tokens", "", `{}`)
		r = asUser(r, user, groups...)
		r.Headers = map[string]string{"Content-Type": "application/json"}
		if !created.IsZero() {
			r = withCreatedAt(r, created)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		req    events.APIGatewayProxyRequest
		reason string
	}{
		{"no group", req("alice", old), "group"},
		{"another group", req("alice", old, "vip"), "group"},
		{"too new", req("alice", young, "member"), "account_age"},
		{"no creation claim", req("alice", time.Time{}, "member"), "account_age"},
		{"not on the allowlist", req("bob", old, "member"), "allowlist"},
		{"group is checked before age", req("bob", young), "group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, f.purchaseToken(t, tc.req), http.StatusForbidden, "not_eligible")
			if e.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", e.Reason, tc.reason)
			}
		})
	}
	t.Run("eligible", func(t *testing.T) {
		if resp := f.purchaseToken(t, req("alice", old, "vip", "member")); resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d (%s), want 201", resp.StatusCode, resp.Body)
		}
	})
}

// TestReserve_ExpiredTokenReplay: a client whose token expired between its
// first try and its resend gets a fresh token and its original order back.
func TestReserve_ExpiredTokenReplay(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 5, &flashsale.Admission{PurchaseToken: true})
	token := func() string {
		resp := f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "alice", `{}`))
		var tok struct{ PurchaseToken string }
		if err := json.Unmarshal([]byte(resp.Body), &tok); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("token: %d %s", resp.StatusCode, resp.Body)
		}
		return tok.PurchaseToken
	}
	order := func(tok string) events.APIGatewayProxyResponse {
		req := withHeader(asUser(withSale(loadEvent(t, "reserve.json"), "gated"), "alice"), "Purchase-Token", tok)
		return call(t, f.reserve, withHeader(req, "Idempotency-Key", "same-key"))
	}
	first := token()
	orig := order(first)
	if orig.StatusCode != http.StatusAccepted {
		t.Fatalf("first try: %d %s", orig.StatusCode, orig.Body)
	}
	f.clock.Advance(6 * time.Minute)
	wantError(t, order(first), http.StatusForbidden, "purchase_token_expired")
	again := order(token())
	if again.StatusCode != http.StatusAccepted || again.Body != orig.Body || again.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("resend with a fresh token: %d %s %v, want the original 202 replayed", again.StatusCode, again.Body, again.Headers)
	}
}

// TestAllowlist_Route: bad bodies are 400s that write nothing; an import
// answers added and total, and again adds nothing.
func TestAllowlist_Route(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "members", 5, &flashsale.Admission{PurchaseToken: true, Allowlist: true})
	req := func(sale, body string, groups ...string) events.APIGatewayProxyRequest {
		r := events.APIGatewayProxyRequest{
			HTTPMethod: "POST", Resource: "/admin/sales/{saleId}/allowlist", Path: "/admin/sales/" + sale + "/allowlist",
			PathParameters: map[string]string{"saleId": sale},
			Headers:        map[string]string{"Content-Type": "application/json"}, Body: body,
		}
		return asUser(r, "root", groups...)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = "u" + strconv.Itoa(i)
	}
	for _, tc := range []struct{ name, body string }{
		{"empty list", `{"userIds":[]}`},
		{"no list", `{}`},
		{"over 1000 ids", mustJSON(t, map[string]any{"userIds": many})},
		{"malformed id", `{"userIds":["ok","not ok"]}`},
		{"unknown field", `{"userIds":["a"],"extra":1}`},
		{"not json", `userIds=a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, f.admin.Serve, req("members", tc.body, apispec.GroupAdmin))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d (%s), want 400", resp.StatusCode, resp.Body)
			}
			if on, _ := f.mem.Allowlisted(context.Background(), "members", "ok"); on {
				t.Error("a refused import wrote an id")
			}
		})
	}
	wantError(t, call(t, f.admin.Serve, req("members", `{"userIds":["a"]}`)), http.StatusForbidden, "forbidden")
	wantError(t, call(t, f.admin.Serve, req("nosuch", `{"userIds":["a"]}`, apispec.GroupAdmin)), http.StatusNotFound, "sale_not_found")
	for _, want := range []string{`{"added":3,"total":3}`, `{"added":0,"total":3}`} {
		resp := call(t, f.admin.Serve, req("members", `{"userIds":["a","b","c","a"]}`, apispec.GroupAdmin))
		if resp.StatusCode != http.StatusOK || resp.Body != want {
			t.Fatalf("import: %d %s, want 200 %s", resp.StatusCode, resp.Body, want)
		}
	}
}

// TestCreateSale_Admission: defaults, what GET shows, and bad rules.
func TestCreateSale_Admission(t *testing.T) {
	body := func(admission string) string {
		b := `{"saleId":"s-ID","name":"n","priceCents":1,"currency":"USD","startsAt":"2026-12-01T10:00:00Z",` +
			`"endsAt":"2026-12-01T11:00:00Z","stock":5,"perUserLimit":1,"paymentWindowSeconds":60`
		if admission != "" {
			b += `,"admission":` + admission
		}
		return b + "}"
	}
	for i, tc := range []struct {
		admission string
		want      string // the admission GET shows; "" means a 400
	}{
		{"", `{"purchaseToken":true,"challenge":true}`},
		{`{}`, `{"purchaseToken":true,"challenge":true}`},
		{`{"purchaseToken":false}`, `{"purchaseToken":false,"challenge":false}`},
		{`{"challengeMaxNumber":0}`, `{"purchaseToken":true,"challenge":false}`},
		{`{"groups":["member"],"minAccountAgeDays":30,"allowlist":true}`, `{"purchaseToken":true,"challenge":true}`},
		{`{"purchaseToken":false,"groups":["member"]}`, ""},
		{`{"purchaseToken":false,"allowlist":true}`, ""},
		{`{"challengeMaxNumber":-1}`, ""},
		{`{"challengeMaxNumber":1.5}`, ""},
		{`{"minAccountAgeDays":-1}`, ""},
		{`{"groups":[""]}`, ""},
		{`{"captcha":true}`, ""},
	} {
		t.Run(tc.admission, func(t *testing.T) {
			f := newFixture(t)
			req := loadEvent(t, "admin-create-sale.json")
			id := "s-" + strconv.Itoa(i)
			req.Body = strings.Replace(body(tc.admission), "s-ID", id, 1)
			resp := call(t, f.admin.Serve, req)
			if tc.want == "" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d (%s), want 400", resp.StatusCode, resp.Body)
				}
				if _, err := f.mem.Sale(context.Background(), id); err == nil {
					t.Error("a refused sale was stored")
				}
				return
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d (%s), want 201", resp.StatusCode, resp.Body)
			}
			got := call(t, f.sale, withSale(loadEvent(t, "sale-info.json"), id))
			var view struct{ Admission json.RawMessage }
			if err := json.Unmarshal([]byte(got.Body), &view); err != nil || string(view.Admission) != tc.want {
				t.Fatalf("GET shows admission %s, want %s", view.Admission, tc.want)
			}
		})
	}
}
