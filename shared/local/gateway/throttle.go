package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"flashsale/shared/apispec"
)

// newLimiter turns a Throttle into a token bucket. A zero RateLimit means
// "not throttled at this level" (nil), so a benchmark can switch a level off;
// the CDK stack never deploys a zero.
func newLimiter(t apispec.Throttle) *rate.Limiter {
	if t.RateLimit <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(t.RateLimit), max(t.BurstLimit, 1))
}

// allow is Limiter.AllowN(now, 1), treating nil as unlimited.
func allow(l *rate.Limiter, now time.Time) bool {
	return l == nil || l.AllowN(now, 1)
}

// planKey meters one API key of the usage plan: a token bucket plus a daily
// quota that resets at midnight UTC, as a usage plan with period DAY does.
type planKey struct {
	limiter *rate.Limiter
	quota   int // 0 means no quota

	mu   sync.Mutex
	day  int64 // days since the Unix epoch of the current quota period
	used int
}

// planVerdict is the usage plan's answer for one request.
type planVerdict int

const (
	planOK planVerdict = iota
	planThrottled
	planQuotaExceeded
)

// take charges one request to the key. A request the bucket throttles does
// not count against the quota.
func (k *planKey) take(now time.Time) planVerdict {
	if k.quota > 0 {
		day := now.Unix() / 86400
		k.mu.Lock()
		defer k.mu.Unlock()
		if day != k.day {
			k.day, k.used = day, 0
		}
		if k.used >= k.quota {
			return planQuotaExceeded
		}
	}
	if !allow(k.limiter, now) {
		return planThrottled
	}
	if k.quota > 0 {
		k.used++
	}
	return planOK
}
