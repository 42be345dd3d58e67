// Package testclock is the settable clock tests inject wherever time decides
// an outcome (flashsale.WithClock, gateway.Config.Now).
package testclock

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told (New), or with the wall clock
// plus what it is told (Wall). It is safe for concurrent use: handlers read
// it from many goroutines while a test advances it.
type Clock struct {
	mu  sync.Mutex
	now time.Time // New: the time; Wall: unused
	// wall makes Now the wall clock (UTC) shifted by offset.
	wall   bool
	offset time.Duration
}

// New returns a Clock that reads t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Wall returns a Clock that follows the wall clock, in UTC, and jumps
// forward when told: for tests whose code must see time pass by itself
// (a cache that expires during a burst of a few seconds) and that must
// still jump past a grace period.
func Wall() *Clock { return &Clock{wall: true} }

// Now returns the clock's time. Pass the method value (c.Now) as a
// func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		return time.Now().UTC().Add(c.offset)
	}
	return c.now
}

// Set moves the clock to t, backwards too; a Wall clock goes on from there.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		c.offset = t.Sub(time.Now().UTC())
		return
	}
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		c.offset += d
		return
	}
	c.now = c.now.Add(d)
}
