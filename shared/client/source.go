package client

import (
	"container/list"
	"context"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Per-user source addresses.
//
// The deployed WebACL refuses a source IP that sends more than
// apispec.Limits.WAFRateLimit requests in 5 minutes, and the local gateway
// plays the same rule on the TCP peer address. A tool that plays a crowd of
// buyers from one machine would otherwise look like one IP and be refused
// after a couple of thousand requests, which no real crowd of phones is.
// Linux routes all of 127.0.0.0/8 to the loopback interface, so a client can
// bind any of those 16 million addresses as its source with no setup, and a
// server on 127.0.0.1 sees it as RemoteAddr. Each user gets one, stable
// across runs, so a user's requests add up as one phone's would.

// SourceAddr returns the loopback address userID's requests come from: one
// of 127.0.0.0/8 chosen by a hash of the id, never 127.0.0.1 (the machine's
// own traffic) nor an address ending in .0, .1 or .255. Two users share an
// address about as often as a birthday: a few pairs in 20,000 users, as
// phones behind one carrier NAT do.
func SourceAddr(userID string) netip.Addr {
	h := fnv.New64a()
	h.Write([]byte(userID)) // never fails
	// 256 × 256 × 253 addresses: the last byte runs over 2…254.
	n := h.Sum64() % (256 * 256 * 253)
	last := byte(2 + n%253)
	n /= 253
	return netip.AddrFrom4([4]byte{127, byte(n / 256), byte(n % 256), last})
}

// NewSourceTransport returns a transport whose connections to a loopback
// address come from src (SourceAddr). Connections anywhere else, e.g. a
// deployed API, leave from the machine's own address as usual: a loopback
// source cannot reach them.
//
// It keeps at most one idle connection, as one phone would. A tool playing
// tens of thousands of buyers should call CloseIdleConnections on a buyer's
// transport once that buyer is done, or the idle sockets add up (two file
// descriptors each when the stack runs in the same process).
func NewSourceTransport(src netip.Addr) *http.Transport {
	bound := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	plain := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if loopback(addr) {
				return bound.DialContext(ctx, network, addr)
			}
			return plain.DialContext(ctx, network, addr)
		},
		Proxy:               http.ProxyFromEnvironment,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// NewSourceHTTP returns an *http.Client for Client.HTTP that sends userID's
// requests from SourceAddr(userID), with a 10 s timeout like Client's
// default.
func NewSourceHTTP(userID string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: NewSourceTransport(SourceAddr(userID))}
}

// loopback says whether a dial address ("host:port") is an IPv4 loopback
// one, which a 127/8 source can reach ("localhost" included; Go then tries
// only its IPv4 addresses, matching the source's family).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().Is4() && a.Unmap().IsLoopback()
}

// Crowd hands out one *http.Client per user, each sending from the user's
// SourceAddr, for tools that play many buyers (demo, loadtest, soak). Each
// buyer's connection is kept for reuse, as a phone's would be, but only the
// Warm most recently active buyers keep theirs: a crowd of 20,000 would
// otherwise hold 20,000 idle sockets (twice that when the stack runs in the
// same process, past the machine's file limit). It is safe for concurrent
// use.
type Crowd struct {
	// Timeout bounds each request; 0 means 10 s.
	Timeout time.Duration
	// Warm is how many buyers keep an idle connection; 0 means 512.
	Warm int

	mu         sync.Mutex
	transports map[string]*list.Element // of *crowdMember, most recent at the front
	lru        list.List
}

type crowdMember struct {
	user    string
	tr      *http.Transport
	evicted atomic.Bool
}

// HTTP returns a client for userID. Its requests go through the user's
// transport, made on first use and again after the user went cold.
func (c *Crowd) HTTP(userID string) *http.Client {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: crowdTransport{c, userID}}
}

type crowdTransport struct {
	crowd *Crowd
	user  string
}

func (t crowdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := t.crowd.member(t.user)
	resp, err := m.tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &crowdBody{ReadCloser: resp.Body, m: m}
	return resp, nil
}

// crowdBody closes its transport's idle connection when the buyer was sent
// cold while the request was in flight: the connection goes back to the
// transport's idle pool only once the body is closed, after the eviction
// closed the idle ones.
type crowdBody struct {
	io.ReadCloser
	m *crowdMember
}

func (b *crowdBody) Close() error {
	err := b.ReadCloser.Close()
	if b.m.evicted.Load() {
		b.m.tr.CloseIdleConnections()
	}
	return err
}

func (c *Crowd) member(user string) *crowdMember {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transports == nil {
		c.transports = map[string]*list.Element{}
	}
	if e, ok := c.transports[user]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*crowdMember)
	}
	m := &crowdMember{user: user, tr: NewSourceTransport(SourceAddr(user))}
	c.transports[user] = c.lru.PushFront(m)
	warm := c.Warm
	if warm == 0 {
		warm = 512
	}
	for c.lru.Len() > warm {
		// The coldest buyer's idle socket closes; a request of theirs in
		// flight finishes, and their next one gets a new transport, as a
		// phone that slept would.
		old := c.lru.Remove(c.lru.Back()).(*crowdMember)
		delete(c.transports, old.user)
		old.evicted.Store(true)
		old.tr.CloseIdleConnections()
	}
	return m
}

// CloseIdleConnections closes every buyer's idle connection.
func (c *Crowd) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*crowdMember).tr.CloseIdleConnections()
	}
}
