package gateway

import (
	"net/netip"
	"testing"

	"flashsale/shared/apispec"
)

// TestIPBans_ForbiddenOnEveryRouteAndUncounted: a banned address gets WAF's
// 403 on every route, unknown and admin ones included, other addresses go
// on, banned requests do not count toward the per-IP rate rule, and lifting
// the ban serves the address again.
func TestIPBans_ForbiddenOnEveryRouteAndUncounted(t *testing.T) {
	const limit = 3
	e := newEnv(t, apispec.Limits{WAFRateLimit: limit}, nil)
	p := newPeers(t, e)
	const banned, ranged, other = "127.0.0.2", "127.0.9.9", "127.0.0.3"
	e.gw.SetIPBans([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("127.0.9.0/24")})
	for _, ip := range []string{banned, ranged} {
		for _, rt := range []struct{ method, path string }{
			{"GET", "/sales/s1"}, {"POST", "/sales/s1/orders"}, {"GET", "/admin/ip-bans"},
			{"DELETE", "/admin/ip-bans/x"}, {"GET", "/nope"},
		} {
			for range limit + 2 { // past the rate limit: still 403, never 429
				status, body, h := p.do(t, ip, rt.method, rt.path)
				if status != 403 || body != `{"message":"Forbidden"}` || h.Get("X-Amzn-Errortype") != "" {
					t.Fatalf("%s %s from %s: %d %s, want WAF's 403 {\"message\":\"Forbidden\"}", rt.method, rt.path, ip, status, body)
				}
			}
		}
	}
	if got := p.sendN(t, other, limit); got[200] != limit {
		t.Fatalf("another address: %v, want %d × 200", got, limit)
	}
	if calls := e.calls.Load(); calls != limit {
		t.Fatalf("handlers ran %d times, want %d (banned requests reach none)", calls, limit)
	}
	e.gw.SetIPBans(nil)
	if got := p.sendN(t, banned, limit); got[200] != limit {
		t.Fatalf("after the ban is lifted: %v, want %d × 200 (banned requests did not count)", got, limit)
	}
}
