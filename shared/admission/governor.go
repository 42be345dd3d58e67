package admission

import (
	"sync"
	"time"
)

// Governor raises a challenge's difficulty while one container issues
// challenges faster than Rate per second: maxNumber grows in proportion to
// the overload, up to Ceiling. Harder challenges take longer to solve, so
// the token requests that follow spread out instead of arriving as one
// peak. It is per container (no shared state), like every other
// per-request decision on the sale path.
type Governor struct {
	// Rate is the issue rate per second above which difficulty rises.
	Rate float64
	// Ceiling caps the raised maxNumber; a sale's own maxNumber above it is
	// left alone.
	Ceiling int64

	now func() time.Time
	mu  sync.Mutex
	// Two one-second buckets: the rate is the previous bucket's count,
	// weighted by how much of it still falls inside the last second, plus
	// the current one's (a sliding-window counter).
	bucket    int64 // start of the current bucket, Unix seconds
	cur, prev float64
}

// Governor defaults, per container. A Lambda container serves one request
// at a time, so 200 challenges a second is about all one can issue; the
// ceiling is about a second of a phone's hashing (ALTCHA's guidance).
const (
	DefaultGovernorRate    = 200
	DefaultGovernorCeiling = 1_000_000
)

// NewGovernor returns a governor with the given rate and ceiling on the
// given clock.
func NewGovernor(rate float64, ceiling int64, now func() time.Time) *Governor {
	return &Governor{Rate: rate, Ceiling: ceiling, now: now}
}

// MaxNumber records one challenge issued now and returns the difficulty to
// issue it at: base, or more while the issue rate is over Rate.
func (g *Governor) MaxNumber(base int64) int64 {
	now := g.now()
	g.mu.Lock()
	sec := now.Unix()
	switch {
	case sec == g.bucket:
	case sec == g.bucket+1:
		g.prev, g.cur, g.bucket = g.cur, 0, sec
	default:
		g.prev, g.cur, g.bucket = 0, 0, sec
	}
	g.cur++
	frac := float64(now.Sub(time.Unix(sec, 0))) / float64(time.Second)
	rate := g.prev*(1-frac) + g.cur
	g.mu.Unlock()

	if g.Rate <= 0 || rate <= g.Rate || base >= g.Ceiling {
		return base
	}
	raised := float64(base) * rate / g.Rate
	if raised >= float64(g.Ceiling) {
		return g.Ceiling
	}
	return int64(raised)
}
