package gateway

import (
	"encoding/binary"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// errRateBased is what the WebACL's rate-based rule answers (infra/api.go's
// custom response): API Gateway's throttle body, byte for byte, so a client
// handles one 429. WAF's custom response carries no x-amzn-ErrorType, which is
// API Gateway's header, so neither does this one.
var errRateBased = gatewayError{http.StatusTooManyRequests, "", `{"message":"Too Many Requests"}`}

const (
	// ipRateWindow is the rule's trailing window in seconds: the WebACL's
	// EvaluationWindowSec, apispec's "per 5 minutes".
	ipRateWindow = 300
	// ipRateShards stripes the per-IP table so requests from different IPs
	// rarely wait on one lock; a power of two (shardOf takes the top bits).
	ipRateShards = 64
	// maxTrackedIPs bounds the table: about 700 bytes an IP, so ~70 MB at
	// worst. IPs idle for a whole window are swept out long before a local
	// crowd (tens of thousands of buyers) gets near it.
	maxTrackedIPs = 100_000
	// ipRateSweepEvery is how often, in seconds, a shard drops its idle IPs.
	ipRateSweepEvery = 60
)

// ipRateRule is WAF's rate-based rule aggregated by IP: a source IP that
// sent more than limit requests in the trailing 5 minutes is refused, and
// the refused requests count too (WAF counts every request it evaluates),
// so an IP that keeps hammering stays refused until its rate falls.
//
// Hand-written rather than x/time/rate: a token bucket refills steadily and
// would admit a burst after a pause that a 5-minute count still refuses.
// Each IP keeps a count per second over the window in a ring, so a request
// is one map lookup under a striped lock and a few adds, and no allocation
// once its IP is known (BenchmarkIPRateRule).
type ipRateRule struct {
	limit       uint32
	maxPerShard int
	log         *slog.Logger
	warned      atomic.Bool // the table was full once; said so
	shards      [ipRateShards]ipRateShard
}

type ipRateShard struct {
	mu        sync.Mutex
	ips       map[[16]byte]*ipWindow
	nextSweep int64    // the second of the next sweep
	_         [40]byte // one cache line per shard, so shards share no line
}

// ipWindow counts one IP's requests per second over the window.
type ipWindow struct {
	head  int64  // the newest second counted; counts[head%ipRateWindow] holds it
	total uint32 // the sum of counts
	// counts saturate at 65,535 a second: one IP sending more than that in
	// a second is over any limit we set (AWS's own minimum is 10 per
	// window), and uint16 halves the table.
	counts [ipRateWindow]uint16
}

// newIPRateRule returns the rule for limit requests per IP per window, or
// nil (every request allowed) for a limit of 0.
func newIPRateRule(limit int, log *slog.Logger) *ipRateRule {
	if limit <= 0 {
		return nil
	}
	rr := &ipRateRule{limit: uint32(min(limit, math.MaxUint32)), maxPerShard: maxTrackedIPs / ipRateShards, log: log}
	for i := range rr.shards {
		rr.shards[i].ips = make(map[[16]byte]*ipWindow)
	}
	return rr
}

// allow counts a request from remoteAddr (an http.Request's RemoteAddr, the
// TCP peer: WAF keys on the packet's source IP, never on a header) and says
// whether its IP is still within the limit. A nil rule allows everything.
func (rr *ipRateRule) allow(remoteAddr string, now time.Time) bool {
	if rr == nil {
		return true
	}
	key := peerKey(remoteAddr)
	sec := max(now.Unix(), 0)
	sh := &rr.shards[shardOf(key)]
	sh.mu.Lock()
	if sec >= sh.nextSweep {
		sh.sweep(sec)
	}
	w := sh.ips[key]
	if w == nil {
		if len(sh.ips) >= rr.maxPerShard {
			sh.mu.Unlock()
			rr.full()
			return true
		}
		w = &ipWindow{head: sec}
		sh.ips[key] = w
	}
	n := w.add(sec)
	sh.mu.Unlock()
	return n <= rr.limit
}

// full notes that a new IP found its shard full. It is then let through
// uncounted: failing open keeps a local experiment with an absurd number of
// addresses running, where refusing would look like the rule firing.
func (rr *ipRateRule) full() {
	if rr.warned.CompareAndSwap(false, true) {
		rr.log.Warn("per-IP rate rule: too many source IPs in the last 5 minutes; new ones go uncounted",
			"max", maxTrackedIPs)
	}
}

// sweep drops the IPs that sent nothing for a whole window: their counts are
// all zero, so forgetting them changes no verdict.
func (sh *ipRateShard) sweep(sec int64) {
	for k, w := range sh.ips {
		if sec-w.head >= ipRateWindow {
			delete(sh.ips, k)
		}
	}
	sh.nextSweep = sec + ipRateSweepEvery
}

// add counts one request at second sec and returns the window's total,
// this request included.
func (w *ipWindow) add(sec int64) uint32 {
	switch d := sec - w.head; {
	case d >= ipRateWindow:
		w.counts, w.total = [ipRateWindow]uint16{}, 0
		w.head = sec
	case d > 0:
		// Seconds that left the window take their counts with them.
		for s := w.head + 1; s <= sec; s++ {
			i := s % ipRateWindow
			w.total -= uint32(w.counts[i])
			w.counts[i] = 0
		}
		w.head = sec
	}
	// A clock that stepped back (only a test's can) counts into the newest
	// second.
	if i := w.head % ipRateWindow; w.counts[i] < math.MaxUint16 {
		w.counts[i]++
		w.total++
	}
	return w.total
}

// peerKey is the IP of a RemoteAddr ("ip:port") in 16-byte form, IPv4 as
// IPv4-mapped. Something else (a handler test's empty RemoteAddr) keys as
// all zeroes: such callers share one count rather than escape the rule.
func peerKey(remoteAddr string) [16]byte {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().As16()
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return a.As16()
	}
	return [16]byte{}
}

// shardOf spreads keys over the shards with a multiplicative (Fibonacci)
// hash: IPv4 keys differ only in their last bytes, which big-endian puts in
// the low bits, and the multiplication carries them into the top ones.
func shardOf(key [16]byte) int {
	h := binary.BigEndian.Uint64(key[:8]) ^ binary.BigEndian.Uint64(key[8:])
	return int((h * 0x9E3779B97F4A7C15) >> (64 - 6)) // 64 = 1<<6 shards
}
