package client

import (
	"context"
	"hash/fnv"
	"net"
	"net/http"
	"net/netip"
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
