package client

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestSourceAddr_StableLoopbackSpread(t *testing.T) {
	// Stable across runs and releases: a user's count at the WebACL must not
	// move to another address between two runs of a tool.
	if got, want := SourceAddr("alice"), SourceAddr("alice"); got != want {
		t.Fatalf("SourceAddr(alice) = %v then %v, want one address", got, want)
	}
	seen := map[netip.Addr]bool{}
	const users = 20_000
	for i := range users {
		a := SourceAddr(fmt.Sprintf("buyer-%d", i))
		b := a.As4()
		if !a.Is4() || b[0] != 127 || b[3] < 2 || b[3] > 254 {
			t.Fatalf("SourceAddr(buyer-%d) = %v, want 127.x.y.z with z in 2…254", i, a)
		}
		seen[a] = true
	}
	// 20,000 draws from 16.6 million addresses collide about 12 times.
	if len(seen) < users-50 {
		t.Errorf("%d users got %d distinct addresses, want nearly one each", users, len(seen))
	}
}

// TestNewSourceHTTP_ServerSeesTheUsersAddress checks over real TCP that the
// server's RemoteAddr is the user's source address, which is what the
// gateway's per-IP rule keys on.
func TestNewSourceHTTP_ServerSeesTheUsersAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, host)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, user := range []string{"alice", "bob"} {
		hc := NewSourceHTTP(user)
		for _, base := range []string{srv.URL, "http://localhost:" + port} {
			resp, err := hc.Get(base + "/")
			if err != nil {
				t.Fatalf("%s GET %s: %v", user, base, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, want := string(b), SourceAddr(user).String(); got != want {
				t.Errorf("%s via %s: server saw %s, want %s", user, base, got, want)
			}
		}
		hc.CloseIdleConnections()
	}
}

// The reference client takes it as its HTTP field.
func TestClient_WithSourceHTTP(t *testing.T) {
	var saw string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw, _, _ = net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, `{"orders":[]}`)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "t", APIKey: "k", HTTP: NewSourceHTTP("carol")}
	if _, err := c.MyOrders(t.Context(), "s1"); err != nil {
		t.Fatalf("MyOrders: %v", err)
	}
	if want := SourceAddr("carol").String(); saw != want {
		t.Errorf("server saw %s, want %s", saw, want)
	}
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:3000", true},
		{"127.9.8.7:80", true},
		{"localhost:3000", true},
		{"[::ffff:127.0.0.1]:3000", true},
		{"[::1]:3000", false}, // a 127/8 source cannot reach it
		{"203.0.113.7:443", false},
		{"abc.execute-api.eu-west-1.amazonaws.com:443", false},
		{"no-port", false},
	}
	for _, tc := range tests {
		if got := loopback(tc.addr); got != tc.want {
			t.Errorf("loopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestCrowd_EachBuyerFromItsAddressAndFewIdleSockets: each buyer's requests
// come from its own address, and only the Warm most recent buyers keep a
// connection open; a buyer who went cold is served again on a new one.
func TestCrowd_EachBuyerFromItsAddressAndFewIdleSockets(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, host)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(open, c)
		} else {
			open[c] = true
		}
	}
	srv.Start()
	defer srv.Close()
	crowd := &Crowd{Warm: 3}
	get := func(user string) {
		t.Helper()
		resp, err := crowd.HTTP(user).Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := string(b), SourceAddr(user).String(); got != want {
			t.Fatalf("%s: server saw %s, want %s", user, got, want)
		}
	}
	for i := range 20 {
		get(fmt.Sprintf("buyer-%d", i))
	}
	get("buyer-0") // long gone cold: a new transport, same address
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n <= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after 20 buyers, want at most Warm (3)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	crowd.CloseIdleConnections()
}
