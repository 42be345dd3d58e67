package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/local/testclock"
)

// peers sends requests to a test gateway from chosen loopback source
// addresses over real TCP, so the gateway sees each as its own RemoteAddr.
type peers struct {
	e       *env
	mu      sync.Mutex
	clients map[string]*http.Client
}

func newPeers(tb testing.TB, e *env) *peers {
	p := &peers{e: e, clients: map[string]*http.Client{}}
	tb.Cleanup(func() {
		for _, c := range p.clients {
			c.CloseIdleConnections()
		}
	})
	return p
}

func (p *peers) client(ip string) *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[ip]
	if c == nil {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		p.clients[ip] = c
	}
	return c
}

// do sends one request from ip; headers are name/value pairs.
func (p *peers) do(tb testing.TB, ip, method, path string, headers ...string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, p.e.srv.URL+path, nil)
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := p.client(ip).Do(req)
	if err != nil {
		tb.Fatalf("%s %s from %s: %v", method, path, ip, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// sendN sends n GET /sales/s1 from ip and counts the answers by status.
func (p *peers) sendN(tb testing.TB, ip string, n int) map[int]int {
	tb.Helper()
	counts := map[int]int{}
	for range n {
		status, _, _ := p.do(tb, ip, "GET", "/sales/s1")
		counts[status]++
	}
	return counts
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newRuleEnv(tb testing.TB, limit int) (*peers, *testclock.Clock) {
	clock := testclock.New(t0)
	e := newEnv(tb, apispec.Limits{WAFRateLimit: limit}, func(c *Config) { c.Now = clock.Now })
	return newPeers(tb, e), clock
}

func TestIPRateRule_OneIPOverTheLimitAnotherGoesOn(t *testing.T) {
	const limit = 5
	p, _ := newRuleEnv(t, limit)
	const hammer, other = "127.0.0.2", "127.0.0.3"
	if got := p.sendN(t, hammer, limit); got[200] != limit {
		t.Fatalf("first %d requests: %v, want all 200", limit, got)
	}
	status, body, h := p.do(t, hammer, "GET", "/sales/s1")
	if status != 429 || body != bodyThrottled {
		t.Errorf("request %d: %d %s, want 429 %s", limit+1, status, body, bodyThrottled)
	}
	if got := h.Get("X-Amzn-Errortype"); got != "" {
		t.Errorf("x-amzn-ErrorType = %q, want none (WAF's custom response has none)", got)
	}
	// WAF runs before API Gateway: no route, authorizer or API key check
	// gets a say, and a spoofable header changes nothing.
	for _, tc := range []struct {
		name         string
		method, path string
		headers      []string
	}{
		{"unknown route", "GET", "/nope", nil},
		{"missing token and API key", "POST", "/sales/s1/orders", nil},
		{"X-Forwarded-For", "GET", "/sales/s1", []string{"X-Forwarded-For", "203.0.113.9"}},
	} {
		if status, body, _ := p.do(t, hammer, tc.method, tc.path, tc.headers...); status != 429 || body != bodyThrottled {
			t.Errorf("%s: %d %s, want 429 %s", tc.name, status, body, bodyThrottled)
		}
	}
	if got := p.sendN(t, other, limit); got[200] != limit {
		t.Errorf("another address: %v, want %d × 200 (the rule is per IP)", got, limit)
	}
}

func TestIPRateRule_ServedAgainWhenTheWindowCountFalls(t *testing.T) {
	const limit, ip = 5, "127.0.0.2"
	p, clock := newRuleEnv(t, limit)
	p.sendN(t, ip, limit) // at t0
	clock.Advance(time.Minute)
	if got := p.sendN(t, ip, 1); got[429] != 1 { // count 6
		t.Fatalf("at +1m: %v, want 429", got)
	}
	clock.Set(t0.Add(ipRateWindow*time.Second - time.Second))
	if got := p.sendN(t, ip, 1); got[429] != 1 { // count 7: t0's 5 are still in
		t.Fatalf("at +4m59s: %v, want 429 (t0's requests are in the window)", got)
	}
	clock.Set(t0.Add(ipRateWindow * time.Second))
	// t0's 5 left: 2 refused + this one = 3.
	if got := p.sendN(t, ip, 2); got[200] != 2 {
		t.Errorf("at +5m: %v, want 200 again (the 5-minute count fell under the limit)", got)
	}
}

func TestIPRateRule_RefusedRequestsCount(t *testing.T) {
	const limit, ip = 5, "127.0.0.2"
	p, clock := newRuleEnv(t, limit)
	p.sendN(t, ip, limit)
	clock.Advance(10 * time.Second)
	if got := p.sendN(t, ip, 10); got[429] != 10 {
		t.Fatalf("at +10s: %v, want 10 × 429", got)
	}
	clock.Set(t0.Add(ipRateWindow * time.Second))
	// The served 5 left the window; the 10 refused ones have not.
	if got := p.sendN(t, ip, 1); got[429] != 1 {
		t.Errorf("at +5m: %v, want 429 (refused requests count)", got)
	}
	clock.Advance(10 * time.Second)
	if got := p.sendN(t, ip, 1); got[200] != 1 {
		t.Errorf("at +5m10s: %v, want 200 (the refused requests left the window)", got)
	}
}

func TestIPRateRule_Off(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		noRule bool
	}{
		{"limit 0", 0, false},
		{"NoIPRateRule", 5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, apispec.Limits{WAFRateLimit: tc.limit}, func(c *Config) { c.NoIPRateRule = tc.noRule })
			if got := newPeers(t, e).sendN(t, "127.0.0.2", 50); got[200] != 50 {
				t.Errorf("answers %v, want 50 × 200", got)
			}
		})
	}
}

