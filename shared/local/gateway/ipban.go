package gateway

import (
	"net/http"
	"net/netip"
	"sync/atomic"
)

// errBanned is WAF's answer to a banned address: the WebACL's rule 0 blocks
// with the same 403 body (infra/api.go), no API Gateway error type.
var errBanned = gatewayError{http.StatusForbidden, "", `{"message":"Forbidden"}`}

// ipBans is the local stand-in for the WebACL's two ban IP sets. It is
// replaced whole (SetIPBans) and read without a lock on every request:
// single addresses, the usual ban, are one map lookup; ranges are scanned.
type ipBans struct {
	addrs  map[netip.Addr]bool
	ranges []netip.Prefix
}

// SetIPBans replaces the banned ranges; the local stack calls it every few
// seconds with the bans in force (devstack), as the sync function does for
// WAF's IP sets deployed.
func (g *Gateway) SetIPBans(prefixes []netip.Prefix) {
	b := &ipBans{addrs: map[netip.Addr]bool{}}
	for _, p := range prefixes {
		if p.IsSingleIP() {
			b.addrs[p.Addr()] = true
		} else {
			b.ranges = append(b.ranges, p)
		}
	}
	g.bans.Store(b)
}

// banned reports whether the TCP peer is banned. An IPv4 peer is matched as
// IPv4 (never as ::ffff:a.b.c.d), as WAF matches it against the IPv4 set.
func (g *Gateway) banned(remoteAddr string) bool {
	b := g.bans.Load()
	if b == nil || (len(b.addrs) == 0 && len(b.ranges) == 0) {
		return false
	}
	k := peerKey(remoteAddr)
	a := netip.AddrFrom16(k).Unmap()
	if b.addrs[a] {
		return true
	}
	for _, p := range b.ranges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bansHolder is the Gateway field: nil until the first SetIPBans.
type bansHolder = atomic.Pointer[ipBans]
