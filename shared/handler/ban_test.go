package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

func adminRequest(method, resource, path string, params map[string]string, body string, groups ...string) events.APIGatewayProxyRequest {
	r := events.APIGatewayProxyRequest{
		HTTPMethod: method, Resource: resource, Path: path, PathParameters: params,
		Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
	}
	return asUser(r, "root", groups...)
}

// TestIPBans_Routes: add, refresh, list and remove, each change notified;
// every bad body is a 400 that stores nothing.
func TestIPBans_Routes(t *testing.T) {
	f := newFixture(t)
	notified := 0
	bans := handler.NewBans(f.svc, func(context.Context) error { notified++; return nil }, nil)
	add := func(body string) events.APIGatewayProxyResponse {
		return call(t, bans.Serve, adminRequest("POST", "/admin/ip-bans", "/admin/ip-bans", nil, body, apispec.GroupAdmin))
	}
	list := func() []map[string]any {
		resp := call(t, bans.Serve, adminRequest("GET", "/admin/ip-bans", "/admin/ip-bans", nil, "", apispec.GroupAdmin))
		var out struct{ Bans []map[string]any }
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %s", resp.StatusCode, resp.Body)
		}
		return out.Bans
	}

	for _, tc := range []struct{ name, body string }{
		{"unparsable cidr", `{"cidr":"203.0.113.300","ttlSeconds":60}`},
		{"a /0", `{"cidr":"0.0.0.0/0","ttlSeconds":60}`},
		{"an IPv6 /0", `{"cidr":"::/0","ttlSeconds":60}`},
		{"ttl 0", `{"cidr":"203.0.113.7","ttlSeconds":0}`},
		{"ttl over 30 days", `{"cidr":"203.0.113.7","ttlSeconds":2592001}`},
		{"no ttl", `{"cidr":"203.0.113.7"}`},
		{"reason over 200", `{"cidr":"203.0.113.7","ttlSeconds":60,"reason":"` + strings.Repeat("x", 201) + `"}`},
		{"unknown field", `{"cidr":"203.0.113.7","ttlSeconds":60,"note":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := add(tc.body); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d (%s), want 400", resp.StatusCode, resp.Body)
			}
			if got := list(); len(got) != 0 {
				t.Fatalf("a refused ban was stored: %v", got)
			}
		})
	}
	if notified != 0 {
		t.Fatalf("refused bans notified the sync %d times", notified)
	}

	resp := add(`{"cidr":"203.0.113.7","ttlSeconds":3600,"reason":"bot"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("ban: %d %s", resp.StatusCode, resp.Body)
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &first)
	wantExp := flashsale.FormatTime(f.clock.Now().Truncate(time.Second).Add(time.Hour))
	if first["cidr"] != "203.0.113.7/32" || first["expiresAt"] != wantExp || first["reason"] != "bot" || first["banId"] == "" {
		t.Fatalf("ban answer %v, want cidr 203.0.113.7/32 (a bare address is /32), expiresAt %s", first, wantExp)
	}
	f.clock.Advance(time.Minute)
	again := add(`{"cidr":"203.0.113.7/32","ttlSeconds":7200,"reason":"still a bot"}`)
	var second map[string]any
	_ = json.Unmarshal([]byte(again.Body), &second)
	if again.StatusCode != http.StatusCreated || second["banId"] != first["banId"] {
		t.Fatalf("same cidr again: %d %v, want 201 with banId %v", again.StatusCode, second, first["banId"])
	}
	if got := list(); len(got) != 1 || got[0]["reason"] != "still a bot" {
		t.Fatalf("after a refresh: %v, want the one ban, refreshed", got)
	}
	if resp := add(`{"cidr":"2001:db8::/48","ttlSeconds":60}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("IPv6 ban: %d %s", resp.StatusCode, resp.Body)
	}
	if got := list(); len(got) != 2 {
		t.Fatalf("list: %v, want 2 bans", got)
	}
	f.clock.Advance(61 * time.Second) // the IPv6 ban expires
	if got := list(); len(got) != 1 {
		t.Fatalf("after expiry: %v, want only the IPv4 ban", got)
	}

	id := first["banId"].(string)
	remove := func(id string) events.APIGatewayProxyResponse {
		return call(t, bans.Serve, adminRequest("DELETE", "/admin/ip-bans/{banId}", "/admin/ip-bans/"+id,
			map[string]string{"banId": id}, "", apispec.GroupAdmin))
	}
	if resp := remove(id); resp.StatusCode != http.StatusNoContent || resp.Body != "" {
		t.Fatalf("remove: %d %q, want 204 and no body", resp.StatusCode, resp.Body)
	}
	wantError(t, remove(id), http.StatusNotFound, "ban_not_found")
	wantError(t, remove("ipb-nosuch"), http.StatusNotFound, "ban_not_found")
	if notified != 4 { // two adds, one refresh, one removal
		t.Errorf("the sync was nudged %d times, want 4", notified)
	}
	wantError(t, call(t, bans.Serve, adminRequest("GET", "/admin/ip-bans", "/admin/ip-bans", nil, "")), http.StatusForbidden, "forbidden")
}

// TestUserBans: a banned user gets user_banned on token issue and on
// reserve (right after the token check); lifting the ban lets them buy.
func TestUserBans(t *testing.T) {
	f := newFixture(t)
	f.createGatedSale(t, "gated", 5, &flashsale.Admission{PurchaseToken: true})
	bans := handler.NewBans(f.svc, nil, nil)
	for _, body := range []string{`{"userId":"not ok","reason":"x"}`, `{"userId":"m","ttlSeconds":0}`,
		`{"userId":"m","reason":"` + strings.Repeat("x", 201) + `"}`, `{"userId":"m","extra":1}`} {
		resp := call(t, bans.Serve, adminRequest("POST", "/admin/user-bans", "/admin/user-bans", nil, body, apispec.GroupAdmin))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("ban %s: %d %s, want 400", body, resp.StatusCode, resp.Body)
		}
	}
	token := f.keys.NewToken(admission.Subject{UserID: "mallory", SaleID: "gated"}, f.clock.Now().Add(time.Hour))
	order := func(tok string) events.APIGatewayProxyResponse {
		req := withHeader(asUser(withSale(loadEvent(t, "reserve.json"), "gated"), "mallory"), "Purchase-Token", tok)
		return call(t, f.reserve, req)
	}
	resp := call(t, bans.Serve, adminRequest("POST", "/admin/user-bans", "/admin/user-bans", nil, `{"userId":"mallory","reason":"scalper"}`, apispec.GroupAdmin))
	var ban map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &ban)
	if resp.StatusCode != http.StatusCreated || ban["userId"] != "mallory" ||
		ban["expiresAt"] != flashsale.FormatTime(f.clock.Now().Truncate(time.Second).Add(flashsale.DefaultUserBanTTL)) {
		t.Fatalf("user ban: %d %s", resp.StatusCode, resp.Body)
	}
	wantError(t, f.purchaseToken(t, buyerRequest("POST", "gated", "purchase-tokens", "mallory", `{}`)), http.StatusForbidden, "user_banned")
	wantError(t, order(token), http.StatusForbidden, "user_banned")
	wantError(t, order(""), http.StatusForbidden, "purchase_token_required") // the token comes first
	wantNothingTaken(t, f, "gated", 5)

	list := call(t, bans.Serve, adminRequest("GET", "/admin/user-bans", "/admin/user-bans", nil, "", apispec.GroupAdmin))
	if !strings.Contains(list.Body, `"userId":"mallory"`) {
		t.Fatalf("list: %s", list.Body)
	}
	del := func() events.APIGatewayProxyResponse {
		return call(t, bans.Serve, adminRequest("DELETE", "/admin/user-bans/{userId}", "/admin/user-bans/mallory",
			map[string]string{"userId": "mallory"}, "", apispec.GroupAdmin))
	}
	if resp := del(); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("unban: %d %s", resp.StatusCode, resp.Body)
	}
	wantError(t, del(), http.StatusNotFound, "ban_not_found")
	if resp := order(token); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("order after the unban: %d %s, want 202", resp.StatusCode, resp.Body)
	}
}