// The gateway's handlers run on many goroutines; the count must not lose
// or double a request.
func TestIPRateRule_ConcurrentRequestsAdmitExactlyTheLimit(t *testing.T) {
	const limit = 137
	rr := newIPRateRule(limit, slog.New(slog.DiscardHandler))
	var served atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if rr.allow(fmt.Sprintf("127.0.0.2:%d", 1000+g*100+i), t0) {
					served.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := served.Load(); got != limit {
		t.Errorf("served %d of 800, want exactly %d", got, limit)
	}
}

func TestIPRateRule_ForgetsIdleIPs(t *testing.T) {
	rr := newIPRateRule(10, slog.New(slog.DiscardHandler))
	send := func(first, n int, at time.Time) {
		for i := range n {
			rr.allow(fmt.Sprintf("127.1.%d.%d:1", (first+i)/250, 1+(first+i)%250), at)
		}
	}
	send(0, 5000, t0)
	if got := tracked(rr); got != 5000 {
		t.Fatalf("tracked %d IPs, want 5000", got)
	}
	// A window later, other IPs arrive: each shard sweeps on its first
	// request and forgets the first crowd.
	send(5000, 5000, t0.Add(ipRateWindow*time.Second))
	if got := tracked(rr); got != 5000 {
		t.Errorf("tracked %d IPs, want 5000 (the idle ones forgotten)", got)
	}
}

func TestIPRateRule_FullTableLetsNewIPsThrough(t *testing.T) {
	rr := newIPRateRule(1, slog.New(slog.DiscardHandler))
	rr.maxPerShard = 2
	for i := range 1000 {
		addr := fmt.Sprintf("10.0.%d.%d:1", i/250, i%250)
		rr.allow(addr, t0)
		rr.allow(addr, t0)
	}
	if got, want := tracked(rr), 2*ipRateShards; got != want {
		t.Errorf("tracked %d IPs, want the bound %d", got, want)
	}
	if !rr.warned.Load() {
		t.Errorf("no warning about the full table")
	}
}

func TestPeerKey(t *testing.T) {
	v4 := peerKey("127.0.0.2:1234")
	tests := []struct {
		addr string
		want bool // same key as 127.0.0.2
	}{
		{"127.0.0.2:9999", true},
		{"[::ffff:127.0.0.2]:80", true},
		{"127.0.0.2", true},
		{"127.0.0.3:1234", false},
		{"[::1]:1234", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := peerKey(tc.addr) == v4; got != tc.want {
			t.Errorf("peerKey(%q) == peerKey(127.0.0.2:1234) is %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func tracked(rr *ipRateRule) int {
	n := 0
	for i := range rr.shards {
		sh := &rr.shards[i]
		sh.mu.Lock()
		n += len(sh.ips)
		sh.mu.Unlock()
	}
	return n
}

// BenchmarkIPRateRule is the rule's cost per request, which the sold-out
// path pays on top of the gateway's tens of microseconds a request. A
// known IP must not allocate.
func BenchmarkIPRateRule(b *testing.B) {
	b.Run("one known IP", func(b *testing.B) {
		rr := newIPRateRule(1<<30, slog.New(slog.DiscardHandler))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rr.allow("127.0.0.2:40000", t0.Add(time.Duration(i)*time.Millisecond))
		}
	})
	// A load generator on one address: every request takes one shard's lock.
	b.Run("one IP in parallel", func(b *testing.B) {
		rr := newIPRateRule(1<<30, slog.New(slog.DiscardHandler))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rr.allow("127.0.0.2:40000", t0)
			}
		})
	})
	b.Run("10k IPs in parallel", func(b *testing.B) {
		rr := newIPRateRule(1<<30, slog.New(slog.DiscardHandler))
		addrs := make([]string, 10_000)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("127.%d.%d.%d:40000", i/65536, i/256%256, i%256)
			rr.allow(addrs[i], t0)
		}
		var seq atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				i++
				rr.allow(addrs[i%len(addrs)], t0)
			}
		})
	})
}
