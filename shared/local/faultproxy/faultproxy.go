// Package faultproxy puts a fault-injecting TCP proxy between a process and
// the local emulators, so tests can break the wire itself: slow answers,
// connections reset, a peer that accepts and never answers, or the service
// gone. It embeds Toxiproxy (github.com/Shopify/toxiproxy/v2) in-process,
// so tests need no extra binary; the SDK clients are simply pointed at
// Proxy.URL instead of the emulator.
//
// Faults switch on and off while connections are open. Toxics act per
// connection (Toxiproxy's "toxicity" is the share of connections affected),
// and the SDK keeps connections alive between calls, so a fault reaches
// pooled connections as well as new ones.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Direction names one half of a connection.
type Direction string

const (
	// Upstream carries requests, client to server. A fault here means the
	// server never sees the request: nothing is applied.
	Upstream Direction = "upstream"
	// Downstream carries answers, server to client. A fault here means the
	// server did the work but the client cannot know: the ambiguous
	// failure.
	Downstream Direction = "downstream"
)

// Proxy is one TCP proxy with switchable faults. Its methods are safe for
// concurrent use.
type Proxy struct {
	server *toxiproxy.ApiServer
	proxy  *toxiproxy.Proxy
	addr   string
}

// New starts a proxy on a free loopback port that forwards to upstream,
// given as host:port or as a URL such as http://127.0.0.1:8203.
func New(name, upstream string) (*Proxy, error) {
	hostPort := upstream
	if u, err := url.Parse(upstream); err == nil && u.Host != "" {
		hostPort = u.Host
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return nil, fmt.Errorf("faultproxy %s: upstream %q: want host:port or a URL", name, upstream)
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", hostPort)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("faultproxy %s: start: %w", name, err)
	}
	// Start replaced the :0 with the port it got; Up listens there again.
	p.Lock()
	addr := p.Listen
	p.Unlock()
	return &Proxy{server: server, proxy: p, addr: addr}, nil
}

// Start is New for tests: it fails tb if the proxy cannot start and closes
// it when the test ends.
func Start(tb testing.TB, name, upstream string) *Proxy {
	tb.Helper()
	p, err := New(name, upstream)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Addr is the proxy's listen address, host:port.
func (p *Proxy) Addr() string { return p.addr }

// URL is the proxy as an HTTP endpoint, for an SDK client's BaseEndpoint.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Latency delays the data flowing in dir by latency ± jitter.
func (p *Proxy) Latency(dir Direction, latency, jitter time.Duration) error {
	return p.add("latency", dir, 1, map[string]any{"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()})
}

// Reset closes a share of connections (toxicity, 0 to 1) with a TCP RST as
// soon as data flows in dir, dropping that data. On Downstream the server
// has handled the request whose answer is lost.
//
// Connections opened before the fault are closed too, but with a FIN
// rather than an RST (Toxiproxy sets SO_LINGER=0 only on new connections);
// to the client both are a connection that died mid-call.
func (p *Proxy) Reset(dir Direction, toxicity float64) error {
	return p.add("reset_peer", dir, toxicity, map[string]any{"timeout": 0})
}

// Blackhole drops all data flowing in dir and keeps the connections open:
// a peer that has hung. Only the client's own timeouts end its calls.
func (p *Proxy) Blackhole(dir Direction) error {
	return p.add("timeout", dir, 1, map[string]any{"timeout": 0})
}

// add installs one toxic, named after its type and direction: the same
// fault twice in one direction is an error.
func (p *Proxy) add(kind string, dir Direction, toxicity float64, attrs map[string]any) error {
	if dir != Upstream && dir != Downstream {
		return fmt.Errorf("faultproxy %s: direction %q: want %q or %q", p.proxy.Name, dir, Upstream, Downstream)
	}
	if toxicity < 0 || toxicity > 1 {
		return fmt.Errorf("faultproxy %s: toxicity %v: want 0 to 1", p.proxy.Name, toxicity)
	}
	body, err := json.Marshal(map[string]any{
		"name": kind + "_" + string(dir), "type": kind, "stream": string(dir),
		"toxicity": toxicity, "attributes": attrs,
	})
	if err != nil {
		return err
	}
	if _, err := p.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("faultproxy %s: add %s %s: %w", p.proxy.Name, kind, dir, err)
	}
	return nil
}

// Heal removes every toxic. Connections a Blackhole held are closed, so
// the calls stuck on them fail at once.
func (p *Proxy) Heal() { p.proxy.Toxics.ResetToxics(context.Background()) }

// Down takes the service off the wire: every open connection is closed
// and new ones are refused, as when the process behind it has died.
func (p *Proxy) Down() { p.proxy.Stop() }

// Up listens again on the same address after Down; it does nothing if the
// proxy is up.
func (p *Proxy) Up() error {
	err := p.proxy.Start()
	if err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("faultproxy %s: listen again on %s: %w", p.proxy.Name, p.addr, err)
	}
	return nil
}

// Close heals and stops the proxy.
func (p *Proxy) Close() {
	p.Heal()
	p.proxy.Stop()
}
