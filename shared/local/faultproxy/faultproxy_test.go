package faultproxy_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/local/faultproxy"
)

// upstream is an HTTP server that counts the requests it handled.
type upstream struct {
	srv     *httptest.Server
	handled atomic.Int64
}

func newUpstream(tb testing.TB) *upstream {
	tb.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.handled.Add(1)
		io.WriteString(w, "ok")
	}))
	tb.Cleanup(u.srv.Close)
	return u
}

// post sends one POST (which net/http never retries by itself) through a
// fresh client, so no connection is shared between calls.
func post(url string, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(url, "text/plain", strings.NewReader("hello"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestProxy_PassesThroughUntilFaulted(t *testing.T) {
	u := newUpstream(t)
	p := faultproxy.Start(t, "pass", u.srv.URL)
	if got, err := post(p.URL(), 5*time.Second); err != nil || got != "ok" {
		t.Fatalf("through the proxy: got %q, %v; want ok", got, err)
	}
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q, want a loopback http URL", p.URL())
	}
}

func TestProxy_LatencyDelaysAnswers(t *testing.T) {
	u := newUpstream(t)
	p := faultproxy.Start(t, "latency", u.srv.URL)
	const delay = 300 * time.Millisecond
	if err := p.Latency(faultproxy.Downstream, delay, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := post(p.URL(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("call took %v, want at least the injected %v", took, delay)
	}
	if err := p.Latency(faultproxy.Downstream, delay, 0); err == nil {
		t.Error("the same toxic twice: got no error")
	}
}

func TestProxy_Reset(t *testing.T) {
	tests := []struct {
		name        string
		dir         faultproxy.Direction
		wantHandled int64 // requests the server handled before the reset
	}{
		{"downstream: handled, answer lost", faultproxy.Downstream, 1},
		{"upstream: never reaches the server", faultproxy.Upstream, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t)
			p := faultproxy.Start(t, "reset", u.srv.URL)
			if err := p.Reset(tc.dir, 1); err != nil {
				t.Fatal(err)
			}
			if got, err := post(p.URL(), 5*time.Second); err == nil {
				t.Fatalf("got %q and no error, want the connection reset", got)
			}
			if got := u.handled.Load(); got != tc.wantHandled {
				t.Errorf("server handled %d requests, want %d", got, tc.wantHandled)
			}
			p.Heal()
			if got, err := post(p.URL(), 5*time.Second); err != nil || got != "ok" {
				t.Errorf("after Heal: got %q, %v; want ok", got, err)
			}
		})
	}
}

func TestProxy_BlackholeHoldsUntilTheClientGivesUp(t *testing.T) {
	u := newUpstream(t)
	p := faultproxy.Start(t, "hang", u.srv.URL)
	if err := p.Blackhole(faultproxy.Upstream); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := post(p.URL(), timeout)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("got %v, want the client's timeout", err)
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("gave up after %v, want the whole %v", took, timeout)
	}
	if got := u.handled.Load(); got != 0 {
		t.Errorf("server handled %d requests, want 0", got)
	}
	p.Heal()
	if got, err := post(p.URL(), 5*time.Second); err != nil || got != "ok" {
		t.Errorf("after Heal: got %q, %v; want ok", got, err)
	}
}

func TestProxy_DownRefusesThenUpServesOnTheSameAddress(t *testing.T) {
	u := newUpstream(t)
	p := faultproxy.Start(t, "down", u.srv.URL)
	addr := p.Addr()
	p.Down()
	if _, err := post(p.URL(), 5*time.Second); err == nil {
		t.Fatal("proxy down: got an answer, want the connection refused")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if err := p.Up(); err != nil {
		t.Errorf("Up twice: %v", err)
	}
	if p.Addr() != addr {
		t.Errorf("address after Up %s, want %s", p.Addr(), addr)
	}
	if got, err := post(p.URL(), 5*time.Second); err != nil || got != "ok" {
		t.Errorf("after Up: got %q, %v; want ok", got, err)
	}
}

func TestNew_BadUpstream(t *testing.T) {
	if _, err := faultproxy.New("bad", "no-port"); err == nil {
		t.Error("upstream without a port: got no error")
	}
}
